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

// auditStore opens a migrated store and returns it with exec, which runs a
// statement on its file through a connection of its own, past the store.
func auditStore(t *testing.T) (*sqlite.Store, func(ctx context.Context, stmt string) error) {
	t.Helper()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "gaia.db")
	s, err := sqlite.Open(ctx, path, storagetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return s, func(ctx context.Context, stmt string) error {
		_, err := db.ExecContext(ctx, stmt)
		return err
	}
}

// TestAuditAppendOnly checks that the schema itself refuses to change the
// audit log, whatever SQL reaches the database.
func TestAuditAppendOnly(t *testing.T) {
	s, exec := auditStore(t)
	// DELETE is not turned into a truncation: the triggers turn that off.
	storagetest.AuditAppendOnly(t, s, exec, `INSERT OR REPLACE INTO audit_events (id, occurred_at, actor_type, action, outcome)
		SELECT id, occurred_at, actor_type, 'nothing', outcome FROM audit_events`)
}

// TestAuditPurgeKeepsYoung checks that the schema lets only expired events
// be deleted, whatever SQL reaches the database.
func TestAuditPurgeKeepsYoung(t *testing.T) {
	s, exec := auditStore(t)
	storagetest.AuditPurgeKeepsYoung(t, s, exec)
}

// TestAuditIndexes checks with EXPLAIN QUERY PLAN that every audit filter
// reads an index.
func TestAuditIndexes(t *testing.T) {
	s, exec := auditStore(t)
	storagetest.AuditIndexes(t, s, func(ctx context.Context, f storage.AuditFilter) (string, error) {
		return s.ExplainListAudit(ctx, "EXPLAIN QUERY PLAN", f)
	}, func(ctx context.Context) error {
		return exec(ctx, "ANALYZE")
	}, "sqlite_autoindex_audit_events_1")
}
