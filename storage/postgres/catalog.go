package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gaia-platform/iam/storage"
)

// Names and codes sort with COLLATE "C", byte by byte as Go and SQLite
// compare strings, whatever the database's collation.

// ListPermissions lists every permission, sorted by name.
func (s *Store) ListPermissions(ctx context.Context) ([]storage.Permission, error) {
	rows, err := s.q(ctx).Query(ctx, `SELECT id, name, description FROM permissions ORDER BY name COLLATE "C"`)
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
		_, err = s.q(ctx).Exec(ctx, `INSERT INTO permissions (id, name, description) VALUES ($1, $2, $3)`,
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
		`UPDATE permissions SET description = $2 WHERE id = $1`, p.Description)
}

// DeletePermission removes it and every role's grant of it.
func (s *Store) DeletePermission(ctx context.Context, id string) error {
	return s.update(ctx, fmt.Sprintf("delete permission %q", id), id, `DELETE FROM permissions WHERE id = $1`)
}

// ListRoles lists every role, sorted by name, with its permissions.
func (s *Store) ListRoles(ctx context.Context) ([]storage.Role, error) {
	rows, err := s.q(ctx).Query(ctx, `
		SELECT r.id, r.name, r.description, p.name
		FROM roles r
		LEFT JOIN role_permissions rp ON rp.role_id = r.id
		LEFT JOIN permissions p ON p.id = rp.permission_id
		ORDER BY r.name COLLATE "C", p.name COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("list roles: %w", err)
	}
	defer rows.Close()
	roles := []storage.Role{}
	for rows.Next() {
		var (
			r    storage.Role
			perm pgtype.Text
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
	err := s.q(ctx).QueryRow(ctx, `SELECT id, name, description FROM roles WHERE name = $1`, name).
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
		_, err = s.q(ctx).Exec(ctx, `INSERT INTO roles (id, name, description) VALUES ($1, $2, $3)`,
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
		`UPDATE roles SET name = $2, description = $3 WHERE id = $1`, r.Name, r.Description)
}

// DeleteRole removes it and every assignment of it.
func (s *Store) DeleteRole(ctx context.Context, id string) error {
	return s.update(ctx, fmt.Sprintf("delete role %q", id), id, `DELETE FROM roles WHERE id = $1`)
}

// SetRolePermissions makes the role's permissions exactly permissionIDs.
// An unknown role is ErrNotFound; an unknown permission is ErrConflict.
func (s *Store) SetRolePermissions(ctx context.Context, roleID string, permissionIDs []string) error {
	err := s.setPairs(ctx, roleID, permissionIDs,
		`SELECT 1 FROM roles WHERE id = $1 FOR NO KEY UPDATE`,
		`DELETE FROM role_permissions WHERE role_id = $1 AND permission_id <> ALL($2::uuid[])`,
		`INSERT INTO role_permissions (role_id, permission_id)
		SELECT $1::uuid, unnest($2::uuid[])
		ON CONFLICT DO NOTHING`)
	if err != nil {
		return fmt.Errorf("set permissions of role %q: %w", roleID, err)
	}
	return nil
}

// setPairs makes the rows of a mapping table whose owner is ownerID exactly
// those pairing it with ids. lock checks the owner and locks its row, so
// that concurrent calls for one owner run one after the other; remove and
// add take the owner and the array of ids.
func (s *Store) setPairs(ctx context.Context, ownerID string, ids []string, lock, remove, add string) error {
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
	return s.InTx(ctx, func(ctx context.Context) error {
		var one int
		if err := s.q(ctx).QueryRow(ctx, lock, owner).Scan(&one); err != nil {
			return mapErr(err)
		}
		if _, err := s.q(ctx).Exec(ctx, remove, owner, keys); err != nil {
			return mapErr(err)
		}
		if _, err := s.q(ctx).Exec(ctx, add, owner, keys); err != nil {
			return mapErr(err)
		}
		return nil
	})
}

// ListDepartments lists every department, sorted by code, with its allowed roles.
func (s *Store) ListDepartments(ctx context.Context) ([]storage.Department, error) {
	rows, err := s.q(ctx).Query(ctx, `
		SELECT d.id, d.code, d.name, r.name
		FROM departments d
		LEFT JOIN department_allowed_roles dar ON dar.department_id = d.id
		LEFT JOIN roles r ON r.id = dar.role_id
		ORDER BY d.code COLLATE "C", r.name COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("list departments: %w", err)
	}
	defer rows.Close()
	ds := []storage.Department{}
	for rows.Next() {
		var (
			d    storage.Department
			role pgtype.Text
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
	err := s.q(ctx).QueryRow(ctx, `SELECT id, code, name FROM departments WHERE code = $1`, code).
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
		_, err = s.q(ctx).Exec(ctx, `INSERT INTO departments (id, code, name) VALUES ($1, $2, $3)`,
			id, d.Code, d.Name)
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
		`UPDATE departments SET code = $2, name = $3 WHERE id = $1`, d.Code, d.Name)
}

// DeleteDepartment removes it, its allowed roles and its memberships.
func (s *Store) DeleteDepartment(ctx context.Context, id string) error {
	return s.update(ctx, fmt.Sprintf("delete department %q", id), id, `DELETE FROM departments WHERE id = $1`)
}

// SetDepartmentRoles makes the department's allowed roles exactly roleIDs.
// An unknown department is ErrNotFound; an unknown role is ErrConflict.
func (s *Store) SetDepartmentRoles(ctx context.Context, departmentID string, roleIDs []string) error {
	err := s.setPairs(ctx, departmentID, roleIDs,
		`SELECT 1 FROM departments WHERE id = $1 FOR NO KEY UPDATE`,
		`DELETE FROM department_allowed_roles WHERE department_id = $1 AND role_id <> ALL($2::uuid[])`,
		`INSERT INTO department_allowed_roles (department_id, role_id)
		SELECT $1::uuid, unnest($2::uuid[])
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
		WHERE r.id = $1
		ORDER BY d.code COLLATE "C"`)
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
	rows, err := s.q(ctx).Query(ctx, query, key)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ds []storage.Department // nil until the owner is found
	for rows.Next() {
		if ds == nil {
			ds = []storage.Department{}
		}
		var id, code, name pgtype.Text
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
