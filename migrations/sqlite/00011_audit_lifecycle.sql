-- +goose Up
-- The audit log's lifecycle, as in postgres/00011_audit_lifecycle.sql: a
-- retention below which entries may be deleted, and indexes for every
-- filter of the admin API.

-- audit_retention holds the one retention the purge last applied; the
-- DELETE trigger refuses an entry younger than it, or any entry when there
-- is no row. The cutoff is written as occurred_at is stored (fixed-width
-- RFC 3339 in UTC, nine fraction digits) so that the two compare as text;
-- the purge computes it the same way, and 'now' is one instant within a
-- statement, its triggers included.
CREATE TABLE audit_retention (
    id                INTEGER PRIMARY KEY CHECK (id = 1),
    retention_seconds INTEGER NOT NULL CHECK (retention_seconds >= 86400)
) STRICT;

DROP TRIGGER audit_events_no_delete;
-- +goose StatementBegin
CREATE TRIGGER audit_events_delete_expired BEFORE DELETE ON audit_events
WHEN NOT EXISTS (
    SELECT 1 FROM audit_retention WHERE id = 1 AND OLD.occurred_at <
        strftime('%Y-%m-%dT%H:%M:%f', 'now', '-' || retention_seconds || ' seconds') || '000000Z')
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only: only entries older than the retention may be deleted');
END;
-- +goose StatementEnd

DROP INDEX audit_events_occurred_at_idx;
CREATE INDEX audit_events_time_idx ON audit_events (occurred_at, id);
CREATE INDEX audit_events_outcome_idx ON audit_events (outcome, id);

-- +goose Down
DROP INDEX audit_events_outcome_idx;
DROP INDEX audit_events_time_idx;
CREATE INDEX audit_events_occurred_at_idx ON audit_events (occurred_at);
DROP TRIGGER audit_events_delete_expired;
-- +goose StatementBegin
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
-- +goose StatementEnd
DROP TABLE audit_retention;
