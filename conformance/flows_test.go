package conformance

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// payload decodes a JWT's header and claims without verifying it (the tests
// verify with go-oidc first).
func payload(t *testing.T, jwt string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not a compact JWS", jwt)
	}
	for i, dst := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatal(err)
		}
	}
	return header, claims
}

// verifyAccessToken checks an access token's signature against the remote
// JWKS found by discovery, as a resource server would.
func verifyAccessToken(t *testing.T, p *oidc.Provider, token string) map[string]any {
	t.Helper()
	var meta struct {
		JWKS string `json:"jwks_uri"`
	}
	if err := p.Claims(&meta); err != nil {
		t.Fatal(err)
	}
	if _, err := oidc.NewRemoteKeySet(ctx(t), meta.JWKS).VerifySignature(ctx(t), token); err != nil {
		t.Fatalf("access token signature does not verify against the JWKS: %v", err)
	}
	h, c := payload(t, token)
	if h["typ"] != "at+jwt" || h["alg"] != "RS256" || h["kid"] == "" {
		t.Errorf("access token header = %v, want alg RS256, a kid, typ at+jwt", h)
	}
	return c
}

func strs(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

func TestClientCredentials(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *iam) {
		p, err := oidc.NewProvider(ctx(t), s.issuer)
		if err != nil {
			t.Fatalf("discovery: %v", err)
		}
		cc := clientcredentials.Config{ClientID: "inventory-service", ClientSecret: serviceSecret, TokenURL: p.Endpoint().TokenURL}
		tok, err := cc.Token(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		if tok.RefreshToken != "" {
			t.Errorf("client credentials returned a refresh token (RFC 6749 §4.4.3)")
		}
		c := verifyAccessToken(t, p, tok.AccessToken)
		if c["type"] != "service" || c["sub"] != "inventory-service" || c["client_id"] != "inventory-service" || c["iss"] != s.issuer {
			t.Errorf("service claims = %v", c)
		}
		if _, ok := c["username"]; ok {
			t.Errorf("a service token carries username: %v", c)
		}
		if got := strs(c["permissions"]); !slices.Equal(got, []string{"inventory.read"}) {
			t.Errorf("permissions = %v, want [inventory.read]", got)
		}
		if got := strs(c["aud"]); !slices.Equal(got, []string{"gaia"}) {
			t.Errorf("aud = %v, want [gaia]", got)
		}

		// client_secret_post works too; a wrong secret does not.
		cc.AuthStyle = oauth2.AuthStyleInParams
		if _, err := cc.Token(ctx(t)); err != nil {
			t.Errorf("client_secret_post: %v", err)
		}
		cc.ClientSecret = "wrong"
		var re *oauth2.RetrieveError
		if _, err := cc.Token(ctx(t)); !errors.As(err, &re) || re.ErrorCode != "invalid_client" {
			t.Errorf("wrong secret: %v, want invalid_client", err)
		}
	})
}

