-- +goose Up
-- The data keys of oauth/keys, as in postgres/00010_data_keys.sql.
CREATE TABLE data_keys (
    version    INTEGER PRIMARY KEY CHECK (version > 0),
    sealed     BLOB NOT NULL CHECK (length(sealed) > 0),
    created_at TEXT NOT NULL
) STRICT;

-- +goose Down
DROP TABLE data_keys;
