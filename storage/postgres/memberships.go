package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gaia-platform/iam/storage"
)

// AddUserDepartment makes the user a member of the department.
func (s *Store) AddUserDepartment(ctx context.Context, userID, departmentID string) error {
	err := s.addPair(ctx, `INSERT INTO user_departments (user_id, department_id) VALUES ($1, $2)`, userID, departmentID)
	if err != nil {
		return fmt.Errorf("add user %q to department %q: %w", userID, departmentID, err)
	}
	return nil
}

// RemoveUserDepartment ends the user's membership of the department.
func (s *Store) RemoveUserDepartment(ctx context.Context, userID, departmentID string) error {
	err := s.removePair(ctx, `DELETE FROM user_departments WHERE user_id = $1 AND department_id = $2`, userID, departmentID)
	if err != nil {
		return fmt.Errorf("remove user %q from department %q: %w", userID, departmentID, err)
	}
	return nil
}

// UserDepartments lists the user's departments, sorted by code, without
// their AllowedRoles. An unknown user is ErrNotFound.
func (s *Store) UserDepartments(ctx context.Context, userID string) ([]storage.Department, error) {
	ds, err := s.departments(ctx, userID, `
		SELECT d.id, d.code, d.name
		FROM users u
		LEFT JOIN user_departments ud ON ud.user_id = u.id
		LEFT JOIN departments d ON d.id = ud.department_id
		WHERE u.id = $1
		ORDER BY d.code COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("departments of user %q: %w", userID, err)
	}
	return ds, nil
}

// AssignUserRole gives the user the role. It does not check the assignment
// rule; package rbac does.
func (s *Store) AssignUserRole(ctx context.Context, userID, roleID string) error {
	err := s.addPair(ctx, `INSERT INTO user_roles (user_id, role_id) VALUES ($1, $2)`, userID, roleID)
	if err != nil {
		return fmt.Errorf("assign role %q to user %q: %w", roleID, userID, err)
	}
	return nil
}

// UnassignUserRole takes the role from the user.
func (s *Store) UnassignUserRole(ctx context.Context, userID, roleID string) error {
	err := s.removePair(ctx, `DELETE FROM user_roles WHERE user_id = $1 AND role_id = $2`, userID, roleID)
	if err != nil {
		return fmt.Errorf("unassign role %q from user %q: %w", roleID, userID, err)
	}
	return nil
}

// UserRoles lists the roles assigned to the user, sorted by name, without
// their Permissions. An unknown user is ErrNotFound.
func (s *Store) UserRoles(ctx context.Context, userID string) ([]storage.Role, error) {
	key, ok := storage.CanonicalID(userID)
	if !ok {
		return nil, fmt.Errorf("roles of user %q: %w", userID, storage.ErrNotFound)
	}
	rows, err := s.q(ctx).Query(ctx, `
		SELECT r.id, r.name, r.description
		FROM users u
		LEFT JOIN user_roles ur ON ur.user_id = u.id
		LEFT JOIN roles r ON r.id = ur.role_id
		WHERE u.id = $1
		ORDER BY r.name COLLATE "C"`, key)
	if err != nil {
		return nil, fmt.Errorf("roles of user %q: %w", userID, err)
	}
	defer rows.Close()
	var roles []storage.Role // nil until the user is found
	for rows.Next() {
		if roles == nil {
			roles = []storage.Role{}
		}
		var id, name, description pgtype.Text
		if err := rows.Scan(&id, &name, &description); err != nil {
			return nil, fmt.Errorf("roles of user %q: %w", userID, err)
		}
		if id.Valid {
			roles = append(roles, storage.Role{ID: id.String, Name: name.String, Description: description.String})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("roles of user %q: %w", userID, err)
	}
	if roles == nil {
		return nil, fmt.Errorf("roles of user %q: %w", userID, storage.ErrNotFound)
	}
	return roles, nil
}

// UserGrants resolves the user's roles and their permissions in one query.
func (s *Store) UserGrants(ctx context.Context, userID string) (storage.Grants, error) {
	key, ok := storage.CanonicalID(userID)
	if !ok {
		return storage.Grants{}, fmt.Errorf("grants of user %q: %w", userID, storage.ErrNotFound)
	}
	g, err := s.grants(ctx, `
		SELECT
			ARRAY(SELECT r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id
			      WHERE ur.user_id = u.id ORDER BY r.name COLLATE "C"),
			ARRAY(SELECT DISTINCT p.name COLLATE "C"
			      FROM user_roles ur
			      JOIN role_permissions rp ON rp.role_id = ur.role_id
			      JOIN permissions p ON p.id = rp.permission_id
			      WHERE ur.user_id = u.id ORDER BY 1)
		FROM users u
		WHERE u.id = $1`, key)
	if err != nil {
		return storage.Grants{}, fmt.Errorf("grants of user %q: %w", userID, err)
	}
	return g, nil
}

// grants runs query, which selects (role name, permission name) pairs by
// left joins from the one subject whose key it takes: no row at all means
// no such subject (ErrNotFound), a NULL role means it holds no role, a NULL
// permission that the role carries none. The pairs are de-duplicated and
// sorted here rather than by the database.
//
// This is on the path of every token issued: it reads the raw column bytes
// (a text column's value is its UTF-8, NULL is nil) and makes a string only
// of what it keeps.
// grants runs a query that answers one row, (roles, permissions), each an
// array already sorted and de-duplicated by PostgreSQL, or no row for an
// unknown subject. Aggregating in SQL answers in one row what would
// otherwise be one row per (role, permission) pair; this is the token
// endpoint's hot path.
func (s *Store) grants(ctx context.Context, query, key string) (storage.Grants, error) {
	g := storage.Grants{Roles: []string{}, Permissions: []string{}}
	if err := s.q(ctx).QueryRow(ctx, query, key).Scan(&g.Roles, &g.Permissions); err != nil {
		return storage.Grants{}, mapErr(err)
	}
	return g, nil
}

// addPair inserts a row of a mapping table; a or b not a UUID, or naming no
// row, or the pair already there, is ErrConflict.
func (s *Store) addPair(ctx context.Context, insert, a, b string) error {
	ka, okA := storage.CanonicalID(a)
	kb, okB := storage.CanonicalID(b)
	if !okA || !okB {
		return fmt.Errorf("%w: not a UUID", storage.ErrConflict)
	}
	if _, err := s.q(ctx).Exec(ctx, insert, ka, kb); err != nil {
		return mapErr(err)
	}
	return nil
}

// removePair deletes a row of a mapping table; no such row is ErrNotFound.
func (s *Store) removePair(ctx context.Context, remove, a, b string) error {
	ka, okA := storage.CanonicalID(a)
	kb, okB := storage.CanonicalID(b)
	if !okA || !okB {
		return storage.ErrNotFound
	}
	tag, err := s.q(ctx).Exec(ctx, remove, ka, kb)
	if err == nil {
		err = affected(tag)
	}
	return mapErr(err)
}
