package sqlstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gaia-platform/iam/storage"
)

// The audit log is append-only: triggers of the schema refuse UPDATE on
// audit_events, DELETE of any event younger than the retention PurgeAudit
// recorded (of every event before it ran), and, on SQLite, an INSERT of an
// ID already stored; so nothing here, or anywhere, can change it, and
// only the purge's expired events can go.

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
	query, args, err := s.listAuditQuery(f)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	es, err := scanAll(s, ctx, scanAudit, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	return es, nil
}

// listAuditQuery is ListAudit's statement for f.
func (s *Store) listAuditQuery(f storage.AuditFilter) (string, []any, error) {
	f, err := f.Check()
	if err != nil {
		return "", nil, err
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
	if f.Until.IsZero() {
		return `SELECT ` + auditColumns + ` FROM audit_events` + c.clause() + ` ORDER BY id DESC LIMIT ` + c.arg(f.Limit), c.args, nil
	}
	// An upper time bound selects older events, found last by the primary
	// key read newest first, which both planners would still choose for
	// ORDER BY id LIMIT n: select the range first, through the most
	// selective index (a time range reads audit_events_time_idx), then
	// sort what it found. The limit is written out: PostgreSQL cannot
	// type a parameter there.
	return `WITH r AS MATERIALIZED (SELECT ` + auditColumns + ` FROM audit_events` + c.clause() + `)
		SELECT ` + auditColumns + ` FROM r ORDER BY id DESC LIMIT ` + strconv.Itoa(f.Limit), c.args, nil
}

// ExplainListAudit returns the database's plan of ListAudit(f), the text
// of each row's last column, one per line: explain is the statement's
// prefix, EXPLAIN on PostgreSQL, EXPLAIN QUERY PLAN on SQLite. Tests use
// it to check that each filter reads an index.
func (s *Store) ExplainListAudit(ctx context.Context, explain string, f storage.AuditFilter) (string, error) {
	query, args, err := s.listAuditQuery(f)
	if err != nil {
		return "", err
	}
	rows, err := s.query(ctx, explain+" "+query, args...)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return "", err
	}
	var plan []string
	for rows.Next() {
		dest := make([]any, len(cols))
		for i := range dest {
			dest[i] = new(any)
		}
		if err := rows.Scan(dest...); err != nil {
			return "", err
		}
		plan = append(plan, fmt.Sprint(*dest[len(dest)-1].(*any)))
	}
	return strings.Join(plan, "\n"), rows.Err()
}

// scanAudit scans a row of auditColumns.
func scanAudit(scan func(...any) error) (storage.AuditEvent, error) {
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
}

// retentionSeconds is retention in whole seconds, rounded up; under
// storage.MinAuditRetention it is storage.ErrInvalid.
func retentionSeconds(retention time.Duration) (int64, error) {
	if retention < storage.MinAuditRetention {
		return 0, fmt.Errorf("%w: audit retention %v, want at least %v", storage.ErrInvalid, retention, storage.MinAuditRetention)
	}
	return int64((retention + time.Second - 1) / time.Second), nil
}

// ExpiredAudit counts the events older than retention.
func (s *Store) ExpiredAudit(ctx context.Context, retention time.Duration) (int64, error) {
	secs, err := retentionSeconds(retention)
	if err != nil {
		return 0, fmt.Errorf("count expired audit events: %w", err)
	}
	var n int64
	if err := s.row(ctx, `SELECT count(*) FROM audit_events WHERE occurred_at < `+s.d.SQL.AuditCutoff, []any{secs}, &n); err != nil {
		return 0, fmt.Errorf("count expired audit events: %w", err)
	}
	return n, nil
}

// PurgeAudit records retention and deletes up to limit events older than
// it, in one transaction. The cutoff is the database's own expression of
// it, the one the DELETE trigger checks each row against, so the two
// agree whatever the application's clock says; the trigger is what keeps
// younger rows, should this statement ever select one.
func (s *Store) PurgeAudit(ctx context.Context, retention time.Duration, limit int) (int64, error) {
	secs, err := retentionSeconds(retention)
	if err == nil && limit < 1 {
		err = fmt.Errorf("%w: purge limit %d, want at least 1", storage.ErrInvalid, limit)
	}
	if err != nil {
		return 0, fmt.Errorf("purge audit events: %w", err)
	}
	var n int64
	err = s.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.exec(ctx, `INSERT INTO audit_retention (id, retention_seconds) VALUES (1, $1)
			ON CONFLICT (id) DO UPDATE SET retention_seconds = excluded.retention_seconds`, secs); err != nil {
			return err
		}
		var err error
		n, err = s.exec(ctx, `DELETE FROM audit_events WHERE id IN (
			SELECT id FROM audit_events WHERE occurred_at < `+s.d.SQL.AuditCutoff+`
			ORDER BY occurred_at, id LIMIT $2)`, secs, limit)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("purge audit events: %w", err)
	}
	return n, nil
}

// auditExportPage is how many events ExportAudit reads at a time.
const auditExportPage = 500

// ExportAudit calls fn with each event of f's time range, oldest first, a
// page at a time: keyset pages on (occurred_at, id), which
// audit_events_time_idx answers in order. fn runs between pages, with no
// query open.
func (s *Store) ExportAudit(ctx context.Context, f storage.AuditFilter, fn func(*storage.AuditEvent) error) error {
	f, err := storage.AuditFilter{Since: f.Since, Until: f.Until, Limit: auditExportPage}.Check()
	if err != nil {
		return fmt.Errorf("export audit events: %w", err)
	}
	var last *storage.AuditEvent
	for {
		var c conds
		if !f.Since.IsZero() {
			c.add(`occurred_at >= ` + c.arg(s.d.Time(f.Since)))
		}
		if !f.Until.IsZero() {
			c.add(`occurred_at < ` + c.arg(s.d.Time(f.Until)))
		}
		if last != nil {
			c.add(`(occurred_at, id) > (` + c.arg(s.d.Time(last.Time)) + `, ` + c.arg(last.ID) + s.d.UUIDParam + `)`)
		}
		query := `SELECT ` + auditColumns + ` FROM audit_events` + c.clause() +
			` ORDER BY occurred_at, id LIMIT ` + c.arg(auditExportPage)
		page, err := scanAll(s, ctx, scanAudit, query, c.args...)
		if err != nil {
			return fmt.Errorf("export audit events: %w", err)
		}
		for i := range page {
			if err := fn(&page[i]); err != nil {
				return err
			}
		}
		if len(page) < auditExportPage {
			return nil
		}
		last = &page[len(page)-1]
	}
}
