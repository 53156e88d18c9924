package storagetest

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gaia-platform/iam/storage"
)

var usersCases = []testCase{
	{"CreateGet", testUserCreateGet},
	{"ExplicitIDAndTimes", testUserExplicitIDAndTimes},
	{"UsernameConflict", testUserUsernameConflict},
	{"NotFound", testUserNotFound},
	{"Update", testUserUpdate},
	{"UpdateAbort", testUserUpdateAbort},
	{"UpdateIDImmutable", testUserUpdateIDImmutable},
	{"UpdateUsernameConflict", testUserUpdateUsernameConflict},
	{"DeleteCascades", testUserDeleteCascades},
}

func testUserCreateGet(t *testing.T, s storage.Store) {
	ctx := t.Context()
	u := &storage.User{Username: "alice", Email: "alice@example.com", PasswordHash: "$argon2id$x", Active: true}
	ok(t, "CreateUser", s.CreateUser(ctx, u))
	if id, err := uuid.Parse(u.ID); err != nil || id.Version() != 7 || id.String() != u.ID {
		t.Errorf("CreateUser assigned ID %q, want a canonical UUIDv7", u.ID)
	}
	if u.CreatedAt.IsZero() || !u.UpdatedAt.Equal(u.CreatedAt) {
		t.Errorf("CreateUser set CreatedAt %v, UpdatedAt %v, want both now", u.CreatedAt, u.UpdatedAt)
	}
	if u.CreatedAt.Location() != time.UTC || u.CreatedAt.Nanosecond()%1000 != 0 {
		t.Errorf("CreateUser set CreatedAt %v, want UTC at microsecond precision", u.CreatedAt)
	}
	if d := time.Since(u.CreatedAt); d < 0 || d > time.Minute {
		t.Errorf("CreateUser set CreatedAt %v, %v from now", u.CreatedAt, d)
	}

	got, err := s.GetUser(ctx, u.ID)
	ok(t, "GetUser", err)
	if !sameUser(got, u) {
		t.Errorf("GetUser = %+v, want %+v", got, u)
	}
	for _, name := range []string{"alice", "ALICE", "Alice"} {
		got, err := s.GetUserByUsername(ctx, name)
		if err != nil || !sameUser(got, u) {
			t.Errorf("GetUserByUsername(%q) = %+v, %v, want %+v", name, got, err, u)
		}
	}

	inactive := &storage.User{Username: "bob"}
	ok(t, "CreateUser(bob)", s.CreateUser(ctx, inactive))
	got, err = s.GetUser(ctx, inactive.ID)
	ok(t, "GetUser(bob)", err)
	if !sameUser(got, inactive) || got.Active || got.Email != "" || got.PasswordHash != "" {
		t.Errorf("GetUser(bob) = %+v, want %+v", got, inactive)
	}
}

func testUserExplicitIDAndTimes(t *testing.T, s storage.Store) {
	ctx := t.Context()
	id := uuid.NewString()
	created := time.Date(2024, 2, 29, 23, 59, 58, 123456789, time.FixedZone("CET", 3600))
	updated := created.Add(time.Hour)
	u := &storage.User{ID: strings.ToUpper(id), Username: "carol", CreatedAt: created, UpdatedAt: updated}
	ok(t, "CreateUser", s.CreateUser(ctx, u))
	want := &storage.User{
		ID:        id,
		Username:  "carol",
		CreatedAt: time.Date(2024, 2, 29, 22, 59, 58, 123456000, time.UTC),
		UpdatedAt: time.Date(2024, 2, 29, 23, 59, 58, 123456000, time.UTC),
	}
	if !sameUser(u, want) {
		t.Errorf("CreateUser left %+v, want %+v", u, want)
	}
	for _, key := range []string{id, strings.ToUpper(id)} {
		got, err := s.GetUser(ctx, key)
		if err != nil || !sameUser(got, want) {
			t.Errorf("GetUser(%q) = %+v, %v, want %+v", key, got, err, want)
		}
	}

	err := s.CreateUser(ctx, &storage.User{ID: id, Username: "dave"})
	is(t, "CreateUser(dave) with carol's ID", err, storage.ErrConflict)
	if err := s.CreateUser(ctx, &storage.User{ID: "not-a-uuid", Username: "erin"}); err == nil {
		t.Errorf("CreateUser with ID %q = nil, want an error", "not-a-uuid")
	}
	_, err = s.GetUserByUsername(ctx, "erin")
	is(t, "GetUserByUsername(erin)", err, storage.ErrNotFound)
}

