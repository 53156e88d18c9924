package conformance

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gaia-platform/iam/server/servertest"
)

// nginxBinary finds nginx, or skips the test with a notice, or fails it
// when GAIA_REQUIRE_NGINX=1 (CI).
func nginxBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil { // Debian's, off a non-root PATH
		return "/usr/sbin/nginx"
	}
	if os.Getenv("GAIA_REQUIRE_NGINX") == "1" {
		t.Fatal("nginx not found and GAIA_REQUIRE_NGINX=1")
	}
	t.Skip("NOTICE: nginx not installed (apt-get install nginx); the NGINX gateway test is skipped")
	return ""
}

// readmeNGINX returns the NGINX configuration of the README's "API gateway
// (NGINX)" section, so that the test runs what the README shows.
func readmeNGINX(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## API gateway (NGINX)\n")
	if !ok {
		t.Fatal("README has no \"API gateway (NGINX)\" section")
	}
	_, block, ok := strings.Cut(section, "\n```nginx\n")
	if !ok {
		t.Fatal("README's API gateway section has no nginx block")
	}
	conf, _, ok := strings.Cut(block, "\n```\n")
	if !ok {
		t.Fatal("README's nginx block is not closed")
	}
	return conf
}

// startGateway runs gaia-gateway for issuer with the example rules and
// returns its address.
func startGateway(t *testing.T, issuer string) string {
	t.Helper()
	addr := freeAddr(t)
	runCommand(t, buildCommand(t, "gaia-gateway"), []string{"GAIA_GATEWAY_ISSUER=" + issuer}, "http://"+addr+"/healthz",
		"--listen", addr, "--audience", "gaia", "--rules", mustAbs(t, "../gateway-rules.example.yaml"))
	return addr
}

// startNGINX runs nginx with the README's configuration, its addresses
// replaced by gateway's, upstream's and a free one, in its own prefix,
// and returns its base URL.
func startNGINX(t *testing.T, gateway, upstream string) string {
	t.Helper()
	bin := nginxBinary(t)
	listen := freeAddr(t)
	conf := readmeNGINX(t)
	for from, to := range map[string]string{"127.0.0.1:8082": gateway, "127.0.0.1:8081": upstream, "127.0.0.1:8000": listen} {
		if !strings.Contains(conf, from) {
			t.Fatalf("README's nginx block does not hold %s", from)
		}
		conf = strings.ReplaceAll(conf, from, to)
	}
	dir := t.TempDir()
	// master_process off: one process, ours, which SIGTERM stops; the
	// temp paths keep nginx out of the system's directories.
	main := fmt.Sprintf(`daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 256; }
http {
    access_log %[1]s/access.log;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
%[2]s
}
`, dir, conf)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(main), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", path, "-e", filepath.Join(dir, "error.log"))
	logs := &servertest.LogBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			errLog, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx output:\n%s\nerror.log:\n%s", logs.String(), errLog)
		}
	})
	base := "http://" + listen
	waitOK(t, base+"/healthz", logs)
	return base
}

func waitOK(t *testing.T, u string, logs *servertest.LogBuffer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := http.Get(u); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready:\n%s", u, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// recorder is a reverse proxy in front of the inventory service that
// keeps the headers of each request it passes on, by the X-Test-Id the
// test gave it: what the upstream of NGINX sees.
type recorder struct {
	mu   sync.Mutex
	seen map[string]http.Header // guarded by mu
}

func (rec *recorder) headers(id string) (http.Header, bool) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	h, ok := rec.seen[id]
	return h, ok
}

