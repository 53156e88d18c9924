package storagetest

import (
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/gaia-platform/iam/storage"
)

var permissionsCases = []testCase{
	{"CRUD", testPermissionsCRUD},
	{"DeleteRemovesGrants", testPermissionDeleteRemovesGrants},
}

var rolesCases = []testCase{
	{"CRUD", testRolesCRUD},
	{"SetPermissions", testRoleSetPermissions},
	{"DeleteCascades", testRoleDeleteCascades},
}

var departmentsCases = []testCase{
	{"CRUD", testDepartmentsCRUD},
	{"SetRoles", testDepartmentSetRoles},
	{"DeleteCascades", testDepartmentDeleteCascades},
}

func testPermissionsCRUD(t *testing.T, s storage.Store) {
	ctx := t.Context()
	ps, err := s.ListPermissions(ctx)
	if err != nil || ps == nil || len(ps) != 0 {
		t.Errorf("ListPermissions on an empty store = %#v, %v, want []", ps, err)
	}
	write := mkPermission(t, s, "inventory.write")
	read := mkPermission(t, s, "inventory.read")
	view := mkPermission(t, s, "analytics.view")
	if _, err := uuid.Parse(read.ID); err != nil {
		t.Errorf("CreatePermission assigned ID %q: %v", read.ID, err)
	}
	is(t, "CreatePermission(inventory.read) again",
		s.CreatePermission(ctx, &storage.Permission{Name: "inventory.read"}), storage.ErrConflict)

	ps, err = s.ListPermissions(ctx)
	ok(t, "ListPermissions", err)
	want := []storage.Permission{*view, *read, *write}
	if !slices.Equal(ps, want) {
		t.Errorf("ListPermissions = %+v, want %+v", ps, want)
	}

	// UpdatePermission rewrites the description only.
	ok(t, "UpdatePermission", s.UpdatePermission(ctx, &storage.Permission{ID: read.ID, Name: "ignored", Description: "Read stock"}))
	ps, err = s.ListPermissions(ctx)
	ok(t, "ListPermissions", err)
	want[1].Description = "Read stock"
	if !slices.Equal(ps, want) {
		t.Errorf("ListPermissions after UpdatePermission = %+v, want %+v", ps, want)
	}
	is(t, "UpdatePermission(unknown)",
		s.UpdatePermission(ctx, &storage.Permission{ID: uuid.NewString(), Description: "x"}), storage.ErrNotFound)

	ok(t, "DeletePermission", s.DeletePermission(ctx, view.ID))
	is(t, "DeletePermission again", s.DeletePermission(ctx, view.ID), storage.ErrNotFound)
	is(t, "DeletePermission(not-a-uuid)", s.DeletePermission(ctx, "not-a-uuid"), storage.ErrNotFound)
	ps, err = s.ListPermissions(ctx)
	ok(t, "ListPermissions", err)
	if !slices.Equal(ps, want[1:]) {
		t.Errorf("ListPermissions after DeletePermission = %+v, want %+v", ps, want[1:])
	}
	// The name is free again.
	mkPermission(t, s, "analytics.view")
}

func testPermissionDeleteRemovesGrants(t *testing.T, s storage.Store) {
	ctx := t.Context()
	a, b := mkPermission(t, s, "a.read"), mkPermission(t, s, "b.read")
	mkRole(t, s, "R", a, b)
	ok(t, "DeletePermission(a.read)", s.DeletePermission(ctx, a.ID))
	rs, err := s.ListRoles(ctx)
	ok(t, "ListRoles", err)
	if len(rs) != 1 || !slices.Equal(rs[0].Permissions, []string{"b.read"}) {
		t.Errorf("ListRoles after DeletePermission = %+v, want R with [b.read]", rs)
	}
}

