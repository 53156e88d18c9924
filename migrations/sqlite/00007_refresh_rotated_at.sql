-- +goose Up
-- When a refresh token was rotated (NULL: not rotated, or before this
-- migration). A rotated token presented again within the reuse interval
-- is a concurrent refresh that lost, refused without revoking the login;
-- after it, reuse (RFC 9700 §4.14.2).
ALTER TABLE refresh_tokens ADD COLUMN rotated_at TEXT;

-- +goose Down
ALTER TABLE refresh_tokens DROP COLUMN rotated_at;
