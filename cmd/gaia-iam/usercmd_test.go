package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gaia-platform/iam/oauth/keys"
	"github.com/gaia-platform/iam/rbac"
	"github.com/gaia-platform/iam/server"
	"github.com/gaia-platform/iam/storage"
	"github.com/gaia-platform/iam/storage/storagetest"
)

// operatorTest is a seeded database and the commands an operator runs on it.
type operatorTest struct {
	t      *testing.T
	getenv func(string) string
	store  storage.Store
	domain *server.Domain
}

// result is what one command printed.
type result struct {
	stdout, stderr string
	err            error
}

// forEachDatabase runs test against a seeded SQLite file and, when
// PostgreSQL is configured, a seeded PostgreSQL schema.
func forEachDatabase(t *testing.T, test func(t *testing.T, o *operatorTest)) {
	dbs := []struct {
		name string
		url  func(t *testing.T) string
	}{{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "gaia.db") }}}
	if pg, ok := storagetest.PostgresURL(t); ok {
		dbs = append(dbs, struct {
			name string
			url  func(t *testing.T) string
		}{"postgres", func(t *testing.T) string { return storagetest.PostgresSchema(t, pg) }})
	}
	for _, db := range dbs {
		t.Run(db.name, func(t *testing.T) {
			o := newOperatorTest(t, db.url(t))
			test(t, o)
		})
	}
}

