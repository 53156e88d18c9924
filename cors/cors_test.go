package cors_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/gaia-platform/iam/cors"
)

func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	p, err := cors.New(cors.Config{
		AllowedOrigins: []string{"https://app.example.com", "http://127.0.0.1:5173"},
		Methods:        []string{"PUT", "DELETE"},
		Headers:        []string{"Authorization", "Content-Type"},
		Expose:         []string{"WWW-Authenticate"},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "answer")
	})))
	t.Cleanup(srv.Close)
	return srv
}

func do(t *testing.T, method, url string, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func TestPreflight(t *testing.T) {
	srv := newServer(t)
	tests := []struct {
		name   string
		hdr    map[string]string
		status int
		allow  string // Access-Control-Allow-Origin, "" for none
	}{
		{"allowed origin, PUT with Authorization", map[string]string{"Origin": "https://app.example.com", "Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "authorization,content-type"}, 204, "https://app.example.com"},
		{"allowed origin, POST no headers", map[string]string{"Origin": "http://127.0.0.1:5173", "Access-Control-Request-Method": "POST"}, 204, "http://127.0.0.1:5173"},
		{"unknown origin", map[string]string{"Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"}, 403, ""},
		{"origin differing by port", map[string]string{"Origin": "http://127.0.0.1:5174", "Access-Control-Request-Method": "GET"}, 403, ""},
		{"origin differing by scheme", map[string]string{"Origin": "http://app.example.com", "Access-Control-Request-Method": "GET"}, 403, ""},
		{"suffix of an allowed origin", map[string]string{"Origin": "https://app.example.com.evil.net", "Access-Control-Request-Method": "GET"}, 403, ""},
		{"null origin", map[string]string{"Origin": "null", "Access-Control-Request-Method": "GET"}, 403, ""},
		{"method not allowed", map[string]string{"Origin": "https://app.example.com", "Access-Control-Request-Method": "PATCH"}, 403, ""},
		{"header not allowed", map[string]string{"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization,x-evil"}, 403, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := do(t, http.MethodOptions, srv.URL, tc.hdr)
			if resp.StatusCode != tc.status {
				t.Errorf("status = %d, want %d", resp.StatusCode, tc.status)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tc.allow {
				t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, tc.allow)
			}
			if got := resp.Header.Get("Access-Control-Allow-Credentials"); got != "" {
				t.Errorf("Access-Control-Allow-Credentials = %q, want none", got)
			}
			if !slices.Contains(resp.Header.Values("Vary"), "Origin") {
				t.Errorf("Vary = %q, want Origin in it", resp.Header.Values("Vary"))
			}
			if tc.status == 204 {
				if m := resp.Header.Get("Access-Control-Allow-Methods"); !strings.Contains(m, "PUT") || !strings.Contains(m, "DELETE") {
					t.Errorf("Access-Control-Allow-Methods = %q", m)
				}
				if h := resp.Header.Get("Access-Control-Allow-Headers"); h != "Authorization, Content-Type" {
					t.Errorf("Access-Control-Allow-Headers = %q", h)
				}
				if a := resp.Header.Get("Access-Control-Max-Age"); a != "600" {
					t.Errorf("Access-Control-Max-Age = %q, want 600", a)
				}
			}
		})
	}
}

func TestActualRequest(t *testing.T) {
	srv := newServer(t)
	tests := []struct {
		name, origin, allow string
	}{
		{"allowed", "https://app.example.com", "https://app.example.com"},
		{"refused", "https://evil.example.com", ""},
		{"same origin or no browser", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tc.origin != "" {
				hdr["Origin"] = tc.origin
			}
			resp := do(t, http.MethodGet, srv.URL, hdr)
			if resp.StatusCode != 200 {
				t.Errorf("status = %d, want 200 (the handler answers; the browser enforces)", resp.StatusCode)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tc.allow {
				t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, tc.allow)
			}
			if got := resp.Header.Get("Vary"); got != "Origin" {
				t.Errorf("Vary = %q, want Origin", got)
			}
			wantExpose := ""
			if tc.allow != "" {
				wantExpose = "WWW-Authenticate"
			}
			if got := resp.Header.Get("Access-Control-Expose-Headers"); got != wantExpose {
				t.Errorf("Access-Control-Expose-Headers = %q, want %q", got, wantExpose)
			}
		})
	}
}

func TestCheckOrigin(t *testing.T) {
	good := []string{"https://app.example.com", "http://127.0.0.1:5173", "http://[::1]:8080", "https://a.example:8443"}
	bad := []string{"", "*", "null", "https://*.example.com", "https://app.example.com/", "https://app.example.com/path",
		"ftp://example.com", "https://App.Example.com", "https://user@example.com", "https://example.com?x", "https://example.com#",
		"https://example.com:443", "http://example.com:80", "https://example.com:99999", "example.com"}
	for _, o := range good {
		if err := cors.CheckOrigin(o); err != nil {
			t.Errorf("CheckOrigin(%q) = %v, want nil", o, err)
		}
	}
	for _, o := range bad {
		if err := cors.CheckOrigin(o); err == nil {
			t.Errorf("CheckOrigin(%q) = nil, want an error", o)
		}
	}
	if _, err := cors.New(cors.Config{AllowedOrigins: []string{"*"}}); err == nil {
		t.Error("New with a wildcard origin: no error")
	}
	got, err := cors.ParseList(" https://a.example , http://127.0.0.1:3000,")
	if err != nil || !slices.Equal(got, []string{"https://a.example", "http://127.0.0.1:3000"}) {
		t.Errorf("ParseList = %q, %v", got, err)
	}
	if _, err := cors.ParseList("https://a.example,https://*.b.example"); err == nil {
		t.Error("ParseList with a wildcard: no error")
	}
}
