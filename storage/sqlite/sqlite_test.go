package sqlite_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gaia-platform/iam/storage"
	"github.com/gaia-platform/iam/storage/sqlite"
	"github.com/gaia-platform/iam/storage/storagetest"
)

func TestStore(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return storagetest.SQLite(t) })
}

func TestOpen(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "a", "b")
	path := filepath.Join(dir, "gaia.db")
	s, err := sqlite.Open(ctx, path, storagetest.Logger(t))
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	defer s.Close()
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o700 {
		t.Errorf("Open created %s with mode %v, want 0700", dir, got)
	}
	if fi, err := os.Stat(path); err != nil {
		t.Error(err)
	} else if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("Open created %s with mode %v, want 0600: it holds password hashes", path, got)
	}

	// Open does not migrate; Migrate does, once.
	if _, err := s.GetUser(ctx, "0190f3a0-0000-7000-8000-000000000000"); err == nil {
		t.Errorf("GetUser before Migrate = nil error, want no such table")
	}
	if pending, err := s.PendingMigrations(ctx); err != nil || !pending {
		t.Errorf("PendingMigrations before Migrate = %v, %v, want true", pending, err)
	}
	first, err := s.Migrate(ctx)
	if err != nil || first.From != 0 || first.Applied == 0 || first.To == 0 {
		t.Errorf("Migrate = %+v, %v, want migrations applied from version 0", first, err)
	}
	again, err := s.Migrate(ctx)
	if err != nil || again.Applied != 0 || again.From != first.To || again.To != first.To {
		t.Errorf("Migrate again = %+v, %v, want nothing applied at version %d", again, err, first.To)
	}
	if pending, err := s.PendingMigrations(ctx); err != nil || pending {
		t.Errorf("PendingMigrations after Migrate = %v, %v, want false", pending, err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}

	for _, bad := range []string{"", ":memory:", "file:gaia.db", "gaia.db?mode=ro"} {
		if s, err := sqlite.Open(ctx, bad, storagetest.Logger(t)); err == nil {
			s.Close()
			t.Errorf("Open(%q) = nil error, want one", bad)
		}
	}
}

// TestPersists checks that what is written survives closing and reopening.
func TestPersists(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "gaia.db")
	s, err := sqlite.Open(ctx, path, storagetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	u := &storage.User{Username: "alice"}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = sqlite.Open(ctx, path, storagetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.GetUserByUsername(ctx, "alice")
	if err != nil || got.ID != u.ID || !got.CreatedAt.Equal(u.CreatedAt) {
		t.Errorf("GetUserByUsername after reopening = %+v, %v, want %+v", got, err, u)
	}
}