func testUserUsernameConflict(t *testing.T, s storage.Store) {
	ctx := t.Context()
	alice := mkUser(t, s, "Alice")
	for _, name := range []string{"Alice", "alice", "ALICE"} {
		u := &storage.User{Username: name}
		is(t, "CreateUser("+name+")", s.CreateUser(ctx, u), storage.ErrConflict)
	}
	got, err := s.GetUserByUsername(ctx, "alice")
	if err != nil || got.ID != alice.ID {
		t.Errorf("GetUserByUsername(alice) = %+v, %v, want %s", got, err, alice.ID)
	}
}

func testUserNotFound(t *testing.T, s storage.Store) {
	ctx := t.Context()
	mkUser(t, s, "alice")
	for _, id := range []string{uuid.NewString(), "not-a-uuid", ""} {
		_, err := s.GetUser(ctx, id)
		is(t, "GetUser("+id+")", err, storage.ErrNotFound)
		_, err = s.UpdateUser(ctx, id, func(*storage.User) error { return nil })
		is(t, "UpdateUser("+id+")", err, storage.ErrNotFound)
		is(t, "DeleteUser("+id+")", s.DeleteUser(ctx, id), storage.ErrNotFound)
	}
	for _, name := range []string{"bob", "alic", "alice%", ""} {
		_, err := s.GetUserByUsername(ctx, name)
		is(t, "GetUserByUsername("+name+")", err, storage.ErrNotFound)
	}
}

func testUserUpdate(t *testing.T, s storage.Store) {
	ctx := t.Context()
	u := mkUser(t, s, "alice")
	got, err := s.UpdateUser(ctx, u.ID, func(x *storage.User) error {
		if !sameUser(x, u) {
			t.Errorf("UpdateUser passed fn %+v, want %+v", x, u)
		}
		x.Username = "alice2"
		x.Email = "new@example.com"
		x.PasswordHash = ""
		x.Active = false
		x.CreatedAt = time.Unix(0, 0) // kept by the store
		return nil
	})
	ok(t, "UpdateUser", err)
	want := *u
	want.Username, want.Email, want.PasswordHash, want.Active = "alice2", "new@example.com", "", false
	want.UpdatedAt = got.UpdatedAt
	if !sameUser(got, &want) {
		t.Errorf("UpdateUser = %+v, want %+v", got, &want)
	}
	if got.UpdatedAt.Before(u.UpdatedAt) || got.UpdatedAt.Location() != time.UTC || got.UpdatedAt.Nanosecond()%1000 != 0 {
		t.Errorf("UpdateUser set UpdatedAt %v, want UTC µs not before %v", got.UpdatedAt, u.UpdatedAt)
	}
	stored, err := s.GetUser(ctx, u.ID)
	ok(t, "GetUser", err)
	if !sameUser(stored, got) {
		t.Errorf("GetUser after UpdateUser = %+v, want %+v", stored, got)
	}
	_, err = s.GetUserByUsername(ctx, "alice")
	is(t, "GetUserByUsername(alice) after rename", err, storage.ErrNotFound)
}

