package conformance

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gaia-platform/iam/oauth/keys"
	"github.com/gaia-platform/iam/server"
	"github.com/gaia-platform/iam/storage/storagetest"
)

// verdicts is what each entry point that decides liveness says of one
// access token: introspection (by a client entitled to see it), userinfo
// and the admin API.
type verdicts struct {
	introspect bool // active
	userinfo   int  // status
	admin      int  // status of GET /admin/v1/roles
}

func (l *local) verdicts(t *testing.T, token, clientID, secret string) verdicts {
	t.Helper()
	var v verdicts
	got := introspectAs(t, l.asIAM(), clientID, secret, token)
	v.introspect = got["active"] == true
	if !v.introspect && len(got) != 1 {
		t.Errorf("introspection of a token that is not live = %v, want only active:false", got)
	}
	v.userinfo = bearerStatus(t, http.MethodGet, l.issuer+"/userinfo", token)
	v.admin = bearerStatus(t, http.MethodGet, l.issuer+"/admin/v1/roles", token)
	return v
}

func bearerStatus(t *testing.T, method, u, token string) int {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), method, u, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// dead is what every entry point must say of a token that is not live.
var dead = verdicts{introspect: false, userinfo: http.StatusUnauthorized, admin: http.StatusUnauthorized}

// TestLivenessDisabledClient: a disabled client's token was active:true at
// introspection (and 403, not 401, at userinfo) while the admin API refused
// it. One rule now refuses it everywhere.
func TestLivenessDisabledClient(t *testing.T) {
	forEachLocal(t, nil, func(t *testing.T, l *local) {
		api := &adminClient{t: t, base: l.issuer + "/admin/v1", http: http.DefaultClient,
			token: userToken(t, l.issuer, "admin", adminPassword).AccessToken}
		var created struct {
			ClientSecret string `json:"client_secret"`
		}
		// Its tokens name inventory-service, which may therefore introspect them.
		want(t, api.do("POST", "/clients", map[string]any{
			"client_id": "reports-service", "name": "Reports", "grant_types": []string{"client_credentials"},
			"audiences": []string{"gaia", "inventory-service"}, "roles": []string{"SecurityAuditor"},
		}), http.StatusCreated).decode(t, &created)
		cc := clientcredentials.Config{ClientID: "reports-service", ClientSecret: created.ClientSecret, TokenURL: l.issuer + "/oauth2/token"}
		tok, err := cc.Token(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		live := verdicts{introspect: true, userinfo: http.StatusForbidden, admin: http.StatusOK}
		if got := l.verdicts(t, tok.AccessToken, "inventory-service", serviceSecret); got != live {
			t.Fatalf("a live service token: %+v, want %+v", got, live)
		}

		want(t, api.do("PATCH", "/clients/reports-service", map[string]any{"active": false}), http.StatusOK)
		if got := l.verdicts(t, tok.AccessToken, "inventory-service", serviceSecret); got != dead {
			t.Errorf("the token of a disabled client: %+v, want %+v", got, dead)
		}
	})
}

// TestLivenessSessionCap: past GAIA_MAX_SESSION_AGE a login is over. Its
// refresh token introspected as active, and its access tokens were
// accepted everywhere, though refresh was refused.
func TestLivenessSessionCap(t *testing.T) {
	const maxAge = 3 * time.Second
	forEachLocal(t, func(c *server.Config) { c.MaxSessionAge = maxAge }, func(t *testing.T, l *local) {
		tok, err := webConfig(l.issuer, "openid").PasswordCredentialsToken(ctx(t), "admin", adminPassword)
		if err != nil {
			t.Fatal(err)
		}
		// The login started (auth_time) before its answer came back.
		start := time.Now()
		if got := introspect(t, l.asIAM(), tok.RefreshToken); got["active"] != true {
			t.Fatalf("a refresh token within the session age introspects as %v", got)
		}
		time.Sleep(time.Until(start.Add(maxAge + 200*time.Millisecond)))

		if got := introspect(t, l.asIAM(), tok.RefreshToken); got["active"] != false || len(got) != 1 {
			t.Errorf("a refresh token past the session age introspects as %v, want only active:false", got)
		}
		if got := l.verdicts(t, tok.AccessToken, "gaia-web", webSecret); got != dead {
			t.Errorf("an access token of a login past the session age: %+v, want %+v", got, dead)
		}
		if _, err := refresh(t, webConfig(l.issuer), tok); !isInvalidGrant(err) {
			t.Errorf("refresh past the session age: %v, want invalid_grant", err)
		}
	})
}

// TestLivenessTimes: a token signed with the server's own key but dated an
// hour ahead (iat or nbf) was accepted at userinfo and introspection.
func TestLivenessTimes(t *testing.T) {
	forEachLocal(t, nil, func(t *testing.T, l *local) {
		tok, err := webConfig(l.issuer, "openid").PasswordCredentialsToken(ctx(t), "admin", adminPassword)
		if err != nil {
			t.Fatal(err)
		}
		ring, err := keys.New(ctx(t), keys.Config{Retention: time.Hour}, l.store, l.kek, storagetest.Logger(t))
		if err != nil {
			t.Fatal(err)
		}
		hour := time.Now().Add(time.Hour).Unix()
		resign := func(edit func(c map[string]any)) string {
			_, c := payload(t, tok.AccessToken)
			edit(c)
			body, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			k := ring.Current()
			signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: k.Private, KeyID: k.ID}},
				(&jose.SignerOptions{}).WithType("at+jwt"))
			if err != nil {
				t.Fatal(err)
			}
			jws, err := signer.Sign(body)
			if err != nil {
				t.Fatal(err)
			}
			s, err := jws.CompactSerialize()
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		live := verdicts{introspect: true, userinfo: http.StatusOK, admin: http.StatusOK}
		for _, tc := range []struct {
			name string
			edit func(c map[string]any)
			want verdicts
		}{
			{"as issued", func(map[string]any) {}, live},
			{"iat an hour ahead", func(c map[string]any) { c["iat"] = hour }, dead},
			{"nbf an hour ahead", func(c map[string]any) { c["nbf"] = hour }, dead},
			{"nbf within the leeway", func(c map[string]any) { c["nbf"] = time.Now().Add(5 * time.Second).Unix() }, live},
			{"expired", func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() }, dead},
		} {
			if got := l.verdicts(t, resign(tc.edit), "gaia-web", webSecret); got != tc.want {
				t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
			}
		}
	})
}

// TestLivenessRevocation: a revoked access token and the tokens of a
// logged-out login are refused by every entry point.
func TestLivenessRevocation(t *testing.T) {
	forEachLocal(t, nil, func(t *testing.T, l *local) {
		conf := webConfig(l.issuer, "openid")
		a, err := conf.PasswordCredentialsToken(ctx(t), "admin", adminPassword)
		if err != nil {
			t.Fatal(err)
		}
		b, err := conf.PasswordCredentialsToken(ctx(t), "admin", adminPassword)
		if err != nil {
			t.Fatal(err)
		}
		if code := revoke(t, l.asIAM(), a.AccessToken); code != http.StatusOK {
			t.Fatalf("revoke = %d", code)
		}
		if got := l.verdicts(t, a.AccessToken, "gaia-web", webSecret); got != dead {
			t.Errorf("a revoked access token: %+v, want %+v", got, dead)
		}
		if code := revoke(t, l.asIAM(), b.RefreshToken); code != http.StatusOK {
			t.Fatalf("revoke = %d", code)
		}
		if got := l.verdicts(t, b.AccessToken, "gaia-web", webSecret); got != dead {
			t.Errorf("an access token of a revoked login: %+v, want %+v", got, dead)
		}
	})
}
