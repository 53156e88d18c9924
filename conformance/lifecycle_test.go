package conformance

import (
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gaia-platform/iam/rbac"
	"github.com/gaia-platform/iam/server"
	"github.com/gaia-platform/iam/storage"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func webConfig(issuer string, scopes ...string) *oauth2.Config {
	return &oauth2.Config{ClientID: "gaia-web", ClientSecret: webSecret, Scopes: scopes,
		Endpoint: oauth2.Endpoint{TokenURL: issuer + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}}
}

func refresh(t *testing.T, conf *oauth2.Config, tok *oauth2.Token) (*oauth2.Token, error) {
	t.Helper()
	stale := *tok
	stale.Expiry = time.Now().Add(-time.Minute)
	return conf.TokenSource(ctx(t), &stale).Token()
}

func isInvalidGrant(err error) bool {
	var re *oauth2.RetrieveError
	return errors.As(err, &re) && re.ErrorCode == "invalid_grant"
}

// TestRefreshSeesChanges: a role change shows in the next refreshed token;
// a disabled user can neither refresh nor log in, and their live access
// token introspects as inactive.
func TestRefreshSeesChanges(t *testing.T) {
	forEachLocal(t, nil, func(t *testing.T, l *local) {
		svc := l.srv.RBAC()
		u, err := svc.CreateUser(ctx(t), rbac.NewUser{Username: "carol", Password: "carol's long password"})
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.AddDepartment(ctx(t), rbac.Operator, u.ID, "INVENTORY"); err != nil {
			t.Fatal(err)
		}
		if err := svc.AssignRole(ctx(t), rbac.Operator, u.ID, "InventoryViewer"); err != nil {
			t.Fatal(err)
		}
		conf := webConfig(l.issuer)
		tok, err := conf.PasswordCredentialsToken(ctx(t), "carol", "carol's long password")
		if err != nil {
			t.Fatal(err)
		}
		_, c := payload(t, tok.AccessToken)
		if got := strs(c["permissions"]); !slices.Equal(got, []string{"inventory.read"}) {
			t.Fatalf("permissions = %v, want [inventory.read]", got)
		}

		if err := svc.AssignRole(ctx(t), rbac.Operator, u.ID, "InventoryManager"); err != nil {
			t.Fatal(err)
		}
		tok, err = refresh(t, conf, tok)
		if err != nil {
			t.Fatal(err)
		}
		_, c = payload(t, tok.AccessToken)
		if got := strs(c["permissions"]); !slices.Equal(got, []string{"inventory.read", "inventory.write"}) {
			t.Errorf("permissions after a role change and a refresh = %v, want inventory.read and inventory.write", got)
		}
		if got := strs(c["roles"]); !slices.Equal(got, []string{"InventoryManager", "InventoryViewer"}) {
			t.Errorf("roles after refresh = %v", got)
		}

		if _, err := l.store.UpdateUser(ctx(t), u.ID, func(u *storage.User) error { u.Active = false; return nil }); err != nil {
			t.Fatal(err)
		}
		if _, err := refresh(t, conf, tok); !isInvalidGrant(err) {
			t.Errorf("refresh of a disabled user: %v, want invalid_grant", err)
		}
		if _, err := conf.PasswordCredentialsToken(ctx(t), "carol", "carol's long password"); !isInvalidGrant(err) {
			t.Errorf("password login of a disabled user: %v, want invalid_grant", err)
		}
		if got := introspect(t, l.asIAM(), tok.AccessToken); got["active"] != false || len(got) != 1 {
			t.Errorf("introspection of a disabled user's token = %v, want {active:false}", got)
		}
	})
}

// TestSessionCap: past the maximum session age, refresh fails however
// recently the refresh token was rotated.
func TestSessionCap(t *testing.T) {
	forEachLocal(t, func(c *server.Config) { c.MaxSessionAge = 2 * time.Second }, func(t *testing.T, l *local) {
		conf := webConfig(l.issuer)
		tok, err := conf.PasswordCredentialsToken(ctx(t), "admin", adminPassword)
		if err != nil {
			t.Fatal(err)
		}
		if tok, err = refresh(t, conf, tok); err != nil {
			t.Fatalf("refresh within the session age: %v", err)
		}
		time.Sleep(2100 * time.Millisecond)
		if _, err := refresh(t, conf, tok); !isInvalidGrant(err) {
			t.Errorf("refresh past the session age: %v, want invalid_grant", err)
		}
	})
}

// TestGoldenTokens pins the token contract: the header and claims of a
// service and a user access token, volatile values replaced.
func TestGoldenTokens(t *testing.T) {
	forEachLocal(t, nil, func(t *testing.T, l *local) {
		cc := clientcredentials.Config{ClientID: "inventory-service", ClientSecret: serviceSecret, TokenURL: l.issuer + "/oauth2/token"}
		svcTok, err := cc.Token(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		userTok, err := webConfig(l.issuer, "openid", "offline_access").PasswordCredentialsToken(ctx(t), "admin", adminPassword)
		if err != nil {
			t.Fatal(err)
		}
		for name, token := range map[string]string{"service": svcTok.AccessToken, "user": userTok.AccessToken} {
			h, c := payload(t, token)
			if exp, iat := c["exp"].(float64), c["iat"].(float64); exp-iat != 900 {
				t.Errorf("%s token lives %v s, want 900 (15 minutes)", name, exp-iat)
			}
			if c["iss"] != l.issuer {
				t.Errorf("%s iss = %v, want %s", name, c["iss"], l.issuer)
			}
			for _, k := range []string{"exp", "iat", "jti", "iss"} {
				c[k] = "<" + k + ">"
			}
			h["kid"] = "<kid>"
			if name == "user" {
				c["sub"], c["sid"] = "<user id>", "<session id>"
			}
			var buf strings.Builder
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			_ = enc.Encode(map[string]any{"header": h, "claims": c})
			got := []byte(buf.String())
			golden := filepath.Join("testdata", name+"_token.golden.json")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run: go test ./conformance -run TestGoldenTokens -args -update)", err)
			}
			if strings.TrimSpace(string(got)) != strings.TrimSpace(string(want)) {
				t.Errorf("%s token =\n%s\nwant (%s)\n%s", name, got, golden, want)
			}
		}
	})
}

