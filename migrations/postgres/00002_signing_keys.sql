-- +goose Up
-- The signing keys of oauth/keys. private_key is sealed (AES-256-GCM under
-- the key-encryption key, which the database never sees); retired_at is
-- NULL while the key is current.
CREATE TABLE signing_keys (
    id          uuid PRIMARY KEY,
    algorithm   text NOT NULL CHECK (algorithm <> ''),
    private_key bytea NOT NULL CHECK (length(private_key) > 0),
    public_key  bytea NOT NULL CHECK (length(public_key) > 0),
    created_at  timestamptz NOT NULL,
    retired_at  timestamptz
);

-- +goose Down
DROP TABLE signing_keys;
