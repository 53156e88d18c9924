package audit_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/gaia-platform/iam/audit"
	"github.com/gaia-platform/iam/storage"
	"github.com/gaia-platform/iam/storage/storagetest"
)

// TestOnStore: on each real backend, recorded events read back as
// recorded, in order; Write joins the caller's transaction, so a rollback
// takes its events with it.
func TestOnStore(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			store := b.Open(t)
			r, _ := newRecorder(t, store, audit.Options{BatchSize: 16})
			ctx := t.Context()
			const n = 100
			for i := range n {
				e := event(i)
				e.ClientIP, e.ClientID = "192.0.2.7", "gaia-web"
				r.Record(ctx, e)
			}
			if err := r.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			got, err := store.ListAudit(ctx, storage.AuditFilter{Action: audit.ActionAuthPassword, Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != n {
				t.Fatalf("%d events stored, want %d", len(got), n)
			}
			slices.Reverse(got) // newest first → as recorded
			for i, e := range got {
				if e.Details["n"] != fmt.Sprint(i) || e.ClientIP != "192.0.2.7" || e.Outcome != audit.Failure || e.ID == "" {
					t.Fatalf("event %d read back as %+v", i, e)
				}
			}

			rollback := errors.New("roll back")
			err = store.InTx(ctx, func(ctx context.Context) error {
				if err := r.Write(ctx, storage.AuditEvent{ActorType: audit.ActorOperator, Action: audit.ActionUserCreate, Outcome: audit.Success}); err != nil {
					return err
				}
				return rollback
			})
			if !errors.Is(err, rollback) {
				t.Fatal(err)
			}
			err = store.InTx(ctx, func(ctx context.Context) error {
				return r.Write(ctx, storage.AuditEvent{ActorType: audit.ActorOperator, Action: audit.ActionUserDelete, Outcome: audit.Success})
			})
			if err != nil {
				t.Fatal(err)
			}
			got, err = store.ListAudit(ctx, storage.AuditFilter{Action: "user."})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].Action != audit.ActionUserDelete {
				t.Errorf("user.* events after a rolled back and a committed Write: %+v, want the user.delete alone", got)
			}
		})
	}
}
