package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/gaia-platform/iam/storage"
	"github.com/gaia-platform/iam/storage/sqlite"
	"github.com/gaia-platform/iam/storage/storagetest"
)

// TestAuditAppendOnly checks that the schema itself refuses to change the
// audit log, whatever SQL reaches the database.
func TestAuditAppendOnly(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "gaia.db")
	s, err := sqlite.Open(ctx, path, storagetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// DELETE is not turned into a truncation: the triggers turn that off.
	storagetest.AuditAppendOnly(t, s, func(ctx context.Context, stmt string) error {
		_, err := db.ExecContext(ctx, stmt)
		return err
	}, `INSERT OR REPLACE INTO audit_events (id, occurred_at, actor_type, action, outcome)
		SELECT id, occurred_at, actor_type, 'nothing', outcome FROM audit_events`)
}

// TestAuditPurgeKeepsYoung checks that the schema lets only expired events
// be deleted, whatever SQL reaches the database.
func TestAuditPurgeKeepsYoung(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "gaia.db")
	s, err := sqlite.Open(ctx, path, storagetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	storagetest.AuditPurgeKeepsYoung(t, s, func(ctx context.Context, stmt string) error {
		_, err := db.ExecContext(ctx, stmt)
		return err
	})
}

// TestAuditIndexes checks with EXPLAIN QUERY PLAN that every audit filter
// reads an index.
func TestAuditIndexes(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "gaia.db")
	s, err := sqlite.Open(ctx, path, storagetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	storagetest.AuditIndexes(t, s, func(ctx context.Context, f storage.AuditFilter) (string, error) {
		return s.ExplainListAudit(ctx, "EXPLAIN QUERY PLAN", f)
	}, func(ctx context.Context) error {
		_, err := db.ExecContext(ctx, "ANALYZE")
		return err
	}, "sqlite_autoindex_audit_events_1")
}
