-- +goose Up
-- Deleting a client revokes the token families issued to it
-- (RevokeClientTokens): find them without a scan.
CREATE INDEX token_families_client_idx ON token_families (client_id);

-- +goose Down
DROP INDEX token_families_client_idx;
