-- +goose Up
-- Key rotation publishes a key before it signs (activates_at, NULL for a key
-- that signed from its creation), and an operator may revoke a compromised
-- key (revoked_at): as in postgres/00008_signing_key_activation.sql.
ALTER TABLE signing_keys ADD COLUMN activates_at TEXT;
ALTER TABLE signing_keys ADD COLUMN revoked_at TEXT;

-- +goose Down
ALTER TABLE signing_keys DROP COLUMN revoked_at;
ALTER TABLE signing_keys DROP COLUMN activates_at;
