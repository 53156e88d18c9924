package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/gaia-platform/iam/storage"
)

// Names and codes sort byte by byte, as Go compares strings: the dialect's
// Collate says how.

// ListPermissions lists every permission, sorted by name.
func (s *Store) ListPermissions(ctx context.Context) ([]storage.Permission, error) {
	ps, err := scanAll(s, ctx, func(scan func(...any) error) (storage.Permission, error) {
		var p storage.Permission
		return p, scan(&p.ID, &p.Name, &p.Description)
	}, `SELECT id, name, description FROM permissions ORDER BY name`+s.d.Collate)
	if err != nil {
		return nil, fmt.Errorf("list permissions: %w", err)
	}
	return ps, nil
}

// create inserts a catalog entry (id, name, description or code and name)
// into table, assigning its ID when empty, and returns the ID.
func (s *Store) create(ctx context.Context, table, id string, nameValues ...string) (string, error) {
	id, err := storage.NewID(id)
	if err == nil {
		err = checkText(nameValues...)
	}
	if err == nil {
		_, err = s.exec(ctx, `INSERT INTO `+table+` (id, `+nameValues[0]+`, `+nameValues[2]+`) VALUES ($1, $2, $3)`,
			id, nameValues[1], nameValues[3])
	}
	return id, err
}

// CreatePermission inserts p, assigning its ID when empty.
func (s *Store) CreatePermission(ctx context.Context, p *storage.Permission) error {
	id, err := s.create(ctx, "permissions", p.ID, "name", p.Name, "description", p.Description)
	if err != nil {
		return fmt.Errorf("create permission %q: %w", p.Name, err)
	}
	p.ID = id
	return nil
}

// UpdatePermission rewrites the description of the permission with p.ID.
func (s *Store) UpdatePermission(ctx context.Context, p *storage.Permission) error {
	what := fmt.Sprintf("update permission %q", p.ID)
	if err := checkText("description", p.Description); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return s.update(ctx, what, p.ID, `UPDATE permissions SET description = $2 WHERE id = $1`, p.Description)
}

// DeletePermission removes it and every role's grant of it.
func (s *Store) DeletePermission(ctx context.Context, id string) error {
	return s.update(ctx, fmt.Sprintf("delete permission %q", id), id, `DELETE FROM permissions WHERE id = $1`)
}

// ListRoles lists every role, sorted by name, with its permissions.
func (s *Store) ListRoles(ctx context.Context) ([]storage.Role, error) {
	roles, err := withNames(s, ctx, func(r *storage.Role) []any { return []any{&r.ID, &r.Name, &r.Description} },
		func(r *storage.Role) (string, *[]string) { return r.ID, &r.Permissions },
		`SELECT r.id, r.name, r.description, p.name
		FROM roles r
		LEFT JOIN role_permissions rp ON rp.role_id = r.id
		LEFT JOIN permissions p ON p.id = rp.permission_id
		ORDER BY r.name`+s.d.Collate+`, p.name`+s.d.Collate)
	if err != nil {
		return nil, fmt.Errorf("list roles: %w", err)
	}
	return roles, nil
}

