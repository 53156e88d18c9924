package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/gaia-platform/iam/storage"
)

// The audit log is append-only: triggers of the schema refuse UPDATE and
// DELETE on audit_events, and an INSERT of an ID already stored, so nothing
// here, or anywhere, can change it.

const auditColumns = `id, occurred_at, actor_type, actor_id, actor_name, action,
	target_type, target_id, outcome, client_ip, client_id, details`

// AppendAudit stores events in one transaction, through one prepared
// statement, after checking every one of them.
func (s *Store) AppendAudit(ctx context.Context, events []storage.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	now := storage.Now()
	stored := make([]storage.AuditEvent, len(events))
	details := make([]any, len(events)) // a JSON string, or nil for NULL
	for i, e := range events {
		var d []byte
		var err error
		if stored[i], d, err = storage.PrepareAudit(e, now); err != nil {
			return fmt.Errorf("append audit event %d of %d: %w", i+1, len(events), err)
		}
		if d != nil {
			details[i] = string(d) // TEXT: a STRICT table refuses a BLOB
		}
	}
	err := s.InTx(ctx, func(ctx context.Context) error {
		tx, err := s.tx(ctx)
		if err != nil {
			return err
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO audit_events (`+auditColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i, e := range stored {
			_, err := stmt.ExecContext(ctx, e.ID, formatTime(e.Time), e.ActorType, e.ActorID, e.ActorName,
				e.Action, e.TargetType, e.TargetID, e.Outcome, e.ClientIP, e.ClientID, details[i])
			if err != nil {
				return fmt.Errorf("event %q: %w", e.ID, mapAuditErr(err))
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

// mapAuditErr is mapErr for an INSERT into audit_events, where the one
// trigger that can fire, audit_events_no_replace, means that the ID is
// taken: it fires before the primary key would.
func mapAuditErr(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_TRIGGER {
		return fmt.Errorf("%w: %w", storage.ErrConflict, err)
	}
	return mapErr(err)
}

// ListAudit lists events matching f, newest first. Stored times have a
// fixed width, so comparing them as text compares them as times.
func (s *Store) ListAudit(ctx context.Context, f storage.AuditFilter) ([]storage.AuditEvent, error) {
	f, err := f.Check()
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	var conds []string
	args := []any{sql.Named("limit", f.Limit)}
	if f.ActorID != "" {
		conds = append(conds, `actor_id = @actor_id`)
		args = append(args, sql.Named("actor_id", f.ActorID))
	}
	switch {
	case f.ActionPrefix():
		end, _ := storage.PrefixEnd(f.Action) // there is one: f.Action ends in "."
		conds = append(conds, `action >= @action`, `action < @action_end`)
		args = append(args, sql.Named("action", f.Action), sql.Named("action_end", end))
	case f.Action != "":
		conds = append(conds, `action = @action`)
		args = append(args, sql.Named("action", f.Action))
	}
	if f.TargetID != "" {
		conds = append(conds, `target_id = @target_id`)
		args = append(args, sql.Named("target_id", f.TargetID))
	}
	if f.Outcome != "" {
		conds = append(conds, `outcome = @outcome`)
		args = append(args, sql.Named("outcome", f.Outcome))
	}
	if !f.Since.IsZero() {
		conds = append(conds, `occurred_at >= @since`)
		args = append(args, sql.Named("since", formatTime(f.Since)))
	}
	if !f.Until.IsZero() {
		conds = append(conds, `occurred_at < @until`)
		args = append(args, sql.Named("until", formatTime(f.Until)))
	}
	if f.Before != "" {
		conds = append(conds, `id < @before`)
		args = append(args, sql.Named("before", f.Before))
	}
	rows, err := s.q(ctx).QueryContext(ctx, `SELECT `+auditColumns+` FROM audit_events`+whereClause(conds)+`
		ORDER BY id DESC LIMIT @limit`, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	defer rows.Close()
	es := []storage.AuditEvent{}
	for rows.Next() {
		var (
			e        storage.AuditEvent
			occurred string
			details  []byte
		)
		err := rows.Scan(&e.ID, &occurred, &e.ActorType, &e.ActorID, &e.ActorName, &e.Action,
			&e.TargetType, &e.TargetID, &e.Outcome, &e.ClientIP, &e.ClientID, &details)
		if err == nil {
			e.Time, err = parseTime(occurred)
		}
		if err == nil {
			e.Details, err = storage.DecodeAuditDetails(details)
		}
		if err != nil {
			return nil, fmt.Errorf("list audit events: %w", err)
		}
		es = append(es, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	return es, nil
}
