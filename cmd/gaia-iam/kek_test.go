package main

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gaia-platform/iam/storage/storagetest"
)

// otherKEK is a valid key-encryption key that is not testEnv's.
const otherKEK = "b3RoZXJvdGhlcm90aGVyb3RoZXJvdGhlcm90aGVyMTI="

// buildBinary builds gaia-iam into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "gaia-iam")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// runBinary runs bin with args in dir, with only env as its environment.
func runBinary(t *testing.T, bin, dir string, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestWrongKEKRefusedBeforeAnyWrite: with signing keys sealed under one
// key-encryption key, every command given another one, or none (as when
// run from another directory than serve's development key), refuses
// before it writes, and creates no key file.
func TestWrongKEKRefusedBeforeAnyWrite(t *testing.T) {
	bin := buildBinary(t)
	seedPath, _ := filepath.Abs(exampleSeed)
	forEachDatabase(t, func(t *testing.T, o *operatorTest) {
		ctx := context.Background()
		o.mustRun("", "keys", "rotate") // seals the signing keys under testEnv's key
		secret := o.printedOnce(o.mustRun("", "client", "rotate-secret", "--client-id", "inventory-service"))
		// A change serve's seed would undo: it must still be there after a refused start.
		if err := o.store.DeleteClient(ctx, "gaia-cli"); err != nil {
			t.Fatal(err)
		}
		events := len(o.audit("", ""))

		commands := [][]string{
			{"client", "rotate-secret", "--client-id", "inventory-service"},
			{"client", "create", "--client-id", "new-svc", "--name", "New", "--grant-type", "client_credentials"},
			{"user", "create", "--username", "newcomer"},
			{"user", "disable", "--username", "admin"},
			{"seed"},
			{"seed", "--dry-run"},
			{"keys", "rotate"},
			{"serve", "--listen", "127.0.0.1:0"},
		}
		dbURL := o.getenv("GAIA_DATABASE_URL")
		for _, args := range commands {
			// Another key in the environment, in-process.
			wrong := testEnv(map[string]string{"GAIA_DATABASE_URL": dbURL, "GAIA_KEY_ENCRYPTION_KEY": otherKEK})
			r := (&operatorTest{t: t, getenv: wrong}).run("", args...)
			if r.err == nil || !strings.Contains(r.err.Error(), "GAIA_KEY_ENCRYPTION_KEY") || !strings.Contains(r.err.Error(), "not the one") {
				t.Errorf("gaia-iam %s with another key-encryption key: %v, want a refusal naming GAIA_KEY_ENCRYPTION_KEY\n%s",
					strings.Join(args, " "), r.err, r.stderr)
			}
			// No key at all, from an empty directory: the binary.
			dir := t.TempDir()
			out, err := runBinary(t, bin, dir, []string{"GAIA_DATABASE_URL=" + dbURL, "GAIA_SEED_FILE=" + seedPath,
				"GAIA_WEB_CLIENT_SECRET=web-secret-web-secret-web-secret-0",
				"INVENTORY_SERVICE_SECRET=svc-secret-svc-secret-svc-secret-0"}, args...)
			if err == nil || !strings.Contains(out, "GAIA_KEY_ENCRYPTION_KEY_FILE") {
				t.Errorf("gaia-iam %s without a key-encryption key: %v, want a refusal naming GAIA_KEY_ENCRYPTION_KEY_FILE\n%s",
					strings.Join(args, " "), err, out)
			}
			if _, err := os.Stat(filepath.Join(dir, devKEKFile)); !os.IsNotExist(err) {
				t.Errorf("gaia-iam %s without a key-encryption key created %s (%v)", strings.Join(args, " "), devKEKFile, err)
			}
		}
		o.checkClientSecret("inventory-service", secret, true)
		if _, err := o.store.GetClient(ctx, "gaia-cli"); err == nil {
			t.Error("a refused serve applied the seed: gaia-cli is back")
		}
		if _, err := o.store.GetUserByUsername(ctx, "newcomer"); err == nil {
			t.Error("a refused user create created the user")
		}
		if u := o.user("admin"); !u.Active {
			t.Error("a refused user disable disabled admin")
		}
		if n := len(o.audit("", "")); n != events {
			t.Errorf("%d audit events written by refused commands", n-events)
		}
		if keys, err := o.store.ListSigningKeys(ctx); err != nil || len(keys) != 2 {
			t.Errorf("signing keys after refused commands: %d, %v; want the 2 of the first rotation", len(keys), err)
		}
	})
}

// TestDevKEKOnlyByServeOnAFreshDatabase: a command other than serve never
// creates a development key, even on a fresh database.
func TestDevKEKOnlyByServeOnAFreshDatabase(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	seedPath, _ := filepath.Abs(exampleSeed)
	env := []string{"GAIA_SEED_FILE=" + seedPath, "GAIA_WEB_CLIENT_SECRET=web-secret-web-secret-web-secret-0",
		"INVENTORY_SERVICE_SECRET=svc-secret-svc-secret-svc-secret-0"}
	for _, args := range [][]string{
		{"client", "create", "--client-id", "c", "--name", "C", "--grant-type", "client_credentials"},
		{"seed"}, {"keys", "rotate"},
	} {
		out, err := runBinary(t, bin, dir, env, args...)
		if err == nil || !strings.Contains(out, "run 'gaia-iam serve' once") {
			t.Errorf("gaia-iam %s on a fresh database without a key: %v\n%s", strings.Join(args, " "), err, out)
		}
		if _, err := os.Stat(filepath.Join(dir, devKEKFile)); !os.IsNotExist(err) {
			t.Fatalf("gaia-iam %s created %s (%v)", strings.Join(args, " "), devKEKFile, err)
		}
	}
}

// TestDryRunAndKeysListWriteNothing: on a database that does not exist or
// is not migrated, seed --dry-run and keys list refuse and create no file,
// directory, key or table.
func TestDryRunAndKeysListWriteNothing(t *testing.T) {
	bin := buildBinary(t)
	seedPath, _ := filepath.Abs(exampleSeed)
	commands := [][]string{{"seed", "--dry-run"}, {"keys", "list"}}
	dir := t.TempDir()
	for _, args := range commands {
		// The defaults: sqlite:gaia-data/gaia.db and gaia-data/kek, in dir.
		out, err := runBinary(t, bin, dir, []string{"GAIA_SEED_FILE=" + seedPath}, args...)
		if err == nil || !strings.Contains(out, "run 'gaia-iam migrate' first") {
			t.Errorf("gaia-iam %s without a database: %v\n%s", strings.Join(args, " "), err, out)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Fatalf("gaia-iam %s wrote %s", strings.Join(args, " "), entries[0].Name())
		}
	}
	pg, ok := storagetest.PostgresURL(t)
	if !ok {
		return
	}
	dbURL := storagetest.PostgresSchema(t, pg)
	for _, args := range commands {
		r := (&operatorTest{t: t, getenv: testEnv(map[string]string{"GAIA_DATABASE_URL": dbURL})}).run("", args...)
		if r.err == nil || !strings.Contains(r.err.Error(), "run 'gaia-iam migrate' first") {
			t.Errorf("gaia-iam %s on an empty schema: %v", strings.Join(args, " "), r.err)
		}
	}
	store, err := openStore(context.Background(), dbURL, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if res, err := store.PendingMigrations(context.Background()); err != nil || !res {
		t.Errorf("after seed --dry-run and keys list, pending migrations = %v, %v; want the schema untouched", res, err)
	}
}
