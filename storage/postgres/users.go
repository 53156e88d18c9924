package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/gaia-platform/iam/storage"
)

// errIDChanged is returned when an update function changes the record's ID.
var errIDChanged = errors.New("the id cannot change")

const userColumns = `id, username, email, password_hash, active, created_at, updated_at`

func scanUser(row pgx.Row) (*storage.User, error) {
	var u storage.User
	if err := row.Scan(&u.ID, &u.Username, &u.Email, &u.PasswordHash, &u.Active, &u.CreatedAt, &u.UpdatedAt); err != nil {
		return nil, mapErr(err)
	}
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	return &u, nil
}

// CreateUser inserts u, assigning ID and timestamps when they are zero.
func (s *Store) CreateUser(ctx context.Context, u *storage.User) error {
	id, err := storage.NewID(u.ID)
	if err != nil {
		return fmt.Errorf("create user %q: %w", u.Username, err)
	}
	t := storage.Now()
	created, updated := storage.Stamp(u.CreatedAt, t), storage.Stamp(u.UpdatedAt, t)
	_, err = s.q(ctx).Exec(ctx, `INSERT INTO users (`+userColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		id, u.Username, u.Email, u.PasswordHash, u.Active, created, updated)
	if err != nil {
		return fmt.Errorf("create user %q: %w", u.Username, mapErr(err))
	}
	u.ID, u.CreatedAt, u.UpdatedAt = id, created, updated
	return nil
}

// GetUser finds a user by ID.
func (s *Store) GetUser(ctx context.Context, id string) (*storage.User, error) {
	key, ok := storage.CanonicalID(id)
	if !ok {
		return nil, fmt.Errorf("get user %q: %w", id, storage.ErrNotFound)
	}
	u, err := scanUser(s.q(ctx).QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, key))
	if err != nil {
		return nil, fmt.Errorf("get user %q: %w", id, err)
	}
	return u, nil
}

// GetUserByUsername finds a user by username, compared case-insensitively.
func (s *Store) GetUserByUsername(ctx context.Context, username string) (*storage.User, error) {
	u, err := scanUser(s.q(ctx).QueryRow(ctx,
		`SELECT `+userColumns+` FROM users WHERE lower(username) = lower($1)`, username))
	if err != nil {
		return nil, fmt.Errorf("get user by username %q: %w", username, err)
	}
	return u, nil
}

// UpdateUser loads the user, calls fn on it and stores the result, in one
// transaction with the row locked. fn may not change ID; the store sets
// UpdatedAt and keeps CreatedAt.
func (s *Store) UpdateUser(ctx context.Context, id string, fn func(*storage.User) error) (*storage.User, error) {
	key, ok := storage.CanonicalID(id)
	if !ok {
		return nil, fmt.Errorf("update user %q: %w", id, storage.ErrNotFound)
	}
	var u *storage.User
	err := s.InTx(ctx, func(ctx context.Context) error {
		// FOR NO KEY UPDATE is the lock the UPDATE below takes anyway:
		// it excludes other updates of the row but, unlike FOR UPDATE, not
		// the inserts of rows that reference it (a role assignment).
		var err error
		u, err = scanUser(s.q(ctx).QueryRow(ctx,
			`SELECT `+userColumns+` FROM users WHERE id = $1 FOR NO KEY UPDATE`, key))
		if err != nil {
			return fmt.Errorf("update user %q: %w", id, err)
		}
		created := u.CreatedAt
		if err := fn(u); err != nil {
			return err // as is, per the contract
		}
		if u.ID != key {
			return fmt.Errorf("update user %q: %w", id, errIDChanged)
		}
		u.CreatedAt, u.UpdatedAt = created, storage.Now()
		_, err = s.q(ctx).Exec(ctx, `UPDATE users
			SET username = $2, email = $3, password_hash = $4, active = $5, updated_at = $6
			WHERE id = $1`, key, u.Username, u.Email, u.PasswordHash, u.Active, u.UpdatedAt)
		if err != nil {
			return fmt.Errorf("update user %q: %w", id, mapErr(err))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// DeleteUser removes the user; the schema cascades to their memberships
// and role assignments.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	return s.update(ctx, fmt.Sprintf("delete user %q", id), id, `DELETE FROM users WHERE id = $1`)
}

// update runs query, a write whose first parameter is the ID id, with args
// after it; no row with that ID is ErrNotFound.
func (s *Store) update(ctx context.Context, what, id, query string, args ...any) error {
	key, ok := storage.CanonicalID(id)
	if !ok {
		return fmt.Errorf("%s: %w", what, storage.ErrNotFound)
	}
	tag, err := s.q(ctx).Exec(ctx, query, append([]any{key}, args...)...)
	if err == nil {
		err = affected(tag)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, mapErr(err))
	}
	return nil
}
