-- +goose Up
-- The RBAC model of DESIGN.md, as in postgres/00001_rbac.sql. STRICT tables
-- make SQLite check column types. UUIDs are stored as their canonical text,
-- timestamps as RFC 3339 text in UTC with nanoseconds (so they sort),
-- booleans as 0/1, string lists as JSON arrays.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL CHECK (length(username) BETWEEN 1 AND 255),
    email         TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL DEFAULT '',
    active        INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
) STRICT;
-- Usernames are unique case-insensitively (lower() folds ASCII; the
-- application stores usernames already case-mapped).
CREATE UNIQUE INDEX users_username_key ON users (lower(username));

CREATE TABLE permissions (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE TABLE roles (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE TABLE departments (
    id   TEXT PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE TABLE role_permissions (
    role_id       TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    permission_id TEXT NOT NULL REFERENCES permissions (id) ON DELETE CASCADE,
    PRIMARY KEY (role_id, permission_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX role_permissions_permission_idx ON role_permissions (permission_id);

CREATE TABLE department_allowed_roles (
    department_id TEXT NOT NULL REFERENCES departments (id) ON DELETE CASCADE,
    role_id       TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    PRIMARY KEY (department_id, role_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX department_allowed_roles_role_idx ON department_allowed_roles (role_id);

CREATE TABLE user_departments (
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    department_id TEXT NOT NULL REFERENCES departments (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, department_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX user_departments_department_idx ON user_departments (department_id);

CREATE TABLE user_roles (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role_id TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, role_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX user_roles_role_idx ON user_roles (role_id);

CREATE TABLE clients (
    id          TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL UNIQUE CHECK (length(client_id) BETWEEN 1 AND 255),
    name        TEXT NOT NULL DEFAULT '',
    secret_hash TEXT NOT NULL DEFAULT '',
    public      INTEGER NOT NULL DEFAULT 0 CHECK (public IN (0, 1)),
    grant_types TEXT NOT NULL DEFAULT '[]',
    scopes      TEXT NOT NULL DEFAULT '[]',
    audiences   TEXT NOT NULL DEFAULT '[]',
    active      INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    -- A public client has no secret; a confidential one must have one.
    CHECK (public = (secret_hash = ''))
) STRICT;

CREATE TABLE client_roles (
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    role_id   TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    PRIMARY KEY (client_id, role_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX client_roles_role_idx ON client_roles (role_id);

-- +goose Down
DROP TABLE client_roles;
DROP TABLE clients;
DROP TABLE user_roles;
DROP TABLE user_departments;
DROP TABLE department_allowed_roles;
DROP TABLE role_permissions;
DROP TABLE departments;
DROP TABLE roles;
DROP TABLE permissions;
DROP TABLE users;