func testRolesCRUD(t *testing.T, s storage.Store) {
	ctx := t.Context()
	rs, err := s.ListRoles(ctx)
	if err != nil || rs == nil || len(rs) != 0 {
		t.Errorf("ListRoles on an empty store = %#v, %v, want []", rs, err)
	}
	// Byte order: upper case sorts before lower case, whatever the
	// database's collation.
	viewer := mkRole(t, s, "InventoryViewer")
	auditor := mkRole(t, s, "auditor")
	admin := mkRole(t, s, "PlatformAdmin")
	is(t, "CreateRole(InventoryViewer) again", s.CreateRole(ctx, &storage.Role{Name: "InventoryViewer"}), storage.ErrConflict)

	got, err := s.GetRoleByName(ctx, "InventoryViewer")
	if err != nil || got.ID != viewer.ID || got.Name != viewer.Name || got.Description != viewer.Description {
		t.Errorf("GetRoleByName(InventoryViewer) = %+v, %v, want %+v", got, err, viewer)
	}
	_, err = s.GetRoleByName(ctx, "inventoryviewer")
	is(t, "GetRoleByName(inventoryviewer)", err, storage.ErrNotFound)

	rs, err = s.ListRoles(ctx)
	ok(t, "ListRoles", err)
	if names := roleNames(rs); !slices.Equal(names, []string{"InventoryViewer", "PlatformAdmin", "auditor"}) {
		t.Errorf("ListRoles = %v, want [InventoryViewer PlatformAdmin auditor]", names)
	}
	for _, r := range rs {
		if r.Permissions == nil || len(r.Permissions) != 0 {
			t.Errorf("ListRoles: %s has Permissions %#v, want []", r.Name, r.Permissions)
		}
	}

	auditor.Name, auditor.Description = "Auditor", "Reads the audit log"
	ok(t, "UpdateRole", s.UpdateRole(ctx, auditor))
	got, err = s.GetRoleByName(ctx, "Auditor")
	if err != nil || got.ID != auditor.ID || got.Description != "Reads the audit log" {
		t.Errorf("GetRoleByName(Auditor) after UpdateRole = %+v, %v, want %+v", got, err, auditor)
	}
	is(t, "UpdateRole renaming to PlatformAdmin",
		s.UpdateRole(ctx, &storage.Role{ID: auditor.ID, Name: "PlatformAdmin"}), storage.ErrConflict)
	is(t, "UpdateRole(unknown)", s.UpdateRole(ctx, &storage.Role{ID: uuid.NewString(), Name: "X"}), storage.ErrNotFound)

	ok(t, "DeleteRole", s.DeleteRole(ctx, admin.ID))
	is(t, "DeleteRole again", s.DeleteRole(ctx, admin.ID), storage.ErrNotFound)
	_, err = s.GetRoleByName(ctx, "PlatformAdmin")
	is(t, "GetRoleByName after DeleteRole", err, storage.ErrNotFound)
}

func testRoleSetPermissions(t *testing.T, s storage.Store) {
	ctx := t.Context()
	a, b, c := mkPermission(t, s, "c.write"), mkPermission(t, s, "a.read"), mkPermission(t, s, "b.read")
	r := mkRole(t, s, "R")
	mkRole(t, s, "Other", a)

	perms := func() []string {
		t.Helper()
		rs, err := s.ListRoles(ctx)
		ok(t, "ListRoles", err)
		for _, x := range rs {
			if x.ID == r.ID {
				return x.Permissions
			}
		}
		t.Fatalf("ListRoles = %+v, want R in it", rs)
		return nil
	}
	steps := []struct {
		name string
		ids  []string
		want []string
	}{
		{"two", []string{a.ID, b.ID}, []string{"a.read", "c.write"}},
		{"replace one, with a duplicate", []string{c.ID, b.ID, b.ID}, []string{"a.read", "b.read"}},
		{"same again", []string{b.ID, c.ID}, []string{"a.read", "b.read"}},
		{"empty", []string{}, []string{}},
		{"all", []string{c.ID, a.ID, b.ID}, []string{"a.read", "b.read", "c.write"}},
		{"nil", nil, []string{}},
		{"one", []string{a.ID}, []string{"c.write"}},
	}
	for _, st := range steps {
		ok(t, "SetRolePermissions("+st.name+")", s.SetRolePermissions(ctx, r.ID, st.ids))
		nonNilEqual(t, "permissions after SetRolePermissions("+st.name+")", perms(), st.want)
	}

	// A bad set changes nothing.
	is(t, "SetRolePermissions with an unknown permission",
		s.SetRolePermissions(ctx, r.ID, []string{b.ID, uuid.NewString()}), storage.ErrConflict)
	is(t, "SetRolePermissions with a malformed ID",
		s.SetRolePermissions(ctx, r.ID, []string{b.ID, "not-a-uuid"}), storage.ErrConflict)
	nonNilEqual(t, "permissions after failed SetRolePermissions", perms(), []string{"c.write"})

	is(t, "SetRolePermissions(unknown role)", s.SetRolePermissions(ctx, uuid.NewString(), []string{a.ID}), storage.ErrNotFound)
	is(t, "SetRolePermissions(unknown role, none)", s.SetRolePermissions(ctx, uuid.NewString(), nil), storage.ErrNotFound)
	is(t, "SetRolePermissions(not-a-uuid)", s.SetRolePermissions(ctx, "not-a-uuid", nil), storage.ErrNotFound)

	rs, err := s.ListRoles(ctx)
	ok(t, "ListRoles", err)
	if len(rs) != 2 || rs[0].Name != "Other" || !slices.Equal(rs[0].Permissions, []string{"c.write"}) {
		t.Errorf("ListRoles = %+v, want Other [c.write] first", rs)
	}
}