// TestDiscovery checks the metadata and the JWKS (checklist D1–D5, K1–K3).
func TestDiscovery(t *testing.T) {
	forEachLocal(t, nil, func(t *testing.T, l *local) {
		get := func(path string, host string) map[string]any {
			req, _ := http.NewRequest(http.MethodGet, l.issuer+path, nil)
			if host != "" {
				req.Host = host
				req.Header.Set("X-Forwarded-Host", host)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Fatalf("GET %s = %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			var m map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
				t.Fatal(err)
			}
			return m
		}
		oidcDoc := get("/.well-known/openid-configuration", "")
		asDoc := get("/.well-known/oauth-authorization-server", "evil.example")
		if oidcDoc["issuer"] != l.issuer || asDoc["issuer"] != l.issuer {
			t.Errorf("issuer = %v / %v, want exactly %s (even with a forged Host)", oidcDoc["issuer"], asDoc["issuer"], l.issuer)
		}
		for _, k := range []string{"token_endpoint", "jwks_uri", "revocation_endpoint", "introspection_endpoint", "userinfo_endpoint"} {
			if v, _ := oidcDoc[k].(string); !strings.HasPrefix(v, l.issuer+"/") {
				t.Errorf("%s = %v, want an endpoint under the issuer", k, oidcDoc[k])
			}
		}
		if got := strs(oidcDoc["grant_types_supported"]); !slices.Equal(got, []string{"authorization_code", "password", "client_credentials", "refresh_token"}) {
			t.Errorf("grant_types_supported = %v", got)
		}
		if got := strs(oidcDoc["id_token_signing_alg_values_supported"]); !slices.Equal(got, []string{"RS256"}) {
			t.Errorf("id_token_signing_alg_values_supported = %v", got)
		}
		if !slices.Contains(strs(oidcDoc["scopes_supported"]), "openid") {
			t.Errorf("scopes_supported lacks openid")
		}

		jwks := get("/.well-known/jwks.json", "")
		keys := jwks["keys"].([]any)
		if len(keys) == 0 {
			t.Fatal("JWKS has no keys")
		}
		kids := map[any]bool{}
		for _, k := range keys {
			key := k.(map[string]any)
			for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
				if _, ok := key[private]; ok {
					t.Errorf("JWKS key has private member %q", private)
				}
			}
			if key["kty"] != "RSA" || key["alg"] != "RS256" || key["use"] != "sig" || kids[key["kid"]] {
				t.Errorf("JWKS key = %v, want RSA, RS256, sig, a unique kid", key)
			}
			kids[key["kid"]] = true
			if n, _ := key["n"].(string); len(n) < 342 || strings.ContainsAny(n, "=+/") {
				t.Errorf("JWKS n is %d base64url characters, want ≥ 342 (RSA-2048), unpadded", len(n))
			}
		}
		if _, err := oidc.NewProvider(ctx(t), l.issuer); err != nil {
			t.Errorf("go-oidc refuses the discovery document: %v", err)
		}
	})
}