func newOperatorTest(t *testing.T, dbURL string) *operatorTest {
	t.Helper()
	o := &operatorTest{t: t, getenv: testEnv(map[string]string{"GAIA_DATABASE_URL": dbURL, "USER": "ops-jane"})}
	if r := o.run("", "seed"); r.err != nil {
		t.Fatalf("seed: %v\n%s", r.err, r.stderr)
	}
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store, err := openStore(ctx, dbURL, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	kek, err := keys.ParseKEK(o.getenv("GAIA_KEY_ENCRYPTION_KEY"))
	if err != nil {
		t.Fatal(err)
	}
	dk, err := server.DataKey(ctx, store, kek, keys.StoreDataKey)
	if err != nil {
		t.Fatal(err)
	}
	if o.domain, err = server.NewDomain(store, dk, log); err != nil {
		t.Fatal(err)
	}
	o.store = store
	return o
}

// run runs gaia-iam args with stdin as standard input.
func (o *operatorTest) run(stdin string, args ...string) result {
	var stdout, stderr bytes.Buffer
	err := runWithInput(context.Background(), args, o.getenv, strings.NewReader(stdin), &stdout, &stderr)
	return result{stdout.String(), stderr.String(), err}
}

// mustRun runs a command that must succeed.
func (o *operatorTest) mustRun(stdin string, args ...string) result {
	o.t.Helper()
	r := o.run(stdin, args...)
	if r.err != nil {
		o.t.Fatalf("gaia-iam %s = %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.err, r.stdout, r.stderr)
	}
	return r
}

// printedOnce returns the password or secret r printed in its box, failing
// the test unless it appears exactly once in stdout and never in stderr
// (where the log goes).
func (o *operatorTest) printedOnce(r result) string {
	o.t.Helper()
	m := regexp.MustCompile(`store it now:\n\n    (\S+)\n`).FindStringSubmatch(r.stdout)
	if m == nil {
		o.t.Fatalf("no secret printed in:\n%s", r.stdout)
	}
	if n := strings.Count(r.stdout, m[1]); n != 1 {
		o.t.Errorf("the secret appears %d times in stdout, want once:\n%s", n, r.stdout)
	}
	if strings.Contains(r.stderr, m[1]) {
		o.t.Errorf("the secret appears in stderr:\n%s", r.stderr)
	}
	if !strings.Contains(r.stdout, "cannot be shown again") {
		o.t.Errorf("stdout does not say the secret cannot be shown again:\n%s", r.stdout)
	}
	return m[1]
}

// audit returns the events of action (or, ending in '.', of the actions
// it begins) on the target with ID target, or on any when target is "",
// oldest first.
func (o *operatorTest) audit(action, target string) []storage.AuditEvent {
	o.t.Helper()
	events, err := o.store.ListAudit(context.Background(), storage.AuditFilter{Action: action, TargetID: target})
	if err != nil {
		o.t.Fatal(err)
	}
	slices.Reverse(events)
	return events
}

// checkAudit fails the test unless events are, in order, the operator's
// successful actions on target with the given details.
func (o *operatorTest) checkAudit(events []storage.AuditEvent, targetType, targetID string, want ...[2]string) {
	o.t.Helper()
	var got []string
	for _, e := range events {
		if e.ActorType != "operator" || e.ActorName != "ops-jane" || e.Outcome != "success" || e.TargetType != targetType || e.TargetID != targetID {
			o.t.Errorf("audit event %+v: want the operator ops-jane's success on %s %s", e, targetType, targetID)
		}
		got = append(got, e.Action+" "+detailString(e.Details))
	}
	var wantS []string
	for _, w := range want {
		wantS = append(wantS, w[0]+" "+w[1])
	}
	if !slices.Equal(got, wantS) {
		o.t.Errorf("audit events = %q, want %q", got, wantS)
	}
}

func detailString(d map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(d)) {
		parts = append(parts, k+"="+d[k])
	}
	return strings.Join(parts, ",")
}

func (o *operatorTest) user(username string) *storage.User {
	o.t.Helper()
	u, err := o.store.GetUserByUsername(context.Background(), username)
	if err != nil {
		o.t.Fatalf("user %s: %v", username, err)
	}
	return u
}

func (o *operatorTest) checkLogin(username, pw string, want bool) {
	o.t.Helper()
	_, err := o.domain.RBAC.Authenticate(context.Background(), username, pw)
	if want && err != nil {
		o.t.Errorf("Authenticate(%s) = %v, want success", username, err)
	}
	if !want && !errors.Is(err, rbac.ErrInvalidCredentials) {
		o.t.Errorf("Authenticate(%s) = %v, want ErrInvalidCredentials", username, err)
	}
}

func TestUserCreate(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, o *operatorTest) {
		ctx := context.Background()
		r := o.mustRun("", "user", "create", "--username", "Alice", "--email", "alice@example.com",
			"--department", "INVENTORY", "--department", "PLATFORM", "--role", "InventoryManager", "--role", "PlatformAdmin")
		pw := o.printedOnce(r)
		if !strings.Contains(r.stdout, `created user "alice"`) {
			t.Errorf("stdout = %q, want it to name the normalized user", r.stdout)
		}
		alice := o.user("alice")
		if alice.Email != "alice@example.com" || !alice.Active {
			t.Errorf("user = %+v, want active with the email", alice)
		}
		o.checkLogin("alice", pw, true)
		g, err := o.store.UserGrants(ctx, alice.ID)
		if err != nil || !slices.Equal(g.Roles, []string{"InventoryManager", "PlatformAdmin"}) {
			t.Errorf("roles = %v, %v", g.Roles, err)
		}
		depts, _ := o.store.UserDepartments(ctx, alice.ID)
		if len(depts) != 2 || depts[0].Code != "INVENTORY" || depts[1].Code != "PLATFORM" {
			t.Errorf("departments = %+v", depts)
		}
		o.checkAudit(o.audit("user.", alice.ID), "user", alice.ID,
			[2]string{"user.create", "username=alice"},
			[2]string{"user.department.add", "department=INVENTORY"},
			[2]string{"user.department.add", "department=PLATFORM"},
			[2]string{"user.role.assign", "role=InventoryManager"},
			[2]string{"user.role.assign", "role=PlatformAdmin"})

		// A password from standard input is used and not printed.
		r = o.mustRun("correct horse battery\n", "user", "create", "--username", "bob", "--password-stdin")
		if strings.Contains(r.stdout+r.stderr, "correct horse battery") || strings.Contains(r.stdout, "store it now") {
			t.Errorf("a password read from stdin was printed:\n%s\n%s", r.stdout, r.stderr)
		}
		o.checkLogin("bob", "correct horse battery", true)
		// Only the first line counts, without its line ending.
		o.mustRun("first line pass\r\nsecond line\n", "user", "create", "--username", "dora", "--password-stdin")
		o.checkLogin("dora", "first line pass", true)
		o.mustRun("no newline at the end", "user", "create", "--username", "ed", "--password-stdin")
		o.checkLogin("ed", "no newline at the end", true)
	})
}