// withNames runs query, whose rows are a record's columns (scanned into
// what dest returns) and then one name, NULL when the record has none,
// ordered by record: one row per (record, name) pair of a LEFT JOIN. It
// folds them into the records, each with its names in the list that names
// returns along with its ID.
func withNames[T any](s *Store, ctx context.Context, dest func(*T) []any, names func(*T) (string, *[]string), query string) ([]T, error) {
	out := []T{}
	lastID := "" // of out's last record
	err := s.each(ctx, func(scan func(...any) error) error {
		var (
			v    T
			name sql.NullString
		)
		if err := scan(append(dest(&v), &name)...); err != nil {
			return err
		}
		if id, list := names(&v); len(out) == 0 || id != lastID {
			*list = []string{}
			out = append(out, v)
			lastID = id
		}
		if name.Valid {
			_, last := names(&out[len(out)-1])
			*last = append(*last, name.String)
		}
		return nil
	}, query)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// GetRoleByName finds a role by name. It does not fill Permissions.
func (s *Store) GetRoleByName(ctx context.Context, name string) (*storage.Role, error) {
	var r storage.Role
	err := storage.CheckText("role name", name)
	if err == nil {
		err = s.row(ctx, `SELECT id, name, description FROM roles WHERE name = $1`, []any{name},
			&r.ID, &r.Name, &r.Description)
	}
	if err != nil {
		return nil, fmt.Errorf("get role %q: %w", name, err)
	}
	return &r, nil
}

// CreateRole inserts r, assigning its ID when empty. r.Permissions is ignored.
func (s *Store) CreateRole(ctx context.Context, r *storage.Role) error {
	id, err := s.create(ctx, "roles", r.ID, "name", r.Name, "description", r.Description)
	if err != nil {
		return fmt.Errorf("create role %q: %w", r.Name, err)
	}
	r.ID = id
	return nil
}

// UpdateRole rewrites the name and description of the role with r.ID.
func (s *Store) UpdateRole(ctx context.Context, r *storage.Role) error {
	what := fmt.Sprintf("update role %q", r.ID)
	if err := checkText("name", r.Name, "description", r.Description); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return s.update(ctx, what, r.ID, `UPDATE roles SET name = $2, description = $3 WHERE id = $1`, r.Name, r.Description)
}

// DeleteRole removes it and every assignment of it.
func (s *Store) DeleteRole(ctx context.Context, id string) error {
	return s.update(ctx, fmt.Sprintf("delete role %q", id), id, `DELETE FROM roles WHERE id = $1`)
}

// SetRolePermissions makes the role's permissions exactly permissionIDs.
// An unknown role is ErrNotFound; an unknown permission is ErrConflict.
func (s *Store) SetRolePermissions(ctx context.Context, roleID string, permissionIDs []string) error {
	return s.setPairs(ctx, fmt.Sprintf("set permissions of role %q", roleID), roleID, permissionIDs,
		s.built.rolePermissions)
}

// setPairs makes the rows of a mapping table whose owner is ownerID exactly
// those pairing it with ids. The lock statement checks the owner and locks
// its row, so that concurrent calls for one owner run one after the other.
// Errors say what.
func (s *Store) setPairs(ctx context.Context, what, ownerID string, ids []string, p pairs) error {
	if err := s.setPairsTx(ctx, ownerID, ids, p); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

func (s *Store) setPairsTx(ctx context.Context, ownerID string, ids []string, p pairs) error {
	owner, err := key("id", ownerID, storage.ErrNotFound)
	if err != nil {
		return err
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		if keys[i], err = key("id", id, fmt.Errorf("%w: %q is not a UUID", storage.ErrConflict, id)); err != nil {
			return err
		}
	}
	list := s.d.List(keys)
	return s.InTx(ctx, func(ctx context.Context) error {
		var one int
		if err := s.row(ctx, p.lock, []any{owner}, &one); err != nil {
			return err
		}
		if _, err := s.exec(ctx, p.remove, owner, list); err != nil {
			return err
		}
		_, err := s.exec(ctx, p.add, owner, list)
		return err
	})
}

// ListDepartments lists every department, sorted by code, with its allowed roles.
func (s *Store) ListDepartments(ctx context.Context) ([]storage.Department, error) {
	ds, err := withNames(s, ctx, func(d *storage.Department) []any { return []any{&d.ID, &d.Code, &d.Name} },
		func(d *storage.Department) (string, *[]string) { return d.ID, &d.AllowedRoles },
		`SELECT d.id, d.code, d.name, r.name
		FROM departments d
		LEFT JOIN department_allowed_roles dar ON dar.department_id = d.id
		LEFT JOIN roles r ON r.id = dar.role_id
		ORDER BY d.code`+s.d.Collate+`, r.name`+s.d.Collate)
	if err != nil {
		return nil, fmt.Errorf("list departments: %w", err)
	}
	return ds, nil
}

// GetDepartmentByCode finds a department by code. It does not fill AllowedRoles.
func (s *Store) GetDepartmentByCode(ctx context.Context, code string) (*storage.Department, error) {
	var d storage.Department
	err := storage.CheckText("department code", code)
	if err == nil {
		err = s.row(ctx, `SELECT id, code, name FROM departments WHERE code = $1`, []any{code}, &d.ID, &d.Code, &d.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("get department %q: %w", code, err)
	}
	return &d, nil
}

// CreateDepartment inserts d, assigning its ID when empty. d.AllowedRoles is ignored.
func (s *Store) CreateDepartment(ctx context.Context, d *storage.Department) error {
	id, err := s.create(ctx, "departments", d.ID, "code", d.Code, "name", d.Name)
	if err != nil {
		return fmt.Errorf("create department %q: %w", d.Code, err)
	}
	d.ID = id
	return nil
}

// UpdateDepartment rewrites the code and name of the department with d.ID.
func (s *Store) UpdateDepartment(ctx context.Context, d *storage.Department) error {
	what := fmt.Sprintf("update department %q", d.ID)
	if err := checkText("code", d.Code, "name", d.Name); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return s.update(ctx, what, d.ID, `UPDATE departments SET code = $2, name = $3 WHERE id = $1`, d.Code, d.Name)
}

// DeleteDepartment removes it, its allowed roles and its memberships.
func (s *Store) DeleteDepartment(ctx context.Context, id string) error {
	return s.update(ctx, fmt.Sprintf("delete department %q", id), id, `DELETE FROM departments WHERE id = $1`)
}

// SetDepartmentRoles makes the department's allowed roles exactly roleIDs.
// An unknown department is ErrNotFound; an unknown role is ErrConflict.
func (s *Store) SetDepartmentRoles(ctx context.Context, departmentID string, roleIDs []string) error {
	return s.setPairs(ctx, fmt.Sprintf("set roles of department %q", departmentID), departmentID, roleIDs,
		s.built.deptRoles)
}

// DepartmentsAllowing lists the departments that allow the role, sorted by
// code, without their AllowedRoles. An unknown role is ErrNotFound.
func (s *Store) DepartmentsAllowing(ctx context.Context, roleID string) ([]storage.Department, error) {
	return s.departments(ctx, fmt.Sprintf("departments allowing role %q", roleID), roleID,
		"roles", "department_allowed_roles", "role_id")
}

// departments lists, sorted by code, the departments that the mapping
// table link pairs with the row of table owner whose ID is ownerID (col
// is link's column that references owner). No such row is ErrNotFound.
// Errors say what.
func (s *Store) departments(ctx context.Context, what, ownerID, owner, link, col string) ([]storage.Department, error) {
	// Left joins from the owner: no row at all means no owner, and a row
	// of NULLs an owner without departments.
	ds, err := related(s, ctx, ownerID, `SELECT d.id, d.code, d.name
		FROM `+owner+` o
		LEFT JOIN `+link+` x ON x.`+col+` = o.id
		LEFT JOIN departments d ON d.id = x.department_id
		WHERE o.id = $1
		ORDER BY d.code`+s.d.Collate, func(scan func(...any) error) (storage.Department, bool, error) {
		var id, code, name sql.NullString
		err := scan(&id, &code, &name)
		return storage.Department{ID: id.String, Code: code.String, Name: name.String}, id.Valid, err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return ds, nil
}

// related runs query, which selects by left joins from the one record with
// ID ownerID the records related to it: no row at all means no such record
// (ErrNotFound), and a row that scan reports absent (NULLs) means none is
// related.
func related[T any](s *Store, ctx context.Context, ownerID, query string, scan func(func(...any) error) (T, bool, error)) ([]T, error) {
	k, err := key("id", ownerID, storage.ErrNotFound)
	if err != nil {
		return nil, err
	}
	var out []T // nil until the owner is found
	err = s.each(ctx, func(sc func(...any) error) error {
		if out == nil {
			out = []T{}
		}
		v, ok, err := scan(sc)
		if ok {
			out = append(out, v)
		}
		return err
	}, query, k)
	if err == nil && out == nil {
		err = storage.ErrNotFound
	}
	return out, err
}
