package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/gaia-platform/iam/storage"
)

// ListPermissions lists every permission, sorted by name.
func (s *Store) ListPermissions(ctx context.Context) ([]storage.Permission, error) {
	rows, err := s.q(ctx).QueryContext(ctx, `SELECT id, name, description FROM permissions ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list permissions: %w", err)
	}
	defer rows.Close()
	ps := []storage.Permission{}
	for rows.Next() {
		var p storage.Permission
		if err := rows.Scan(&p.ID, &p.Name, &p.Description); err != nil {
			return nil, fmt.Errorf("list permissions: %w", err)
		}
		ps = append(ps, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list permissions: %w", err)
	}
	return ps, nil
}

// CreatePermission inserts p, assigning its ID when empty.
func (s *Store) CreatePermission(ctx context.Context, p *storage.Permission) error {
	id, err := storage.NewID(p.ID)
	if err == nil {
		_, err = s.exec(ctx, `INSERT INTO permissions (id, name, description) VALUES (?, ?, ?)`,
			id, p.Name, p.Description)
	}
	if err != nil {
		return fmt.Errorf("create permission %q: %w", p.Name, mapErr(err))
	}
	p.ID = id
	return nil
}

// UpdatePermission rewrites the description of the permission with p.ID.
func (s *Store) UpdatePermission(ctx context.Context, p *storage.Permission) error {
	return s.update(ctx, fmt.Sprintf("update permission %q", p.ID), p.ID,
		`UPDATE permissions SET description = ? WHERE id = ?`, p.Description)
}

// DeletePermission removes it and every role's grant of it.
func (s *Store) DeletePermission(ctx context.Context, id string) error {
	return s.update(ctx, fmt.Sprintf("delete permission %q", id), id, `DELETE FROM permissions WHERE id = ?`)
}

// update runs query, a write whose last parameter is the ID id, with args
// before it; no row with that ID is ErrNotFound.
func (s *Store) update(ctx context.Context, what, id, query string, args ...any) error {
	key, ok := storage.CanonicalID(id)
	if !ok {
		return fmt.Errorf("%s: %w", what, storage.ErrNotFound)
	}
	res, err := s.exec(ctx, query, append(args, key)...)
	if err == nil {
		err = affected(res)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, mapErr(err))
	}
	return nil
}

// ListRoles lists every role, sorted by name, with its permissions.
func (s *Store) ListRoles(ctx context.Context) ([]storage.Role, error) {
	rows, err := s.q(ctx).QueryContext(ctx, `
		SELECT r.id, r.name, r.description, p.name
		FROM roles r
		LEFT JOIN role_permissions rp ON rp.role_id = r.id
		LEFT JOIN permissions p ON p.id = rp.permission_id
		ORDER BY r.name, p.name`)
	if err != nil {
		return nil, fmt.Errorf("list roles: %w", err)
	}
	defer rows.Close()
	roles := []storage.Role{}
	for rows.Next() {
		var (
			r    storage.Role
			perm sql.NullString
		)
		if err := rows.Scan(&r.ID, &r.Name, &r.Description, &perm); err != nil {
			return nil, fmt.Errorf("list roles: %w", err)
		}
		if n := len(roles); n == 0 || roles[n-1].ID != r.ID {
			r.Permissions = []string{}
			roles = append(roles, r)
		}
		if perm.Valid {
			last := &roles[len(roles)-1]
			last.Permissions = append(last.Permissions, perm.String)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list roles: %w", err)
	}
	return roles, nil
}

// GetRoleByName finds a role by name. It does not fill Permissions.
func (s *Store) GetRoleByName(ctx context.Context, name string) (*storage.Role, error) {
	var r storage.Role
	err := s.q(ctx).QueryRowContext(ctx, `SELECT id, name, description FROM roles WHERE name = ?`, name).
		Scan(&r.ID, &r.Name, &r.Description)
	if err != nil {
		return nil, fmt.Errorf("get role %q: %w", name, mapErr(err))
	}
	return &r, nil
}

// CreateRole inserts r, assigning its ID when empty. r.Permissions is ignored.
func (s *Store) CreateRole(ctx context.Context, r *storage.Role) error {
	id, err := storage.NewID(r.ID)
	if err == nil {
		_, err = s.exec(ctx, `INSERT INTO roles (id, name, description) VALUES (?, ?, ?)`,
			id, r.Name, r.Description)
	}
	if err != nil {
		return fmt.Errorf("create role %q: %w", r.Name, mapErr(err))
	}
	r.ID = id
	return nil
}

// UpdateRole rewrites the name and description of the role with r.ID.
func (s *Store) UpdateRole(ctx context.Context, r *storage.Role) error {
	return s.update(ctx, fmt.Sprintf("update role %q", r.ID), r.ID,
		`UPDATE roles SET name = ?, description = ? WHERE id = ?`, r.Name, r.Description)
}

// DeleteRole removes it and every assignment of it.
func (s *Store) DeleteRole(ctx context.Context, id string) error {
	return s.update(ctx, fmt.Sprintf("delete role %q", id), id, `DELETE FROM roles WHERE id = ?`)
}

// SetRolePermissions makes the role's permissions exactly permissionIDs.
// An unknown role is ErrNotFound; an unknown permission is ErrConflict.
func (s *Store) SetRolePermissions(ctx context.Context, roleID string, permissionIDs []string) error {
	err := s.setPairs(ctx, roleID, permissionIDs,
		`SELECT 1 FROM roles WHERE id = ?`,
		`DELETE FROM role_permissions
		WHERE role_id = ? AND permission_id NOT IN (SELECT value FROM json_each(?))`,
		`INSERT INTO role_permissions (role_id, permission_id)
		SELECT ?, value FROM json_each(?) WHERE true
		ON CONFLICT DO NOTHING`)
	if err != nil {
		return fmt.Errorf("set permissions of role %q: %w", roleID, err)
	}
	return nil
}

// setPairs makes the rows of a mapping table whose owner is ownerID exactly
// those pairing it with ids. exists checks the owner; remove and add take
// the owner and the JSON array of ids.
func (s *Store) setPairs(ctx context.Context, ownerID string, ids []string, exists, remove, add string) error {
	owner, ok := storage.CanonicalID(ownerID)
	if !ok {
		return storage.ErrNotFound
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		if keys[i], ok = storage.CanonicalID(id); !ok {
			return fmt.Errorf("%w: %q is not a UUID", storage.ErrConflict, id)
		}
	}
	list, err := json.Marshal(keys)
	if err != nil {
		return err
	}
	return s.InTx(ctx, func(ctx context.Context) error {
		var one int
		if err := s.q(ctx).QueryRowContext(ctx, exists, owner).Scan(&one); err != nil {
			return mapErr(err)
		}
		if _, err := s.exec(ctx, remove, owner, string(list)); err != nil {
			return mapErr(err)
		}
		if _, err := s.exec(ctx, add, owner, string(list)); err != nil {
			return mapErr(err)
		}
		return nil
	})
}

// ListDepartments lists every department, sorted by code, with its allowed roles.
func (s *Store) ListDepartments(ctx context.Context) ([]storage.Department, error) {
	rows, err := s.q(ctx).QueryContext(ctx, `
		SELECT d.id, d.code, d.name, r.name
		FROM departments d
		LEFT JOIN department_allowed_roles dar ON dar.department_id = d.id
		LEFT JOIN roles r ON r.id = dar.role_id
		ORDER BY d.code, r.name`)
	if err != nil {
		return nil, fmt.Errorf("list departments: %w", err)
	}
	defer rows.Close()
	ds := []storage.Department{}
	for rows.Next() {
		var (
			d    storage.Department
			role sql.NullString
		)
		if err := rows.Scan(&d.ID, &d.Code, &d.Name, &role); err != nil {
			return nil, fmt.Errorf("list departments: %w", err)
		}
		if n := len(ds); n == 0 || ds[n-1].ID != d.ID {
			d.AllowedRoles = []string{}
			ds = append(ds, d)
		}
		if role.Valid {
			last := &ds[len(ds)-1]
			last.AllowedRoles = append(last.AllowedRoles, role.String)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list departments: %w", err)
	}
	return ds, nil
}

// GetDepartmentByCode finds a department by code. It does not fill AllowedRoles.
func (s *Store) GetDepartmentByCode(ctx context.Context, code string) (*storage.Department, error) {
	var d storage.Department
	err := s.q(ctx).QueryRowContext(ctx, `SELECT id, code, name FROM departments WHERE code = ?`, code).
		Scan(&d.ID, &d.Code, &d.Name)
	if err != nil {
		return nil, fmt.Errorf("get department %q: %w", code, mapErr(err))
	}
	return &d, nil
}

// CreateDepartment inserts d, assigning its ID when empty. d.AllowedRoles is ignored.
func (s *Store) CreateDepartment(ctx context.Context, d *storage.Department) error {
	id, err := storage.NewID(d.ID)
	if err == nil {
		_, err = s.exec(ctx, `INSERT INTO departments (id, code, name) VALUES (?, ?, ?)`, id, d.Code, d.Name)
	}
	if err != nil {
		return fmt.Errorf("create department %q: %w", d.Code, mapErr(err))
	}
	d.ID = id
	return nil
}

// UpdateDepartment rewrites the code and name of the department with d.ID.
func (s *Store) UpdateDepartment(ctx context.Context, d *storage.Department) error {
	return s.update(ctx, fmt.Sprintf("update department %q", d.ID), d.ID,
		`UPDATE departments SET code = ?, name = ? WHERE id = ?`, d.Code, d.Name)
}

// DeleteDepartment removes it, its allowed roles and its memberships.
func (s *Store) DeleteDepartment(ctx context.Context, id string) error {
	return s.update(ctx, fmt.Sprintf("delete department %q", id), id, `DELETE FROM departments WHERE id = ?`)
}

// SetDepartmentRoles makes the department's allowed roles exactly roleIDs.
// An unknown department is ErrNotFound; an unknown role is ErrConflict.
func (s *Store) SetDepartmentRoles(ctx context.Context, departmentID string, roleIDs []string) error {
	err := s.setPairs(ctx, departmentID, roleIDs,
		`SELECT 1 FROM departments WHERE id = ?`,
		`DELETE FROM department_allowed_roles
		WHERE department_id = ? AND role_id NOT IN (SELECT value FROM json_each(?))`,
		`INSERT INTO department_allowed_roles (department_id, role_id)
		SELECT ?, value FROM json_each(?) WHERE true
		ON CONFLICT DO NOTHING`)
	if err != nil {
		return fmt.Errorf("set roles of department %q: %w", departmentID, err)
	}
	return nil
}

// DepartmentsAllowing lists the departments that allow the role, sorted by
// code, without their AllowedRoles. An unknown role is ErrNotFound.
func (s *Store) DepartmentsAllowing(ctx context.Context, roleID string) ([]storage.Department, error) {
	ds, err := s.departments(ctx, roleID, `
		SELECT d.id, d.code, d.name
		FROM roles r
		LEFT JOIN department_allowed_roles dar ON dar.role_id = r.id
		LEFT JOIN departments d ON d.id = dar.department_id
		WHERE r.id = ?
		ORDER BY d.code`)
	if err != nil {
		return nil, fmt.Errorf("departments allowing role %q: %w", roleID, err)
	}
	return ds, nil
}

// departments runs query, which selects the departments related to the
// record with ID ownerID by left joins from it: no row at all means no such
// record (ErrNotFound), and a row of NULLs means it has no departments.
func (s *Store) departments(ctx context.Context, ownerID, query string) ([]storage.Department, error) {
	key, ok := storage.CanonicalID(ownerID)
	if !ok {
		return nil, storage.ErrNotFound
	}
	rows, err := s.q(ctx).QueryContext(ctx, query, key)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ds []storage.Department // nil until the owner is found
	for rows.Next() {
		if ds == nil {
			ds = []storage.Department{}
		}
		var id, code, name sql.NullString
		if err := rows.Scan(&id, &code, &name); err != nil {
			return nil, err
		}
		if id.Valid {
			ds = append(ds, storage.Department{ID: id.String, Code: code.String, Name: name.String})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if ds == nil {
		return nil, storage.ErrNotFound
	}
	return ds, nil
}