func TestUserCreateRefusals(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, o *operatorTest) {
		o.mustRun("", "user", "create", "--username", "alice")
		before := len(o.audit("user.", ""))

		for _, tc := range []struct {
			name  string
			stdin string
			args  []string
			check func(error) bool
		}{
			// The department rule holds: nothing of carol is left.
			{"role not allowed", "", []string{"--username", "carol", "--department", "INVENTORY", "--role", "PlatformAdmin"},
				func(err error) bool { return errors.Is(err, rbac.ErrRoleNotAllowed) }},
			{"unknown department", "", []string{"--username", "carol", "--department", "SALES"},
				func(err error) bool { return errors.Is(err, storage.ErrNotFound) }},
			{"unknown role", "", []string{"--username", "carol", "--department", "INVENTORY", "--role", "Nobody"},
				func(err error) bool { return errors.Is(err, storage.ErrNotFound) }},
			{"taken", "", []string{"--username", "ALICE"},
				func(err error) bool {
					return errors.Is(err, storage.ErrConflict) && strings.Contains(err.Error(), "exists already")
				}},
			{"bad username", "", []string{"--username", "carol smith"},
				func(err error) bool { return errors.Is(err, rbac.ErrInvalidInput) }},
			{"bad email", "", []string{"--username", "carol", "--email", "carol"},
				func(err error) bool { return errors.Is(err, rbac.ErrInvalidInput) }},
			{"weak password", "short\n", []string{"--username", "carol", "--password-stdin"},
				func(err error) bool {
					return errors.Is(err, rbac.ErrInvalidInput) && strings.Contains(err.Error(), "too short")
				}},
			{"empty stdin", "", []string{"--username", "carol", "--password-stdin"},
				func(err error) bool { return err != nil && strings.Contains(err.Error(), "no password") }},
			{"empty first line", "\nsecond\n", []string{"--username", "carol", "--password-stdin"},
				func(err error) bool { return err != nil && strings.Contains(err.Error(), "no password") }},
			{"no username", "", nil, func(err error) bool { return errors.Is(err, errUsage) }},
			{"password as a flag", "", []string{"--username", "carol", "--password", "hunter2hunter2"},
				func(err error) bool { return errors.Is(err, errUsage) }},
			{"department twice", "", []string{"--username", "carol", "--department", "INVENTORY", "--department", "INVENTORY"},
				func(err error) bool { return errors.Is(err, errUsage) }},
			{"role twice", "", []string{"--username", "carol", "--department", "INVENTORY", "--role", "InventoryViewer", "--role", "InventoryViewer"},
				func(err error) bool { return errors.Is(err, errUsage) }},
		} {
			r := o.run(tc.stdin, append([]string{"user", "create"}, tc.args...)...)
			if !tc.check(r.err) {
				t.Errorf("%s: user create = %v (stderr %q)", tc.name, r.err, r.stderr)
			}
			if _, err := o.store.GetUserByUsername(context.Background(), "carol"); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("%s: user carol exists after a refused create (%v)", tc.name, err)
			}
			if strings.Contains(r.stdout, "store it now") {
				t.Errorf("%s: a refused create printed a password:\n%s", tc.name, r.stdout)
			}
		}
		if after := len(o.audit("user.", "")); after != before {
			t.Errorf("refused creates wrote %d audit events, want none", after-before)
		}
	})
}

func TestUserSetPassword(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, o *operatorTest) {
		o.mustRun("old password here\n", "user", "create", "--username", "alice", "--password-stdin")
		alice := o.user("alice")
		// A session of alice's: a token family with one refresh token.
		f := &storage.TokenFamily{ClientID: "gaia-web", Subject: alice.ID}
		if err := o.store.CreateRefreshToken(t.Context(), f, &storage.RefreshToken{
			Signature: "sig-a1", ExpiresAt: time.Now().Add(time.Hour), Request: []byte("{}"),
		}); err != nil {
			t.Fatal(err)
		}

		r := o.mustRun("new password here\n", "user", "set-password", "--username", "ALICE", "--password-stdin")
		if strings.Contains(r.stdout+r.stderr, "new password here") {
			t.Errorf("the password read from stdin was printed:\n%s%s", r.stdout, r.stderr)
		}
		if !strings.Contains(r.stdout, "1 sessions ended") {
			t.Errorf("stdout = %q, want it to say 1 session ended", r.stdout)
		}
		if rt, f, err := o.store.GetRefreshToken(t.Context(), "sig-a1"); err != nil || rt.Active || f.RevokedAt.IsZero() {
			t.Errorf("alice's session after set-password = %+v, %+v, %v; want it revoked", rt, f, err)
		}
		o.checkLogin("alice", "new password here", true)
		o.checkLogin("alice", "old password here", false)

		r = o.mustRun("", "user", "set-password", "--username", "alice")
		pw := o.printedOnce(r)
		o.checkLogin("alice", pw, true)
		o.checkLogin("alice", "new password here", false)
		o.checkAudit(o.audit("user.", alice.ID)[1:], "user", alice.ID,
			[2]string{"user.password.set", "revoked_sessions=1"}, [2]string{"user.password.set", "revoked_sessions=0"})

		for _, tc := range []struct {
			name, stdin string
			args        []string
			check       func(error) bool
		}{
			{"unknown user", "", []string{"--username", "nobody"}, func(err error) bool { return errors.Is(err, storage.ErrNotFound) }},
			{"weak password", "short\n", []string{"--username", "alice", "--password-stdin"}, func(err error) bool { return errors.Is(err, rbac.ErrInvalidInput) }},
			{"no username", "", nil, func(err error) bool { return errors.Is(err, errUsage) }},
			{"password as a flag", "", []string{"--username", "alice", "--password", "hunter2hunter2"}, func(err error) bool { return errors.Is(err, errUsage) }},
		} {
			if r := o.run(tc.stdin, append([]string{"user", "set-password"}, tc.args...)...); !tc.check(r.err) {
				t.Errorf("%s: user set-password = %v", tc.name, r.err)
			}
		}
		o.checkLogin("alice", pw, true)
		if n := len(o.audit("user.password.set", "")); n != 2 {
			t.Errorf("%d password events after refusals, want 2", n)
		}
	})
}

