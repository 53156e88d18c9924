package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gaia-platform/iam/server/servertest"
	"github.com/gaia-platform/iam/storage/storagetest"
)

const (
	webSecret     = servertest.WebSecret
	serviceSecret = servertest.ServiceSecret
	userPassword  = servertest.UserPassword
)

// extraUsers are added to the example seed: a viewer, a manager and an
// auditor (who holds IAM permissions, none of the inventory's).
const extraUsers = `
  - username: viewer
    email: viewer@example.com
    password_env: USER_PASSWORD
    departments: [INVENTORY]
    roles: [InventoryViewer]
  - username: manager
    email: manager@example.com
    password_env: USER_PASSWORD
    departments: [INVENTORY]
    roles: [InventoryManager]
  - username: auditor
    email: auditor@example.com
    password_env: USER_PASSWORD
    departments: [SECURITY]
    roles: [SecurityAuditor]
`

// startIAM serves a real Gaia IAM in-process on SQLite and returns its
// issuer URL.
func startIAM(t *testing.T) string {
	t.Helper()
	return servertest.Start(t, storagetest.SQLite(t), servertest.Options{Users: extraUsers}).Issuer
}

func userToken(t *testing.T, issuer, username, password string) string {
	t.Helper()
	conf := oauth2.Config{ClientID: "gaia-web", ClientSecret: webSecret,
		Endpoint: oauth2.Endpoint{TokenURL: issuer + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}}
	tok, err := conf.PasswordCredentialsToken(t.Context(), username, password)
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken
}

// startService runs the service as main does, on a free port, against
// issuer; it is stopped, and must stop cleanly, when t ends.
func startService(t *testing.T, cfg config) string {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, storagetest.Logger(t), func(a net.Addr) { addr <- a }) }()
	select {
	case a := <-addr:
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve after shutdown: %v", err)
			}
		})
		return "http://" + a.String()
	case err := <-done:
		cancel()
		t.Fatalf("serve: %v", err)
		return ""
	}
}

func TestService(t *testing.T) {
	issuer := startIAM(t)
	base := startService(t, config{Issuer: issuer, Audience: "gaia", TokenCookie: "gaia_at"})

	cc := clientcredentials.Config{ClientID: "inventory-service", ClientSecret: serviceSecret,
		TokenURL: issuer + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}
	svcTok, err := cc.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	viewer := userToken(t, issuer, "viewer", userPassword)
	manager := userToken(t, issuer, "manager", userPassword)
	auditor := userToken(t, issuer, "auditor", userPassword)

	call := func(method, path, token, body string) (int, http.Header, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, strings.TrimSpace(string(b))
	}

	steps := []struct {
		name, method, path, token, body string
		status                          int
		challenge                       string
	}{
		{"healthz needs no token", "GET", "/healthz", "", "", 200, ""},
		{"no token", "GET", "/items", "", "", 401, `Bearer realm="inventory"`},
		{"garbage token", "GET", "/items", "x.y.z", "", 401, `Bearer realm="inventory", error="invalid_token"`},
		{"manager creates", "POST", "/items", manager, `{"name":"bolt","quantity":3}`, 201, ""},
		{"viewer reads", "GET", "/items", viewer, "", 200, ""},
		{"viewer reads one", "GET", "/items/1", viewer, "", 200, ""},
		{"viewer cannot create", "POST", "/items", viewer, `{"name":"nut","quantity":1}`, 403,
			`Bearer realm="inventory", error="insufficient_scope", scope="inventory.write"`},
		{"service reads", "GET", "/items", svcTok.AccessToken, "", 200, ""},
		{"service cannot delete", "DELETE", "/items/1", svcTok.AccessToken, "", 403,
			`Bearer realm="inventory", error="insufficient_scope", scope="inventory.write"`},
		{"an auditor has no inventory permission", "GET", "/items", auditor, "", 403,
			`Bearer realm="inventory", error="insufficient_scope", scope="inventory.read"`},
		{"manager replaces", "PUT", "/items/1", manager, `{"name":"bolt M6","quantity":5}`, 200, ""},
		{"bad item", "POST", "/items", manager, `{"name":"","quantity":-1}`, 400, ""},
		{"unknown field", "POST", "/items", manager, `{"name":"a","quantity":1,"price":2}`, 400, ""},
		{"missing item", "GET", "/items/99", viewer, "", 404, ""},
		{"manager deletes", "DELETE", "/items/1", manager, "", 204, ""},
		{"deleted", "GET", "/items/1", viewer, "", 404, ""},
	}
	for _, s := range steps {
		status, h, body := call(s.method, s.path, s.token, s.body)
		if status != s.status || h.Get("WWW-Authenticate") != s.challenge {
			t.Errorf("%s: %s %s = %d %q %s, want %d %q", s.name, s.method, s.path, status, h.Get("WWW-Authenticate"), body, s.status, s.challenge)
		}
		if s.name == "viewer reads one" {
			var it Item
			if err := json.Unmarshal([]byte(body), &it); err != nil || it.Name != "bolt" || it.Quantity != 3 || it.UpdatedBy == "" {
				t.Errorf("item = %s (%v)", body, err)
			}
		}
	}

	// A browser app's HttpOnly cookie.
	req, _ := http.NewRequestWithContext(t.Context(), "GET", base+"/items", nil)
	req.AddCookie(&http.Cookie{Name: "gaia_at", Value: viewer})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET /items with the token cookie = %d, want 200", resp.StatusCode)
	}

	// Row 65: a huge Authorization header is refused by the server before
	// any parsing.
	req, _ = http.NewRequestWithContext(t.Context(), "GET", base+"/items", nil)
	req.Header.Set("Authorization", "Bearer "+strings.Repeat("A", 1<<20))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("1 MiB Authorization header: %d, want 431", resp.StatusCode)
	}
}