func startRecorder(t *testing.T, inventory string) (*recorder, string) {
	t.Helper()
	target, err := url.Parse(inventory)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{seen: map[string]http.Header{}}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id := r.Header.Get("X-Test-Id"); id != "" {
			rec.mu.Lock()
			rec.seen[id] = r.Header.Clone()
			rec.mu.Unlock()
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return rec, strings.TrimPrefix(srv.URL, "http://")
}

// gwReply is NGINX's answer to one request.
type gwReply struct {
	status int
	header http.Header
	body   string
}

func gwDo(t *testing.T, method, u, token, id string, header ...string) gwReply {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx(t), method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("X-Test-Id", id)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return gwReply{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// TestGatewayNGINX runs real NGINX, configured as the README shows, with
// gaia-gateway answering its auth_request, in front of example-inventory,
// on each backend: no token → 401 with a challenge; a token without the
// permission → 403 with scope, the upstream not reached; with it → 200,
// the upstream seeing the identity headers and not a client's forged one;
// a public route → 200 with no identity; an unmatched or dot-segment path
// → 403; a logged-out user's token → 401 within statusBound.
func TestGatewayNGINX(t *testing.T) {
	nginxBinary(t) // skip early, before any server starts
	forEachBackend(t, func(t *testing.T, s *iam) {
		rec, upstream := startRecorder(t, startInventory(t, s.issuer))
		gw := startGateway(t, s.issuer)
		base := startNGINX(t, gw, upstream)
		api := (&adminClient{t: t, base: s.issuer + "/admin/v1", http: http.DefaultClient}).as(userToken(t, s.issuer, "admin", adminPassword).AccessToken)

		viewer := createUser(t, api, "gw-viewer", "gw-viewer's long password")
		want(t, api.do("PUT", "/users/"+viewer.ID+"/departments/INVENTORY", nil), http.StatusNoContent)
		want(t, api.do("PUT", "/users/"+viewer.ID+"/roles/InventoryViewer", nil), http.StatusNoContent)
		viewerTok := userToken(t, s.issuer, "gw-viewer", "gw-viewer's long password").AccessToken
		createUser(t, api, "gw-nobody", "gw-nobody's long password")
		nobodyTok := userToken(t, s.issuer, "gw-nobody", "gw-nobody's long password").AccessToken

		// One challenge, the gateway's, whatever the status.
		challenge := func(t *testing.T, r gwReply) string {
			t.Helper()
			cs := r.header.Values("WWW-Authenticate")
			if len(cs) != 1 {
				t.Fatalf("WWW-Authenticate %q, want one challenge", cs)
			}
			return cs[0]
		}
		notReached := func(t *testing.T, id string) {
			t.Helper()
			if _, ok := rec.headers(id); ok {
				t.Errorf("%s: the upstream was reached", id)
			}
		}

		t.Run("no token", func(t *testing.T) {
			r := gwDo(t, "GET", base+"/items", "", "no-token")
			if r.status != http.StatusUnauthorized {
				t.Fatalf("GET /items without a token = %d, want 401", r.status)
			}
			if got := challenge(t, r); got != `Bearer realm="gaia"` {
				t.Errorf("challenge %q, want Bearer realm=\"gaia\"", got)
			}
			notReached(t, "no-token")
		})
		t.Run("bad token", func(t *testing.T) {
			r := gwDo(t, "GET", base+"/items", viewerTok[:len(viewerTok)-4]+"AAAA", "bad-token")
			if r.status != http.StatusUnauthorized || challenge(t, r) != `Bearer realm="gaia", error="invalid_token"` {
				t.Errorf("forged signature: %d %q, want 401 invalid_token", r.status, r.header.Values("WWW-Authenticate"))
			}
			notReached(t, "bad-token")
		})
		t.Run("without the permission", func(t *testing.T) {
			r := gwDo(t, "GET", base+"/items", nobodyTok, "nobody")
			if r.status != http.StatusForbidden {
				t.Fatalf("GET /items, no permission = %d, want 403", r.status)
			}
			if got, w := challenge(t, r), `Bearer realm="gaia", error="insufficient_scope", scope="inventory.read"`; got != w {
				t.Errorf("challenge %q, want %q", got, w)
			}
			notReached(t, "nobody")
			r = gwDo(t, "POST", base+"/items", viewerTok, "viewer-post")
			if r.status != http.StatusForbidden || !strings.Contains(challenge(t, r), `scope="inventory.write"`) {
				t.Errorf("POST /items as a viewer = %d %q, want 403 scope inventory.write", r.status, r.header.Values("WWW-Authenticate"))
			}
			notReached(t, "viewer-post")
		})
		t.Run("with the permission", func(t *testing.T) {
			r := gwDo(t, "GET", base+"/items", viewerTok, "viewer", "X-Gaia-Subject", "forged", "X-Gaia-Permissions", "inventory.write")
			if r.status != http.StatusOK || !strings.Contains(r.body, `"items"`) {
				t.Fatalf("GET /items as a viewer = %d %s, want 200 and the items", r.status, r.body)
			}
			h, ok := rec.headers("viewer")
			if !ok {
				t.Fatal("the upstream saw no request")
			}
			for name, w := range map[string]string{
				"X-Gaia-Subject": viewer.ID, "X-Gaia-Type": "user", "X-Gaia-Client": "gaia-web",
				"X-Gaia-Username": "gw-viewer", "X-Gaia-Roles": "InventoryViewer", "X-Gaia-Permissions": "inventory.read",
			} {
				if got := h.Values(name); len(got) != 1 || got[0] != w {
					t.Errorf("upstream %s = %q, want %q", name, got, w)
				}
			}
			if h.Get("X-Gaia-Token-Id") == "" {
				t.Error("upstream X-Gaia-Token-Id empty")
			}
			if h.Get("Authorization") == "" {
				t.Error("the upstream did not get the Authorization header")
			}
		})
		t.Run("public route", func(t *testing.T) {
			r := gwDo(t, "GET", base+"/healthz", "", "public", "X-Gaia-Subject", "forged")
			if r.status != http.StatusOK {
				t.Fatalf("GET /healthz = %d, want 200", r.status)
			}
			h, ok := rec.headers("public")
			if !ok {
				t.Fatal("the upstream saw no request")
			}
			if got := h.Values("X-Gaia-Subject"); len(got) != 0 {
				t.Errorf("upstream X-Gaia-Subject %q on a public route, want none", got)
			}
		})
		t.Run("denied paths", func(t *testing.T) {
			for _, p := range []string{"/admin", "/items/../admin", "/items/%2e%2e/admin", "/items%2Fx", "//items"} {
				id := "path " + p
				r := gwDo(t, "GET", base+p, viewerTok, id)
				if r.status != http.StatusForbidden {
					t.Errorf("GET %s = %d, want 403", p, r.status)
				}
				notReached(t, id)
			}
		})
		t.Run("limits", func(t *testing.T) {
			// A URI past the gateway's 8 KiB, within NGINX's buffers.
			long := "/items/" + strings.Repeat("a", 9<<10)
			if r := gwDo(t, "GET", base+long, viewerTok, "long-uri"); r.status != http.StatusForbidden {
				t.Errorf("GET of a 9 KiB URI = %d, want 403", r.status)
			}
			notReached(t, "long-uri")
			// Headers past NGINX's buffers: refused before any decision.
			if r := gwDo(t, "GET", base+"/items", viewerTok, "huge-header", "X-Filler", strings.Repeat("a", 40<<10)); r.status < 400 {
				t.Errorf("GET with a 40 KiB header through NGINX = %d, want a refusal", r.status)
			}
			notReached(t, "huge-header")
			// And past the gateway's own 32 KiB, asked directly.
			r := gwDo(t, "GET", "http://"+gw+"/auth", viewerTok, "direct", "X-Original-Method", "GET",
				"X-Original-URI", "/items", "X-Filler", strings.Repeat("a", 40<<10))
			if r.status != http.StatusRequestHeaderFieldsTooLarge {
				t.Errorf("gateway asked with 40 KiB of headers = %d, want 431", r.status)
			}
		})
		t.Run("logged out", func(t *testing.T) {
			if r := gwDo(t, "GET", base+"/items", viewerTok, "before-logout"); r.status != http.StatusOK {
				t.Fatalf("before logout: %d, want 200", r.status)
			}
			want(t, api.do("POST", "/users/"+viewer.ID+"/logout", nil), http.StatusOK)
			ended := time.Now()
			for i := 0; ; i++ {
				r := gwDo(t, "GET", base+"/items", viewerTok, fmt.Sprintf("after-logout-%d", i))
				if r.status == http.StatusUnauthorized {
					d := time.Since(ended)
					if got := challenge(t, r); got != `Bearer realm="gaia", error="invalid_token"` {
						t.Errorf("challenge %q, want invalid_token", got)
					}
					if d > statusBound {
						t.Errorf("refused %v after logout, more than the bound %v", d, statusBound)
					}
					t.Logf("logged-out token refused by NGINX %v after logout", d.Round(time.Millisecond))
					return
				}
				if r.status != http.StatusOK {
					t.Fatalf("after logout: %d, want 200 then 401", r.status)
				}
				if time.Since(ended) > statusBound+5*time.Second {
					t.Fatalf("the logged-out token still passes %v after logout", time.Since(ended))
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	})
}
