package storagetest

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

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

// AuditPurgeKeepsYoung checks that, once a retention is recorded, the
// schema lets an event older than it be deleted and refuses to delete any
// younger one, whatever SQL reaches the database through exec (a
// connection of the backend's own that bypasses s): a purge with a wrong
// cutoff, or a stray DELETE, cannot remove young entries.
func AuditPurgeKeepsYoung(t *testing.T, s storage.Store, exec func(ctx context.Context, stmt string) error) {
	t.Helper()
	ctx := t.Context()
	const retention = 365 * 24 * time.Hour
	old := storage.AuditEvent{ActorType: "system", Action: "old", Outcome: "success", Time: time.Now().Add(-retention - 48*time.Hour)}
	// A day younger than the retention: a cutoff off by hours spares it.
	edge := storage.AuditEvent{ActorType: "system", Action: "edge", Outcome: "success", Time: time.Now().Add(-retention + 24*time.Hour)}
	young := storage.AuditEvent{ActorType: "user", Action: "young", Outcome: "success"}
	if err := s.AppendAudit(ctx, []storage.AuditEvent{old, edge, young}); err != nil {
		t.Fatal(err)
	}
	// Before any retention is recorded, even the old event stays.
	if err := exec(ctx, `DELETE FROM audit_events WHERE action = 'old'`); err == nil {
		t.Errorf("DELETE of an old event before any retention = nil error, want it refused")
	}
	if _, err := s.PurgeAudit(ctx, retention, 1); err != nil {
		t.Fatal(err)
	}
	older := storage.AuditEvent{ActorType: "system", Action: "old", Outcome: "success", Time: old.Time}
	if err := s.AppendAudit(ctx, []storage.AuditEvent{older}); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`DELETE FROM audit_events`,
		`DELETE FROM audit_events WHERE action <> 'old'`,
		`DELETE FROM audit_events WHERE action = 'edge'`,
		`UPDATE audit_retention SET retention_seconds = 0`,
		`UPDATE audit_retention SET retention_seconds = 3600`,
		`UPDATE audit_events SET action = 'old'`,
	} {
		if err := exec(ctx, stmt); err == nil {
			t.Errorf("%s with a retention recorded = nil error, want it refused", stmt)
		}
	}
	got, err := s.ListAudit(ctx, storage.AuditFilter{})
	if err != nil || len(got) != 3 || got[0].Action != "old" || got[1].Action != "young" || got[2].Action != "edge" {
		t.Fatalf("ListAudit after the refused statements = %+v, %v, want the old, young and edge events", got, err)
	}
	// The expired event may go, by any statement.
	if err := exec(ctx, `DELETE FROM audit_events WHERE action = 'old'`); err != nil {
		t.Errorf("DELETE of an event older than the retention: %v", err)
	}
	got, err = s.ListAudit(ctx, storage.AuditFilter{})
	if err != nil || len(got) != 2 || got[0].Action != "young" || got[1].Action != "edge" {
		t.Errorf("ListAudit after deleting the expired event = %+v, %v, want the young and edge events", got, err)
	}
}

// AuditIndexes checks that every filter the admin API offers on the audit
// log reads an index of s: it fills the log with a few thousand events
// where each filtered value is rare, as in a real log, runs analyze (the
// backend's statistics statement), and wants the plan explain returns for
// each filter to name the index meant for it.
func AuditIndexes(t *testing.T, s storage.Store, explain func(ctx context.Context, f storage.AuditFilter) (string, error), analyze func(ctx context.Context) error, pkey string) {
	t.Helper()
	ctx := t.Context()
	t0 := time.Now().Add(-30 * 24 * time.Hour)
	events := make([]storage.AuditEvent, 0, 5000)
	for i := range cap(events) {
		e := storage.AuditEvent{
			ActorType: "user", ActorID: fmt.Sprintf("actor-%d", i%200), Action: []string{"user.update", "auth.password", "client.update", "auth.refresh"}[i%4],
			TargetType: "user", TargetID: fmt.Sprintf("target-%d", i%300), Outcome: "success",
			Time: t0.Add(time.Duration(i) * 5 * time.Minute),
		}
		if i%50 == 0 {
			e.Outcome = "failure"
		}
		if i%100 == 7 {
			e.Action = "key.rotate"
		}
		events = append(events, e)
	}
	for start := 0; start < len(events); start += 500 {
		if err := s.AppendAudit(ctx, events[start:start+500]); err != nil {
			t.Fatal(err)
		}
	}
	if err := analyze(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		f     storage.AuditFilter
		index string
	}{
		{"actor", storage.AuditFilter{ActorID: "actor-7"}, "audit_events_actor_idx"},
		{"action", storage.AuditFilter{Action: "key.rotate"}, "audit_events_action_idx"},
		{"action prefix", storage.AuditFilter{Action: "key."}, "audit_events_action_idx"},
		{"target", storage.AuditFilter{TargetID: "target-7"}, "audit_events_target_idx"},
		{"outcome", storage.AuditFilter{Outcome: "failure"}, "audit_events_outcome_idx"},
		{"time range", storage.AuditFilter{Since: t0.Add(24 * time.Hour), Until: t0.Add(25 * time.Hour)}, "audit_events_time_idx"},
		// Since alone selects the newest: the primary key, newest first,
		// finds them at once. Until alone selects the oldest.
		{"until", storage.AuditFilter{Until: t0.Add(24 * time.Hour)}, "audit_events_time_idx"},
		{"newest first", storage.AuditFilter{}, pkey},
		{"page", storage.AuditFilter{Before: events[2500].ID}, pkey},
	} {
		plan, err := explain(ctx, c.f)
		if err != nil {
			t.Fatalf("explain %s: %v", c.name, err)
		}
		if !strings.Contains(plan, c.index) {
			t.Errorf("the %s filter's plan does not read %s:\n%s", c.name, c.index, plan)
		}
	}
}
