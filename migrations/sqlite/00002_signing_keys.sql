-- +goose Up
-- The signing keys of oauth/keys, as in postgres/00002_signing_keys.sql.
-- private_key is sealed (AES-256-GCM under the key-encryption key, which the
-- database never sees); retired_at is NULL while the key is current.
CREATE TABLE signing_keys (
    id          TEXT PRIMARY KEY,
    algorithm   TEXT NOT NULL CHECK (algorithm <> ''),
    private_key BLOB NOT NULL CHECK (length(private_key) > 0),
    public_key  BLOB NOT NULL CHECK (length(public_key) > 0),
    created_at  TEXT NOT NULL,
    retired_at  TEXT
) STRICT;

-- +goose Down
DROP TABLE signing_keys;
