-- +goose Up
-- The data keys of oauth/keys: the secrets the refresh-token, client-secret
-- and login-protection keys are derived from, sealed (AES-256-GCM) under the
-- key-encryption key, so that replacing that key re-seals them and changes
-- no derived key. version counts up from 1; 1 is the key-encryption key of
-- a deployment that derived its keys from it before this table.
CREATE TABLE data_keys (
    version    integer PRIMARY KEY CHECK (version > 0),
    sealed     bytea NOT NULL CHECK (length(sealed) > 0),
    created_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE data_keys;