// TestPasswordRefreshAndReuse runs without a reuse interval, so that a
// replay at once is reuse (TestRefreshReuseInterval has the interval).
func TestPasswordRefreshAndReuse(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *iam) {
		p, err := oidc.NewProvider(ctx(t), s.issuer)
		if err != nil {
			t.Fatal(err)
		}
		conf := oauth2.Config{ClientID: "gaia-web", ClientSecret: webSecret, Endpoint: p.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "profile", "email"}}
		tok, err := conf.PasswordCredentialsToken(ctx(t), "admin", adminPassword)
		if err != nil {
			t.Fatal(err)
		}
		c := verifyAccessToken(t, p, tok.AccessToken)
		if c["type"] != "user" || c["username"] != "admin" || c["scope"] != "openid profile email" || c["sid"] == "" {
			t.Errorf("user claims = %v", c)
		}
		if !slices.Contains(strs(c["roles"]), "PlatformAdmin") || !slices.Contains(strs(c["permissions"]), "iam.user.create") {
			t.Errorf("admin token lacks PlatformAdmin / iam.user.create: %v", c)
		}
		if tok.RefreshToken == "" {
			t.Fatal("password grant returned no refresh token")
		}

		raw, _ := tok.Extra("id_token").(string)
		idt, err := p.Verifier(&oidc.Config{ClientID: "gaia-web"}).Verify(ctx(t), raw)
		if err != nil {
			t.Fatalf("ID token: %v", err)
		}
		if idt.Subject != c["sub"] {
			t.Errorf("ID token sub %q ≠ access token sub %v", idt.Subject, c["sub"])
		}

		// Refresh through a TokenSource, as an application would.
		old := tok.RefreshToken
		tok.Expiry = time.Now().Add(-time.Minute)
		fresh, err := conf.TokenSource(ctx(t), tok).Token()
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		if fresh.RefreshToken == "" || fresh.RefreshToken == old || fresh.AccessToken == tok.AccessToken {
			t.Fatalf("refresh did not rotate: new RT %q, old %q", fresh.RefreshToken, old)
		}
		fc := verifyAccessToken(t, p, fresh.AccessToken)
		if fc["jti"] == c["jti"] || fc["sid"] != c["sid"] {
			t.Errorf("refreshed token jti/sid = %v/%v, want a new jti and the same sid", fc["jti"], fc["sid"])
		}

		// Replaying the used refresh token is reuse: it fails, and the whole family dies.
		replay := &oauth2.Token{RefreshToken: old, Expiry: time.Now().Add(-time.Minute)}
		var re *oauth2.RetrieveError
		if _, err := conf.TokenSource(ctx(t), replay).Token(); !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
			t.Fatalf("replayed refresh token: %v, want invalid_grant", err)
		}
		fresh.Expiry = time.Now().Add(-time.Minute)
		if _, err := conf.TokenSource(ctx(t), fresh).Token(); !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
			t.Errorf("newest refresh token after reuse: %v, want invalid_grant (family revoked)", err)
		}
		if got := introspect(t, s, fresh.AccessToken); got["active"] != false || len(got) != 1 {
			t.Errorf("introspection of the family's access token after reuse = %v, want {active:false}", got)
		}
	}, "GAIA_REFRESH_REUSE_INTERVAL=0")
}

// TestConcurrentRefresh: of concurrent refreshes with one token exactly
// one succeeds, the others get invalid_grant, and the login lives on: the
// winner's new token refreshes again, round after round, as two browser
// tabs sharing a login would. The losers used to be taken for reuse when
// they arrived after the winner's commit, revoking the whole login.
func TestConcurrentRefresh(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *iam) {
		conf := webConfig(s.issuer)
		tok, err := conf.PasswordCredentialsToken(ctx(t), "admin", adminPassword)
		if err != nil {
			t.Fatal(err)
		}
		const n, rounds = 20, 4
		for round := range rounds {
			var wg sync.WaitGroup
			codes := make([]string, n)
			toks := make([]*oauth2.Token, n)
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-start
					next, err := refresh(t, conf, tok)
					var re *oauth2.RetrieveError
					switch {
					case err == nil:
						codes[i], toks[i] = "ok", next
					case errors.As(err, &re):
						codes[i] = re.ErrorCode
					default:
						codes[i] = err.Error()
					}
				})
			}
			close(start)
			wg.Wait()
			winner := slices.Index(codes, "ok")
			if ok := slices.DeleteFunc(slices.Clone(codes), func(c string) bool { return c != "ok" }); len(ok) != 1 {
				t.Fatalf("round %d: %d concurrent refreshes of one token: outcomes %v, want exactly one ok", round, n, codes)
			}
			for _, c := range codes {
				if c != "ok" && c != "invalid_grant" {
					t.Errorf("round %d: a losing refresh answered %q, want invalid_grant", round, c)
				}
			}
			tok = toks[winner]
		}
		// The last winner's token, too, still refreshes.
		if _, err := refresh(t, conf, tok); err != nil {
			t.Errorf("refresh with the last winner's token: %v, want the login live", err)
		}
	})
}

func TestRevokeThenIntrospect(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *iam) {
		conf := oauth2.Config{ClientID: "gaia-web", ClientSecret: webSecret, Endpoint: oauth2.Endpoint{TokenURL: s.issuer + "/oauth2/token"}}
		tok, err := conf.PasswordCredentialsToken(ctx(t), "admin", adminPassword)
		if err != nil {
			t.Fatal(err)
		}
		got := introspect(t, s, tok.AccessToken)
		if got["active"] != true || got["client_id"] != "gaia-web" || got["username"] != "admin" || got["token_type"] != "Bearer" {
			t.Errorf("introspection of a live token = %v", got)
		}
		if got := introspect(t, s, tok.RefreshToken); got["active"] != true {
			t.Errorf("introspection of a live refresh token = %v", got)
		}
		if code := revoke(t, s, tok.RefreshToken); code != http.StatusOK {
			t.Fatalf("revoke = %d, want 200", code)
		}
		for name, token := range map[string]string{"access": tok.AccessToken, "refresh": tok.RefreshToken, "garbage": "asdf"} {
			if got := introspect(t, s, token); got["active"] != false || len(got) != 1 {
				t.Errorf("introspection of revoked %s token = %v, want only active:false", name, got)
			}
		}
		if code := revoke(t, s, "asdf"); code != http.StatusOK {
			t.Errorf("revoke(garbage) = %d, want 200 (RFC 7009 §2.2)", code)
		}
		var re *oauth2.RetrieveError
		if _, err := conf.TokenSource(ctx(t), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
			t.Errorf("refresh with a revoked token: %v, want invalid_grant", err)
		}
	})
}

