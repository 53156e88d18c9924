package conformance

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gaia-platform/iam/server"
	"github.com/gaia-platform/iam/storage"
)

// TestResponseHygiene: every answer carries the security headers of a JSON
// API; the endpoints that carry secrets are never cached, discovery is.
func TestResponseHygiene(t *testing.T) {
	forEachLocal(t, nil, func(t *testing.T, l *local) {
		tok := userToken(t, l.issuer, "admin", adminPassword)
		for _, tc := range []struct {
			method, path, body string
			bearer, noStore    bool
		}{
			{http.MethodPost, "/oauth2/token", "grant_type=password&username=admin&password=" + url.QueryEscape(adminPassword), false, true},
			{http.MethodPost, "/oauth2/token", "grant_type=password&username=admin&password=wrong-wrong", false, true},
			{http.MethodPost, "/oauth2/introspect", "token=" + tok.AccessToken, false, true},
			{http.MethodPost, "/oauth2/revoke", "token=nothing", false, true},
			{http.MethodGet, "/userinfo", "", true, true},
			{http.MethodGet, "/admin/v1/users", "", true, true},
			{http.MethodGet, "/admin/v1/nothing-here", "", true, true},
			{http.MethodGet, "/.well-known/openid-configuration", "", false, false},
			{http.MethodGet, "/.well-known/jwks.json", "", false, false},
			{http.MethodGet, "/healthz", "", false, true},
			{http.MethodGet, "/no-such-path", "", false, false},
		} {
			req, _ := http.NewRequest(tc.method, l.issuer+tc.path, strings.NewReader(tc.body))
			if tc.body != "" {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth("gaia-web", webSecret)
			}
			if tc.bearer {
				req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			h := resp.Header
			name := tc.method + " " + tc.path
			for k, want := range map[string]string{
				"X-Content-Type-Options": "nosniff",
				"X-Frame-Options":        "DENY",
				"Referrer-Policy":        "no-referrer",
			} {
				if got := h.Get(k); got != want {
					t.Errorf("%s (%d): %s %q, want %q", name, resp.StatusCode, k, got, want)
				}
			}
			if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
				t.Errorf("%s: Content-Security-Policy %q, want default-src 'none' and frame-ancestors 'none'", name, csp)
			}
			if noStore := h.Get("Cache-Control") == "no-store"; noStore != tc.noStore {
				t.Errorf("%s (%d): Cache-Control %q, want no-store: %v", name, resp.StatusCode, h.Get("Cache-Control"), tc.noStore)
			}
		}
	})
}

// TestFormLimits: the token, revocation and introspection endpoints refuse
// a form with more fields, a longer name or a longer value than any real
// request has, with 400 invalid_request — before authenticating anyone.
func TestFormLimits(t *testing.T) {
	forEachLocal(t, nil, func(t *testing.T, l *local) {
		many := url.Values{"grant_type": {"client_credentials"}}
		for i := range 16 {
			many.Set("x"+strings.Repeat("y", i), "1")
		}
		for name, form := range map[string]url.Values{
			"17 fields":          many,
			"a 65-byte name":     {"grant_type": {"client_credentials"}, strings.Repeat("n", 65): {"1"}},
			"a 16 KiB + 1 value": {"grant_type": {"client_credentials"}, "scope": {strings.Repeat("s", 16<<10+1)}},
		} {
			for _, path := range []string{"/oauth2/token", "/oauth2/revoke", "/oauth2/introspect"} {
				if path != "/oauth2/token" {
					form.Set("token", "t")
				}
				r := postAsWeb(t, l.issuer, path, form)
				if r.status != http.StatusBadRequest || r.body["error"] != "invalid_request" {
					t.Errorf("%s with %s: %d %s, want 400 invalid_request", path, name, r.status, r.raw)
				}
			}
		}
		// At the limits, the same request is served.
		ok := url.Values{"grant_type": {"client_credentials"}, "scope": {""}}
		if r := postAsWeb(t, l.issuer, "/oauth2/token", ok); r.status == http.StatusBadRequest && r.body["error"] == "invalid_request" {
			t.Errorf("a plain request: %d %s", r.status, r.raw)
		}
	})
}

// TestHeaderLimit: headers past the limit (32 KiB) are refused with 431
// before any handler runs.
func TestHeaderLimit(t *testing.T) {
	forEachLocal(t, nil, func(t *testing.T, l *local) {
		req, _ := http.NewRequest(http.MethodGet, l.issuer+"/userinfo", nil)
		req.Header.Set("Authorization", "Bearer "+strings.Repeat("a", 1<<20))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("1 MiB Authorization header: %d %s, want 431", resp.StatusCode, body)
		}
	})
}

// TestTrustedProxies: the audit log records the client address a trusted
// proxy forwarded, and the peer address when the peer is not trusted,
// whatever header it sends.
func TestTrustedProxies(t *testing.T) {
	for _, tc := range []struct {
		name    string
		trusted []string
		want    string
	}{
		{"untrusted peer", nil, "127.0.0.1"},
		{"trusted peer", []string{"127.0.0.0/8"}, "198.51.100.7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachLocal(t, func(c *server.Config) { c.TrustedProxies = tc.trusted }, func(t *testing.T, l *local) {
				req, _ := http.NewRequest(http.MethodPost, l.issuer+"/oauth2/token", strings.NewReader(passwordLogin("admin", "wrong password here")))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("X-Forwarded-For", "203.0.113.66, 198.51.100.7")
				req.SetBasicAuth("gaia-web", webSecret)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if err := l.srv.Audit().Flush(ctx(t)); err != nil {
					t.Fatal(err)
				}
				got, err := l.store.ListAudit(ctx(t), storage.AuditFilter{Limit: 1})
				if err != nil || len(got) != 1 {
					t.Fatalf("ListAudit = %v, %v", got, err)
				}
				if got[0].ClientIP != tc.want {
					t.Errorf("audit client IP %q, want %q", got[0].ClientIP, tc.want)
				}
			})
		})
	}
}
