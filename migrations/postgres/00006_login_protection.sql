-- +goose Up
-- Login protection (package oauth/guard): failure counters shared by every
-- server on the database, and the admin-managed block list.

-- One row per account, client or source address with recent failures. key
-- is guard's name for it: a keyed hash for accounts and clients, so that
-- nothing a caller typed is stored. Rows idle past the failure reset time
-- are purged, unless permanently locked.
CREATE TABLE login_throttles (
    key          text PRIMARY KEY CHECK (octet_length(key) BETWEEN 1 AND 255),
    failures     integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
    lockouts     integer NOT NULL DEFAULT 0 CHECK (lockouts >= 0),
    window_start timestamptz,
    locked_until timestamptz,
    permanent    boolean NOT NULL DEFAULT false,
    updated_at   timestamptz NOT NULL
);
CREATE INDEX login_throttles_updated_at_idx ON login_throttles (updated_at);

-- prefix is the masked CIDR in its canonical text form.
CREATE TABLE login_blocks (
    id         uuid PRIMARY KEY,
    prefix     text NOT NULL UNIQUE CHECK (octet_length(prefix) BETWEEN 1 AND 64),
    reason     text NOT NULL DEFAULT '' CHECK (octet_length(reason) <= 255),
    expires_at timestamptz,
    created_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE login_blocks;
DROP TABLE login_throttles;
