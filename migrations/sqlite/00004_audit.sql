-- +goose Up
-- The audit log, as in postgres/00004_audit.sql, and an index for listing
-- users in username order.

-- Byte-wise username order for ListUsers (BINARY, SQLite's default
-- collation, compares bytes); users_username_key indexes lower(username).
CREATE INDEX users_username_idx ON users (username);

-- Append-only: the triggers below refuse UPDATE and DELETE, and an INSERT
-- of an ID already stored, which INSERT OR REPLACE would otherwise turn
-- into a delete that fires no trigger (recursive_triggers is off). No foreign
-- keys: events outlive the users and clients they name. Lengths are in
-- bytes (octet_length), as storage.PrepareAudit checks them; occurred_at is
-- fixed-width RFC 3339 text in UTC, so that it compares as text; details is
-- a JSON object, NULL when empty.
CREATE TABLE audit_events (
    id          TEXT NOT NULL PRIMARY KEY,
    occurred_at TEXT NOT NULL,
    actor_type  TEXT NOT NULL CHECK (octet_length(actor_type) BETWEEN 1 AND 255),
    actor_id    TEXT NOT NULL DEFAULT '' CHECK (octet_length(actor_id) <= 255),
    actor_name  TEXT NOT NULL DEFAULT '' CHECK (octet_length(actor_name) <= 255),
    action      TEXT NOT NULL CHECK (octet_length(action) BETWEEN 1 AND 255),
    target_type TEXT NOT NULL DEFAULT '' CHECK (octet_length(target_type) <= 255),
    target_id   TEXT NOT NULL DEFAULT '' CHECK (octet_length(target_id) <= 255),
    outcome     TEXT NOT NULL CHECK (octet_length(outcome) BETWEEN 1 AND 255),
    client_ip   TEXT NOT NULL DEFAULT '' CHECK (octet_length(client_ip) <= 64),
    client_id   TEXT NOT NULL DEFAULT '' CHECK (octet_length(client_id) <= 255),
    details     TEXT CHECK (details IS NULL OR (octet_length(details) <= 4096
                    AND json_valid(details) AND json_type(details) = 'object'))
) STRICT;
-- ListAudit answers newest first (id descending: UUIDv7 is time order),
-- through the primary key or one of these.
CREATE INDEX audit_events_occurred_at_idx ON audit_events (occurred_at);
CREATE INDEX audit_events_actor_idx ON audit_events (actor_id, id);
CREATE INDEX audit_events_target_idx ON audit_events (target_id, id);
CREATE INDEX audit_events_action_idx ON audit_events (action, id);

-- +goose StatementBegin
CREATE TRIGGER audit_events_no_replace BEFORE INSERT ON audit_events
WHEN EXISTS (SELECT 1 FROM audit_events WHERE id = NEW.id)
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only: id already stored');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
-- +goose StatementEnd

-- +goose Down
DROP TABLE audit_events;
DROP INDEX users_username_idx;
