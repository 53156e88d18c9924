package migrations_test

import (
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	_ "modernc.org/sqlite"

	"github.com/gaia-platform/iam/migrations"
	"github.com/gaia-platform/iam/storage"
	"github.com/gaia-platform/iam/storage/storagetest"
)

// TestUsernameSkeletonFill: migration 00009 gives every existing user the
// skeleton of its username, unique; of users created before look-alikes
// were refused, the oldest keeps the skeleton and a later one is set
// apart, so that the migration succeeds and a new look-alike of either is
// still refused.
func TestUsernameSkeletonFill(t *testing.T) {
	dbs := map[migrations.Dialect]func(t *testing.T) *sql.DB{
		migrations.SQLite: func(t *testing.T) *sql.DB {
			db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "gaia.db"))
			if err != nil {
				t.Fatal(err)
			}
			return db
		},
	}
	if url, ok := storagetest.PostgresURL(t); ok {
		dbs[migrations.Postgres] = func(t *testing.T) *sql.DB {
			db, err := sql.Open("pgx", storagetest.PostgresSchema(t, url))
			if err != nil {
				t.Fatal(err)
			}
			return db
		}
	}
	for d, open := range dbs {
		t.Run(string(d), func(t *testing.T) {
			ctx := t.Context()
			db := open(t)
			t.Cleanup(func() { db.Close() })
			log := storagetest.Logger(t)
			if err := migrations.UpTo(ctx, db, d, log, migrations.UsernameSkeletonVersion-1); err != nil {
				t.Fatal(err)
			}
			users := []struct{ id, username string }{
				{"0190a000-0000-7000-8000-000000000001", "mike"},
				{"0190a000-0000-7000-8000-000000000002", "rnike"}, // a look-alike, created later
				{"0190a000-0000-7000-8000-000000000003", "ace"},
			}
			for i, u := range users {
				at := time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC).Format("2006-01-02T15:04:05.000000Z")
				if _, err := db.ExecContext(ctx, `INSERT INTO users (id, username, email, password_hash, active, created_at, updated_at)
					VALUES ($1, $2, '', '', true, $3, $3)`, u.id, u.username, at); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := migrations.Up(ctx, db, d, log); err != nil {
				t.Fatalf("migrate with look-alike users: %v", err)
			}
			want := map[string]string{
				"mike":  storage.UsernameSkeleton("mike"),
				"rnike": storage.UsernameSkeleton("mike") + "\x1f" + users[1].id,
				"ace":   storage.UsernameSkeleton("ace"),
			}
			rows, err := db.QueryContext(ctx, `SELECT username, username_skeleton FROM users`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			n := 0
			for rows.Next() {
				var name, skel string
				if err := rows.Scan(&name, &skel); err != nil {
					t.Fatal(err)
				}
				if skel != want[name] {
					t.Errorf("skeleton of %q = %q, want %q", name, skel, want[name])
				}
				n++
			}
			if err := rows.Err(); err != nil || n != len(want) {
				t.Errorf("read %d users (%v), want %d", n, err, len(want))
			}
			if _, err := db.ExecContext(ctx, `INSERT INTO users (id, username, email, password_hash, active, created_at, updated_at, username_skeleton)
				VALUES ('0190a000-0000-7000-8000-000000000004', 'rnlke', '', '', true, '2026-01-02T00:00:00.000000Z', '2026-01-02T00:00:00.000000Z', $1)`,
				storage.UsernameSkeleton("ace")); err == nil {
				t.Error("a second user with the skeleton of ace was stored, want the unique index to refuse it")
			}
		})
	}
}
