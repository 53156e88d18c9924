package conformance

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/gaia-platform/iam/storage/storagetest"
)

// TestPublicClient: a client the seed marks public logs users in and
// refreshes with its client_id alone; it may not present a secret, and may
// not use client credentials.
func TestPublicClient(t *testing.T) {
	forEachLocal(t, nil, func(t *testing.T, l *local) {
		conf := &oauth2.Config{ClientID: "gaia-cli", Endpoint: oauth2.Endpoint{TokenURL: l.issuer + "/oauth2/token", AuthStyle: oauth2.AuthStyleInParams}}
		tok, err := conf.PasswordCredentialsToken(ctx(t), "admin", adminPassword)
		if err != nil {
			t.Fatalf("public client password grant: %v", err)
		}
		if _, err := refresh(t, conf, tok); err != nil {
			t.Errorf("public client refresh: %v", err)
		}
		withSecret := *conf
		withSecret.ClientSecret = "anything-at-all"
		var re *oauth2.RetrieveError
		if _, err := withSecret.PasswordCredentialsToken(ctx(t), "admin", adminPassword); !errors.As(err, &re) || re.ErrorCode != "invalid_client" {
			t.Errorf("public client presenting a secret: %v, want invalid_client", err)
		}
	})
}

// TestTokenResponseHeaders: a successful token response is JSON and never cached (RFC 6749 §5.1).
func TestTokenResponseHeaders(t *testing.T) {
	forEachLocal(t, nil, func(t *testing.T, l *local) {
		r := tokenCall{body: "grant_type=client_credentials", basic: [2]string{"inventory-service", serviceSecret}}.do(t, l.asIAM())
		if r.status != 200 || r.header.Get("Cache-Control") != "no-store" || r.header.Get("Pragma") != "no-cache" || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
			t.Errorf("token response %d %v, want 200 with no-store, no-cache, JSON", r.status, r.header)
		}
		if r.body["token_type"] == nil || r.body["expires_in"] == nil || r.body["access_token"] == nil {
			t.Errorf("token response body %v lacks access_token, token_type or expires_in", r.body)
		}
	})
}

// FuzzTokenEndpoint sends arbitrary bodies and authorization headers to the
// token endpoint: whatever the input, the answer is never a server error.
func FuzzTokenEndpoint(f *testing.F) {
	for _, seed := range []struct{ body, auth string }{
		{"grant_type=client_credentials", "Basic aW52ZW50b3J5LXNlcnZpY2U6eA=="},
		{"grant_type=password&username=admin&password=x", ""},
		{"grant_type=refresh_token&refresh_token=a.b", "Basic Z2FpYS13ZWI6eA=="},
		{"grant_type=password&username=%ZZ", "Basic !!!"},
		{"grant_type=client_credentials&scope=%00%ff&audience=\x00", "Bearer x"},
		{"grant_type=refresh_token&refresh_token=" + strings.Repeat("A", 5000), "Basic Og=="},
		{"client_id=gaia-cli&grant_type=password&username=admin&password=", ""},
		{"&&&===;;;", "Basic " + strings.Repeat("=", 100)},
	} {
		f.Add(seed.body, seed.auth)
	}
	store := storagetest.SQLite(f)
	h := startLocal(f, store, nil).srv.Handler()
	f.Fuzz(func(t *testing.T, body, auth string) {
		req := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if auth != "" && !strings.ContainsAny(auth, "\r\n") {
			req.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("token endpoint answered %d to body %q, Authorization %q: %s", w.Code, body, auth, w.Body)
		}
	})
}
