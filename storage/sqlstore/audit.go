package sqlstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/gaia-platform/iam/storage"
)

// The audit log is append-only: triggers of the schema refuse UPDATE and
// DELETE on audit_events (and, on SQLite, an INSERT of an ID already
// stored), so nothing here, or anywhere, can change it.

const auditColumns = `id, occurred_at, actor_type, actor_id, actor_name, action,
	target_type, target_id, outcome, client_ip, client_id, details`

// auditBatch is how many events one INSERT carries: 12 parameters each
// stays far below SQLite's and PostgreSQL's limits.
const auditBatch = 500

// AppendAudit stores events after checking every one of them, in one
// multi-row INSERT per auditBatch events (one round trip for the usual
// one event), in one transaction.
func (s *Store) AppendAudit(ctx context.Context, events []storage.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	now := storage.Now()
	stored := make([]storage.AuditEvent, len(events))
	args := make([]any, 0, 12*len(events))
	for i, e := range events {
		var (
			details []byte
			err     error
		)
		if stored[i], details, err = storage.PrepareAudit(e, now); err != nil {
			return fmt.Errorf("append audit event %d of %d: %w", i+1, len(events), err)
		}
		e = stored[i]
		var d any // JSON text, or NULL
		if details != nil {
			d = string(details)
		}
		args = append(args, e.ID, s.d.Time(e.Time), e.ActorType, e.ActorID, e.ActorName, e.Action,
			e.TargetType, e.TargetID, e.Outcome, e.ClientIP, e.ClientID, d)
	}
	err := s.InTx(ctx, func(ctx context.Context) error {
		for start := 0; start < len(stored); start += auditBatch {
			n := min(auditBatch, len(stored)-start)
			var b strings.Builder
			b.WriteString(`INSERT INTO audit_events (` + auditColumns + `) VALUES `)
			for i := range n {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteByte('(')
				for j := range 12 {
					if j > 0 {
						b.WriteString(", ")
					}
					b.WriteString("$" + strconv.Itoa(12*i+j+1))
				}
				b.WriteByte(')')
			}
			if _, err := s.exec(ctx, b.String(), args[12*start:12*(start+n)]...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("append %d audit events: %w", len(events), err)
	}
	for i := range events {
		events[i].ID, events[i].Time = stored[i].ID, stored[i].Time
	}
	return nil
}

// ListAudit lists events matching f, newest first.
func (s *Store) ListAudit(ctx context.Context, f storage.AuditFilter) ([]storage.AuditEvent, error) {
	f, err := f.Check()
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	var c conds
	if f.ActorID != "" {
		c.add(`actor_id = ` + c.arg(f.ActorID))
	}
	switch {
	case f.ActionPrefix():
		// action compares bytes (COLLATE "C" on PostgreSQL).
		end, _ := storage.PrefixEnd(f.Action) // there is one: f.Action ends in "."
		c.add(`action >= ` + c.arg(f.Action))
		c.add(`action < ` + c.arg(end))
	case f.Action != "":
		c.add(`action = ` + c.arg(f.Action))
	}
	if f.TargetID != "" {
		c.add(`target_id = ` + c.arg(f.TargetID))
	}
	if f.Outcome != "" {
		c.add(`outcome = ` + c.arg(f.Outcome))
	}
	if !f.Since.IsZero() {
		c.add(`occurred_at >= ` + c.arg(s.d.Time(f.Since)))
	}
	if !f.Until.IsZero() {
		c.add(`occurred_at < ` + c.arg(s.d.Time(f.Until)))
	}
	if f.Before != "" {
		c.add(`id < ` + c.arg(f.Before))
	}
	query := `SELECT ` + auditColumns + ` FROM audit_events` + c.clause() + ` ORDER BY id DESC LIMIT ` + c.arg(f.Limit)
	es, err := scanAll(s, ctx, func(scan func(...any) error) (storage.AuditEvent, error) {
		var (
			e       storage.AuditEvent
			details []byte
		)
		err := scan(&e.ID, timeDest{&e.Time}, &e.ActorType, &e.ActorID, &e.ActorName, &e.Action,
			&e.TargetType, &e.TargetID, &e.Outcome, &e.ClientIP, &e.ClientID, &details)
		if err == nil {
			e.Details, err = storage.DecodeAuditDetails(details)
		}
		return e, err
	}, query, c.args...)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	return es, nil
}
