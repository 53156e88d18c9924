package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/gaia-platform/iam/audit"
	"github.com/gaia-platform/iam/storage"
	"github.com/gaia-platform/iam/storage/sqlite"
	"github.com/gaia-platform/iam/storage/storagetest"
)

// TestKeysRotateAudit: `keys rotate` records who rotated to which key, as
// the operator named by $USER, or "operator".
func TestKeysRotateAudit(t *testing.T) {
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
