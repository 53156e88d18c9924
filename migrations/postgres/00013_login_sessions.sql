-- +goose Up
-- Hosted-login sessions: the cookie holds a secret whose SHA-256 is
-- token_hash; id is the sid of the ID tokens issued through it.
CREATE TABLE login_sessions (
    id         uuid PRIMARY KEY,
    token_hash text NOT NULL UNIQUE CHECK (length(token_hash) BETWEEN 1 AND 128),
    user_id    text NOT NULL CHECK (length(user_id) BETWEEN 1 AND 64),
    auth_time  timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    revoked_at timestamptz -- NULL while live
);
CREATE INDEX login_sessions_user_idx ON login_sessions (user_id);
CREATE INDEX login_sessions_expires_idx ON login_sessions (expires_at);

-- Authorization codes by signature (an HMAC of the code, never the code).
-- A used code stays, inactive, until it expires, so that a replay is
-- recognised and revokes what the first exchange issued (RFC 6749 §4.1.2).
CREATE TABLE authorization_codes (
    signature             text PRIMARY KEY CHECK (length(signature) BETWEEN 1 AND 512),
    request_id            text NOT NULL CHECK (length(request_id) BETWEEN 1 AND 64),
    client_id             text NOT NULL CHECK (length(client_id) BETWEEN 1 AND 255),
    login_session_id      text NOT NULL CHECK (length(login_session_id) BETWEEN 1 AND 64),
    active                boolean NOT NULL DEFAULT true,
    code_challenge        text NOT NULL DEFAULT '' CHECK (length(code_challenge) <= 128),
    code_challenge_method text NOT NULL DEFAULT '' CHECK (length(code_challenge_method) <= 16),
    expires_at            timestamptz NOT NULL,
    created_at            timestamptz NOT NULL,
    request               bytea NOT NULL CHECK (length(request) <= 65536)
);
CREATE INDEX authorization_codes_expires_idx ON authorization_codes (expires_at);

-- The login session a token family was issued through (NULL for the
-- password grant): logout revokes them all.
ALTER TABLE token_families ADD COLUMN login_session_id uuid;
CREATE INDEX token_families_login_session_idx ON token_families (login_session_id);

-- +goose Down
DROP INDEX token_families_login_session_idx;
ALTER TABLE token_families DROP COLUMN login_session_id;
DROP TABLE authorization_codes;
DROP TABLE login_sessions;
