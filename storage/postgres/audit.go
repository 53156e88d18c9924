package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gaia-platform/iam/storage"
)

// The audit log is append-only: triggers of the schema refuse UPDATE,
// DELETE and TRUNCATE on audit_events, so nothing here, or anywhere, can
// change it.

const auditColumns = `id, occurred_at, actor_type, actor_id, actor_name, action,
	target_type, target_id, outcome, client_ip, client_id, details`

// AppendAudit stores events in one INSERT, after checking every one of
// them. The events travel as one array per column, which unnest zips back
// into rows: a single statement, whose text does not depend on how many
// events there are (so pgx prepares it once), in a single round trip.
func (s *Store) AppendAudit(ctx context.Context, events []storage.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	now := storage.Now()
	stored := make([]storage.AuditEvent, len(events))
	var cols auditArrays
	for i, e := range events {
		var details []byte
		var err error
		if stored[i], details, err = storage.PrepareAudit(e, now); err != nil {
			return fmt.Errorf("append audit event %d of %d: %w", i+1, len(events), err)
		}
		cols.add(stored[i], details)
	}
	_, err := s.q(ctx).Exec(ctx, `INSERT INTO audit_events (`+auditColumns+`)
		SELECT id, occurred_at, actor_type, actor_id, actor_name, action,
			target_type, target_id, outcome, client_ip, client_id, details::json
		FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[],
			$7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])
			AS e (id, occurred_at, actor_type, actor_id, actor_name, action,
				target_type, target_id, outcome, client_ip, client_id, details)`,
		cols.id, cols.occurredAt, cols.actorType, cols.actorID, cols.actorName, cols.action,
		cols.targetType, cols.targetID, cols.outcome, cols.clientIP, cols.clientID, cols.details)
	if err != nil {
		return fmt.Errorf("append %d audit events: %w", len(events), mapErr(err))
	}
	for i := range events {
		events[i].ID, events[i].Time = stored[i].ID, stored[i].Time
	}
	return nil
}

// auditArrays holds audit events column by column, the shape unnest takes.
type auditArrays struct {
	id                            []string
	occurredAt                    []time.Time
	actorType, actorID, actorName []string
	action, targetType, targetID  []string
	outcome, clientIP, clientID   []string
	details                       []*string // JSON, nil for NULL
}

// add appends e, with its Details encoded as JSON (nil for none).
func (a *auditArrays) add(e storage.AuditEvent, details []byte) {
	a.id = append(a.id, e.ID)
	a.occurredAt = append(a.occurredAt, e.Time)
	a.actorType = append(a.actorType, e.ActorType)
	a.actorID = append(a.actorID, e.ActorID)
	a.actorName = append(a.actorName, e.ActorName)
	a.action = append(a.action, e.Action)
	a.targetType = append(a.targetType, e.TargetType)
	a.targetID = append(a.targetID, e.TargetID)
	a.outcome = append(a.outcome, e.Outcome)
	a.clientIP = append(a.clientIP, e.ClientIP)
	a.clientID = append(a.clientID, e.ClientID)
	var d *string
	if details != nil {
		j := string(details)
		d = &j
	}
	a.details = append(a.details, d)
}

// ListAudit lists events matching f, newest first.
func (s *Store) ListAudit(ctx context.Context, f storage.AuditFilter) ([]storage.AuditEvent, error) {
	f, err := f.Check()
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	// Only the conditions f sets are in the SQL, so that the planner sees
	// what it can use an index for.
	var conds []string
	args := pgx.NamedArgs{"limit": f.Limit}
	if f.ActorID != "" {
		conds = append(conds, `actor_id = @actor_id`)
		args["actor_id"] = f.ActorID
	}
	switch {
	case f.ActionPrefix():
		// action is COLLATE "C": the range compares bytes, as on SQLite.
		end, _ := storage.PrefixEnd(f.Action) // there is one: f.Action ends in "."
		conds = append(conds, `action >= @action`, `action < @action_end`)
		args["action"], args["action_end"] = f.Action, end
	case f.Action != "":
		conds = append(conds, `action = @action`)
		args["action"] = f.Action
	}
	if f.TargetID != "" {
		conds = append(conds, `target_id = @target_id`)
		args["target_id"] = f.TargetID
	}
	if f.Outcome != "" {
		conds = append(conds, `outcome = @outcome`)
		args["outcome"] = f.Outcome
	}
	if !f.Since.IsZero() {
		conds = append(conds, `occurred_at >= @since`)
		args["since"] = f.Since
	}
	if !f.Until.IsZero() {
		conds = append(conds, `occurred_at < @until`)
		args["until"] = f.Until
	}
	if f.Before != "" {
		conds = append(conds, `id < @before`)
		args["before"] = f.Before
	}
	rows, err := s.q(ctx).Query(ctx, `SELECT `+auditColumns+` FROM audit_events`+whereClause(conds)+`
		ORDER BY id DESC LIMIT @limit`, args)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	defer rows.Close()
	es := []storage.AuditEvent{}
	for rows.Next() {
		var (
			e       storage.AuditEvent
			details []byte
		)
		err := rows.Scan(&e.ID, &e.Time, &e.ActorType, &e.ActorID, &e.ActorName, &e.Action,
			&e.TargetType, &e.TargetID, &e.Outcome, &e.ClientIP, &e.ClientID, &details)
		if err == nil {
			e.Details, err = storage.DecodeAuditDetails(details)
		}
		if err != nil {
			return nil, fmt.Errorf("list audit events: %w", err)
		}
		e.Time = e.Time.UTC()
		es = append(es, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	return es, nil
}
