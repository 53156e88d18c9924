package postgres_test

import (
	"reflect"
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
	events := []storage.AuditEvent{
		{ActorType: "system", Action: "key.rotate", Outcome: "success"},
		{ActorType: "user", Action: "user.create", Outcome: "success"},
	}
	if err := s.AppendAudit(ctx, events); err != nil {
		t.Fatal(err)
	}

	conn, err := pgx.Connect(ctx, schema)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, stmt := range []string{
		`UPDATE audit_events SET outcome = 'failure'`,
		`UPDATE audit_events SET action = 'user.delete' WHERE action = 'user.create'`,
		`DELETE FROM audit_events`,
		`DELETE FROM audit_events WHERE action = 'key.rotate'`,
		`TRUNCATE audit_events`,
		`INSERT INTO audit_events (id, occurred_at, actor_type, action, outcome)
			SELECT id, occurred_at, actor_type, action, outcome FROM audit_events
			ON CONFLICT (id) DO UPDATE SET action = 'nothing'`,
	} {
		if _, err := conn.Exec(ctx, stmt); err == nil {
			t.Errorf("%s = nil error, want the audit log refusing it", stmt)
		}
	}
	got, err := s.ListAudit(ctx, storage.AuditFilter{})
	if want := []storage.AuditEvent{events[1], events[0]}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("ListAudit after the attempts = %+v, %v, want %+v", got, err, want)
	}
}
