-- +goose Up
-- Hosted-login sessions and authorization codes, as in
-- postgres/00013_login_sessions.sql. Times are fixed-width RFC 3339 text.
CREATE TABLE login_sessions (
    id         TEXT NOT NULL PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE CHECK (length(token_hash) BETWEEN 1 AND 128),
    user_id    TEXT NOT NULL CHECK (length(user_id) BETWEEN 1 AND 64),
    auth_time  TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT -- NULL while live
) STRICT, WITHOUT ROWID;
CREATE INDEX login_sessions_user_idx ON login_sessions (user_id);
CREATE INDEX login_sessions_expires_idx ON login_sessions (expires_at);

CREATE TABLE authorization_codes (
    signature             TEXT NOT NULL PRIMARY KEY CHECK (length(signature) BETWEEN 1 AND 512),
    request_id            TEXT NOT NULL CHECK (length(request_id) BETWEEN 1 AND 64),
    client_id             TEXT NOT NULL CHECK (length(client_id) BETWEEN 1 AND 255),
    login_session_id      TEXT NOT NULL CHECK (length(login_session_id) BETWEEN 1 AND 64),
    active                INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    code_challenge        TEXT NOT NULL DEFAULT '' CHECK (length(code_challenge) <= 128),
    code_challenge_method TEXT NOT NULL DEFAULT '' CHECK (length(code_challenge_method) <= 16),
    expires_at            TEXT NOT NULL,
    created_at            TEXT NOT NULL,
    request               BLOB NOT NULL CHECK (length(request) <= 65536)
) STRICT;
CREATE INDEX authorization_codes_expires_idx ON authorization_codes (expires_at);

-- The login session a token family was issued through (NULL for the
-- password grant): logout revokes them all.
ALTER TABLE token_families ADD COLUMN login_session_id TEXT;
CREATE INDEX token_families_login_session_idx ON token_families (login_session_id);

-- +goose Down
DROP INDEX token_families_login_session_idx;
ALTER TABLE token_families DROP COLUMN login_session_id;
DROP TABLE authorization_codes;
DROP TABLE login_sessions;
