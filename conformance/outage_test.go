package conformance

import (
	"database/sql"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gaia-platform/iam/server"
	"github.com/gaia-platform/iam/server/servertest"
	"github.com/gaia-platform/iam/storage"
	"github.com/gaia-platform/iam/storage/sqlite"
	"github.com/gaia-platform/iam/storage/storagetest"
)

// TestDatabaseOutage: with the database gone from under a running server,
// correct credentials get 503 temporarily_unavailable with Retry-After at
// the token endpoint (client authentication and password alike), at
// introspection, revocation and userinfo, and the admin API answers a 503
// problem; no answer says anything of the database. On PostgreSQL the
// password grant's first read is login protection's (it reads the
// account's count at every attempt), so its 503 is the guard's failure
// mapped as an outage, not a 500.
//
// PostgreSQL is reached through a TCP relay the test then cuts: the open
// connections die and new ones are refused, as when the database host
// goes away. SQLite has its write lock held by another connection, as
// another process (a stuck sqlite3 shell, a backup tool) could: reads still
// work in WAL mode, and say so, while every write waits out the busy
// timeout (5 s) and fails with SQLITE_BUSY — so a password login, which
// stores its refresh token, and a revocation answer 503.
func TestDatabaseOutage(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "gaia.db")
		store, err := sqlite.Open(t.Context(), path, storagetest.Logger(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		if _, err := store.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		testOutage(t, store, func() {
			db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			db.SetMaxOpenConns(1)
			if _, err := db.Exec("BEGIN IMMEDIATE"); err != nil {
				t.Fatal(err)
			}
		}, false)
	})
	t.Run("postgres", func(t *testing.T) {
		pgURL, ok := storagetest.PostgresURL(t)
		if !ok {
			return
		}
		u, err := url.Parse(storagetest.PostgresSchema(t, pgURL))
		if err != nil {
			t.Fatal(err)
		}
		relay := startRelay(t, u.Host)
		u.Host = relay.addr()
		store := storagetest.OpenPostgres(t, u.String())
		if _, err := store.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		testOutage(t, store, relay.cut, true)
	})
}

// testOutage runs the outage checks on a server over store; down makes
// the database unusable, for reads too if readsFail.
func testOutage(t *testing.T, store storage.Store, down func(), readsFail bool) {
	// Clients stay cached: a password login then reaches the user lookup,
	// while inventory-service, never used before the outage, is looked up.
	gaia := servertest.Start(t, store, servertest.Options{Tune: func(c *server.Config) { c.ClientCacheTTL = time.Hour }})
	s := &iam{issuer: gaia.Issuer}
	tok := userToken(t, gaia.Issuer, "admin", adminPassword)

	down()

	check := func(name string, status int, header http.Header, body string) {
		t.Helper()
		if status != http.StatusServiceUnavailable || header.Get("Retry-After") == "" {
			t.Errorf("%s: %d, Retry-After %q, body %s; want 503 with Retry-After", name, status, header.Get("Retry-After"), body)
		}
		for _, leak := range []string{"sql", "SQL", "postgres", "sqlite", "dial", "connect", "SELECT", "busy", "goroutine", ".go:"} {
			if strings.Contains(body, leak) {
				t.Errorf("%s: body %s says %q", name, body, leak)
			}
		}
	}
	checkOAuth := func(name string, r tokenResult) {
		t.Helper()
		check(name, r.status, r.header, r.raw)
		if r.body["error"] != "temporarily_unavailable" {
			t.Errorf("%s: error %v, want temporarily_unavailable", name, r.body["error"])
		}
	}
	checkOAuth("password grant", tokenCall{basic: web, body: passwordLogin("admin", adminPassword)}.do(t, s))
	checkOAuth("/oauth2/revoke", postAsWeb(t, gaia.Issuer, "/oauth2/revoke", url.Values{"token": {tok.AccessToken}}))
	if !readsFail {
		// What only reads still works, and is not refused.
		if r := (tokenCall{basic: [2]string{"inventory-service", serviceSecret}, body: "grant_type=client_credentials"}).do(t, s); r.status != http.StatusOK {
			t.Errorf("client credentials while reads work: %d %s, want 200", r.status, r.raw)
		}
		return
	}
	checkOAuth("client credentials", tokenCall{basic: [2]string{"inventory-service", serviceSecret}, body: "grant_type=client_credentials"}.do(t, s))
	checkOAuth("/oauth2/introspect", postAsWeb(t, gaia.Issuer, "/oauth2/introspect", url.Values{"token": {tok.AccessToken}}))
	for _, path := range []string{"/userinfo", "/admin/v1/users"} {
		req, _ := http.NewRequest(http.MethodGet, gaia.Issuer+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		check(path, resp.StatusCode, resp.Header, string(body))
		if path == "/admin/v1/users" && (resp.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(string(body), `"urn:gaia-iam:problem:unavailable"`)) {
			t.Errorf("admin API: %s %s, want an unavailable problem", resp.Header.Get("Content-Type"), body)
		}
	}
}

// postAsWeb posts form to path as the gaia-web client.
func postAsWeb(t *testing.T, issuer, path string, form url.Values) tokenResult {
	t.Helper()
	return tokenCall{path: path, basic: web, body: form.Encode()}.do(t, &iam{issuer: issuer})
}

// relay forwards TCP connections to a target until cut.
type relay struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn // guarded by mu
	cutOff bool       // guarded by mu
}

func startRelay(t *testing.T, target string) *relay {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{ln: ln, target: target}
	t.Cleanup(r.cut)
	go r.serve()
	return r
}

func (r *relay) addr() string { return r.ln.Addr().String() }

func (r *relay) serve() {
	for {
		in, err := r.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", r.target)
		if err != nil {
			in.Close()
			continue
		}
		r.mu.Lock()
		if r.cutOff {
			r.mu.Unlock()
			in.Close()
			out.Close()
			return
		}
		r.conns = append(r.conns, in, out)
		r.mu.Unlock()
		go func() { _, _ = io.Copy(out, in); out.Close() }()
		go func() { _, _ = io.Copy(in, out); in.Close() }()
	}
}

// cut closes the listening port and every relayed connection.
func (r *relay) cut() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cutOff = true
	r.ln.Close()
	for _, c := range r.conns {
		c.Close()
	}
	r.conns = nil
}
