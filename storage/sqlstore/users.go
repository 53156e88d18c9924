package sqlstore

import (
	"context"
	"fmt"

	"github.com/gaia-platform/iam/storage"
)

const userColumns = `id, username, email, password_hash, active, created_at, updated_at`

// userDest returns where to scan the userColumns of a row into u.
func userDest(u *storage.User) []any {
	return []any{&u.ID, &u.Username, &u.Email, &u.PasswordHash, &u.Active,
		timeDest{&u.CreatedAt}, timeDest{&u.UpdatedAt}}
}

func scanUser(scan func(...any) error) (storage.User, error) {
	var u storage.User
	return u, scan(userDest(&u)...)
}

// getUser reads the user by key; lock is the locking clause, if any.
func (s *Store) getUser(ctx context.Context, where, lock string, arg string) (*storage.User, error) {
	var u storage.User
	if err := s.row(ctx, `SELECT `+userColumns+` FROM users WHERE `+where+lock, []any{arg}, userDest(&u)...); err != nil {
		return nil, err
	}
	return &u, nil
}

// checkUser checks the text of u.
func checkUser(u *storage.User) error {
	return checkText("username", u.Username, "email", u.Email, "password hash", u.PasswordHash)
}

// CreateUser inserts u, assigning ID and timestamps when they are zero.
func (s *Store) CreateUser(ctx context.Context, u *storage.User) error {
	id, err := storage.NewID(u.ID)
	if err == nil {
		err = checkUser(u)
	}
	t := storage.Now()
	created, updated := storage.Stamp(u.CreatedAt, t), storage.Stamp(u.UpdatedAt, t)
	if err == nil {
		_, err = s.exec(ctx, `INSERT INTO users (`+userColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			id, u.Username, u.Email, u.PasswordHash, u.Active, s.d.Time(created), s.d.Time(updated))
	}
	if err != nil {
		return fmt.Errorf("create user %q: %w", u.Username, err)
	}
	u.ID, u.CreatedAt, u.UpdatedAt = id, created, updated
	return nil
}

// GetUser finds a user by ID.
func (s *Store) GetUser(ctx context.Context, id string) (*storage.User, error) {
	k, err := key("user id", id, storage.ErrNotFound)
	var u *storage.User
	if err == nil {
		u, err = s.getUser(ctx, `id = $1`, "", k)
	}
	if err != nil {
		return nil, fmt.Errorf("get user %q: %w", id, err)
	}
	return u, nil
}

// GetUserByUsername finds a user by username, compared case-insensitively
// (ASCII only, as SQLite's lower() folds; usernames are stored normalized).
func (s *Store) GetUserByUsername(ctx context.Context, username string) (*storage.User, error) {
	err := storage.CheckText("username", username)
	var u *storage.User
	if err == nil {
		u, err = s.getUser(ctx, `lower(username) = lower($1)`, "", username)
	}
	if err != nil {
		return nil, fmt.Errorf("get user by username %q: %w", username, err)
	}
	return u, nil
}

// UpdateUser loads the user, calls fn on it and stores the result, in one
// transaction with the row locked. fn may not change ID; the store sets
// UpdatedAt and keeps CreatedAt.
func (s *Store) UpdateUser(ctx context.Context, id string, fn func(*storage.User) error) (*storage.User, error) {
	k, err := key("user id", id, storage.ErrNotFound)
	if err != nil {
		return nil, fmt.Errorf("update user %q: %w", id, err)
	}
	var u *storage.User
	err = s.InTx(ctx, func(ctx context.Context) error {
		var err error
		if u, err = s.getUser(ctx, `id = $1`, s.d.ForUpdate, k); err != nil {
			return fmt.Errorf("update user %q: %w", id, err)
		}
		created := u.CreatedAt
		if err := fn(u); err != nil {
			return err // as is, per the contract
		}
		if u.ID != k {
			return fmt.Errorf("update user %q: %w", id, errIDChanged)
		}
		u.CreatedAt, u.UpdatedAt = created, storage.Now()
		err = checkUser(u)
		if err == nil {
			_, err = s.exec(ctx, `UPDATE users
				SET username = $2, email = $3, password_hash = $4, active = $5, updated_at = $6
				WHERE id = $1`, k, u.Username, u.Email, u.PasswordHash, u.Active, s.d.Time(u.UpdatedAt))
		}
		if err != nil {
			return fmt.Errorf("update user %q: %w", id, err)
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
	k, err := key("id", id, storage.ErrNotFound)
	if err == nil {
		err = s.execOne(ctx, query, append([]any{k}, args...)...)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// ListUsers lists users matching f, sorted by username byte-wise.
func (s *Store) ListUsers(ctx context.Context, f storage.UserFilter) ([]storage.User, error) {
	f, err := f.Check()
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	name := `u.username` + s.d.Collate
	var c conds
	if f.UsernamePrefix != "" {
		// A range, not LIKE: '%' and '_' in the prefix are literal.
		c.add(name + ` >= ` + c.arg(f.UsernamePrefix))
		if end, ok := storage.PrefixEnd(f.UsernamePrefix); ok {
			c.add(name + ` < ` + c.arg(end))
		}
	}
	if f.After != "" {
		c.add(name + ` > ` + c.arg(f.After))
	}
	if f.Department != "" {
		c.add(`EXISTS (SELECT 1 FROM user_departments ud JOIN departments d ON d.id = ud.department_id
			WHERE ud.user_id = u.id AND d.code = ` + c.arg(f.Department) + `)`)
	}
	if f.Role != "" {
		c.add(`EXISTS (SELECT 1 FROM user_roles ur JOIN roles r ON r.id = ur.role_id
			WHERE ur.user_id = u.id AND r.name = ` + c.arg(f.Role) + `)`)
	}
	if f.Active != nil {
		c.add(`u.active = ` + c.arg(*f.Active))
	}
	query := `SELECT ` + userColumns + ` FROM users u` + c.clause() + ` ORDER BY ` + name + ` LIMIT ` + c.arg(f.Limit)
	us, err := scanAll(s, ctx, scanUser, query, c.args...)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return us, nil
}