func testRoleDeleteCascades(t *testing.T, s storage.Store) {
	ctx := t.Context()
	perm := mkPermission(t, s, "inventory.read")
	role := mkRole(t, s, "Viewer", perm)
	keep := mkRole(t, s, "Keeper", perm)
	dept := mkDepartment(t, s, "INVENTORY", role, keep)
	u := mkUser(t, s, "alice")
	c := mkClient(t, s, "svc")
	ok(t, "AddUserDepartment", s.AddUserDepartment(ctx, u.ID, dept.ID))
	ok(t, "AssignUserRole(Viewer)", s.AssignUserRole(ctx, u.ID, role.ID))
	ok(t, "AssignUserRole(Keeper)", s.AssignUserRole(ctx, u.ID, keep.ID))
	ok(t, "AssignClientRole", s.AssignClientRole(ctx, c.ClientID, role.ID))

	ok(t, "DeleteRole", s.DeleteRole(ctx, role.ID))

	roles, err := s.UserRoles(ctx, u.ID)
	if err != nil || !slices.Equal(roleNames(roles), []string{"Keeper"}) {
		t.Errorf("UserRoles after DeleteRole = %v, %v, want [Keeper]", roleNames(roles), err)
	}
	g, err := s.ClientGrants(ctx, c.ClientID)
	if err != nil || len(g.Roles) != 0 || len(g.Permissions) != 0 {
		t.Errorf("ClientGrants after DeleteRole = %+v, %v, want none", g, err)
	}
	ds, err := s.ListDepartments(ctx)
	if err != nil || len(ds) != 1 || !slices.Equal(ds[0].AllowedRoles, []string{"Keeper"}) {
		t.Errorf("ListDepartments after DeleteRole = %+v, %v, want INVENTORY [Keeper]", ds, err)
	}
	_, err = s.DepartmentsAllowing(ctx, role.ID)
	is(t, "DepartmentsAllowing(deleted role)", err, storage.ErrNotFound)
	is(t, "UnassignUserRole(deleted role)", s.UnassignUserRole(ctx, u.ID, role.ID), storage.ErrNotFound)
	is(t, "UnassignClientRole(deleted role)", s.UnassignClientRole(ctx, c.ClientID, role.ID), storage.ErrNotFound)
	ps, err := s.ListPermissions(ctx)
	if err != nil || len(ps) != 1 {
		t.Errorf("ListPermissions after DeleteRole = %+v, %v, want inventory.read kept", ps, err)
	}
}

func testDepartmentsCRUD(t *testing.T, s storage.Store) {
	ctx := t.Context()
	ds, err := s.ListDepartments(ctx)
	if err != nil || ds == nil || len(ds) != 0 {
		t.Errorf("ListDepartments on an empty store = %#v, %v, want []", ds, err)
	}
	sec := mkDepartment(t, s, "SECURITY")
	mkDepartment(t, s, "INVENTORY")
	plat := mkDepartment(t, s, "PLATFORM")
	is(t, "CreateDepartment(SECURITY) again", s.CreateDepartment(ctx, &storage.Department{Code: "SECURITY"}), storage.ErrConflict)

	got, err := s.GetDepartmentByCode(ctx, "SECURITY")
	if err != nil || got.ID != sec.ID || got.Code != "SECURITY" || got.Name != sec.Name {
		t.Errorf("GetDepartmentByCode(SECURITY) = %+v, %v, want %+v", got, err, sec)
	}
	_, err = s.GetDepartmentByCode(ctx, "FINANCE")
	is(t, "GetDepartmentByCode(FINANCE)", err, storage.ErrNotFound)

	ds, err = s.ListDepartments(ctx)
	ok(t, "ListDepartments", err)
	if cs := codes(ds); !slices.Equal(cs, []string{"INVENTORY", "PLATFORM", "SECURITY"}) {
		t.Errorf("ListDepartments = %v, want [INVENTORY PLATFORM SECURITY]", cs)
	}
	for _, d := range ds {
		if d.AllowedRoles == nil || len(d.AllowedRoles) != 0 {
			t.Errorf("ListDepartments: %s has AllowedRoles %#v, want []", d.Code, d.AllowedRoles)
		}
	}

	sec.Name = "Security and compliance"
	ok(t, "UpdateDepartment", s.UpdateDepartment(ctx, sec))
	got, err = s.GetDepartmentByCode(ctx, "SECURITY")
	if err != nil || got.Name != sec.Name {
		t.Errorf("GetDepartmentByCode(SECURITY) after UpdateDepartment = %+v, %v, want name %q", got, err, sec.Name)
	}
	is(t, "UpdateDepartment to code PLATFORM",
		s.UpdateDepartment(ctx, &storage.Department{ID: sec.ID, Code: "PLATFORM"}), storage.ErrConflict)
	is(t, "UpdateDepartment(unknown)",
		s.UpdateDepartment(ctx, &storage.Department{ID: uuid.NewString(), Code: "X"}), storage.ErrNotFound)

	ok(t, "DeleteDepartment", s.DeleteDepartment(ctx, plat.ID))
	is(t, "DeleteDepartment again", s.DeleteDepartment(ctx, plat.ID), storage.ErrNotFound)
	_, err = s.GetDepartmentByCode(ctx, "PLATFORM")
	is(t, "GetDepartmentByCode after DeleteDepartment", err, storage.ErrNotFound)
}