func testUserUpdateAbort(t *testing.T, s storage.Store) {
	ctx := t.Context()
	u := mkUser(t, s, "alice")
	errStop := errors.New("stop")
	got, err := s.UpdateUser(ctx, u.ID, func(x *storage.User) error {
		x.Email = "changed@example.com"
		x.Active = false
		return errStop
	})
	is(t, "UpdateUser with fn failing", err, errStop)
	if got != nil {
		t.Errorf("UpdateUser with fn failing returned %+v, want nil", got)
	}
	stored, err := s.GetUser(ctx, u.ID)
	ok(t, "GetUser", err)
	if !sameUser(stored, u) {
		t.Errorf("GetUser after aborted update = %+v, want %+v", stored, u)
	}
}

func testUserUpdateIDImmutable(t *testing.T, s storage.Store) {
	ctx := t.Context()
	u := mkUser(t, s, "alice")
	other := uuid.NewString()
	_, err := s.UpdateUser(ctx, u.ID, func(x *storage.User) error {
		x.ID = other
		x.Email = "changed@example.com"
		return nil
	})
	if err == nil {
		t.Errorf("UpdateUser changing the ID = nil, want an error")
	}
	stored, err := s.GetUser(ctx, u.ID)
	ok(t, "GetUser", err)
	if !sameUser(stored, u) {
		t.Errorf("GetUser after UpdateUser changing the ID = %+v, want %+v", stored, u)
	}
	_, err = s.GetUser(ctx, other)
	is(t, "GetUser(new ID)", err, storage.ErrNotFound)
}

func testUserUpdateUsernameConflict(t *testing.T, s storage.Store) {
	ctx := t.Context()
	mkUser(t, s, "alice")
	bob := mkUser(t, s, "bob")
	_, err := s.UpdateUser(ctx, bob.ID, func(x *storage.User) error {
		x.Username = "ALICE"
		return nil
	})
	is(t, "UpdateUser renaming bob to ALICE", err, storage.ErrConflict)
	stored, err := s.GetUser(ctx, bob.ID)
	ok(t, "GetUser(bob)", err)
	if !sameUser(stored, bob) {
		t.Errorf("GetUser(bob) = %+v, want %+v", stored, bob)
	}
}

func testUserDeleteCascades(t *testing.T, s storage.Store) {
	ctx := t.Context()
	role := mkRole(t, s, "Viewer", mkPermission(t, s, "inventory.read"))
	dept := mkDepartment(t, s, "INVENTORY", role)
	u := mkUser(t, s, "alice")
	ok(t, "AddUserDepartment", s.AddUserDepartment(ctx, u.ID, dept.ID))
	ok(t, "AssignUserRole", s.AssignUserRole(ctx, u.ID, role.ID))

	ok(t, "DeleteUser", s.DeleteUser(ctx, u.ID))
	_, err := s.GetUser(ctx, u.ID)
	is(t, "GetUser after DeleteUser", err, storage.ErrNotFound)
	is(t, "DeleteUser again", s.DeleteUser(ctx, u.ID), storage.ErrNotFound)
	_, err = s.UserGrants(ctx, u.ID)
	is(t, "UserGrants after DeleteUser", err, storage.ErrNotFound)
	// The rows are gone, not merely hidden behind the missing user.
	is(t, "RemoveUserDepartment after DeleteUser", s.RemoveUserDepartment(ctx, u.ID, dept.ID), storage.ErrNotFound)
	is(t, "UnassignUserRole after DeleteUser", s.UnassignUserRole(ctx, u.ID, role.ID), storage.ErrNotFound)

	if _, err := s.GetRoleByName(ctx, "Viewer"); err != nil {
		t.Errorf("GetRoleByName(Viewer) after DeleteUser: %v", err)
	}
	ds, err := s.DepartmentsAllowing(ctx, role.ID)
	if err != nil || !slices.Equal(codes(ds), []string{"INVENTORY"}) {
		t.Errorf("DepartmentsAllowing(Viewer) after DeleteUser = %v, %v, want [INVENTORY]", codes(ds), err)
	}
	again := mkUser(t, s, "alice")
	roles, err := s.UserRoles(ctx, again.ID)
	if err != nil || roles == nil || len(roles) != 0 {
		t.Errorf("UserRoles(new alice) = %v, %v, want []", roles, err)
	}
}
