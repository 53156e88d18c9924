package storagetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gaia-platform/iam/storage"
	"github.com/gaia-platform/iam/storage/postgres"
	"github.com/gaia-platform/iam/storage/sqlite"
)

// The environment that says which PostgreSQL to test against.
const (
	// PostgresURLEnv names the variable that holds the URL of a database the
	// tests may create schemas in. Unset, PostgreSQL is not tested.
	PostgresURLEnv = "GAIA_TEST_POSTGRES_URL"
	// RequirePostgresEnv names the variable that, set to 1, makes a missing
	// PostgresURLEnv a test failure rather than a skip (for CI).
	RequirePostgresEnv = "GAIA_REQUIRE_POSTGRES"
)

// Backend is a storage backend to run tests against.
type Backend struct {
	Name string // "sqlite" or "postgres"
	// Open returns a fresh, migrated, empty store, closed and removed when
	// t ends.
	Open func(t testing.TB) storage.Store
}

// Backends returns every backend this environment can test: SQLite always,
// PostgreSQL when PostgresURLEnv is set (see PostgresURL). A test runs its
// cases against each:
//
//	for _, b := range storagetest.Backends(t) {
//		t.Run(b.Name, func(t *testing.T) { store := b.Open(t); … })
//	}
func Backends(t testing.TB) []Backend {
	t.Helper()
	bs := []Backend{{Name: "sqlite", Open: func(t testing.TB) storage.Store { return SQLite(t) }}}
	if u, ok := PostgresURL(t); ok {
		bs = append(bs, Backend{Name: "postgres", Open: func(t testing.TB) storage.Store { return Postgres(t, u) }})
	}
	return bs
}

// PostgresURL returns the URL in PostgresURLEnv and true. When it is unset
// it logs a one-line notice and returns false, or fails t if
// RequirePostgresEnv is 1.
func PostgresURL(t testing.TB) (string, bool) {
	t.Helper()
	u := os.Getenv(PostgresURLEnv)
	if u != "" {
		return u, true
	}
	if os.Getenv(RequirePostgresEnv) == "1" {
		t.Fatalf("postgres: %s=1 but %s is not set", RequirePostgresEnv, PostgresURLEnv)
	}
	t.Logf("postgres: %s not set, skipping PostgreSQL", PostgresURLEnv)
	return "", false
}

// SQLite opens a fresh, migrated store in a file under t.TempDir(), closed
// when t ends.
func SQLite(t testing.TB) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "gaia.db"), Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close sqlite: %v", err)
		}
	})
	if _, err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s
}

// Postgres opens a fresh, migrated store in a new schema of the database at
// url (see PostgresSchema), closed when t ends.
func Postgres(t testing.TB, url string) *postgres.Store {
	t.Helper()
	s := OpenPostgres(t, PostgresSchema(t, url))
	if _, err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s
}

// OpenPostgres opens a store on url, not migrated, closed when t ends.
func OpenPostgres(t testing.TB, url string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), url, Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close postgres: %v", err)
		}
	})
	return s
}

// PostgresSchema creates an empty schema with a random name in the database
// at url, and returns url with search_path set to it, so that whatever
// connects there works in that schema alone. The schema is dropped, with
// everything in it, when t ends; stores opened on it after this call are
// closed before that.
func PostgresSchema(t testing.TB, url string) string {
	t.Helper()
	var b [8]byte
	rand.Read(b[:])
	schema := "gaia_test_" + hex.EncodeToString(b[:])
	if err := exec(t.Context(), url, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := exec(ctx, url, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Error(err)
		}
	})
	return withSearchPath(t, url, schema)
}

// exec runs one statement on its own connection to url.
func exec(ctx context.Context, url, stmt string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("postgres: %s: %w", stmt, err)
	}
	return nil
}

// withSearchPath adds search_path=schema to a connection string, which pgx
// sends to the server as a run-time parameter.
func withSearchPath(t testing.TB, conn, schema string) string {
	t.Helper()
	if !strings.HasPrefix(conn, "postgres://") && !strings.HasPrefix(conn, "postgresql://") {
		return conn + " search_path=" + schema // key=value form
	}
	u, err := url.Parse(conn)
	if err != nil {
		t.Fatalf("postgres: %s: %v", PostgresURLEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Logger returns a logger that writes warnings and errors to t's output.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}
