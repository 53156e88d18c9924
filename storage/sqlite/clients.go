package sqlite

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/gaia-platform/iam/storage"
)

// In this file clientID is always the OAuth client_id (Client.ClientID),
// not the row's UUID.

const clientColumns = `id, client_id, name, secret_hash, public, grant_types, scopes, audiences, active, created_at, updated_at`

func scanClient(row scanner) (*storage.Client, error) {
	var (
		c                         storage.Client
		grants, scopes, audiences string
		created, updated          string
	)
	err := row.Scan(&c.ID, &c.ClientID, &c.Name, &c.SecretHash, &c.Public,
		&grants, &scopes, &audiences, &c.Active, &created, &updated)
	if err != nil {
		return nil, mapErr(err)
	}
	if c.GrantTypes, err = decodeList(grants); err != nil {
		return nil, err
	}
	if c.Scopes, err = decodeList(scopes); err != nil {
		return nil, err
	}
	if c.Audiences, err = decodeList(audiences); err != nil {
		return nil, err
	}
	if c.CreatedAt, err = parseTime(created); err != nil {
		return nil, err
	}
	if c.UpdatedAt, err = parseTime(updated); err != nil {
		return nil, err
	}
	return &c, nil
}

// encodeList returns the JSON array of l; nil is the empty array.
func encodeList(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(l) // a []string always marshals
	return string(b)
}

// decodeList parses a stored JSON array; the empty array is a non-nil empty slice.
func decodeList(s string) ([]string, error) {
	l := []string{}
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, fmt.Errorf("stored list: %w", err)
	}
	return l, nil
}

// CreateClient inserts c, assigning ID and timestamps when they are zero.
func (s *Store) CreateClient(ctx context.Context, c *storage.Client) error {
	id, err := storage.NewID(c.ID)
	if err != nil {
		return fmt.Errorf("create client %q: %w", c.ClientID, err)
	}
	t := storage.Now()
	created, updated := storage.Stamp(c.CreatedAt, t), storage.Stamp(c.UpdatedAt, t)
	_, err = s.exec(ctx, `INSERT INTO clients (`+clientColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		id, c.ClientID, c.Name, c.SecretHash, c.Public,
		encodeList(c.GrantTypes), encodeList(c.Scopes), encodeList(c.Audiences),
		c.Active, formatTime(created), formatTime(updated))
	if err != nil {
		return fmt.Errorf("create client %q: %w", c.ClientID, mapErr(err))
	}
	c.ID, c.CreatedAt, c.UpdatedAt = id, created, updated
	return nil
}

// GetClient finds a client by its OAuth client_id.
func (s *Store) GetClient(ctx context.Context, clientID string) (*storage.Client, error) {
	c, err := scanClient(s.q(ctx).QueryRowContext(ctx, `SELECT `+clientColumns+` FROM clients WHERE client_id = ?`, clientID))
	if err != nil {
		return nil, fmt.Errorf("get client %q: %w", clientID, err)
	}
	return c, nil
}

// UpdateClient loads the client, calls fn on it and stores the result, in
// one transaction. fn may not change ID; the store sets UpdatedAt and keeps
// CreatedAt.
func (s *Store) UpdateClient(ctx context.Context, clientID string, fn func(*storage.Client) error) (*storage.Client, error) {
	var c *storage.Client
	err := s.InTx(ctx, func(ctx context.Context) error {
		var err error
		c, err = scanClient(s.q(ctx).QueryRowContext(ctx, `SELECT `+clientColumns+` FROM clients WHERE client_id = ?`, clientID))
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
		_, err = s.exec(ctx, `UPDATE clients SET client_id = ?, name = ?, secret_hash = ?, public = ?,
			grant_types = ?, scopes = ?, audiences = ?, active = ?, updated_at = ?
			WHERE id = ?`,
			c.ClientID, c.Name, c.SecretHash, c.Public,
			encodeList(c.GrantTypes), encodeList(c.Scopes), encodeList(c.Audiences),
			c.Active, formatTime(c.UpdatedAt), id)
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
	res, err := s.exec(ctx, `DELETE FROM clients WHERE client_id = ?`, clientID)
	if err == nil {
		err = affected(res)
	}
	if err != nil {
		return fmt.Errorf("delete client %q: %w", clientID, mapErr(err))
	}
	return nil
}

// ListClients lists every client, sorted by client_id.
func (s *Store) ListClients(ctx context.Context) ([]storage.Client, error) {
	rows, err := s.q(ctx).QueryContext(ctx, `SELECT `+clientColumns+` FROM clients ORDER BY client_id`)
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
	res, err := s.exec(ctx, `INSERT INTO client_roles (client_id, role_id)
		SELECT id, ? FROM clients WHERE client_id = ?`, role, clientID)
	if err != nil {
		return mapErr(err)
	}
	if err := affected(res); err != nil {
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
	res, err := s.exec(ctx, `DELETE FROM client_roles
		WHERE role_id = ? AND client_id = (SELECT id FROM clients WHERE client_id = ?)`, role, clientID)
	if err == nil {
		err = affected(res)
	}
	return mapErr(err)
}

// ClientGrants resolves the client's roles and their permissions in one query.
func (s *Store) ClientGrants(ctx context.Context, clientID string) (storage.Grants, error) {
	g, err := s.grants(ctx, `
		SELECT
			(SELECT json_group_array(r.name ORDER BY r.name)
			 FROM client_roles cr JOIN roles r ON r.id = cr.role_id
			 WHERE cr.client_id = c.id),
			(SELECT json_group_array(DISTINCT p.name ORDER BY p.name)
			 FROM client_roles cr
			 JOIN role_permissions rp ON rp.role_id = cr.role_id
			 JOIN permissions p ON p.id = rp.permission_id
			 WHERE cr.client_id = c.id)
		FROM clients c
		WHERE c.client_id = ?`, clientID)
	if err != nil {
		return storage.Grants{}, fmt.Errorf("grants of client %q: %w", clientID, err)
	}
	return g, nil
}
