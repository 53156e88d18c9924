package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gaia-platform/iam/server/servertest"
	"github.com/gaia-platform/iam/storage/storagetest"
)

const exampleSeed = "../../seed.example.yaml"

// testEnv is an environment with the example seed's client secrets and no
// bootstrap password.
func testEnv(extra map[string]string) func(string) string {
	vars := map[string]string{
		"GAIA_WEB_CLIENT_SECRET":   "web-secret-web-secret-web-secret-0",
		"INVENTORY_SERVICE_SECRET": "svc-secret-svc-secret-svc-secret-0",
		"GAIA_SEED_FILE":           exampleSeed,
		"GAIA_KEY_ENCRYPTION_KEY":  "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
	}
	for k, v := range extra {
		vars[k] = v
	}
	return func(k string) string { return vars[k] }
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitFor polls url until it answers want, or fails the test.
func waitFor(t *testing.T, url string, want int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: never answered %d (last error %v)", url, want, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// instance is a `gaia-iam serve` running in-process.
type instance struct {
	addr           string
	stdout, stderr *servertest.LogBuffer
	stop           func() error // ends serve's context and returns run's error
}

func startServe(t *testing.T, dbURL string, getenv func(string) string) instance {
	t.Helper()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &servertest.LogBuffer{}, &servertest.LogBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--listen", addr, "--database-url", dbURL}, getenv, stdout, stderr)
	}()
	var once sync.Once
	var err error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("serve did not stop within 30s of its context ending")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("serve stderr:\n%s", stderr.String())
		}
	})
	return instance{addr, stdout, stderr, stop}
}

func TestServe(t *testing.T) {
	dbURL := "sqlite:" + filepath.Join(t.TempDir(), "data", "gaia.db")

	srv := startServe(t, dbURL, testEnv(nil))
	addr, stdout, stop := srv.addr, srv.stdout, srv.stop
	waitFor(t, "http://"+addr+"/readyz", http.StatusOK)
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("GET /healthz = %d %s, want 200 application/json", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	resp, _ = http.Post("http://"+addr+"/healthz", "text/plain", nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /healthz = %d, want 405", resp.StatusCode)
	}
	if err := stop(); err != nil {
		t.Fatalf("serve after SIGINT-equivalent = %v, want a clean stop", err)
	}
	if out := stdout.String(); !strings.Contains(out, `Created user "admin" with a generated password`) {
		t.Errorf("first serve did not print the generated admin password; stdout:\n%s", out)
	}

	// A second start migrates nothing, seeds nothing and generates nothing.
	srv = startServe(t, dbURL, testEnv(nil))
	waitFor(t, "http://"+srv.addr+"/readyz", http.StatusOK)
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
	if out := srv.stdout.String(); strings.Contains(out, "generated password") {
		t.Errorf("second serve printed a password again:\n%s", out)
	}
}

// TestTwoServersOnePostgres starts two servers at once on one fresh
// PostgreSQL schema, as two replicas would: exactly one migrates and one
// seeds, and both serve.
func TestTwoServersOnePostgres(t *testing.T) {
	url, ok := storagetest.PostgresURL(t)
	if !ok {
		t.Skip("needs PostgreSQL")
	}
	dbURL := storagetest.PostgresSchema(t, url)
	getenv := testEnv(map[string]string{"GAIA_BOOTSTRAP_ADMIN_PASSWORD": "correct horse battery"})
	a, b := startServe(t, dbURL, getenv), startServe(t, dbURL, getenv)
	for _, s := range []instance{a, b} {
		waitFor(t, "http://"+s.addr+"/readyz", http.StatusOK)
	}
	for _, s := range []instance{a, b} {
		if err := s.stop(); err != nil {
			t.Fatal(err)
		}
	}
	logs := a.stderr.String() + b.stderr.String()
	if n := strings.Count(logs, `msg="database schema migrated"`); n != 1 {
		t.Errorf("%d servers migrated, want exactly 1:\n%s", n, logs)
	}
	if n := strings.Count(logs, `msg="seed reconciled"`); n != 2 {
		t.Errorf("%d servers reconciled the seed, want 2:\n%s", n, logs)
	}
	if n := strings.Count(logs, "changes=0"); n != 1 {
		t.Errorf("%d servers found nothing to seed, want exactly 1 (the other seeded first):\n%s", n, logs)
	}
}

func TestServeRefusesBadSeed(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "gaia.db")
	empty := filepath.Join(dir, "empty.yaml")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ file, want string }{
		{empty, "the seed declares nothing"},
		{"/dev/null", "the seed declares nothing"},
		{filepath.Join(dir, "missing.yaml"), "no such file"},
	} {
		var stderr bytes.Buffer
		err := run(context.Background(), []string{"serve", "--database-url", "sqlite:" + db, "--seed-file", tc.file, "--listen", freeAddr(t)},
			testEnv(nil), &bytes.Buffer{}, &stderr)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "GAIA_SEED_FILE") {
			t.Errorf("serve with seed %s = %v, want an error saying %q and naming GAIA_SEED_FILE", tc.file, err, tc.want)
		}
		if _, statErr := os.Stat(db); statErr == nil {
			t.Fatalf("serve with seed %s created the database; want nothing written", tc.file)
		}
	}
}

