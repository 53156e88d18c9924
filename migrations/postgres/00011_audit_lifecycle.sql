-- +goose Up
-- The audit log's lifecycle: a retention below which entries may be
-- deleted, and indexes for every filter of the admin API.

-- audit_retention holds the one retention the purge last applied. The
-- DELETE trigger below reads it: an entry younger than the retention, by
-- the database's clock, is refused whatever statement tries to delete it,
-- so a purge with a wrong cutoff, or a stray DELETE, removes nothing
-- young. Without a row nothing may be deleted (keep forever). A day is the
-- least retention the schema takes.
CREATE TABLE audit_retention (
    id                smallint PRIMARY KEY CHECK (id = 1),
    retention_seconds bigint NOT NULL CHECK (retention_seconds >= 86400)
);

-- +goose StatementBegin
CREATE FUNCTION audit_events_delete_expired_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    keep bigint;
BEGIN
    SELECT retention_seconds INTO keep FROM audit_retention WHERE id = 1;
    IF keep IS NULL OR OLD.occurred_at >= now() - keep * interval '1 second' THEN
        RAISE EXCEPTION 'audit_events is append-only: only entries older than the retention may be deleted';
    END IF;
    RETURN OLD;
END
$$;
-- +goose StatementEnd
DROP TRIGGER audit_events_no_change ON audit_events;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_delete_expired BEFORE DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_delete_expired_only();

-- Time ranges (since/until, the purge, the export's keyset order) and the
-- outcome filter, each with id so that newest-first pages read in order.
DROP INDEX audit_events_occurred_at_idx;
CREATE INDEX audit_events_time_idx ON audit_events (occurred_at, id);
CREATE INDEX audit_events_outcome_idx ON audit_events (outcome, id);

-- +goose Down
DROP INDEX audit_events_outcome_idx;
DROP INDEX audit_events_time_idx;
CREATE INDEX audit_events_occurred_at_idx ON audit_events (occurred_at);
DROP TRIGGER audit_events_delete_expired ON audit_events;
DROP TRIGGER audit_events_no_update ON audit_events;
CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
DROP FUNCTION audit_events_delete_expired_only();
DROP TABLE audit_retention;
