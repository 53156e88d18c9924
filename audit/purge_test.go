package audit_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/gaia-platform/iam/audit"
	"github.com/gaia-platform/iam/storage"
	"github.com/gaia-platform/iam/storage/storagetest"
)

// TestPurge: on each real backend, a purge deletes what is older than the
// retention, batch by batch, each batch with an audit.purge event that
// counts it, and keeps the rest.
func TestPurge(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			store := b.Open(t)
			ctx := t.Context()
			old := time.Now().Add(-400 * 24 * time.Hour)
			const n = audit.PurgeBatch + 1
			events := make([]storage.AuditEvent, n)
			for i := range events {
				events[i] = storage.AuditEvent{ActorType: audit.ActorUser, Action: audit.ActionUserUpdate, Outcome: audit.Success, Time: old.Add(time.Duration(i) * time.Second)}
			}
			for start := 0; start < n; start += 500 {
				if err := store.AppendAudit(ctx, events[start:min(n, start+500)]); err != nil {
					t.Fatal(err)
				}
			}
			young := []storage.AuditEvent{{ActorType: audit.ActorUser, Action: audit.ActionUserCreate, Outcome: audit.Success}}
			if err := store.AppendAudit(ctx, young); err != nil {
				t.Fatal(err)
			}
			got, err := audit.Purge(ctx, store, 365*24*time.Hour, audit.ActorOperator, "cj", storagetest.Logger(t))
			if err != nil || got != n {
				t.Fatalf("Purge = %d, %v, want %d", got, err, n)
			}
			left, err := store.ListAudit(ctx, storage.AuditFilter{})
			if err != nil {
				t.Fatal(err)
			}
			if len(left) != 3 || left[2].Action != audit.ActionUserCreate {
				t.Fatalf("after the purge: %+v, want two audit.purge events and the young event", left)
			}
			// Newest first: the second batch's, then the first's.
			for i, want := range []string{"1", "5000"} {
				e := left[i]
				if e.Action != audit.ActionAuditPurge || e.ActorType != audit.ActorOperator || e.ActorName != "cj" ||
					e.Details[audit.DetailCount] != want || e.Details[audit.DetailRetention] != "8760h0m0s" {
					t.Errorf("purge event %d = %+v, want the operator cj's audit.purge of %s", i, e, want)
				}
			}
			if got, err := audit.Purge(ctx, store, 365*24*time.Hour, audit.ActorOperator, "cj", storagetest.Logger(t)); err != nil || got != 0 {
				t.Errorf("Purge again = %d, %v, want 0", got, err)
			}
			if left2, _ := store.ListAudit(ctx, storage.AuditFilter{}); len(left2) != 3 {
				t.Errorf("a purge of nothing wrote an event: %d events, want 3", len(left2))
			}
		})
	}
}

// TestRunPurge: serve's periodic purge deletes expired events on its own,
// as the system.
func TestRunPurge(t *testing.T) {
	store := storagetest.SQLite(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	old := []storage.AuditEvent{{ActorType: audit.ActorUser, Action: audit.ActionUserUpdate, Outcome: audit.Success, Time: time.Now().Add(-40 * 24 * time.Hour)}}
	if err := store.AppendAudit(ctx, old); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		audit.RunPurge(ctx, store, 30*24*time.Hour, 50*time.Millisecond, slog.New(slog.DiscardHandler))
		close(done)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		es, err := store.ListAudit(ctx, storage.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(es) == 1 && es[0].Action == audit.ActionAuditPurge {
			if es[0].ActorType != audit.ActorSystem || es[0].Details[audit.DetailCount] != "1" {
				t.Errorf("the periodic purge's event = %+v, want the system's, count 1", es[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10s of purges every 50ms: %+v, want the old event purged", es)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
}
