package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/gaia-platform/iam/storage"
)

// errIDChanged is returned when an update function changes the record's ID.
var errIDChanged = errors.New("the id cannot change")

const userColumns = `id, username, email, password_hash, active, created_at, updated_at`

// scanner is what *sql.Row and *sql.Rows have in common.
type scanner interface{ Scan(dest ...any) error }

func scanUser(row scanner) (*storage.User, error) {
	var (
		u                storage.User
		created, updated string
	)
	if err := row.Scan(&u.ID, &u.Username, &u.Email, &u.PasswordHash, &u.Active, &created, &updated); err != nil {
		return nil, mapErr(err)
	}
	var err error
	if u.CreatedAt, err = parseTime(created); err != nil {
		return nil, err
	}
	if u.UpdatedAt, err = parseTime(updated); err != nil {
		return nil, err
	}
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
	_, err = s.exec(ctx, `INSERT INTO users (`+userColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		id, u.Username, u.Email, u.PasswordHash, u.Active, formatTime(created), formatTime(updated))
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
	u, err := scanUser(s.q(ctx).QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, key))
	if err != nil {
		return nil, fmt.Errorf("get user %q: %w", id, err)
	}
	return u, nil
}

// GetUserByUsername finds a user by username, compared case-insensitively
// (ASCII only, as SQLite's lower() folds; usernames are stored normalized).
func (s *Store) GetUserByUsername(ctx context.Context, username string) (*storage.User, error) {
	u, err := scanUser(s.q(ctx).QueryRowContext(ctx,
		`SELECT `+userColumns+` FROM users WHERE lower(username) = lower(?)`, username))
	if err != nil {
		return nil, fmt.Errorf("get user by username %q: %w", username, err)
	}
	return u, nil
}

// UpdateUser loads the user, calls fn on it and stores the result, in one
// transaction. fn may not change ID; the store sets UpdatedAt and keeps
// CreatedAt.
func (s *Store) UpdateUser(ctx context.Context, id string, fn func(*storage.User) error) (*storage.User, error) {
	key, ok := storage.CanonicalID(id)
	if !ok {
		return nil, fmt.Errorf("update user %q: %w", id, storage.ErrNotFound)
	}
	var u *storage.User
	err := s.InTx(ctx, func(ctx context.Context) error {
		var err error
		u, err = scanUser(s.q(ctx).QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, key))
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
		_, err = s.exec(ctx, `UPDATE users SET username = ?, email = ?, password_hash = ?, active = ?, updated_at = ?
			WHERE id = ?`, u.Username, u.Email, u.PasswordHash, u.Active, formatTime(u.UpdatedAt), key)
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
	return s.update(ctx, fmt.Sprintf("delete user %q", id), id, `DELETE FROM users WHERE id = ?`)
}

// ListUsers lists users matching f, sorted by username byte-wise (BINARY,
// SQLite's default collation, compares bytes), through users_username_idx.
func (s *Store) ListUsers(ctx context.Context, f storage.UserFilter) ([]storage.User, error) {
	f, err := f.Check()
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	// Only the conditions f sets are in the SQL, so that the planner sees
	// what it can use an index for.
	var conds []string
	args := []any{sql.Named("limit", f.Limit)}
	if f.UsernamePrefix != "" {
		// A range, not LIKE: '%' and '_' in the prefix are literal.
		conds = append(conds, `u.username >= @prefix`)
		args = append(args, sql.Named("prefix", f.UsernamePrefix))
		if end, ok := storage.PrefixEnd(f.UsernamePrefix); ok {
			conds = append(conds, `u.username < @prefix_end`)
			args = append(args, sql.Named("prefix_end", end))
		}
	}
	if f.After != "" {
		conds = append(conds, `u.username > @after`)
		args = append(args, sql.Named("after", f.After))
	}
	if f.Department != "" {
		conds = append(conds, `EXISTS (SELECT 1 FROM user_departments ud JOIN departments d ON d.id = ud.department_id
			WHERE ud.user_id = u.id AND d.code = @department)`)
		args = append(args, sql.Named("department", f.Department))
	}
	if f.Role != "" {
		conds = append(conds, `EXISTS (SELECT 1 FROM user_roles ur JOIN roles r ON r.id = ur.role_id
			WHERE ur.user_id = u.id AND r.name = @role)`)
		args = append(args, sql.Named("role", f.Role))
	}
	if f.Active != nil {
		conds = append(conds, `u.active = @active`)
		args = append(args, sql.Named("active", *f.Active))
	}
	rows, err := s.q(ctx).QueryContext(ctx, `SELECT `+userColumns+` FROM users u`+whereClause(conds)+`
		ORDER BY u.username LIMIT @limit`, args...)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	us := []storage.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		us = append(us, *u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return us, nil
}

// whereClause joins conds into a WHERE clause with a leading space; no
// conditions is no clause.
func whereClause(conds []string) string {
	if len(conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(conds, " AND ")
}
