package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/gaia-platform/iam/storage"
	"github.com/gaia-platform/iam/storage/storagetest"
)

// TestAuditAppendOnly checks that the schema itself refuses to change the
// audit log, whatever SQL reaches the database.
func TestAuditAppendOnly(t *testing.T) {
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
	defer conn.Close(ctx)
	storagetest.AuditAppendOnly(t, s, func(ctx context.Context, stmt string) error {
		_, err := conn.Exec(ctx, stmt)
		return err
	}, `TRUNCATE audit_events`)
}

// TestAuditPurgeKeepsYoung checks that the schema lets only expired events
// be deleted, whatever SQL reaches the database.
func TestAuditPurgeKeepsYoung(t *testing.T) {
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
	defer conn.Close(ctx)
	storagetest.AuditPurgeKeepsYoung(t, s, func(ctx context.Context, stmt string) error {
		_, err := conn.Exec(ctx, stmt)
		return err
	})
}

// TestAuditIndexes checks with EXPLAIN that every audit filter reads an
// index.
func TestAuditIndexes(t *testing.T) {
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
	defer conn.Close(ctx)
	storagetest.AuditIndexes(t, s, func(ctx context.Context, f storage.AuditFilter) (string, error) {
		return s.ExplainListAudit(ctx, "EXPLAIN", f)
	}, func(ctx context.Context) error {
		_, err := conn.Exec(ctx, "ANALYZE audit_events")
		return err
	}, "audit_events_pkey")
}