func testDepartmentSetRoles(t *testing.T, s storage.Store) {
	ctx := t.Context()
	viewer, admin, auditor := mkRole(t, s, "Viewer"), mkRole(t, s, "Admin"), mkRole(t, s, "auditor")
	plat, inv := mkDepartment(t, s, "PLATFORM"), mkDepartment(t, s, "INVENTORY")

	ok(t, "SetDepartmentRoles(PLATFORM)", s.SetDepartmentRoles(ctx, plat.ID, roleIDs(viewer, auditor, admin)))
	ok(t, "SetDepartmentRoles(INVENTORY)", s.SetDepartmentRoles(ctx, inv.ID, roleIDs(viewer)))
	allowed := func() map[string][]string {
		t.Helper()
		ds, err := s.ListDepartments(ctx)
		ok(t, "ListDepartments", err)
		m := map[string][]string{}
		for _, d := range ds {
			m[d.Code] = d.AllowedRoles
		}
		return m
	}
	m := allowed()
	nonNilEqual(t, "PLATFORM allows", m["PLATFORM"], []string{"Admin", "Viewer", "auditor"})
	nonNilEqual(t, "INVENTORY allows", m["INVENTORY"], []string{"Viewer"})

	allowing := func(r *storage.Role, want ...string) {
		t.Helper()
		ds, err := s.DepartmentsAllowing(ctx, r.ID)
		if err != nil || ds == nil || !slices.Equal(codes(ds), want) {
			t.Errorf("DepartmentsAllowing(%s) = %v, %v, want %v", r.Name, codes(ds), err, want)
		}
	}
	allowing(viewer, "INVENTORY", "PLATFORM")
	allowing(admin, "PLATFORM")

	ok(t, "SetDepartmentRoles(PLATFORM, [Admin])", s.SetDepartmentRoles(ctx, plat.ID, roleIDs(admin)))
	allowing(viewer, "INVENTORY")
	allowing(auditor)
	nonNilEqual(t, "PLATFORM allows", allowed()["PLATFORM"], []string{"Admin"})

	is(t, "SetDepartmentRoles with an unknown role",
		s.SetDepartmentRoles(ctx, plat.ID, []string{viewer.ID, uuid.NewString()}), storage.ErrConflict)
	nonNilEqual(t, "PLATFORM allows after the failed set", allowed()["PLATFORM"], []string{"Admin"})
	is(t, "SetDepartmentRoles(unknown department)",
		s.SetDepartmentRoles(ctx, uuid.NewString(), roleIDs(viewer)), storage.ErrNotFound)
	_, err := s.DepartmentsAllowing(ctx, uuid.NewString())
	is(t, "DepartmentsAllowing(unknown role)", err, storage.ErrNotFound)

	ok(t, "SetDepartmentRoles(INVENTORY, none)", s.SetDepartmentRoles(ctx, inv.ID, nil))
	nonNilEqual(t, "INVENTORY allows", allowed()["INVENTORY"], []string{})
}

func testDepartmentDeleteCascades(t *testing.T, s storage.Store) {
	ctx := t.Context()
	role := mkRole(t, s, "Viewer")
	inv, plat := mkDepartment(t, s, "INVENTORY", role), mkDepartment(t, s, "PLATFORM", role)
	u := mkUser(t, s, "alice")
	ok(t, "AddUserDepartment(INVENTORY)", s.AddUserDepartment(ctx, u.ID, inv.ID))
	ok(t, "AddUserDepartment(PLATFORM)", s.AddUserDepartment(ctx, u.ID, plat.ID))

	ok(t, "DeleteDepartment", s.DeleteDepartment(ctx, inv.ID))
	ds, err := s.UserDepartments(ctx, u.ID)
	if err != nil || !slices.Equal(codes(ds), []string{"PLATFORM"}) {
		t.Errorf("UserDepartments after DeleteDepartment = %v, %v, want [PLATFORM]", codes(ds), err)
	}
	ds, err = s.DepartmentsAllowing(ctx, role.ID)
	if err != nil || !slices.Equal(codes(ds), []string{"PLATFORM"}) {
		t.Errorf("DepartmentsAllowing after DeleteDepartment = %v, %v, want [PLATFORM]", codes(ds), err)
	}
	is(t, "RemoveUserDepartment(deleted)", s.RemoveUserDepartment(ctx, u.ID, inv.ID), storage.ErrNotFound)
}
