package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/gaia-platform/iam/storage"
)

// AddUserDepartment makes the user a member of the department.
func (s *Store) AddUserDepartment(ctx context.Context, userID, departmentID string) error {
	return s.addPair(ctx, fmt.Sprintf("add user %q to department %q", userID, departmentID),
		`INSERT INTO user_departments (user_id, department_id) VALUES ($1, $2)`, userID, departmentID)
}

// RemoveUserDepartment ends the user's membership of the department.
func (s *Store) RemoveUserDepartment(ctx context.Context, userID, departmentID string) error {
	return s.removePair(ctx, fmt.Sprintf("remove user %q from department %q", userID, departmentID),
		`DELETE FROM user_departments WHERE user_id = $1 AND department_id = $2`, userID, departmentID)
}

// UserDepartments lists the user's departments, sorted by code, without
// their AllowedRoles. An unknown user is ErrNotFound.
func (s *Store) UserDepartments(ctx context.Context, userID string) ([]storage.Department, error) {
	return s.departments(ctx, fmt.Sprintf("departments of user %q", userID), userID,
		"users", "user_departments", "user_id")
}

// AssignUserRole gives the user the role. It does not check the assignment
// rule; package rbac does.
func (s *Store) AssignUserRole(ctx context.Context, userID, roleID string) error {
	return s.addPair(ctx, fmt.Sprintf("assign role %q to user %q", roleID, userID),
		`INSERT INTO user_roles (user_id, role_id) VALUES ($1, $2)`, userID, roleID)
}

// UnassignUserRole takes the role from the user.
func (s *Store) UnassignUserRole(ctx context.Context, userID, roleID string) error {
	return s.removePair(ctx, fmt.Sprintf("unassign role %q from user %q", roleID, userID),
		`DELETE FROM user_roles WHERE user_id = $1 AND role_id = $2`, userID, roleID)
}

// UserRoles lists the roles assigned to the user, sorted by name, without
// their Permissions. An unknown user is ErrNotFound.
func (s *Store) UserRoles(ctx context.Context, userID string) ([]storage.Role, error) {
	roles, err := related(s, ctx, userID, `
		SELECT r.id, r.name, r.description
		FROM users u
		LEFT JOIN user_roles ur ON ur.user_id = u.id
		LEFT JOIN roles r ON r.id = ur.role_id
		WHERE u.id = $1
		ORDER BY r.name`+s.d.Collate, func(scan func(...any) error) (storage.Role, bool, error) {
		var id, name, description sql.NullString
		err := scan(&id, &name, &description)
		return storage.Role{ID: id.String, Name: name.String, Description: description.String}, id.Valid, err
	})
	if err != nil {
		return nil, fmt.Errorf("roles of user %q: %w", userID, err)
	}
	return roles, nil
}

// UserGrants resolves the user's roles and their permissions in one query.
func (s *Store) UserGrants(ctx context.Context, userID string) (storage.Grants, error) {
	k, err := key("user id", userID, storage.ErrNotFound)
	var g storage.Grants
	if err == nil {
		g, err = s.grants(ctx, s.built.userGrants, k)
	}
	if err != nil {
		return storage.Grants{}, fmt.Errorf("grants of user %q: %w", userID, err)
	}
	return g, nil
}

// grants runs a Grants query of the dialect: one row, (roles,
// permissions), each sorted and de-duplicated by the database, or no row
// for an unknown subject. Aggregating in SQL answers in one row what would
// otherwise be one row per (role, permission) pair: this is the token
// endpoint's hot path.
func (s *Store) grants(ctx context.Context, query, key string) (storage.Grants, error) {
	g := storage.Grants{Roles: []string{}, Permissions: []string{}}
	if err := s.row(ctx, query, []any{key}, s.d.ScanList(&g.Roles), s.d.ScanList(&g.Permissions)); err != nil {
		return storage.Grants{}, err
	}
	return g, nil
}

// addPair inserts a row of a mapping table; a or b not a UUID, or naming no
// row, or the pair already there, is ErrConflict. Errors say what.
func (s *Store) addPair(ctx context.Context, what, insert, a, b string) error {
	notUUID := fmt.Errorf("%w: not a UUID", storage.ErrConflict)
	ka, err := key("id", a, notUUID)
	var kb string
	if err == nil {
		kb, err = key("id", b, notUUID)
	}
	if err == nil {
		_, err = s.exec(ctx, insert, ka, kb)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// removePair deletes a row of a mapping table; no such row is ErrNotFound.
// Errors say what.
func (s *Store) removePair(ctx context.Context, what, remove, a, b string) error {
	ka, err := key("id", a, storage.ErrNotFound)
	var kb string
	if err == nil {
		kb, err = key("id", b, storage.ErrNotFound)
	}
	if err == nil {
		err = s.execOne(ctx, remove, ka, kb)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}