// TestUserinfo checks /userinfo and its RFC 6750 errors.
func TestUserinfo(t *testing.T) {
	forEachLocal(t, nil, func(t *testing.T, l *local) {
		user, err := webConfig(l.issuer, "openid", "profile", "email").PasswordCredentialsToken(ctx(t), "admin", adminPassword)
		if err != nil {
			t.Fatal(err)
		}
		p, err := oidc.NewProvider(ctx(t), l.issuer)
		if err != nil {
			t.Fatal(err)
		}
		info, err := p.UserInfo(ctx(t), oauth2.StaticTokenSource(user))
		if err != nil {
			t.Fatal(err)
		}
		var extra struct {
			Username string `json:"preferred_username"`
		}
		_ = info.Claims(&extra)
		if info.Email != "admin@example.com" || extra.Username != "admin" || info.Subject == "" {
			t.Errorf("userinfo = %+v %+v", info, extra)
		}

		svc, err := (&clientcredentials.Config{ClientID: "inventory-service", ClientSecret: serviceSecret, TokenURL: l.issuer + "/oauth2/token"}).Token(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name, auth, query string
			status            int
			challenge         string
		}{
			{"no token", "", "", 401, `Bearer realm="` + l.issuer + `"`},
			{"token in the query", "", "access_token=" + user.AccessToken, 401, `Bearer realm="` + l.issuer + `"`},
			{"garbage", "Bearer asdf", "", 401, `Bearer realm="` + l.issuer + `", error="invalid_token"`},
			{"refresh token as bearer", "Bearer " + user.RefreshToken, "", 401, `Bearer realm="` + l.issuer + `", error="invalid_token"`},
			{"service token", "Bearer " + svc.AccessToken, "", 403, `Bearer realm="` + l.issuer + `", error="insufficient_scope"`},
			{"lower-case scheme", "bearer " + user.AccessToken, "", 200, ""},
		} {
			u := l.issuer + "/userinfo"
			if tc.query != "" {
				u += "?" + tc.query
			}
			req, _ := http.NewRequest(http.MethodGet, u, nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status || resp.Header.Get("WWW-Authenticate") != tc.challenge {
				t.Errorf("%s: %d %q, want %d %q", tc.name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), tc.status, tc.challenge)
			}
		}
	})
}

// TestClientCacheBound: a disabled client is refused once the client cache
// TTL has passed, whatever the cache held.
func TestClientCacheBound(t *testing.T) {
	const ttl = 300 * time.Millisecond
	forEachLocal(t, func(c *server.Config) { c.ClientCacheTTL = ttl }, func(t *testing.T, l *local) {
		cc := clientcredentials.Config{ClientID: "inventory-service", ClientSecret: serviceSecret, TokenURL: l.issuer + "/oauth2/token"}
		if _, err := cc.Token(ctx(t)); err != nil {
			t.Fatal(err)
		}
		if _, err := l.store.UpdateClient(ctx(t), "inventory-service", func(c *storage.Client) error { c.Active = false; return nil }); err != nil {
			t.Fatal(err)
		}
		time.Sleep(ttl + 100*time.Millisecond)
		var re *oauth2.RetrieveError
		if _, err := cc.Token(ctx(t)); !errors.As(err, &re) || re.ErrorCode != "invalid_client" {
			t.Errorf("token for a client disabled %v ago (cache TTL %v): %v, want invalid_client", ttl+100*time.Millisecond, ttl, err)
		}
	})
}
