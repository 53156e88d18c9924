-- +goose Up
-- Token status lists (draft-ietf-oauth-status-list): one entry, a bit at
-- (list_id, idx), per user login (token family) or per service client. The
-- bit is not stored: the list is built from the state the liveness rule
-- reads (the family revoked, the user or client disabled or gone), so no
-- revocation path has to write here. An entry is reused by another owner
-- only once expires_at, the expiry of the last access token issued with
-- it, is well past. Timestamps as in 00003_tokens.sql.
CREATE TABLE status_entries (
    list_id      INTEGER NOT NULL CHECK (list_id >= 0),
    idx          INTEGER NOT NULL CHECK (idx >= 0),
    family_id    TEXT UNIQUE,
    client_id    TEXT UNIQUE CHECK (length(client_id) BETWEEN 1 AND 255),
    allocated_at TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    CHECK ((family_id IS NULL) <> (client_id IS NULL)),
    PRIMARY KEY (list_id, idx)
) STRICT, WITHOUT ROWID;
CREATE INDEX status_entries_expires_idx ON status_entries (expires_at);

-- +goose Down
DROP TABLE status_entries;
