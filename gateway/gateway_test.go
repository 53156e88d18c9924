package gateway_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/gaia-platform/iam/gateway"
)

func exampleRules(t testing.TB) *gateway.Rules {
	t.Helper()
	b, err := os.ReadFile("../gateway-rules.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rs, err := gateway.ParseRules(b)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// startGateway serves a gateway for proxy over real HTTP.
func startGateway(t *testing.T, iss *issuer, proxy gateway.Proxy) string {
	t.Helper()
	h, err := gateway.New(gateway.Config{Rules: exampleRules(t), Proxy: proxy}, iss.verifier(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

type answer struct {
	status    int
	challenge string
	header    http.Header
}

func ask(t *testing.T, method, u string, header ...string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return answer{resp.StatusCode, resp.Header.Get("WWW-Authenticate"), resp.Header}
}

func TestDecisions(t *testing.T) {
	iss := newIssuer(t)
	reader := "Bearer " + iss.mint(t, "inventory.read")
	nobody := "Bearer " + iss.mint(t, "analytics.report.view")
	const (
		denied  = `Bearer realm="gaia", error="insufficient_scope", error_description="no rule allows the request"`
		invalid = `Bearer realm="gaia", error="invalid_token"`
	)
	nginx := startGateway(t, iss, gateway.NGINX)
	traefik := startGateway(t, iss, gateway.Traefik)
	envoy := startGateway(t, iss, gateway.Envoy)
	tests := []struct {
		name          string
		method, url   string
		header        []string
		status        int
		challenge     string
		wantIdentity  bool
		wantNoCaching bool
	}{
		{"nginx allowed", "GET", nginx + "/auth", []string{"X-Original-Method", "GET", "X-Original-URI", "/items/7?x=1", "Authorization", reader}, 200, "", true, true},
		{"nginx HEAD by a GET rule", "GET", nginx + "/auth", []string{"X-Original-Method", "HEAD", "X-Original-URI", "/items", "Authorization", reader}, 200, "", true, true},
		{"nginx no token", "GET", nginx + "/auth", []string{"X-Original-Method", "GET", "X-Original-URI", "/items"}, 401, `Bearer realm="gaia"`, false, true},
		{"nginx forged token", "GET", nginx + "/auth", []string{"X-Original-Method", "GET", "X-Original-URI", "/items", "Authorization", reader[:len(reader)-4] + "AAAA"}, 401, invalid, false, true},
		{"nginx malformed header is 401, not 400", "GET", nginx + "/auth", []string{"X-Original-Method", "GET", "X-Original-URI", "/items", "Authorization", "Bearer a b"}, 401, `Bearer realm="gaia", error="invalid_request"`, false, true},
		{"nginx missing permission", "GET", nginx + "/auth", []string{"X-Original-Method", "POST", "X-Original-URI", "/items", "Authorization", reader}, 403, `Bearer realm="gaia", error="insufficient_scope", scope="inventory.write"`, false, true},
		{"nginx no permission at all", "GET", nginx + "/auth", []string{"X-Original-Method", "GET", "X-Original-URI", "/items", "Authorization", nobody}, 403, `Bearer realm="gaia", error="insufficient_scope", scope="inventory.read"`, false, true},
		{"nginx unmatched, no token: 401 first", "GET", nginx + "/auth", []string{"X-Original-Method", "GET", "X-Original-URI", "/admin"}, 401, `Bearer realm="gaia"`, false, true},
		{"nginx unmatched", "GET", nginx + "/auth", []string{"X-Original-Method", "GET", "X-Original-URI", "/admin", "Authorization", reader}, 403, denied, false, true},
		{"nginx public", "GET", nginx + "/auth", []string{"X-Original-Method", "GET", "X-Original-URI", "/healthz"}, 200, "", false, true},
		{"nginx dot segment", "GET", nginx + "/auth", []string{"X-Original-Method", "GET", "X-Original-URI", "/healthz/../items", "Authorization", reader}, 403, `Bearer realm="gaia", error="insufficient_scope", error_description="request path not canonical"`, false, true},
		{"nginx no original URI", "GET", nginx + "/auth", []string{"X-Original-Method", "GET", "Authorization", reader}, 403, `Bearer realm="gaia", error="insufficient_scope", error_description="original request missing or repeated"`, false, true},
		{"nginx two original URIs", "GET", nginx + "/auth", []string{"X-Original-Method", "GET", "X-Original-URI", "/items", "X-Original-URI", "/admin", "Authorization", reader}, 403, "", false, true},
		{"nginx ignores X-Forwarded", "GET", nginx + "/auth", []string{"X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/healthz"}, 403, "", false, true},
		{"nginx other path", "GET", nginx + "/auth/items", []string{"X-Original-Method", "GET", "X-Original-URI", "/healthz"}, 404, "", false, false},
		{"traefik allowed", "GET", traefik + "/auth", []string{"X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/items", "Authorization", reader}, 200, "", true, true},
		// A client sends X-Original-URI through Traefik: it must not count.
		{"traefik ignores X-Original", "GET", traefik + "/auth", []string{"X-Original-Method", "GET", "X-Original-URI", "/healthz", "X-Forwarded-Method", "POST", "X-Forwarded-Uri", "/items", "Authorization", reader}, 403, `Bearer realm="gaia", error="insufficient_scope", scope="inventory.write"`, false, true},
		{"envoy allowed", "GET", envoy + "/auth/items/7", []string{"Authorization", reader}, 200, "", true, true},
		{"envoy method", "DELETE", envoy + "/auth/items/7", []string{"Authorization", reader}, 403, `Bearer realm="gaia", error="insufficient_scope", scope="inventory.write"`, false, true},
		{"envoy root", "GET", envoy + "/auth", []string{"Authorization", reader}, 403, denied, false, true},
		{"envoy ignores headers", "GET", envoy + "/auth/admin", []string{"X-Original-Method", "GET", "X-Original-URI", "/healthz"}, 401, `Bearer realm="gaia"`, false, true},
		{"health", "GET", nginx + "/healthz", nil, 200, "", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ask(t, tt.method, tt.url, tt.header...)
			if got.status != tt.status {
				t.Fatalf("status %d, want %d (challenge %q)", got.status, tt.status, got.challenge)
			}
			if tt.challenge != "" && got.challenge != tt.challenge {
				t.Errorf("challenge %q, want %q", got.challenge, tt.challenge)
			}
			if (got.status == 401 || got.status == 403) && !strings.HasPrefix(got.challenge, `Bearer realm="gaia"`) {
				t.Errorf("refusal without a challenge: %q", got.challenge)
			}
			if tt.wantNoCaching && got.header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", got.header.Get("Cache-Control"))
			}
			identity := map[string]string{
				gateway.HeaderSubject: "0190a8c2-7f5e-7c3b-9d4e-2f1a6b8c9d0e", gateway.HeaderType: "user",
				gateway.HeaderClient: "gaia-web", gateway.HeaderUsername: "cj", gateway.HeaderRoles: "InventoryViewer",
				gateway.HeaderPermissions: "inventory.read", gateway.HeaderTokenID: "jti-1",
			}
			if tt.name == "nginx public" {
				for name := range identity {
					if v, ok := got.header[name]; !ok || len(v) != 1 || v[0] != "" {
						t.Errorf("public route: %s = %q, want one empty value", name, v)
					}
				}
			}
			for name, want := range identity {
				switch v := got.header.Get(name); {
				case tt.wantIdentity && v != want:
					t.Errorf("%s = %q, want %q", name, v, want)
				case !tt.wantIdentity && v != "":
					t.Errorf("%s = %q on a refusal or public route", name, v)
				}
			}
		})
	}
}

func TestNewRefuses(t *testing.T) {
	iss := newIssuer(t)
	v := iss.verifier(t)
	for name, cfg := range map[string]gateway.Config{
		"no rules":  {Proxy: gateway.NGINX},
		"bad proxy": {Rules: exampleRules(t), Proxy: "haproxy"},
		"bad realm": {Rules: exampleRules(t), Proxy: gateway.NGINX, Realm: "a\nb"},
	} {
		if _, err := gateway.New(cfg, v, nil); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
	if _, err := gateway.New(gateway.Config{Rules: exampleRules(t), Proxy: gateway.NGINX}, nil, nil); err == nil {
		t.Error("no verifier: New succeeded")
	}
}
