-- +goose Up
-- The RBAC model of DESIGN.md. Every table has a UUID key; constraints, not
-- application code, are the last word on uniqueness and references.
CREATE TABLE users (
    id            uuid PRIMARY KEY,
    username      text NOT NULL CHECK (length(username) BETWEEN 1 AND 255),
    email         text NOT NULL DEFAULT '',
    password_hash text NOT NULL DEFAULT '',
    active        boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);
-- Usernames are unique case-insensitively.
CREATE UNIQUE INDEX users_username_key ON users (lower(username));

CREATE TABLE permissions (
    id          uuid PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    description text NOT NULL DEFAULT ''
);

CREATE TABLE roles (
    id          uuid PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    description text NOT NULL DEFAULT ''
);

CREATE TABLE departments (
    id   uuid PRIMARY KEY,
    code text NOT NULL UNIQUE,
    name text NOT NULL DEFAULT ''
);

CREATE TABLE role_permissions (
    role_id       uuid NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    permission_id uuid NOT NULL REFERENCES permissions (id) ON DELETE CASCADE,
    PRIMARY KEY (role_id, permission_id)
);
CREATE INDEX role_permissions_permission_idx ON role_permissions (permission_id);

CREATE TABLE department_allowed_roles (
    department_id uuid NOT NULL REFERENCES departments (id) ON DELETE CASCADE,
    role_id       uuid NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    PRIMARY KEY (department_id, role_id)
);
CREATE INDEX department_allowed_roles_role_idx ON department_allowed_roles (role_id);

CREATE TABLE user_departments (
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    department_id uuid NOT NULL REFERENCES departments (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, department_id)
);
CREATE INDEX user_departments_department_idx ON user_departments (department_id);

CREATE TABLE user_roles (
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role_id uuid NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, role_id)
);
CREATE INDEX user_roles_role_idx ON user_roles (role_id);

CREATE TABLE clients (
    id          uuid PRIMARY KEY,
    client_id   text NOT NULL UNIQUE CHECK (length(client_id) BETWEEN 1 AND 255),
    name        text NOT NULL DEFAULT '',
    secret_hash text NOT NULL DEFAULT '',
    public      boolean NOT NULL DEFAULT false,
    grant_types text[] NOT NULL DEFAULT '{}',
    scopes      text[] NOT NULL DEFAULT '{}',
    audiences   text[] NOT NULL DEFAULT '{}',
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    -- A public client has no secret; a confidential one must have one.
    CHECK (public = (secret_hash = ''))
);

CREATE TABLE client_roles (
    client_id uuid NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    role_id   uuid NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    PRIMARY KEY (client_id, role_id)
);
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
