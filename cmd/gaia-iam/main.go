// Command gaia-iam is the Gaia identity and access server.
//
//	gaia-iam serve              migrate, reconcile the seed, serve HTTP
//	gaia-iam migrate            bring the database schema up to date
//	gaia-iam seed [--dry-run]   reconcile the RBAC seed, or show the diff
//	gaia-iam keys rotate|revoke KID|list|rewrap   manage the token signing keys
//	                            and the key-encryption key
//	gaia-iam user create|set-password|disable|list|delete|unlock
//	                            manage users from the command line
//	gaia-iam client create|rotate-secret|list|delete
//	                            manage OAuth clients from the command line
//	gaia-iam block add|list|remove, gaia-iam user unlock
//	                            login protection: the block list, locked accounts
//	gaia-iam init [DIR]         write a starter seed and a development env file
//	gaia-iam audit purge|export the audit log's retention and export
//
// Every setting flag has a GAIA_* environment equivalent; a flag wins over
// the environment. A password or client secret is never a flag.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/gaia-platform/iam/storage"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runWithInput(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "gaia-iam:", err)
		}
		os.Exit(1)
	}
}

var (
	// errUsage reports a command line that was wrong; the usage has been printed.
	errUsage = errors.New("usage")
	// errHelp reports that -h asked for the usage, which has been printed.
	errHelp = errors.New("help")
)

// sys bundles what a subcommand reads from and writes to the outside world,
// so tests can run commands in-process.
type sys struct {
	getenv func(string) string
	stdin  io.Reader // read only by --password-stdin
	stdout io.Writer
	stderr io.Writer
}

// run is runWithInput with an empty standard input.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return runWithInput(ctx, args, getenv, strings.NewReader(""), stdout, stderr)
}

func runWithInput(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	err := dispatch(ctx, args, sys{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr})
	if errors.Is(err, errHelp) {
		return nil
	}
	return operatorError(err)
}

// operatorError keeps the storage layer's words out of what the operator
// reads (`UNIQUE constraint failed: index 'users_username_key' (2067)`,
// SQLSTATEs): an error carrying a storage sentinel is shown as the context
// before it and a plain word for it. errors.Is still sees the whole chain.
func operatorError(err error) error {
	for _, k := range []struct {
		sentinel error
		say      string
	}{{storage.ErrConflict, "exists already"}, {storage.ErrNotFound, "not found"}, {storage.ErrInvalid, "invalid"}} {
		if !errors.Is(err, k.sentinel) {
			continue
		}
		msg := err.Error()
		if i := strings.Index(msg, ": "+k.sentinel.Error()); i > 0 {
			return &shownError{msg: msg[:i] + ": " + k.say, err: err}
		}
	}
	return err
}

// shownError is an error shown with msg in place of its chain's text.
type shownError struct {
	msg string
	err error
}

func (e *shownError) Error() string { return e.msg }
func (e *shownError) Unwrap() error { return e.err }

func dispatch(ctx context.Context, args []string, s sys) error {
	stdout, stderr := s.stdout, s.stderr
	if len(args) == 0 {
		usage(stderr)
		return errUsage
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], s)
	case "migrate":
		return migrate(ctx, args[1:], s)
	case "seed":
		return seedCmd(ctx, args[1:], s)
	case "keys":
		return keysCmd(ctx, args[1:], s)
	case "user":
		return userCmd(ctx, args[1:], s)
	case "client":
		return clientCmd(ctx, args[1:], s)
	case "block":
		return blockCmd(ctx, args[1:], s)
	case "init":
		return initCmd(ctx, args[1:], s)
	case "audit":
		return auditCmd(ctx, args[1:], s)
	case "healthcheck":
		return healthcheck(ctx, args[1:], s)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "gaia-iam", versionString())
		return nil
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return nil
	default:
		fmt.Fprintf(stderr, "gaia-iam: unknown command %q\n\n", args[0])
		usage(stderr)
		return errUsage
	}
}

// version is set at link time by make build (-ldflags "-X main.version=…");
// a package variable because the linker can set nothing else.
var version string

// versionString is the stamped version, else what the Go toolchain
// recorded: the module version (go install …@v1.2.3) or the VCS revision.
func versionString() string {
	info, ok := debug.ReadBuildInfo()
	v := version
	if v == "" && ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		v = info.Main.Version
	}
	if v == "" && ok {
		var rev, modified string
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					modified = "-dirty"
				}
			}
		}
		if rev != "" {
			v = "devel-" + rev[:min(12, len(rev))] + modified
		}
	}
	if v == "" {
		v = "devel"
	}
	if ok {
		v += " (" + info.GoVersion + ")"
	}
	return v
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage: gaia-iam <command> [flags]

Commands:
  serve              migrate the database, reconcile the seed, serve HTTP
  migrate            bring the database schema up to date
  seed [--dry-run]   reconcile the RBAC seed file, or print the changes it would make
  keys rotate        publish a new signing key now; it signs after --key-publish-delay
                     (the old one stays published until its tokens expire)
  keys revoke KID    revoke a compromised signing key: unpublished, its tokens refused
  keys list          list the signing keys and their states
  keys rewrap        replace the key-encryption key: re-seal the keys under the one in
                     GAIA_NEW_KEY_ENCRYPTION_KEY(_FILE); tokens and client secrets stay valid
  user create        create a user: --username NAME [--email E] [--department CODE]...
                     [--role NAME]... [--password-stdin]
  user set-password  set a user's password: --username NAME [--password-stdin]
  user disable       disable a user and revoke all their sessions: --username NAME
  user unlock USERNAME
                     lift login protection's lock of an account and forget its failures
  user list          list users: [--department CODE] [--role NAME]
  user delete        delete a user and revoke their sessions: --username NAME
  client create      create an OAuth client: --client-id ID --name NAME --grant-type G...
                     [--scope S]... [--audience A]... [--role R]... [--public]
  client rotate-secret
                     give a confidential client a new secret: --client-id ID
  block add CIDR     refuse token requests from an address range: [--reason TEXT] [--expires-in DURATION]
  block list         list the block list
  block remove CIDR  lift a block
  client list        list the OAuth clients
  client delete      delete a client and revoke its refresh tokens: --client-id ID
  init [DIR]         write a starter seed and a development env file (with a new
                     key-encryption key and the seed's secrets) into DIR, default .
  audit purge        delete the audit events older than --audit-retention: [--dry-run]
  audit export       write audit events as JSON lines: --since TIME|DURATION [--until TIME|DURATION] [--out FILE]
  healthcheck        GET /healthz of the server GAIA_LISTEN names; exit 1 unless 200
                     (a container's HEALTHCHECK)

A password or client secret is never taken as a flag: --password-stdin reads
the first line of standard input; without it, and for client secrets, one is
generated and printed once.

'gaia-iam --version' prints the version.

Run 'gaia-iam <command> -h' for the flags of a command; each setting
(database, key-encryption key, …) has a GAIA_* environment equivalent, shown
in brackets, and a flag wins over the environment.
`)
}
