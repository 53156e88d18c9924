package deploy_test

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// gaiaBinary builds gaia-iam once per test run, as make build does.
func gaiaBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "gaia-deploy-test-"); buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(buildDir, "gaia-iam"), "./cmd/gaia-iam")
		cmd.Dir = repoRoot
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = &buildError{err, string(out)}
		}
	})
	if buildErr != nil {
		t.Fatalf("building gaia-iam: %v", buildErr)
	}
	return filepath.Join(buildDir, "gaia-iam")
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// gaiaEnv is a server's environment over dbURL.
func gaiaEnv(t *testing.T, dbURL string) []string {
	seed, err := filepath.Abs(filepath.Join(repoRoot, "seed.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return []string{
		"GAIA_DATABASE_URL=" + dbURL,
		"GAIA_SEED_FILE=" + seed,
		"GAIA_KEY_ENCRYPTION_KEY=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		"GAIA_WEB_CLIENT_SECRET=web-secret-web-secret-web-secret-0",
		"INVENTORY_SERVICE_SECRET=svc-secret-svc-secret-svc-secret-0",
		"GAIA_BOOTSTRAP_ADMIN_PASSWORD=admin-password-admin-password-0",
		"PATH=" + os.Getenv("PATH"),
	}
}

// gaiaRun runs a gaia-iam command and returns its output, failing the test
// on an error.
func gaiaRun(t *testing.T, bin string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("gaia-iam %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// sh runs a documented shell command line.
func sh(t *testing.T, line string) string {
	t.Helper()
	out, err := exec.Command("sh", "-c", line).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", line, err, out)
	}
	return string(out)
}

// tokenStatus asks the server at port for a client-credentials token.
func tokenStatus(ctx context.Context, port string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://127.0.0.1:"+port+"/oauth2/token",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("inventory-service", "svc-secret-svc-secret-svc-secret-0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestSQLiteOnlineBackup runs docs/deployment.md's SQLite backup commands
// while gaia-iam serves and writes, then its restore, and checks that the
// restored server has the data and still issues tokens.
func TestSQLiteOnlineBackup(t *testing.T) {
	if _, err := exec.LookPath("sqlite3"); err != nil {
		t.Skip("sqlite3 is not installed (apt-get install sqlite3): the documented backup was not run")
	}
	bin := gaiaBinary(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "gaia.db")
	env := gaiaEnv(t, "sqlite:"+db)
	port := freePort(t)
	stop := startServerEnv(t, bin, port, env)
	gaiaRun(t, bin, env, "user", "create", "--username", "before-backup")

	// Writes go on during the backup: token requests (each stores an
	// audit event) from another goroutine.
	ctx, cancel := context.WithCancel(context.Background())
	var issued atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			if code, err := tokenStatus(ctx, port); err == nil && code == http.StatusOK {
				issued.Add(1)
			}
		}
	}()
	// The backup starts once tokens are being issued, so that it really
	// runs beside writes; a backup can take less time than one token.
	for deadline := time.Now().Add(30 * time.Second); issued.Load() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			cancel()
			wg.Wait()
			t.Fatal("the server issued no token in 30 s")
		}
	}
	backup := filepath.Join(dir, "backup.db")
	sh(t, "sqlite3 "+db+" \".backup '"+backup+"'\"")
	cancel()
	wg.Wait()
	if out := strings.TrimSpace(sh(t, "sqlite3 "+backup+" \"PRAGMA ignore_check_constraints=ON; PRAGMA integrity_check\"")); out != "ok" {
		t.Errorf("integrity_check of the backup = %q, want ok", out)
	}
	gaiaRun(t, bin, env, "user", "create", "--username", "after-backup")
	stop()

	// The documented restore: the backup in place, the old WAL files gone.
	sh(t, "cp "+backup+" "+db)
	sh(t, "rm -f "+db+"-wal "+db+"-shm")
	startServerEnv(t, bin, port, env)
	users := gaiaRun(t, bin, env, "user", "list")
	if !strings.Contains(users, "before-backup") || strings.Contains(users, "after-backup") {
		t.Errorf("users after the restore:\n%s\nwant before-backup and not after-backup", users)
	}
	if code, err := tokenStatus(context.Background(), port); err != nil || code != http.StatusOK {
		t.Errorf("token after the restore = %d, %v; want 200 (the signing keys restored)", code, err)
	}
}

// TestPostgresDumpRestore runs docs/deployment.md's pg_dump and pg_restore
// and starts gaia-iam on the restored database.
func TestPostgresDumpRestore(t *testing.T) {
	base := os.Getenv("GAIA_TEST_POSTGRES_URL")
	if base == "" {
		if os.Getenv("GAIA_REQUIRE_POSTGRES") == "1" {
			t.Fatal("GAIA_TEST_POSTGRES_URL is not set")
		}
		t.Skip("GAIA_TEST_POSTGRES_URL is not set: the PostgreSQL backup was not run")
	}
	for _, tool := range []string{"pg_dump", "pg_restore", "psql"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: the PostgreSQL backup was not run", tool)
		}
	}
	bin := gaiaBinary(t)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	src, dst := name+"_dump_src", name+"_dump_dst"
	dbURL := func(db string) string { v := *u; v.Path = "/" + db; return v.String() }
	for _, db := range []string{src, dst} {
		sh(t, "psql -q '"+base+"' -c 'DROP DATABASE IF EXISTS "+db+"' -c 'CREATE DATABASE "+db+"'")
	}
	t.Cleanup(func() {
		for _, db := range []string{src, dst} {
			_ = exec.Command("psql", "-q", base, "-c", "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)").Run()
		}
	})
	port := freePort(t)
	env := gaiaEnv(t, dbURL(src))
	stop := startServerEnv(t, bin, port, env)
	gaiaRun(t, bin, env, "user", "create", "--username", "dumped")
	dump := filepath.Join(t.TempDir(), "gaia.dump")
	sh(t, "pg_dump --format=custom --file="+dump+" '"+dbURL(src)+"'")
	stop()
	sh(t, "pg_restore --no-owner --dbname='"+dbURL(dst)+"' "+dump)

	env = gaiaEnv(t, dbURL(dst))
	startServerEnv(t, bin, port, env)
	if users := gaiaRun(t, bin, env, "user", "list"); !strings.Contains(users, "dumped") {
		t.Errorf("users in the restored database:\n%s\nwant dumped", users)
	}
	if code, err := tokenStatus(context.Background(), port); err != nil || code != http.StatusOK {
		t.Errorf("token from the restored database = %d, %v; want 200", code, err)
	}
}
