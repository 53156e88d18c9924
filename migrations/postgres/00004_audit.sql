-- +goose Up
-- The audit log, and an index for listing users in username order.

-- ListUsers sorts and compares usernames byte-wise (COLLATE "C"), which the
-- database's default collation need not; users_username_key indexes
-- lower(username).
CREATE INDEX users_username_c_idx ON users (username COLLATE "C");

-- Append-only: the triggers below refuse UPDATE, DELETE and TRUNCATE. No
-- foreign keys: events outlive the users and clients they name. Lengths are
-- in bytes (octet_length), as storage.PrepareAudit checks them. action is
-- COLLATE "C" so that its prefix ranges compare bytes and use the index;
-- details is a JSON object kept as written, NULL when empty.
CREATE TABLE audit_events (
    id          uuid PRIMARY KEY,
    occurred_at timestamptz NOT NULL,
    actor_type  text NOT NULL CHECK (octet_length(actor_type) BETWEEN 1 AND 255),
    actor_id    text NOT NULL DEFAULT '' CHECK (octet_length(actor_id) <= 255),
    actor_name  text NOT NULL DEFAULT '' CHECK (octet_length(actor_name) <= 255),
    action      text COLLATE "C" NOT NULL CHECK (octet_length(action) BETWEEN 1 AND 255),
    target_type text NOT NULL DEFAULT '' CHECK (octet_length(target_type) <= 255),
    target_id   text NOT NULL DEFAULT '' CHECK (octet_length(target_id) <= 255),
    outcome     text NOT NULL CHECK (octet_length(outcome) BETWEEN 1 AND 255),
    client_ip   text NOT NULL DEFAULT '' CHECK (octet_length(client_ip) <= 64),
    client_id   text NOT NULL DEFAULT '' CHECK (octet_length(client_id) <= 255),
    details     json CHECK (octet_length(details::text) <= 4096 AND json_typeof(details) = 'object')
);
-- ListAudit answers newest first (id descending: UUIDv7 is time order),
-- through the primary key or one of these.
CREATE INDEX audit_events_occurred_at_idx ON audit_events (occurred_at);
CREATE INDEX audit_events_actor_idx ON audit_events (actor_id, id);
CREATE INDEX audit_events_target_idx ON audit_events (target_id, id);
CREATE INDEX audit_events_action_idx ON audit_events (action, id);

-- +goose StatementBegin
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

-- +goose Down
DROP TABLE audit_events;
DROP FUNCTION audit_events_append_only();
DROP INDEX users_username_c_idx;
