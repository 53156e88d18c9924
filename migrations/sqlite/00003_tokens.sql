-- +goose Up
-- The token state of package oauth, as in postgres/00003_tokens.sql: no row
-- for access tokens, no foreign key to users or clients. Timestamps are
-- fixed-width RFC 3339 text in UTC, so that they compare as text.

-- One login: every refresh token rotated from one grant (fosite's request ID).
CREATE TABLE token_families (
    id         TEXT NOT NULL PRIMARY KEY,
    client_id  TEXT NOT NULL CHECK (length(client_id) BETWEEN 1 AND 255),
    subject    TEXT NOT NULL CHECK (length(subject) BETWEEN 1 AND 512),
    started_at TEXT NOT NULL,
    revoked_at TEXT -- NULL while live
) STRICT, WITHOUT ROWID;
CREATE INDEX token_families_subject_idx ON token_families (subject);

-- Refresh tokens by signature (an HMAC of the token, never the token). Used
-- ones stay, inactive, until they expire, so that a replay is seen as reuse.
-- A rowid table: request makes rows too large for WITHOUT ROWID.
CREATE TABLE refresh_tokens (
    signature  TEXT NOT NULL PRIMARY KEY CHECK (length(signature) BETWEEN 1 AND 512),
    family_id  TEXT NOT NULL REFERENCES token_families (id) ON DELETE CASCADE,
    active     INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    expires_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    request    BLOB NOT NULL CHECK (length(request) <= 65536) -- serialized fosite request
) STRICT;
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at);

-- Access tokens revoked before they expire, kept until they would have.
CREATE TABLE revoked_access_tokens (
    jti        TEXT NOT NULL PRIMARY KEY CHECK (length(jti) BETWEEN 1 AND 512),
    expires_at TEXT NOT NULL
) STRICT, WITHOUT ROWID;

-- +goose Down
DROP TABLE revoked_access_tokens;
DROP TABLE refresh_tokens;
DROP TABLE token_families;
