package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gaia-platform/iam/audit"
	"github.com/gaia-platform/iam/storage"
	"github.com/gaia-platform/iam/storage/sqlite"
	"github.com/gaia-platform/iam/storage/storagetest"
)

// keyDBs gives, for each backend, a fresh database's URL and how to open it.
func keyDBs(t *testing.T) map[string]func(t *testing.T) (string, func(t *testing.T) storage.Store) {
	dbs := map[string]func(t *testing.T) (string, func(t *testing.T) storage.Store){
		"sqlite": func(t *testing.T) (string, func(t *testing.T) storage.Store) {
			path := filepath.Join(t.TempDir(), "gaia.db")
			return "sqlite:" + path, func(t *testing.T) storage.Store {
				s, err := sqlite.Open(context.Background(), path, storagetest.Logger(t))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			}
		},
	}
	if url, ok := storagetest.PostgresURL(t); ok {
		dbs["postgres"] = func(t *testing.T) (string, func(t *testing.T) storage.Store) {
			u := storagetest.PostgresSchema(t, url)
			return u, func(t *testing.T) storage.Store { return storagetest.OpenPostgres(t, u) }
		}
	}
	return dbs
}

// TestKeysRotateAudit: `keys rotate` records who rotated to which key, as
// the operator named by $USER, or "operator".
func TestKeysRotateAudit(t *testing.T) {
	dbs := keyDBs(t)
	kid := regexp.MustCompile(`new signing key (\S+),`)
	for name, db := range dbs {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			dbURL, open := db(t)
			var kids []string
			for _, user := range []string{"cj", ""} {
				var out bytes.Buffer
				getenv := testEnv(map[string]string{"GAIA_DATABASE_URL": dbURL, "USER": user})
				if err := run(ctx, []string{"keys", "rotate"}, getenv, &out, &bytes.Buffer{}); err != nil {
					t.Fatalf("keys rotate: %v", err)
				}
				m := kid.FindStringSubmatch(out.String())
				if m == nil {
					t.Fatalf("keys rotate printed %q, want the new kid", out.String())
				}
				kids = append(kids, m[1])
			}
			got, err := open(t).ListAudit(ctx, storage.AuditFilter{Action: audit.ActionKeyRotate})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 {
				t.Fatalf("%d key.rotate events, want 2: %+v", len(got), got)
			}
			for i, want := range []struct{ name, kid string }{{"operator", kids[1]}, {"cj", kids[0]}} { // newest first
				e := got[i]
				if e.ActorType != audit.ActorOperator || e.ActorName != want.name || e.ActorID != "" ||
					e.TargetType != audit.TargetSigningKey || e.TargetID != want.kid || e.Outcome != audit.Success || e.ID == "" || e.Time.IsZero() {
					t.Errorf("key.rotate event %d = %+v, want operator %q rotating to %s", i, e, want.name, want.kid)
				}
			}
		})
	}
}

// TestKeysRevoke: `keys revoke KID` revokes a key once, audited as the
// operator, refuses an unknown kid, and `keys list` shows each key's state;
// revoking the signing key during a rotation's delay makes the next key
// sign at once.
func TestKeysRevoke(t *testing.T) {
	for name, db := range keyDBs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			dbURL, open := db(t)
			getenv := testEnv(map[string]string{"GAIA_DATABASE_URL": dbURL, "USER": "cj"})
			keys := func(args ...string) (string, error) {
				var out, errOut bytes.Buffer
				err := run(ctx, append([]string{"keys"}, args...), getenv, &out, &errOut)
				return out.String() + errOut.String(), err
			}
			out, err := keys("rotate")
			if err != nil {
				t.Fatalf("keys rotate: %v", err)
			}
			m := regexp.MustCompile(`new signing key (\S+), published now; it signs from \S+ \(in 1m15s`).FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("keys rotate printed %q, want the new kid and the default delay, 1m15s", out)
			}
			next := m[1]
			list := open(t)
			rows, err := list.ListSigningKeys(ctx)
			if err != nil || len(rows) != 2 {
				t.Fatalf("stored keys = %+v, %v, want the first and the next", rows, err)
			}
			first := rows[1].ID
			line := func(kid, state string) *regexp.Regexp {
				return regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(kid) + `  ` + state + ` +created \S+  signs from \S+`)
			}
			if out, err := keys("list"); err != nil || !line(next, "next").MatchString(out) || !line(first, "current").MatchString(out) {
				t.Errorf("keys list = %q, %v, want %s next and %s current", out, err, next, first)
			}

			for _, kid := range []string{"0190f3a0-0000-7000-8000-00000000000a", "not-a-kid"} {
				out, err := keys("revoke", kid)
				if err == nil || !strings.Contains(err.Error(), "no signing key") {
					t.Errorf("keys revoke %s = %q, %v, want no signing key", kid, out, err)
				}
			}
			if _, err := keys("revoke"); !errors.Is(err, errUsage) {
				t.Errorf("keys revoke without a kid = %v, want the usage", err)
			}

			out, err = keys("revoke", first)
			if err != nil || !strings.Contains(out, "revoked signing key "+first) {
				t.Fatalf("keys revoke %s = %q, %v", first, out, err)
			}
			if !line(next, "current").MatchString(out) || !regexp.MustCompile(`(?m)^`+first+`  revoked .* revoked \S+$`).MatchString(out) {
				t.Errorf("keys revoke of the signing key listed %q, want the next key current at once and %s revoked with its time", out, first)
			}
			out, err = keys("revoke", first)
			if err != nil || !strings.Contains(out, "signing key "+first+" was revoked already") {
				t.Errorf("keys revoke again = %q, %v, want it done already", out, err)
			}

			got, err := list.ListAudit(ctx, storage.AuditFilter{Action: audit.ActionKeyRevoke})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 {
				t.Fatalf("%d key.revoke events, want 2: %+v", len(got), got)
			}
			for i, already := range []string{"true", "false"} { // newest first
				e := got[i]
				if e.ActorType != audit.ActorOperator || e.ActorName != "cj" || e.TargetType != audit.TargetSigningKey ||
					e.TargetID != first || e.Outcome != audit.Success || e.Details[audit.DetailAlready] != already {
					t.Errorf("key.revoke event %d = %+v, want cj revoking %s, already %s", i, e, first, already)
				}
			}
		})
	}
}

// TestKeysPublishDelay: a publish delay shorter than a reload plus the JWKS
// max-age is refused.
func TestKeysPublishDelay(t *testing.T) {
	getenv := testEnv(map[string]string{"GAIA_DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "gaia.db"),
		"GAIA_KEY_REFRESH_INTERVAL": "15s", "GAIA_KEY_PUBLISH_DELAY": "74s"})
	err := run(context.Background(), []string{"keys", "rotate"}, getenv, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "--key-publish-delay") || !strings.Contains(err.Error(), "1m15s") {
		t.Errorf("keys rotate with a 74s publish delay = %v, want it refused: at least 1m15s", err)
	}
}