// TestClientSecretNeededOnlyToCreate: serve needs a seeded client's secret
// to create it, not at every start.
func TestClientSecretNeededOnlyToCreate(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "gaia.db")
	noSecrets := testEnv(map[string]string{"GAIA_WEB_CLIENT_SECRET": "", "INVENTORY_SERVICE_SECRET": ""})
	err := run(context.Background(), []string{"serve", "--database-url", db, "--listen", freeAddr(t)}, noSecrets, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), `client "gaia-web": environment variable GAIA_WEB_CLIENT_SECRET is not set`) {
		t.Fatalf("serve creating the clients without their secrets = %v, want an error naming the client and variable", err)
	}
	if err := run(context.Background(), []string{"seed", "--database-url", db}, testEnv(nil), &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	srv := startServe(t, db, noSecrets)
	waitFor(t, "http://"+srv.addr+"/readyz", http.StatusOK)
	if err := srv.stop(); err != nil {
		t.Fatalf("serve without the secrets of existing clients: %v", err)
	}
}

func TestMigrateAndSeedCommands(t *testing.T) {
	ctx := context.Background()
	dbURL := "sqlite:" + filepath.Join(t.TempDir(), "gaia.db")
	getenv := testEnv(map[string]string{"GAIA_DATABASE_URL": dbURL, "GAIA_BOOTSTRAP_ADMIN_PASSWORD": "correct horse battery"})
	cmd := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, args, getenv, &out, &bytes.Buffer{})
		return out.String(), err
	}

	if _, err := cmd("seed", "--dry-run"); err == nil || !strings.Contains(err.Error(), "run 'gaia-iam migrate' first") {
		t.Errorf("seed --dry-run on an empty database = %v, want a hint to migrate", err)
	}
	out, err := cmd("migrate")
	if err != nil || !strings.Contains(out, "schema migrated from version 0 to") {
		t.Fatalf("migrate = %q, %v", out, err)
	}
	if out, err = cmd("migrate"); err != nil || !strings.HasPrefix(out, "schema up to date at version") {
		t.Errorf("second migrate = %q, %v; want up to date", out, err)
	}

	dry, err := cmd("seed", "--dry-run")
	if err != nil || !strings.Contains(dry, "changes would be applied (dry run, nothing written)") || !strings.Contains(dry, "+ role PlatformAdmin") {
		t.Fatalf("seed --dry-run = %q, %v", dry, err)
	}
	if again, _ := cmd("seed", "--dry-run"); again != dry {
		t.Errorf("a dry run wrote something: the second one printed\n%s\nthe first\n%s", again, dry)
	}
	out, err = cmd("seed")
	if err != nil || !strings.Contains(out, "changes applied") || strings.Contains(out, "generated password") {
		t.Fatalf("seed = %q, %v; want changes and no generated password (one was given)", out, err)
	}
	if out, err = cmd("seed"); err != nil || out != "seed: up to date, no changes\n" {
		t.Errorf("second seed = %q, %v; want no changes", out, err)
	}
	if out, err = cmd("seed", "--dry-run"); err != nil || out != "seed: up to date, no changes\n" {
		t.Errorf("dry run after seeding = %q, %v; want no changes", out, err)
	}
}