func TestUserDisable(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, o *operatorTest) {
		ctx := context.Background()
		o.mustRun("correct horse battery\n", "user", "create", "--username", "alice", "--password-stdin")
		o.mustRun("correct horse battery\n", "user", "create", "--username", "bob", "--password-stdin")
		alice, bob := o.user("alice"), o.user("bob")
		// login stores a session (a token family with one refresh token)
		// and returns the token's signature.
		login := func(subject, sig string) string {
			f := &storage.TokenFamily{ClientID: "gaia-web", Subject: subject}
			rt := &storage.RefreshToken{Signature: sig, ExpiresAt: time.Now().Add(time.Hour), Request: []byte("{}")}
			if err := o.store.CreateRefreshToken(ctx, f, rt); err != nil {
				t.Fatal(err)
			}
			return sig
		}
		aliceSessions := []string{login(alice.ID, "sig-a1"), login(alice.ID, "sig-a2")}
		bobSession := login(bob.ID, "sig-b1")

		r := o.mustRun("", "user", "disable", "--username", "alice")
		if !strings.Contains(r.stdout, `disabled user "alice"; 2 sessions revoked`) {
			t.Errorf("stdout = %q, want it to say 2 sessions were revoked", r.stdout)
		}
		if o.user("alice").Active {
			t.Error("alice is still active")
		}
		o.checkLogin("alice", "correct horse battery", false)
		for _, sig := range aliceSessions {
			if rt, f, err := o.store.GetRefreshToken(ctx, sig); err != nil || rt.Active || f.RevokedAt.IsZero() {
				t.Errorf("alice's session %s = %+v, %+v, %v; want the token inactive and its family revoked", sig, rt, f, err)
			}
		}
		if rt, f, err := o.store.GetRefreshToken(ctx, bobSession); err != nil || !rt.Active || !f.RevokedAt.IsZero() {
			t.Errorf("bob's session = %+v, %+v, %v; want it live", rt, f, err)
		}
		o.checkLogin("bob", "correct horse battery", true)

		// Again: still disabled, nothing left to revoke.
		r = o.mustRun("", "user", "disable", "--username", "alice")
		if !strings.Contains(r.stdout, "0 sessions revoked") {
			t.Errorf("second disable: stdout = %q, want 0 sessions revoked", r.stdout)
		}
		o.checkAudit(o.audit("user.disable", ""), "user", alice.ID,
			[2]string{"user.disable", "revoked_sessions=2"}, [2]string{"user.disable", "revoked_sessions=0"})

		if r := o.run("", "user", "disable", "--username", "nobody"); !errors.Is(r.err, storage.ErrNotFound) {
			t.Errorf("disable an unknown user = %v, want ErrNotFound", r.err)
		}
		if r := o.run("", "user", "disable"); !errors.Is(r.err, errUsage) {
			t.Errorf("disable with no username = %v, want a usage error", r.err)
		}
	})
}

func TestUserCommandLine(t *testing.T) {
	for _, args := range [][]string{{"user"}, {"user", "frobnicate"}, {"client"}, {"client", "frobnicate"}} {
		var stderr bytes.Buffer
		if err := run(context.Background(), args, testEnv(nil), io.Discard, &stderr); !errors.Is(err, errUsage) || !strings.Contains(stderr.String(), "usage: gaia-iam "+args[0]) {
			t.Errorf("gaia-iam %v = %v, %q; want the usage", args, err, stderr.String())
		}
	}
	var stdout bytes.Buffer
	if err := run(context.Background(), []string{"help"}, testEnv(nil), &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"user create", "user set-password", "user disable", "client create", "client rotate-secret", "--password-stdin"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("help does not mention %q", want)
		}
	}
	if err := run(context.Background(), []string{"user", "create", "-h"}, testEnv(nil), io.Discard, &stdout); err != nil {
		t.Errorf("user create -h = %v, want nil", err)
	}
}
