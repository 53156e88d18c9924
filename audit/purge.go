package audit

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/gaia-platform/iam/storage"
)

// PurgeStore is what a purge needs of storage.Store.
type PurgeStore interface {
	Appender
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
	PurgeAudit(ctx context.Context, retention time.Duration, limit int) (int64, error)
}

// PurgeBatch is how many events one purge transaction deletes at most: a
// short transaction, so that SQLite's one writer (the token endpoint's
// writes) waits little.
const PurgeBatch = 5000

// PurgeInterval is how often serve purges. Every replica may: their
// deletes of the same rows do not conflict, the second finding them gone.
const PurgeInterval = time.Hour

// Purge deletes the events older than retention, PurgeBatch at a time.
// Each batch commits together with an audit.purge event by actor (its
// type and name) that counts it, so that no deletion goes unrecorded. It
// returns how many events it deleted and logs it when any.
func Purge(ctx context.Context, store PurgeStore, retention time.Duration, actorType, actorName string, log *slog.Logger) (int64, error) {
	var total int64
	defer func() {
		if total > 0 {
			log.InfoContext(ctx, "audit events purged", "count", total, "retention", retention.String())
		}
	}()
	for {
		var n int64
		err := store.InTx(ctx, func(ctx context.Context) error {
			var err error
			if n, err = store.PurgeAudit(ctx, retention, PurgeBatch); err != nil || n == 0 {
				return err
			}
			id, _ := storage.NewID("") // fails only with the system's randomness; AppendAudit assigns one then
			return store.AppendAudit(ctx, []storage.AuditEvent{{
				ID: id, ActorType: actorType, ActorName: actorName, Action: ActionAuditPurge, Outcome: Success,
				Details: map[string]string{DetailCount: strconv.FormatInt(n, 10), DetailRetention: retention.String()},
			}})
		})
		if err != nil {
			return total, fmt.Errorf("purge the audit log: %w", err)
		}
		total += n
		if n < PurgeBatch {
			return total, nil
		}
	}
}

// RunPurge purges the events older than retention every interval, the
// first time after a random part of a minute or of interval, the shorter
// (so that replicas started together do not purge together), until ctx
// ends. A failure is logged and tried again at the next interval.
func RunPurge(ctx context.Context, store PurgeStore, retention, interval time.Duration, log *slog.Logger) {
	wait := time.Duration(rand.Int64N(int64(min(interval, time.Minute))))
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if _, err := Purge(ctx, store, retention, ActorSystem, "purge", log); err != nil && ctx.Err() == nil {
			log.ErrorContext(ctx, "audit purge failed; trying again later", "error", err, "retry_in", interval.String())
		}
		wait = interval
	}
}
