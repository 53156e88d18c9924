-- +goose Up
-- The token state of package oauth. Access tokens are signed JWTs and have no
-- row; stored is only what revocation, refresh rotation, reuse detection and
-- introspection need. No foreign key to users or clients: a deleted user's
-- families must stay revocable and purgeable, and a subject may one day be a
-- client.

-- One login: every refresh token rotated from one grant (fosite's request ID).
CREATE TABLE token_families (
    id         uuid PRIMARY KEY,
    client_id  text NOT NULL CHECK (length(client_id) BETWEEN 1 AND 255),
    subject    text NOT NULL CHECK (length(subject) BETWEEN 1 AND 512),
    started_at timestamptz NOT NULL,
    revoked_at timestamptz -- NULL while live
);
CREATE INDEX token_families_subject_idx ON token_families (subject);

-- Refresh tokens by signature (an HMAC of the token, never the token). Used
-- ones stay, inactive, until they expire, so that a replay is seen as reuse.
CREATE TABLE refresh_tokens (
    signature  text PRIMARY KEY CHECK (length(signature) BETWEEN 1 AND 512),
    family_id  uuid NOT NULL REFERENCES token_families (id) ON DELETE CASCADE,
    active     boolean NOT NULL DEFAULT true,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    request    bytea NOT NULL CHECK (length(request) <= 65536) -- serialized fosite request
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at);

-- Access tokens revoked before they expire, kept until they would have.
CREATE TABLE revoked_access_tokens (
    jti        text PRIMARY KEY CHECK (length(jti) BETWEEN 1 AND 512),
    expires_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE revoked_access_tokens;
DROP TABLE refresh_tokens;
DROP TABLE token_families;
