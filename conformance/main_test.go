// Package conformance drives the real gaia-iam binary over HTTP with
// standard OAuth 2.0 and OpenID Connect client libraries, on each storage
// backend.
package conformance

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gaia-platform/iam/server/servertest"
	"github.com/gaia-platform/iam/storage/storagetest"
)

// binary is the gaia-iam built once for the whole run.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gaia-conformance")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "gaia-iam")
	build := exec.Command("go", "build", "-o", binary, "../cmd/gaia-iam")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build gaia-iam:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Secrets of the example seed's clients and admin in these tests.
const (
	webSecret     = servertest.WebSecret
	serviceSecret = servertest.ServiceSecret
	adminPassword = servertest.AdminPassword
)

// iam is a running gaia-iam.
type iam struct {
	issuer string
	dbURL  string
	env    []string
	cmd    *exec.Cmd
	logs   *servertest.LogBuffer
}

// backends yields a database URL per backend this run can test.
func backends(t testing.TB) map[string]func(t testing.TB) string {
	out := map[string]func(t testing.TB) string{
		"sqlite": func(t testing.TB) string { return "sqlite:" + filepath.Join(t.TempDir(), "gaia.db") },
	}
	if url, ok := storagetest.PostgresURL(t); ok {
		out["postgres"] = func(t testing.TB) string { return storagetest.PostgresSchema(t, url) }
	}
	return out
}

// forEachBackend runs test against a fresh gaia-iam on every backend. env
// entries (NAME=value) override the test defaults.
func forEachBackend(t *testing.T, test func(t *testing.T, s *iam), env ...string) {
	for name, db := range backends(t) {
		t.Run(name, func(t *testing.T) { test(t, start(t, db(t), env...)) })
	}
}

// start runs gaia-iam serve on dbURL and waits until it is ready. env
// entries (NAME=value) override the test defaults.
func start(t testing.TB, dbURL string, env ...string) *iam {
	t.Helper()
	s := &iam{dbURL: dbURL, env: append(defaultEnv(t, dbURL), env...)} // exec keeps the last value of a name
	s.run(t)
	return s
}

// defaultEnv is the environment of the test servers: the example seed and
// its secrets, and a fresh key-encryption key.
func defaultEnv(t testing.TB, dbURL string) []string {
	t.Helper()
	kek := make([]byte, 32)
	_, _ = rand.Read(kek)
	return []string{
		"GAIA_DATABASE_URL=" + dbURL,
		"GAIA_SEED_FILE=" + mustAbs(t, "../seed.example.yaml"),
		"GAIA_WEB_CLIENT_SECRET=" + webSecret,
		"INVENTORY_SERVICE_SECRET=" + serviceSecret,
		"GAIA_BOOTSTRAP_ADMIN_PASSWORD=" + adminPassword,
		"GAIA_KEY_ENCRYPTION_KEY=" + base64.StdEncoding.EncodeToString(kek),
		"GAIA_LOG_LEVEL=debug",
		"GAIA_KEY_REFRESH_INTERVAL=200ms",
	}
}

func (s *iam) run(t testing.TB) {
	t.Helper()
	s.launch(t)
	s.waitReady(t)
}

// launch starts gaia-iam serve on a free port without waiting for it.
func (s *iam) launch(t testing.TB) {
	t.Helper()
	addr := freeAddr(t)
	s.issuer = "http://" + addr
	s.logs = &servertest.LogBuffer{}
	s.cmd = exec.Command(binary, "serve", "--listen", addr)
	s.cmd.Dir = t.TempDir()
	s.cmd.Env = s.env
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmd := s.cmd
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("gaia-iam output:\n%s", s.logs.String())
		}
	})
}

// waitReady waits until the server launched answers /readyz with 200.
func (s *iam) waitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(s.issuer + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("gaia-iam not ready after 60s:\n%s", s.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// keys runs `gaia-iam keys ARGS…` against the same database.
func (s *iam) keys(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"keys"}, args...)...)
	cmd.Env = s.env
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("keys %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func mustAbs(t testing.TB, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func ctx(t *testing.T) context.Context { return t.Context() }

var (
	buildMu sync.Mutex
	built   = map[string]string{}
)

// buildCommand builds ../cmd/NAME once per run, next to the gaia-iam
// binary, so that TestMain removes it.
func buildCommand(t *testing.T, name string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := built[name]; ok {
		return p
	}
	p := filepath.Join(filepath.Dir(binary), name)
	if out, err := exec.Command("go", "build", "-o", p, "../cmd/"+name).CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", name, err, out)
	}
	built[name] = p
	return p
}

// runCommand starts bin with env until t ends and waits for url to answer.
func runCommand(t *testing.T, bin string, env []string, url string, args ...string) {
	t.Helper()
	logs := &servertest.LogBuffer{}
	cmd := exec.Command(bin, args...)
	cmd.Dir = mustAbs(t, "..")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(bin), logs.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not up after 60s:\n%s", filepath.Base(bin), logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