func introspect(t *testing.T, s *iam, token string) map[string]any {
	t.Helper()
	return introspectAs(t, s, "gaia-web", webSecret, token)
}

func introspectAs(t *testing.T, s *iam, clientID, secret, token string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.issuer+"/oauth2/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "no-store" {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("introspect = %d %q %s", resp.StatusCode, resp.Header.Get("Cache-Control"), b)
	}
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func revoke(t *testing.T, s *iam, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.issuer+"/oauth2/revoke", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("gaia-web", webSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestKeyRotation rotates the signing key with the CLI while the server
// runs: the server publishes the next key at once but signs on with the old
// one (the publish delay, 60.2 s here, outlasts every replica's reload and
// every resource server's JWKS cache); tokens signed before still verify
// and introspect as active. Then `keys revoke` of the old key: its tokens
// are refused by introspection at once, the server stops publishing it at
// its next reload and signs with the next key, published all along.
func TestKeyRotation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *iam) {
		p, err := oidc.NewProvider(ctx(t), s.issuer)
		if err != nil {
			t.Fatal(err)
		}
		cc := clientcredentials.Config{ClientID: "inventory-service", ClientSecret: serviceSecret, TokenURL: p.Endpoint().TokenURL}
		before, err := cc.Token(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		h, _ := payload(t, before.AccessToken)
		oldKid, _ := h["kid"].(string)
		m := regexp.MustCompile(`new signing key (\S+), published now; it signs from \S+ \(in 1m0\.2s`).FindStringSubmatch(s.keys(t, "rotate"))
		if m == nil {
			t.Fatal("keys rotate did not print the new key and its 1m0.2s publish delay")
		}
		next := m[1]

		// The server loads the next key within its refresh interval (200 ms here).
		waitUntil(t, "the server to publish the next key", func() bool { return slices.Contains(publishedKIDs(t, s.issuer), next) })
		after, err := cc.Token(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		if h, _ := payload(t, after.AccessToken); h["kid"] != oldKid {
			t.Errorf("a token issued during the publish delay has kid %v, want the old %s", h["kid"], oldKid)
		}
		verifyAccessToken(t, p, before.AccessToken)
		if got := introspectAs(t, s, "inventory-service", serviceSecret, before.AccessToken); got["active"] != true {
			t.Errorf("a token signed by the old key introspects as %v, want active (fosite#786)", got)
		}
		list := s.keys(t, "list")
		for _, want := range []string{next + "  next ", oldKid + "  current "} {
			if !strings.Contains(list, want) {
				t.Errorf("keys list = %q, want a line starting %q", list, want)
			}
		}

		s.keys(t, "revoke", oldKid)
		if got := introspectAs(t, s, "inventory-service", serviceSecret, before.AccessToken); got["active"] != false {
			t.Errorf("a token of the revoked key introspects as %v right after keys revoke, want inactive", got)
		}
		waitUntil(t, "the server to unpublish the revoked key", func() bool { return slices.Equal(publishedKIDs(t, s.issuer), []string{next}) })
		waitUntil(t, "the server to sign with the next key", func() bool {
			after, err = cc.Token(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			h, _ := payload(t, after.AccessToken)
			return h["kid"] == next
		})
		verifyAccessToken(t, p, after.AccessToken)
		list = s.keys(t, "list")
		for _, want := range []string{next + "  current ", oldKid + "  revoked "} {
			if !strings.Contains(list, want) {
				t.Errorf("keys list after revoke = %q, want a line starting %q", list, want)
			}
		}
	})
}

// waitUntil polls cond until it holds, failing t after 10 s: for a
// server's key reload, which runs on its own schedule.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10s for %s", what)
		}
	}
}
