package main

import (
	"bufio"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gaia-platform/iam/server/servertest"
)

// readEnvFile reads an env file as systemd and docker do, failing t on a
// line either could read otherwise: a quote, a space, "export", or a
// comment after a value.
func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	plain := regexp.MustCompile(`^[A-Z_][A-Z0-9_]*=[^\s"'\\#$` + "`" + `]+$`)
	vars := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !plain.MatchString(line) {
			t.Errorf("env file line %q is not a plain KEY=value line", line)
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		vars[k] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return vars
}

// TestInit: from an empty directory with only the binary, init writes a
// seed and an env file with which serve starts, answers /readyz and issues
// a token; a second init refuses and changes nothing.
func TestInit(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	out, err := runBinary(t, bin, dir, nil, "init")
	if err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	envPath := filepath.Join(dir, initEnvFile)
	fi, err := os.Stat(envPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("env file mode %04o, want 0600", fi.Mode().Perm())
	}
	vars := readEnvFile(t, envPath)
	for _, k := range []string{"GAIA_KEY_ENCRYPTION_KEY", "GAIA_SEED_FILE", "GAIA_DATABASE_URL", "WEB_APP_CLIENT_SECRET",
		"EXAMPLE_SERVICE_SECRET", "GAIA_BOOTSTRAP_ADMIN_PASSWORD"} {
		if vars[k] == "" {
			t.Errorf("env file sets no %s", k)
		}
	}
	if !strings.HasPrefix(vars["GAIA_DATABASE_URL"], "sqlite:") {
		t.Errorf("GAIA_DATABASE_URL = %q, want sqlite:…", vars["GAIA_DATABASE_URL"])
	}
	for _, secret := range []string{vars["GAIA_KEY_ENCRYPTION_KEY"], vars["EXAMPLE_SERVICE_SECRET"]} {
		if secret != "" && strings.Contains(out, secret) {
			t.Error("init printed a secret")
		}
	}
	seedBefore, _ := os.ReadFile(filepath.Join(dir, initSeedFile))
	envBefore, _ := os.ReadFile(envPath)

	// serve, from another empty directory, with only the env file.
	var env []string
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	addr := freeAddr(t)
	serveDir := t.TempDir()
	cmd := exec.Command(bin, "serve", "--listen", addr)
	cmd.Dir, cmd.Env = serveDir, env
	var logs servertest.LogBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("serve output:\n%s", logs.String())
		}
	})
	waitFor(t, "http://"+addr+"/readyz", http.StatusOK)
	status, body := tokenRequest(t, addr, "example-service", vars["EXAMPLE_SERVICE_SECRET"], url.Values{"grant_type": {"client_credentials"}})
	if status != http.StatusOK || body["access_token"] == nil {
		t.Errorf("client credentials with the starter seed = %d %v, want a token", status, body)
	}
	status, body = tokenRequest(t, addr, "web-app", vars["WEB_APP_CLIENT_SECRET"], url.Values{"grant_type": {"password"},
		"username": {"admin"}, "password": {vars["GAIA_BOOTSTRAP_ADMIN_PASSWORD"]}, "scope": {"openid offline_access"}})
	if status != http.StatusOK || body["refresh_token"] == nil {
		t.Errorf("admin's password grant with the starter seed = %d %v, want tokens", status, body)
	}
	if entries, _ := os.ReadDir(serveDir); len(entries) != 0 {
		t.Errorf("serve wrote into its working directory: %v (the env file names absolute paths)", entries)
	}

	// A second init, here or naming the directory, refuses and changes nothing.
	for _, args := range [][]string{{"init"}, {"init", dir}} {
		out, err := runBinary(t, bin, dir, nil, args...)
		if err == nil || !strings.Contains(out, "never overwrites") {
			t.Errorf("gaia-iam %s again = %v, want a refusal\n%s", strings.Join(args, " "), err, out)
		}
	}
	seedAfter, _ := os.ReadFile(filepath.Join(dir, initSeedFile))
	envAfter, _ := os.ReadFile(envPath)
	if string(seedAfter) != string(seedBefore) || string(envAfter) != string(envBefore) {
		t.Error("a refused init changed the files")
	}
	// Only the seed exists: init still refuses, and writes no env file.
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, initSeedFile), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := runBinary(t, bin, other, nil, "init"); err == nil {
		t.Errorf("init over an existing seed = nil\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(other, initEnvFile)); !os.IsNotExist(err) {
		t.Errorf("a refused init wrote the env file (%v)", err)
	}
}

// TestInitRefusesAPathAShellMisreads: the env file holds paths unquoted.
func TestInitRefusesAPathAShellMisreads(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "my gaia")
	var stdout, stderr strings.Builder
	err := run(t.Context(), []string{"init", dir}, testEnv(nil), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "shell characters") {
		t.Errorf("init %q = %v, want a refusal", dir, err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("a refused init created %s (%v)", dir, err)
	}
}

// TestMissingSeedPointsToInit: the binary installed alone meets no seed
// file, and is told how to get one.
func TestMissingSeedPointsToInit(t *testing.T) {
	dir := t.TempDir()
	env := testEnv(map[string]string{"GAIA_SEED_FILE": filepath.Join(dir, "seed.example.yaml"),
		"GAIA_DATABASE_URL": "sqlite:" + filepath.Join(dir, "gaia.db")})
	for _, args := range [][]string{{"serve", "--listen", "127.0.0.1:0"}, {"seed"}} {
		err := run(t.Context(), args, env, &strings.Builder{}, &strings.Builder{})
		if err == nil || !strings.Contains(err.Error(), "GAIA_SEED_FILE") || !strings.Contains(err.Error(), "gaia-iam init") {
			t.Errorf("gaia-iam %s without a seed file = %v, want an error naming GAIA_SEED_FILE and init", strings.Join(args, " "), err)
		}
	}
}
