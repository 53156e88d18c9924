package sqlite_test

import (
	"database/sql"
	"path/filepath"
	"reflect"
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
	events := []storage.AuditEvent{
		{ActorType: "system", Action: "key.rotate", Outcome: "success"},
		{ActorType: "user", Action: "user.create", Outcome: "success"},
	}
	if err := s.AppendAudit(ctx, events); err != nil {
		t.Fatal(err)
	}

	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, stmt := range []string{
		`UPDATE audit_events SET outcome = 'failure'`,
		`UPDATE audit_events SET action = 'user.delete' WHERE action = 'user.create'`,
		`DELETE FROM audit_events`, // not truncated: the triggers turn that off
		`DELETE FROM audit_events WHERE action = 'key.rotate'`,
		`INSERT OR REPLACE INTO audit_events (id, occurred_at, actor_type, action, outcome)
			SELECT id, occurred_at, actor_type, 'nothing', outcome FROM audit_events`,
		`INSERT INTO audit_events (id, occurred_at, actor_type, action, outcome)
			SELECT id, occurred_at, actor_type, action, outcome FROM audit_events
			ON CONFLICT (id) DO UPDATE SET action = 'nothing'`,
	} {
		if _, err := db.ExecContext(ctx, stmt); err == nil {
			t.Errorf("%s = nil error, want the audit log refusing it", stmt)
		}
	}
	got, err := s.ListAudit(ctx, storage.AuditFilter{})
	if want := []storage.AuditEvent{events[1], events[0]}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("ListAudit after the attempts = %+v, %v, want %+v", got, err, want)
	}
}
