package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The files init writes in its directory.
const (
	initSeedFile = "seed.yaml"
	initEnvFile  = "gaia.env"
	initDataDir  = "gaia-data"
)

// starterSeed is the seed init writes: the permissions the admin API needs,
// an administrator, one example application permission and role, a
// first-party app and a service. Its secrets are the variables of the env
// file.
const starterSeed = `# A starter RBAC seed, written by 'gaia-iam init'. GAIA_SEED_FILE names it.
#
# Permissions, roles, departments and their mappings are reconciled to match
# this file exactly on every start ('gaia-iam seed --dry-run' shows the diff).
# Clients and users are created when absent; runtime changes to them are kept.
# Secrets are never written here: each entry names an environment variable,
# set in the env file init wrote next to this one.

permissions:
  # Your applications' permissions: dotted, lower-case names.
  - name: example.read
    description: Read example data
  # Gaia's own: what the admin API checks.
  - name: iam.user.create
    description: Create users
  - name: iam.user.read
    description: Read users, their departments, roles and effective permissions
  - name: iam.user.update
    description: Change users, disable them, set their passwords, delete them
  - name: iam.role.assign
    description: Assign and unassign roles and departments
  - name: iam.session.revoke
    description: Force a user's logout by revoking their refresh tokens
  - name: iam.client.manage
    description: Create, change and delete OAuth clients and rotate their secrets
  - name: iam.audit.read
    description: Read the audit log
  - name: iam.security.manage
    description: Manage the block list and unlock locked accounts

roles:
  - name: ExampleReader
    description: Reads example data
    permissions: [example.read]
  - name: PlatformAdmin
    description: Administers Gaia IAM itself
    permissions:
      - iam.user.create
      - iam.user.read
      - iam.user.update
      - iam.role.assign
      - iam.session.revoke
      - iam.client.manage
      - iam.audit.read
      - iam.security.manage

departments:
  # A user may hold a role only if one of their departments allows it.
  - code: PLATFORM
    name: Platform
    allowed_roles: [PlatformAdmin, ExampleReader]

clients:
  # A first-party app: users log in with the password grant and stay
  # logged in with refresh tokens.
  - client_id: web-app
    name: Web app
    secret_env: WEB_APP_CLIENT_SECRET
    grant_types: [password, refresh_token]
    scopes: [openid, profile, email, offline_access]
  # A service that gets its own tokens, carrying its roles' permissions.
  - client_id: example-service
    name: Example service
    secret_env: EXAMPLE_SERVICE_SECRET
    grant_types: [client_credentials]
    roles: [ExampleReader]

users:
  # The first administrator, created once with this password; change it
  # with 'gaia-iam user set-password --username admin'.
  - username: admin
    password_env: GAIA_BOOTSTRAP_ADMIN_PASSWORD
    departments: [PLATFORM]
    roles: [PlatformAdmin, ExampleReader]
`

// initCmd writes a starter seed and a development env file into a
// directory (default: the current one), for someone who installed the
// binary alone. It never overwrites a file.
func initCmd(_ context.Context, args []string, s sys) error {
	flags := flag.NewFlagSet("gaia-iam init", flag.ContinueOnError)
	flags.SetOutput(s.stderr)
	flags.Usage = func() {
		fmt.Fprintf(s.stderr, "usage: gaia-iam init [DIR]\n\nwrites DIR/%s (a starter seed) and DIR/%s (development settings and secrets, mode 0600); DIR defaults to the current directory\n", initSeedFile, initEnvFile)
	}
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return errUsage
	}
	if flags.NArg() > 1 {
		flags.Usage()
		return errUsage
	}
	dir := "."
	if flags.NArg() == 1 {
		dir = flags.Arg(0)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	// The paths go unquoted into the env file, which a shell reads too.
	if strings.ContainsAny(dir, " \t\n\"'\\$`#;&|<>()*?[]{}~") {
		return fmt.Errorf("init: the directory %q has spaces or shell characters, which the env file cannot hold unquoted: choose another", dir)
	}
	seedPath, envPath := filepath.Join(dir, initSeedFile), filepath.Join(dir, initEnvFile)
	// Both checked before either is written: a half-done init is never left.
	for _, p := range []string{seedPath, envPath} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("init: %s exists: init never overwrites a file (move it away to start afresh)", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("init: %w", err)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	if err := writeNew(seedPath, []byte(starterSeed), 0o644); err != nil {
		return err
	}
	if err := writeNew(envPath, []byte(devEnv(dir, seedPath)), 0o600); err != nil {
		os.Remove(seedPath) // this run created it: leave nothing half done
		return err
	}
	fmt.Fprintf(s.stdout, `wrote %s (a starter seed) and %s (development settings and secrets, mode 0600)

Start the server with those settings:

    set -a; . %s; set +a
    gaia-iam serve

or with systemd (EnvironmentFile=%s) or docker (--env-file %s).
The administrator is "admin", with the password GAIA_BOOTSTRAP_ADMIN_PASSWORD
in the env file. Back up GAIA_KEY_ENCRYPTION_KEY with the database: without
it the database's keys cannot be opened.
`, seedPath, envPath, envPath, envPath, envPath)
	return nil
}

// devEnv is the env file's content: plain KEY=value lines that systemd's
// EnvironmentFile=, docker --env-file and a POSIX shell (set -a; . FILE)
// all read alike: no quotes, no export, no spaces, comments on their own
// lines. Every value is base64 or a path without spaces.
func devEnv(dir, seedPath string) string {
	var b strings.Builder
	line := func(s string) { b.WriteString(s + "\n") }
	line("# Gaia IAM development settings, written by 'gaia-iam init' on " + time.Now().UTC().Format(time.DateOnly) + ".")
	line("# Plain KEY=value lines, read by systemd (EnvironmentFile=), docker (--env-file)")
	line("# and a shell (set -a; . ./" + initEnvFile + "; set +a). It holds secrets: keep it")
	line("# mode 0600 and out of version control.")
	line("")
	line("GAIA_LISTEN=127.0.0.1:8080")
	line("# The embedded database; for PostgreSQL: postgres://USER@HOST:5432/DB?sslmode=verify-full")
	line("GAIA_DATABASE_URL=sqlite:" + filepath.Join(dir, initDataDir, "gaia.db"))
	line("GAIA_SEED_FILE=" + seedPath)
	line("")
	line("# The key-encryption key: it seals the signing keys and the key refresh tokens")
	line("# and client secrets are derived from. Back it up apart from the database;")
	line("# lost, the database's keys cannot be opened. Replace it with 'gaia-iam keys rewrap'.")
	line("GAIA_KEY_ENCRYPTION_KEY=" + randomBase64(32, base64.StdEncoding))
	line("")
	line("# The starter seed's secrets. The clients' secrets are read when a client is")
	line("# created (first start); the admin's password when admin is.")
	line("WEB_APP_CLIENT_SECRET=" + randomBase64(32, base64.RawURLEncoding))
	line("EXAMPLE_SERVICE_SECRET=" + randomBase64(32, base64.RawURLEncoding))
	line("GAIA_BOOTSTRAP_ADMIN_PASSWORD=" + randomBase64(18, base64.RawURLEncoding))
	return b.String()
}

// randomBase64 is n random bytes in enc.
func randomBase64(n int, enc *base64.Encoding) string {
	b := make([]byte, n)
	rand.Read(b) // never fails: crypto/rand crashes the program rather than return short
	return enc.EncodeToString(b)
}

// writeNew creates the file at path with data and perm, failing if it
// exists; a file it fails to write whole is removed.
func writeNew(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("init: write %s: %w", path, err)
	}
	return nil
}