func TestServiceAudience(t *testing.T) {
	issuer := startIAM(t)
	base := startService(t, config{Issuer: issuer, Audience: "inventory"})
	req, _ := http.NewRequestWithContext(t.Context(), "GET", base+"/items", nil)
	req.Header.Set("Authorization", "Bearer "+userToken(t, issuer, "viewer", userPassword))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("token for aud gaia at a service of aud inventory: %d, want 401", resp.StatusCode)
	}
}

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		want    config
		wantErr bool
	}{
		{"env", nil, map[string]string{"INVENTORY_ISSUER": "http://iam", "INVENTORY_AUDIENCE": "inv"},
			config{Issuer: "http://iam", Audience: "inv", Listen: "127.0.0.1:8081", Status: true, StatusMaxStaleness: 5 * time.Minute}, false},
		{"flag wins", []string{"--issuer", "http://flag", "--listen", ":9000", "--audience", "a"}, map[string]string{"INVENTORY_ISSUER": "http://env", "INVENTORY_AUDIENCE": "b"},
			config{Issuer: "http://flag", Audience: "a", Listen: ":9000", Status: true, StatusMaxStaleness: 5 * time.Minute}, false},
		{"status off", []string{"--issuer", "http://iam", "--audience", "inv", "--status=false", "--status-max-staleness", "30s"}, map[string]string{"INVENTORY_STATUS": "true"},
			config{Issuer: "http://iam", Audience: "inv", Listen: "127.0.0.1:8081", StatusMaxStaleness: 30 * time.Second}, false},
		{"no audience", []string{"--issuer", "http://iam"}, nil, config{}, true},
		{"any audience, said so", []string{"--issuer", "http://iam", "--insecure-any-audience"}, nil,
			config{Issuer: "http://iam", InsecureAnyAudience: true, Listen: "127.0.0.1:8081", Status: true, StatusMaxStaleness: 5 * time.Minute}, false},
		{"bad any-audience env", nil, map[string]string{"INVENTORY_ISSUER": "http://iam", "INVENTORY_INSECURE_ANY_AUDIENCE": "maybe"}, config{}, true},
		{"bad status env", nil, map[string]string{"INVENTORY_ISSUER": "http://iam", "INVENTORY_STATUS": "maybe"}, config{}, true},
		{"bad staleness", []string{"--issuer", "http://iam", "--audience", "inv", "--status-max-staleness", "0s"}, nil, config{}, true},
		{"no issuer", nil, nil, config{}, true},
		{"extra argument", []string{"--issuer", "http://iam", "serve"}, nil, config{}, true},
		{"CORS origins", []string{"--issuer", "http://iam", "--audience", "inv"}, map[string]string{"INVENTORY_CORS_ALLOWED_ORIGINS": "http://127.0.0.1:5173, https://app.example"},
			config{Issuer: "http://iam", Audience: "inv", Listen: "127.0.0.1:8081", Status: true, StatusMaxStaleness: 5 * time.Minute,
				CORSAllowedOrigins: []string{"http://127.0.0.1:5173", "https://app.example"}}, false},
		{"CORS wildcard", []string{"--issuer", "http://iam", "--audience", "inv", "--cors-allowed-origins", "*"}, nil, config{}, true},
		{"unknown flag", []string{"--nope"}, nil, config{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseConfig(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
			if (err != nil) != tc.wantErr || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("parseConfig = %+v, %v; want %+v, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestRunFailsWithoutIAM(t *testing.T) {
	down := httptest.NewServer(nil)
	down.Close()
	var stderr bytes.Buffer
	err := run(t.Context(), []string{"--issuer", down.URL, "--audience", "inventory", "--listen", "127.0.0.1:0"}, func(string) string { return "" }, &stderr)
	if err == nil {
		t.Error("run succeeded with the IAM down")
	}
}

// TestServiceCORS: a browser app on an allowed origin may call the API
// with a Bearer token (the preflight passes and the answer is readable);
// any other origin's preflight is refused.
func TestServiceCORS(t *testing.T) {
	issuer := startIAM(t)
	base := startService(t, config{Issuer: issuer, Audience: "gaia", CORSAllowedOrigins: []string{"http://127.0.0.1:5173"}})
	do := func(method, origin string, hdr map[string]string) *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), method, base+"/items", nil)
		req.Header.Set("Origin", origin)
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
	pre := map[string]string{"Access-Control-Request-Method": "DELETE", "Access-Control-Request-Headers": "authorization"}
	if resp := do(http.MethodOptions, "http://127.0.0.1:5173", pre); resp.StatusCode != http.StatusNoContent ||
		resp.Header.Get("Access-Control-Allow-Origin") != "http://127.0.0.1:5173" {
		t.Errorf("allowed preflight: %d, %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
	if resp := do(http.MethodOptions, "http://127.0.0.1:5174", pre); resp.StatusCode != http.StatusForbidden ||
		resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("refused preflight: %d, %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
	token := userToken(t, issuer, "viewer", userPassword)
	resp := do(http.MethodGet, "http://127.0.0.1:5173", map[string]string{"Authorization": "Bearer " + token})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != "http://127.0.0.1:5173" {
		t.Errorf("GET /items: %d, %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
	// A refusal is readable too, with its RFC 6750 challenge.
	resp = do(http.MethodGet, "http://127.0.0.1:5173", nil)
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Access-Control-Expose-Headers") != "WWW-Authenticate" {
		t.Errorf("GET /items without a token: %d, expose %q", resp.StatusCode, resp.Header.Get("Access-Control-Expose-Headers"))
	}
}
