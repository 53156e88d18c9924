package storagetest

import (
	"context"
	"reflect"
	"testing"

	"github.com/gaia-platform/iam/storage"
)

// AuditAppendOnly checks that the schema itself refuses to change the
// audit log of s, whatever SQL reaches the database: it stores two events,
// runs each of stmts through exec, a connection of the backend's own that
// bypasses s, and wants each refused and the events unchanged. stmts
// holds what the backend's SQL can say to rewrite or remove a row.
func AuditAppendOnly(t *testing.T, s storage.Store, exec func(ctx context.Context, stmt string) error, stmts ...string) {
	t.Helper()
	ctx := t.Context()
	events := []storage.AuditEvent{
		{ActorType: "system", Action: "key.rotate", Outcome: "success"},
		{ActorType: "user", Action: "user.create", Outcome: "success"},
	}
	if err := s.AppendAudit(ctx, events); err != nil {
		t.Fatal(err)
	}
	stmts = append([]string{
		`UPDATE audit_events SET outcome = 'failure'`,
		`UPDATE audit_events SET action = 'user.delete' WHERE action = 'user.create'`,
		`DELETE FROM audit_events`,
		`DELETE FROM audit_events WHERE action = 'key.rotate'`,
		`INSERT INTO audit_events (id, occurred_at, actor_type, action, outcome)
			SELECT id, occurred_at, actor_type, action, outcome FROM audit_events
			ON CONFLICT (id) DO UPDATE SET action = 'nothing'`,
	}, stmts...)
	for _, stmt := range stmts {
		if err := exec(ctx, stmt); err == nil {
			t.Errorf("%s = nil error, want the audit log refusing it", stmt)
		}
	}
	got, err := s.ListAudit(ctx, storage.AuditFilter{})
	if want := []storage.AuditEvent{events[1], events[0]}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("ListAudit after the attempts = %+v, %v, want %+v", got, err, want)
	}
}
