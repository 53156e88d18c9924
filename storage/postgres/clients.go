package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/gaia-platform/iam/storage"
)

// In this file clientID is always the OAuth client_id (Client.ClientID),
// not the row's UUID.

const clientColumns = `id, client_id, name, secret_hash, public, grant_types, scopes, audiences, active, created_at, updated_at`

func scanClient(row pgx.Row) (*storage.Client, error) {
	var c storage.Client
	err := row.Scan(&c.ID, &c.ClientID, &c.Name, &c.SecretHash, &c.Public,
		&c.GrantTypes, &c.Scopes, &c.Audiences, &c.Active, &c.CreatedAt, &c.UpdatedAt)
	if err != nil {
		return nil, mapErr(err)
	}
	c.GrantTypes, c.Scopes, c.Audiences = list(c.GrantTypes), list(c.Scopes), list(c.Audiences)
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return &c, nil
}

// list returns l, or a non-nil empty slice for nil: the columns are NOT
// NULL, and pgx sends a nil slice as NULL.
func list(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// CreateClient inserts c, assigning ID and timestamps when they are zero.
func (s *Store) CreateClient(ctx context.Context, c *storage.Client) error {
	id, err := storage.NewID(c.ID)
	if err != nil {
		return fmt.Errorf("create client %q: %w", c.ClientID, err)
	}
	t := storage.Now()
	created, updated := storage.Stamp(c.CreatedAt, t), storage.Stamp(c.UpdatedAt, t)
	_, err = s.q(ctx).Exec(ctx, `INSERT INTO clients (`+clientColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		id, c.ClientID, c.Name, c.SecretHash, c.Public,
		list(c.GrantTypes), list(c.Scopes), list(c.Audiences), c.Active, created, updated)
	if err != nil {
		return fmt.Errorf("create client %q: %w", c.ClientID, mapErr(err))
	}
	c.ID, c.CreatedAt, c.UpdatedAt = id, created, updated
	return nil
}

// GetClient finds a client by its OAuth client_id.
func (s *Store) GetClient(ctx context.Context, clientID string) (*storage.Client, error) {
	c, err := scanClient(s.q(ctx).QueryRow(ctx, `SELECT `+clientColumns+` FROM clients WHERE client_id = $1`, clientID))
	if err != nil {
		return nil, fmt.Errorf("get client %q: %w", clientID, err)
	}
	return c, nil
}

// UpdateClient loads the client, calls fn on it and stores the result, in
// one transaction with the row locked. fn may not change ID; the store sets
// UpdatedAt and keeps CreatedAt.
func (s *Store) UpdateClient(ctx context.Context, clientID string, fn func(*storage.Client) error) (*storage.Client, error) {
	var c *storage.Client
	err := s.InTx(ctx, func(ctx context.Context) error {
		// FOR NO KEY UPDATE: see UpdateUser.
		var err error
		c, err = scanClient(s.q(ctx).QueryRow(ctx,
			`SELECT `+clientColumns+` FROM clients WHERE client_id = $1 FOR NO KEY UPDATE`, clientID))
		if err != nil {
			return fmt.Errorf("update client %q: %w", clientID, err)
		}
		id, created := c.ID, c.CreatedAt
		if err := fn(c); err != nil {
			return err // as is, per the contract
		}
		if c.ID != id {
			return fmt.Errorf("update client %q: %w", clientID, errIDChanged)
		}
		c.CreatedAt, c.UpdatedAt = created, storage.Now()
		_, err = s.q(ctx).Exec(ctx, `UPDATE clients
			SET client_id = $2, name = $3, secret_hash = $4, public = $5,
				grant_types = $6, scopes = $7, audiences = $8, active = $9, updated_at = $10
			WHERE id = $1`,
			id, c.ClientID, c.Name, c.SecretHash, c.Public,
			list(c.GrantTypes), list(c.Scopes), list(c.Audiences), c.Active, c.UpdatedAt)
		if err != nil {
			return fmt.Errorf("update client %q: %w", clientID, mapErr(err))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// DeleteClient removes the client and its role assignments.
func (s *Store) DeleteClient(ctx context.Context, clientID string) error {
	tag, err := s.q(ctx).Exec(ctx, `DELETE FROM clients WHERE client_id = $1`, clientID)
	if err == nil {
		err = affected(tag)
	}
	if err != nil {
		return fmt.Errorf("delete client %q: %w", clientID, mapErr(err))
	}
	return nil
}

// ListClients lists every client, sorted by client_id.
func (s *Store) ListClients(ctx context.Context) ([]storage.Client, error) {
	rows, err := s.q(ctx).Query(ctx, `SELECT `+clientColumns+` FROM clients ORDER BY client_id COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	defer rows.Close()
	cs := []storage.Client{}
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, fmt.Errorf("list clients: %w", err)
		}
		cs = append(cs, *c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	return cs, nil
}

// AssignClientRole gives the client the role. An unknown client or role,
// or a role it holds already, is ErrConflict.
func (s *Store) AssignClientRole(ctx context.Context, clientID, roleID string) error {
	if err := s.assignClientRole(ctx, clientID, roleID); err != nil {
		return fmt.Errorf("assign role %q to client %q: %w", roleID, clientID, err)
	}
	return nil
}

func (s *Store) assignClientRole(ctx context.Context, clientID, roleID string) error {
	role, ok := storage.CanonicalID(roleID)
	if !ok {
		return fmt.Errorf("%w: role id is not a UUID", storage.ErrConflict)
	}
	tag, err := s.q(ctx).Exec(ctx, `INSERT INTO client_roles (client_id, role_id)
		SELECT id, $2::uuid FROM clients WHERE client_id = $1`, clientID, role)
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: no such client", storage.ErrConflict)
	}
	return nil
}

// UnassignClientRole takes the role from the client.
func (s *Store) UnassignClientRole(ctx context.Context, clientID, roleID string) error {
	if err := s.unassignClientRole(ctx, clientID, roleID); err != nil {
		return fmt.Errorf("unassign role %q from client %q: %w", roleID, clientID, err)
	}
	return nil
}

func (s *Store) unassignClientRole(ctx context.Context, clientID, roleID string) error {
	role, ok := storage.CanonicalID(roleID)
	if !ok {
		return storage.ErrNotFound
	}
	tag, err := s.q(ctx).Exec(ctx, `DELETE FROM client_roles
		WHERE role_id = $2 AND client_id = (SELECT id FROM clients WHERE client_id = $1)`, clientID, role)
	if err == nil {
		err = affected(tag)
	}
	return mapErr(err)
}

// ClientGrants resolves the client's roles and their permissions in one query.
func (s *Store) ClientGrants(ctx context.Context, clientID string) (storage.Grants, error) {
	g, err := s.grants(ctx, `
		SELECT
			ARRAY(SELECT r.name FROM client_roles cr JOIN roles r ON r.id = cr.role_id
			      WHERE cr.client_id = c.id ORDER BY r.name COLLATE "C"),
			ARRAY(SELECT DISTINCT p.name COLLATE "C"
			      FROM client_roles cr
			      JOIN role_permissions rp ON rp.role_id = cr.role_id
			      JOIN permissions p ON p.id = rp.permission_id
			      WHERE cr.client_id = c.id ORDER BY 1)
		FROM clients c
		WHERE c.client_id = $1`, clientID)
	if err != nil {
		return storage.Grants{}, fmt.Errorf("grants of client %q: %w", clientID, err)
	}
	return g, nil
}
