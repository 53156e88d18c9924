package sqlstore

import (
	"context"
	"fmt"

	"github.com/gaia-platform/iam/storage"
)

// In this file clientID is always the OAuth client_id (Client.ClientID),
// not the row's UUID.

const clientColumns = `id, client_id, name, secret_hash, public, grant_types, scopes, audiences, active, created_at, updated_at,
	redirect_uris, post_logout_redirect_uris`

// clientDest returns where to scan the clientColumns of a row into c.
func (s *Store) clientDest(c *storage.Client) []any {
	c.GrantTypes, c.Scopes, c.Audiences = []string{}, []string{}, []string{}
	c.RedirectURIs, c.PostLogoutRedirectURIs = []string{}, []string{}
	return []any{&c.ID, &c.ClientID, &c.Name, &c.SecretHash, &c.Public,
		s.d.ScanList(&c.GrantTypes), s.d.ScanList(&c.Scopes), s.d.ScanList(&c.Audiences),
		&c.Active, timeDest{&c.CreatedAt}, timeDest{&c.UpdatedAt},
		s.d.ScanList(&c.RedirectURIs), s.d.ScanList(&c.PostLogoutRedirectURIs)}
}

// getClient reads a client; lock is the locking clause, if any.
func (s *Store) getClient(ctx context.Context, clientID, lock string) (*storage.Client, error) {
	var c storage.Client
	if err := storage.CheckText("client_id", clientID); err != nil {
		return nil, err
	}
	err := s.row(ctx, `SELECT `+clientColumns+` FROM clients WHERE client_id = $1`+lock, []any{clientID}, s.clientDest(&c)...)
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// checkClient checks the text of c.
func checkClient(c *storage.Client) error {
	err := checkText("client_id", c.ClientID, "name", c.Name, "secret hash", c.SecretHash)
	for _, l := range [][]string{c.GrantTypes, c.Scopes, c.Audiences, c.RedirectURIs, c.PostLogoutRedirectURIs} {
		for _, v := range l {
			if err == nil {
				err = storage.CheckText("list item", v)
			}
		}
	}
	return err
}

// CreateClient inserts c, assigning ID and timestamps when they are zero.
func (s *Store) CreateClient(ctx context.Context, c *storage.Client) error {
	id, err := storage.NewID(c.ID)
	if err == nil {
		err = checkClient(c)
	}
	t := storage.Now()
	created, updated := storage.Stamp(c.CreatedAt, t), storage.Stamp(c.UpdatedAt, t)
	if err == nil {
		_, err = s.exec(ctx, `INSERT INTO clients (`+clientColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
			id, c.ClientID, c.Name, c.SecretHash, c.Public,
			s.d.List(c.GrantTypes), s.d.List(c.Scopes), s.d.List(c.Audiences),
			c.Active, s.d.Time(created), s.d.Time(updated),
			s.d.List(c.RedirectURIs), s.d.List(c.PostLogoutRedirectURIs))
	}
	if err != nil {
		return fmt.Errorf("create client %q: %w", c.ClientID, err)
	}
	c.ID, c.CreatedAt, c.UpdatedAt = id, created, updated
	return nil
}

// GetClient finds a client by its OAuth client_id.
func (s *Store) GetClient(ctx context.Context, clientID string) (*storage.Client, error) {
	c, err := s.getClient(ctx, clientID, "")
	if err != nil {
		return nil, fmt.Errorf("get client %q: %w", clientID, err)
	}
	return c, nil
}

// UpdateClient loads the client, calls fn on it and stores the result, in
// one transaction with the row locked. fn may not change ID; the store sets
// UpdatedAt and keeps CreatedAt.
func (s *Store) UpdateClient(ctx context.Context, clientID string, fn func(*storage.Client) error) (*storage.Client, error) {
	if err := storage.CheckText("client_id", clientID); err != nil {
		return nil, fmt.Errorf("update client %q: %w", clientID, err)
	}
	var c *storage.Client
	err := s.InTx(ctx, func(ctx context.Context) error {
		var err error
		if c, err = s.getClient(ctx, clientID, s.d.ForUpdate); err != nil {
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
		err = checkClient(c)
		if err == nil {
			_, err = s.exec(ctx, `UPDATE clients
				SET client_id = $2, name = $3, secret_hash = $4, public = $5,
					grant_types = $6, scopes = $7, audiences = $8, active = $9, updated_at = $10,
					redirect_uris = $11, post_logout_redirect_uris = $12
				WHERE id = $1`,
				id, c.ClientID, c.Name, c.SecretHash, c.Public,
				s.d.List(c.GrantTypes), s.d.List(c.Scopes), s.d.List(c.Audiences), c.Active, s.d.Time(c.UpdatedAt),
				s.d.List(c.RedirectURIs), s.d.List(c.PostLogoutRedirectURIs))
		}
		if err != nil {
			return fmt.Errorf("update client %q: %w", clientID, err)
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
	err := storage.CheckText("client_id", clientID)
	if err == nil {
		err = s.execOne(ctx, `DELETE FROM clients WHERE client_id = $1`, clientID)
	}
	if err != nil {
		return fmt.Errorf("delete client %q: %w", clientID, err)
	}
	return nil
}

// ListClients lists every client, sorted by client_id.
func (s *Store) ListClients(ctx context.Context) ([]storage.Client, error) {
	cs, err := scanAll(s, ctx, func(scan func(...any) error) (storage.Client, error) {
		var c storage.Client
		return c, scan(s.clientDest(&c)...)
	}, `SELECT `+clientColumns+` FROM clients ORDER BY client_id`+s.d.Collate)
	if err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	return cs, nil
}

// AssignClientRole gives the client the role. An unknown client or role,
// or a role it holds already, is ErrConflict.
func (s *Store) AssignClientRole(ctx context.Context, clientID, roleID string) error {
	role, err := key("role id", roleID, fmt.Errorf("%w: role id is not a UUID", storage.ErrConflict))
	if err == nil {
		err = storage.CheckText("client_id", clientID)
	}
	if err == nil {
		var n int64
		n, err = s.exec(ctx, `INSERT INTO client_roles (client_id, role_id)
			SELECT id, $2`+s.d.UUIDParam+` FROM clients WHERE client_id = $1`, clientID, role)
		if err == nil && n == 0 {
			err = fmt.Errorf("%w: no such client", storage.ErrConflict)
		}
	}
	if err != nil {
		return fmt.Errorf("assign role %q to client %q: %w", roleID, clientID, err)
	}
	return nil
}

// UnassignClientRole takes the role from the client.
func (s *Store) UnassignClientRole(ctx context.Context, clientID, roleID string) error {
	role, err := key("role id", roleID, storage.ErrNotFound)
	if err == nil {
		err = storage.CheckText("client_id", clientID)
	}
	if err == nil {
		err = s.execOne(ctx, `DELETE FROM client_roles
			WHERE role_id = $2 AND client_id = (SELECT id FROM clients WHERE client_id = $1)`, clientID, role)
	}
	if err != nil {
		return fmt.Errorf("unassign role %q from client %q: %w", roleID, clientID, err)
	}
	return nil
}

// ClientGrants resolves the client's roles and their permissions in one query.
func (s *Store) ClientGrants(ctx context.Context, clientID string) (storage.Grants, error) {
	err := storage.CheckText("client_id", clientID)
	var g storage.Grants
	if err == nil {
		g, err = s.grants(ctx, s.built.clientGrants, clientID)
	}
	if err != nil {
		return storage.Grants{}, fmt.Errorf("grants of client %q: %w", clientID, err)
	}
	return g, nil
}