func TestConfig(t *testing.T) {
	s := sys{getenv: testEnv(map[string]string{"GAIA_LISTEN": "127.0.0.1:9999", "GAIA_ACCESS_TOKEN_TTL": "5m"}), stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	cfg, err := parseConfig("serve", []string{"--listen", "127.0.0.1:7777"}, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:7777" || cfg.Issuer != "http://127.0.0.1:7777" || cfg.AccessTokenTTL != 5*time.Minute || cfg.RefreshTokenTTL != 720*time.Hour {
		t.Errorf("config = %+v; want the flag over the env, the issuer derived from it, env and default TTLs", cfg)
	}
	if cfg.DatabaseURL != "sqlite:gaia-data/gaia.db" {
		t.Errorf("default database URL = %q", cfg.DatabaseURL)
	}
	if cfg.RefreshReuseInterval != 10*time.Second {
		t.Errorf("default refresh reuse interval = %v, want 10s", cfg.RefreshReuseInterval)
	}
	if cfg, err := parseConfig("serve", []string{"--refresh-reuse-interval", "0"}, s, nil); err != nil || cfg.RefreshReuseInterval != 0 {
		t.Errorf("--refresh-reuse-interval 0 = %v, %v, want 0 (disabled)", cfg.RefreshReuseInterval, err)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--issuer", "https://iam.example.com/"}, "must not end with a slash"},
		{[]string{"--issuer", "https://iam.example.com?x=1"}, "no query or fragment"},
		{[]string{"--issuer", "ftp://iam.example.com"}, "https"},
		{[]string{"--access-token-ttl", "soon"}, "not a positive duration"},
		{[]string{"--access-token-ttl", "-1m"}, "not a positive duration"},
		{[]string{"--access-token-ttl", "800h"}, "longer than --refresh-token-ttl"},
		{[]string{"--log-level", "loud"}, "--log-level"},
		{[]string{"--refresh-reuse-interval", "-1s"}, "--refresh-reuse-interval: \"-1s\" is not a duration ≥ 0"},
		{[]string{"--refresh-reuse-interval", "2m"}, "longer than 1m0s"},
		{[]string{"--client-cache-ttl", "-1s"}, "--client-cache-ttl"},
	} {
		if _, err := parseConfig("serve", tc.args, s, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseConfig(%v) = %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}

func TestCommandLine(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"frobnicate"}, testEnv(nil), &out, &errOut); err == nil || !strings.Contains(errOut.String(), `unknown command "frobnicate"`) {
		t.Errorf("unknown command = %v, stderr %q", err, errOut.String())
	}
	if err := run(context.Background(), []string{"serve", "-h"}, testEnv(nil), &out, &errOut); err != nil {
		t.Errorf("serve -h = %v, want nil", err)
	}
	if !strings.Contains(errOut.String(), "GAIA_DATABASE_URL") {
		t.Errorf("serve -h does not name the environment variables:\n%s", errOut.String())
	}
	err := run(context.Background(), []string{"migrate", "--database-url", "mysql://u:hunter2@db/x"}, testEnv(nil), &out, &errOut)
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("unsupported database URL = %v; want an error that does not echo the password", err)
	}
}

// TestBinaryGracefulShutdown builds gaia-iam and stops it with SIGTERM.
func TestBinaryGracefulShutdown(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	seedPath, _ := filepath.Abs(exampleSeed)
	cmd := exec.Command(bin, "serve", "--listen", addr)
	cmd.Dir = dir // the default sqlite:gaia-data/gaia.db is relative to it
	cmd.Env = []string{
		"GAIA_SEED_FILE=" + seedPath,
		"GAIA_WEB_CLIENT_SECRET=web-secret-web-secret-web-secret-0",
		"INVENTORY_SERVICE_SECRET=svc-secret-svc-secret-svc-secret-0",
		"GAIA_BOOTSTRAP_ADMIN_PASSWORD=correct horse battery",
	}
	// No key-encryption key: the server makes a development one in gaia-data/.
	var stderr servertest.LogBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	waitFor(t, "http://"+addr+"/readyz", http.StatusOK)
	if _, err := os.Stat(filepath.Join(dir, "gaia-data", "gaia.db")); err != nil {
		t.Errorf("default database file: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "gaia-data", "kek")); err != nil {
		t.Errorf("development key-encryption key: %v", err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Errorf("development key-encryption key has mode %v, want 0600", fi.Mode().Perm())
	}
	if !strings.Contains(stderr.String(), "WARNING: no GAIA_KEY_ENCRYPTION_KEY") {
		t.Errorf("no warning about the development key-encryption key:\n%s", stderr.String())
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("gaia-iam after SIGTERM: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "stopped") {
		t.Errorf("no clean stop in the log:\n%s", stderr.String())
	}
}
