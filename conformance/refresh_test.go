package conformance

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// TestRefreshForgedReuse: a presented refresh token whose HMAC does not
// verify is not reuse, whatever its signature part names. It used to
// revoke the login of the rotated token whose signature it carried.
func TestRefreshForgedReuse(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *iam) {
		conf := webConfig(s.issuer)
		first, err := conf.PasswordCredentialsToken(ctx(t), "admin", adminPassword)
		if err != nil {
			t.Fatal(err)
		}
		second, err := refresh(t, conf, first) // first is now rotated
		if err != nil {
			t.Fatal(err)
		}
		for name, forged := range map[string]string{
			"of the rotated token": forgedRefresh(t, first),
			"of the live token":    forgedRefresh(t, second),
		} {
			if r := refreshForm(t, s, forged, ""); r.status != http.StatusBadRequest || r.body["error"] != "invalid_grant" {
				t.Errorf("refresh with a forged token %s = %d %s, want 400 invalid_grant", name, r.status, r.raw)
			}
		}
		if _, err := refresh(t, conf, second); err != nil {
			t.Errorf("refresh after forged tokens were presented: %v, want the login still live", err)
		}
	})
}

// TestRefreshScope: the scope parameter of a refresh request (RFC 6749 §6)
// narrows the new access token's scope; asking for more than the login was
// granted is invalid_scope and rotates nothing. The new refresh token keeps
// the login's scope, so a later refresh may ask for all of it again.
func TestRefreshScope(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *iam) {
		tok, err := webConfig(s.issuer, "openid", "profile", "email").PasswordCredentialsToken(ctx(t), "admin", adminPassword)
		if err != nil {
			t.Fatal(err)
		}
		rt := tok.RefreshToken
		for _, wider := range []string{"openid offline_access", "openid inventory.read", "nonsense"} {
			if r := refreshForm(t, s, rt, wider); r.status != http.StatusBadRequest || r.body["error"] != "invalid_scope" {
				t.Errorf("refresh asking for %q = %d %s, want 400 invalid_scope", wider, r.status, r.raw)
			}
		}

		r := refreshForm(t, s, rt, "profile openid")
		if r.status != http.StatusOK {
			t.Fatalf("narrowing refresh = %d %s, want 200 (the refused ones must not have rotated the token)", r.status, r.raw)
		}
		if _, c := payload(t, r.body["access_token"].(string)); c["scope"] != "profile openid" || r.body["scope"] != "profile openid" {
			t.Errorf("narrowed access token scope %v, response scope %v, want \"profile openid\"", c["scope"], r.body["scope"])
		}
		if _, ok := r.body["id_token"]; !ok {
			t.Errorf("a refresh narrowed to openid profile returned no ID token")
		}

		r = refreshForm(t, s, r.body["refresh_token"].(string), "")
		if r.status != http.StatusOK {
			t.Fatalf("refresh without scope = %d %s", r.status, r.raw)
		}
		if _, c := payload(t, r.body["access_token"].(string)); c["scope"] != "openid profile email" {
			t.Errorf("refresh without scope after a narrowed one: scope %v, want the login's \"openid profile email\"", c["scope"])
		}

		r = refreshForm(t, s, r.body["refresh_token"].(string), "email")
		if r.status != http.StatusOK {
			t.Fatalf("refresh narrowed to email = %d %s", r.status, r.raw)
		}
		if _, ok := r.body["id_token"]; ok {
			t.Errorf("a refresh narrowed to email (no openid) returned an ID token")
		}
	})
}

// forgedRefresh is a refresh token with the signature (storage key) of tok
// and a key part that is not: its HMAC does not verify.
func forgedRefresh(t *testing.T, tok *oauth2.Token) string {
	t.Helper()
	_, sig, ok := strings.Cut(tok.RefreshToken, ".")
	if !ok {
		t.Fatalf("refresh token has no signature part")
	}
	return base64.RawURLEncoding.EncodeToString([]byte("not the key")) + "." + sig
}

// refreshForm posts a refresh request as gaia-web, with scope when given.
func refreshForm(t *testing.T, s *iam, refreshToken, scope string) tokenResult {
	t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}
	if scope != "" {
		form.Set("scope", scope)
	}
	return tokenCall{body: form.Encode(), basic: web}.do(t, s)
}
