-- +goose Up
-- Key rotation publishes a key before it signs: activates_at is when it
-- starts signing, NULL for a key that signed from its creation. revoked_at
-- is set when an operator revokes a compromised key: it is unpublished and
-- its signatures are refused from then on.
ALTER TABLE signing_keys ADD COLUMN activates_at timestamptz;
ALTER TABLE signing_keys ADD COLUMN revoked_at timestamptz;

-- +goose Down
ALTER TABLE signing_keys DROP COLUMN revoked_at;
ALTER TABLE signing_keys DROP COLUMN activates_at;
