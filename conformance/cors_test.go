package conformance

import (
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const spaOrigin = "http://127.0.0.1:5173"

// TestCORS: the endpoints a browser app fetches answer CORS for the
// configured origins only; the others answer no preflight at all.
func TestCORS(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *iam) {
		preflight := func(t *testing.T, path, origin, method, headers string) *http.Response {
			t.Helper()
			req, _ := http.NewRequestWithContext(ctx(t), http.MethodOptions, s.issuer+path, nil)
			req.Header.Set("Origin", origin)
			req.Header.Set("Access-Control-Request-Method", method)
			if headers != "" {
				req.Header.Set("Access-Control-Request-Headers", headers)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp
		}
		for _, path := range []string{"/oauth2/token", "/oauth2/revoke", "/userinfo", "/.well-known/openid-configuration", "/.well-known/jwks.json"} {
			t.Run("preflight allowed "+path, func(t *testing.T) {
				resp := preflight(t, path, spaOrigin, "POST", "authorization")
				if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != spaOrigin {
					t.Errorf("status %d, Access-Control-Allow-Origin %q; want 204 and %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"), spaOrigin)
				}
				if resp.Header.Get("Access-Control-Allow-Credentials") != "" {
					t.Error("credentials allowed")
				}
				if !slices.Contains(resp.Header.Values("Vary"), "Origin") {
					t.Errorf("Vary %q without Origin", resp.Header.Values("Vary"))
				}
			})
			t.Run("preflight refused "+path, func(t *testing.T) {
				resp := preflight(t, path, "https://evil.example", "POST", "")
				if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" {
					t.Errorf("status %d, Access-Control-Allow-Origin %q; want 403 and none", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
				}
			})
		}
		for _, path := range []string{"/oauth2/introspect", "/admin/v1/users"} {
			t.Run("no CORS on "+path, func(t *testing.T) {
				resp := preflight(t, path, spaOrigin, "POST", "authorization")
				if resp.StatusCode < 400 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
					t.Errorf("status %d, Access-Control-Allow-Origin %q; want an error and none", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
				}
			})
		}
		t.Run("token request from an allowed and a refused origin", func(t *testing.T) {
			for origin, want := range map[string]string{spaOrigin: spaOrigin, "https://evil.example": ""} {
				form := url.Values{"grant_type": {"password"}, "username": {"admin"}, "password": {adminPassword}}
				req, _ := http.NewRequestWithContext(ctx(t), http.MethodPost, s.issuer+"/oauth2/token", strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Origin", origin)
				req.SetBasicAuth("gaia-web", webSecret)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != want {
					t.Errorf("origin %s: status %d, Access-Control-Allow-Origin %q; want 200 and %q", origin, resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"), want)
				}
				if got := resp.Header.Get("Access-Control-Expose-Headers"); want != "" && got != "WWW-Authenticate" {
					t.Errorf("Access-Control-Expose-Headers %q", got)
				}
			}
		})
	}, "GAIA_CORS_ALLOWED_ORIGINS="+spaOrigin+",https://app.example.com")
}

// TestCORSBadOrigin: a wildcard or a URL with a path is a start-up error.
func TestCORSBadOrigin(t *testing.T) {
	for _, v := range []string{"*", "https://app.example.com/", "https://*.example.com"} {
		cmd := exec.Command(binary, "serve", "--listen", "127.0.0.1:0", "--cors-allowed-origins", v)
		cmd.Dir = t.TempDir()
		cmd.Env = []string{"GAIA_DATABASE_URL=sqlite:" + cmd.Dir + "/gaia.db"}
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "--cors-allowed-origins") {
			t.Errorf("serve --cors-allowed-origins %q: %v\n%s", v, err, out)
		}
	}
}
