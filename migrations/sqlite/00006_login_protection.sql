-- +goose Up
-- Login protection, as in postgres/00006_login_protection.sql. Times are
-- fixed-width RFC 3339 text in UTC, so that they compare as text.
CREATE TABLE login_throttles (
    key          TEXT NOT NULL PRIMARY KEY CHECK (octet_length(key) BETWEEN 1 AND 255),
    failures     INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),
    lockouts     INTEGER NOT NULL DEFAULT 0 CHECK (lockouts >= 0),
    window_start TEXT,
    locked_until TEXT,
    permanent    INTEGER NOT NULL DEFAULT 0 CHECK (permanent IN (0, 1)),
    updated_at   TEXT NOT NULL
) STRICT;
CREATE INDEX login_throttles_updated_at_idx ON login_throttles (updated_at);

CREATE TABLE login_blocks (
    id         TEXT NOT NULL PRIMARY KEY,
    prefix     TEXT NOT NULL UNIQUE CHECK (octet_length(prefix) BETWEEN 1 AND 64),
    reason     TEXT NOT NULL DEFAULT '' CHECK (octet_length(reason) <= 255),
    expires_at TEXT,
    created_at TEXT NOT NULL
) STRICT;

-- +goose Down
DROP TABLE login_blocks;
DROP TABLE login_throttles;
