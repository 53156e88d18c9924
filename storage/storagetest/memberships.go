package storagetest

import (
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/gaia-platform/iam/storage"
)

var membershipsCases = []testCase{
	{"Departments", testMembershipDepartments},
	{"Roles", testMembershipRoles},
	{"Grants", testUserGrants},
}

func testMembershipDepartments(t *testing.T, s storage.Store) {
	ctx := t.Context()
	u := mkUser(t, s, "alice")
	plat, inv := mkDepartment(t, s, "PLATFORM"), mkDepartment(t, s, "INVENTORY")

	ds, err := s.UserDepartments(ctx, u.ID)
	if err != nil || ds == nil || len(ds) != 0 {
		t.Errorf("UserDepartments of a new user = %#v, %v, want []", ds, err)
	}
	ok(t, "AddUserDepartment(PLATFORM)", s.AddUserDepartment(ctx, u.ID, plat.ID))
	ok(t, "AddUserDepartment(INVENTORY)", s.AddUserDepartment(ctx, u.ID, inv.ID))
	is(t, "AddUserDepartment(PLATFORM) again", s.AddUserDepartment(ctx, u.ID, plat.ID), storage.ErrConflict)
	is(t, "AddUserDepartment(unknown user)", s.AddUserDepartment(ctx, uuid.NewString(), plat.ID), storage.ErrConflict)
	is(t, "AddUserDepartment(unknown department)", s.AddUserDepartment(ctx, u.ID, uuid.NewString()), storage.ErrConflict)
	is(t, "AddUserDepartment(not-a-uuid)", s.AddUserDepartment(ctx, "not-a-uuid", plat.ID), storage.ErrConflict)

	ds, err = s.UserDepartments(ctx, u.ID)
	if err != nil || !slices.Equal(codes(ds), []string{"INVENTORY", "PLATFORM"}) {
		t.Errorf("UserDepartments = %v, %v, want [INVENTORY PLATFORM]", codes(ds), err)
	}
	if len(ds) == 2 && (ds[0].ID != inv.ID || ds[0].Name != inv.Name) {
		t.Errorf("UserDepartments[0] = %+v, want %+v", ds[0], *inv)
	}

	ok(t, "RemoveUserDepartment(INVENTORY)", s.RemoveUserDepartment(ctx, u.ID, inv.ID))
	is(t, "RemoveUserDepartment(INVENTORY) again", s.RemoveUserDepartment(ctx, u.ID, inv.ID), storage.ErrNotFound)
	is(t, "RemoveUserDepartment(unknown user)", s.RemoveUserDepartment(ctx, uuid.NewString(), plat.ID), storage.ErrNotFound)
	is(t, "RemoveUserDepartment(not-a-uuid)", s.RemoveUserDepartment(ctx, u.ID, "not-a-uuid"), storage.ErrNotFound)
	ds, err = s.UserDepartments(ctx, u.ID)
	if err != nil || !slices.Equal(codes(ds), []string{"PLATFORM"}) {
		t.Errorf("UserDepartments after RemoveUserDepartment = %v, %v, want [PLATFORM]", codes(ds), err)
	}

	_, err = s.UserDepartments(ctx, uuid.NewString())
	is(t, "UserDepartments(unknown user)", err, storage.ErrNotFound)
	_, err = s.UserDepartments(ctx, "not-a-uuid")
	is(t, "UserDepartments(not-a-uuid)", err, storage.ErrNotFound)
}

