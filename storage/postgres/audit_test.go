package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/gaia-platform/iam/storage"
	"github.com/gaia-platform/iam/storage/postgres"
	"github.com/gaia-platform/iam/storage/storagetest"
)

// auditStore opens a migrated store in a schema of its own and returns it
// with exec, which runs a statement there through a connection of its own,
// past the store.
func auditStore(t *testing.T) (*postgres.Store, func(ctx context.Context, stmt string) error) {
	t.Helper()
	ctx := t.Context()
	schema := storagetest.PostgresSchema(t, postgresURL(t))
	s := storagetest.OpenPostgres(t, schema)
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, schema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return s, func(ctx context.Context, stmt string) error {
		_, err := conn.Exec(ctx, stmt)
		return err
	}
}

// TestAuditAppendOnly checks that the schema itself refuses to change the
// audit log, whatever SQL reaches the database.
func TestAuditAppendOnly(t *testing.T) {
	s, exec := auditStore(t)
	storagetest.AuditAppendOnly(t, s, exec, `TRUNCATE audit_events`)
}

// TestAuditPurgeKeepsYoung checks that the schema lets only expired events
// be deleted, whatever SQL reaches the database.
func TestAuditPurgeKeepsYoung(t *testing.T) {
	s, exec := auditStore(t)
	storagetest.AuditPurgeKeepsYoung(t, s, exec)
}

// TestAuditIndexes checks with EXPLAIN that every audit filter reads an
// index.
func TestAuditIndexes(t *testing.T) {
	s, exec := auditStore(t)
	storagetest.AuditIndexes(t, s, func(ctx context.Context, f storage.AuditFilter) (string, error) {
		return s.ExplainListAudit(ctx, "EXPLAIN", f)
	}, func(ctx context.Context) error {
		return exec(ctx, "ANALYZE audit_events")
	}, "audit_events_pkey")
}