func testMembershipRoles(t *testing.T, s storage.Store) {
	ctx := t.Context()
	u := mkUser(t, s, "alice")
	viewer, admin := mkRole(t, s, "Viewer"), mkRole(t, s, "Admin")

	rs, err := s.UserRoles(ctx, u.ID)
	if err != nil || rs == nil || len(rs) != 0 {
		t.Errorf("UserRoles of a new user = %#v, %v, want []", rs, err)
	}
	ok(t, "AssignUserRole(Viewer)", s.AssignUserRole(ctx, u.ID, viewer.ID))
	ok(t, "AssignUserRole(Admin)", s.AssignUserRole(ctx, u.ID, admin.ID))
	is(t, "AssignUserRole(Viewer) again", s.AssignUserRole(ctx, u.ID, viewer.ID), storage.ErrConflict)
	is(t, "AssignUserRole(unknown user)", s.AssignUserRole(ctx, uuid.NewString(), viewer.ID), storage.ErrConflict)
	is(t, "AssignUserRole(unknown role)", s.AssignUserRole(ctx, u.ID, uuid.NewString()), storage.ErrConflict)
	is(t, "AssignUserRole(not-a-uuid)", s.AssignUserRole(ctx, u.ID, "not-a-uuid"), storage.ErrConflict)

	rs, err = s.UserRoles(ctx, u.ID)
	if err != nil || !slices.Equal(roleNames(rs), []string{"Admin", "Viewer"}) {
		t.Errorf("UserRoles = %v, %v, want [Admin Viewer]", roleNames(rs), err)
	}
	if len(rs) == 2 && (rs[0].ID != admin.ID || rs[0].Description != admin.Description) {
		t.Errorf("UserRoles[0] = %+v, want %+v", rs[0], *admin)
	}

	ok(t, "UnassignUserRole(Admin)", s.UnassignUserRole(ctx, u.ID, admin.ID))
	is(t, "UnassignUserRole(Admin) again", s.UnassignUserRole(ctx, u.ID, admin.ID), storage.ErrNotFound)
	is(t, "UnassignUserRole(unknown user)", s.UnassignUserRole(ctx, uuid.NewString(), viewer.ID), storage.ErrNotFound)
	rs, err = s.UserRoles(ctx, u.ID)
	if err != nil || !slices.Equal(roleNames(rs), []string{"Viewer"}) {
		t.Errorf("UserRoles after UnassignUserRole = %v, %v, want [Viewer]", roleNames(rs), err)
	}

	_, err = s.UserRoles(ctx, uuid.NewString())
	is(t, "UserRoles(unknown user)", err, storage.ErrNotFound)
}

func testUserGrants(t *testing.T, s storage.Store) {
	ctx := t.Context()
	p1, p2 := mkPermission(t, s, "inventory.write"), mkPermission(t, s, "analytics.view")
	p3, p4 := mkPermission(t, s, "inventory.read"), mkPermission(t, s, "iam.user.create")
	writer := mkRole(t, s, "InventoryWriter", p1, p3)
	viewer := mkRole(t, s, "InventoryViewer", p3, p2)
	empty := mkRole(t, s, "Empty")
	mkRole(t, s, "PlatformAdmin", p4)

	u := mkUser(t, s, "alice")
	for _, r := range []*storage.Role{writer, empty, viewer} {
		ok(t, "AssignUserRole("+r.Name+")", s.AssignUserRole(ctx, u.ID, r.ID))
	}
	g, err := s.UserGrants(ctx, u.ID)
	ok(t, "UserGrants", err)
	nonNilEqual(t, "UserGrants roles", g.Roles, []string{"Empty", "InventoryViewer", "InventoryWriter"})
	nonNilEqual(t, "UserGrants permissions", g.Permissions, []string{"analytics.view", "inventory.read", "inventory.write"})

	only := mkUser(t, s, "bob")
	ok(t, "AssignUserRole(Empty)", s.AssignUserRole(ctx, only.ID, empty.ID))
	g, err = s.UserGrants(ctx, only.ID)
	ok(t, "UserGrants(bob)", err)
	nonNilEqual(t, "UserGrants(bob) roles", g.Roles, []string{"Empty"})
	nonNilEqual(t, "UserGrants(bob) permissions", g.Permissions, []string{})

	none := mkUser(t, s, "carol")
	g, err = s.UserGrants(ctx, none.ID)
	ok(t, "UserGrants(carol)", err)
	nonNilEqual(t, "UserGrants(carol) roles", g.Roles, []string{})
	nonNilEqual(t, "UserGrants(carol) permissions", g.Permissions, []string{})

	_, err = s.UserGrants(ctx, uuid.NewString())
	is(t, "UserGrants(unknown user)", err, storage.ErrNotFound)
	_, err = s.UserGrants(ctx, "not-a-uuid")
	is(t, "UserGrants(not-a-uuid)", err, storage.ErrNotFound)

	// Grants follow changes to the roles' permissions.
	ok(t, "SetRolePermissions(InventoryWriter)", s.SetRolePermissions(ctx, writer.ID, permIDs(p4)))
	g, err = s.UserGrants(ctx, u.ID)
	ok(t, "UserGrants", err)
	nonNilEqual(t, "UserGrants permissions after SetRolePermissions", g.Permissions,
		[]string{"analytics.view", "iam.user.create", "inventory.read"})
}
