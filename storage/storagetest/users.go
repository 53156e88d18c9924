package storagetest

import (
	"context"
	"errors"
	"fmt"
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
	{"UsernameConfusable", testUserUsernameConfusable},
	{"NotFound", testUserNotFound},
	{"Update", testUserUpdate},
	{"UpdateAbort", testUserUpdateAbort},
	{"UpdateIDImmutable", testUserUpdateIDImmutable},
	{"UpdateUsernameConflict", testUserUpdateUsernameConflict},
	{"DeleteCascades", testUserDeleteCascades},
	{"ListOrder", testUserListOrder},
	{"ListPrefix", testUserListPrefix},
	{"ListPages", testUserListPages},
	{"ListFilters", testUserListFilters},
	{"ListLimit", testUserListLimit},
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

// testUserUsernameConfusable: a username whose UTS #39 skeleton is that
// of a stored one is ErrConfusable (and ErrConflict), at creation and at
// a rename; the same username again is only ErrConflict. A refused create
// leaves the transaction it ran in usable.
func testUserUsernameConfusable(t *testing.T, s storage.Store) {
	ctx := t.Context()
	mike := mkUser(t, s, "mike")
	mkUser(t, s, "ace")
	for _, name := range []string{"rnike", "асе"} { // r n for m; Cyrillic а с е
		err := s.CreateUser(ctx, &storage.User{Username: name})
		is(t, "CreateUser("+name+")", err, storage.ErrConfusable)
		is(t, "CreateUser("+name+")", err, storage.ErrConflict)
	}
	if err := s.CreateUser(ctx, &storage.User{Username: "MIKE"}); !errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrConfusable) {
		t.Errorf("CreateUser(MIKE) = %v, want ErrConflict, not ErrConfusable", err)
	}

	// Refused in a transaction, which goes on and commits.
	var bob storage.User
	ok(t, "InTx", s.InTx(ctx, func(ctx context.Context) error {
		is(t, "CreateUser(rnike) in a transaction", s.CreateUser(ctx, &storage.User{Username: "rnike"}), storage.ErrConfusable)
		bob = storage.User{Username: "bob"}
		return s.CreateUser(ctx, &bob)
	}))
	if _, err := s.GetUser(ctx, bob.ID); err != nil {
		t.Errorf("GetUser(bob) after the transaction = %v, want bob stored", err)
	}

	// A rename keeps the skeleton with the name.
	_, err := s.UpdateUser(ctx, bob.ID, func(u *storage.User) error { u.Username = "rnike"; return nil })
	is(t, "UpdateUser renaming bob to rnike", err, storage.ErrConflict)
	_, err = s.UpdateUser(ctx, mike.ID, func(u *storage.User) error { u.Username = "michael"; return nil })
	ok(t, "UpdateUser renaming mike to michael", err)
	ok(t, "CreateUser(rnike) once mike is renamed", s.CreateUser(ctx, &storage.User{Username: "rnike"}))
	is(t, "CreateUser(rnichael)", s.CreateUser(ctx, &storage.User{Username: "rnichael"}), storage.ErrConfusable)
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

// listUsernames lists the usernames ListUsers answers for f; it fails t on
// an error or a nil slice.
func listUsernames(t *testing.T, s storage.Store, f storage.UserFilter) []string {
	t.Helper()
	us, err := s.ListUsers(t.Context(), f)
	if err != nil {
		t.Fatalf("ListUsers(%+v): %v", f, err)
	}
	if us == nil {
		t.Fatalf("ListUsers(%+v) = nil, want a non-nil slice", f)
	}
	names := make([]string, len(us))
	for i, u := range us {
		names[i] = u.Username
	}
	return names
}

// orderedNames are usernames whose byte-wise order differs from the order
// of a linguistic collation, which ignores punctuation and case at first
// and sorts 'é' next to 'e'.
var orderedNames = []string{
	"a", "a%", "a%b", "a-b", "a.b", "a_b", "aZ", "aa", "ab", "b", "e", "f", "z", "Zed", "é", "éa", "€", "😀",
}

func testUserListOrder(t *testing.T, s storage.Store) {
	byName := map[string]*storage.User{}
	for _, name := range orderedNames {
		byName[name] = mkUser(t, s, name)
	}
	want := slices.Sorted(slices.Values(orderedNames)) // Go compares strings byte-wise
	if got := listUsernames(t, s, storage.UserFilter{}); !slices.Equal(got, want) {
		t.Errorf("ListUsers() = %q, want %q", got, want)
	}
	us, err := s.ListUsers(t.Context(), storage.UserFilter{})
	ok(t, "ListUsers", err)
	for _, u := range us {
		if w := byName[u.Username]; w == nil || !sameUser(&u, w) {
			t.Errorf("ListUsers listed %+v, want %+v", u, w)
		}
	}
}

func testUserListPrefix(t *testing.T, s storage.Store) {
	for _, name := range orderedNames {
		mkUser(t, s, name)
	}
	mkUser(t, s, "a%%") // a '%' that LIKE 'a%%' would not require
	// Where the end of a prefix's range is not its last byte plus one.
	for _, name := range []string{"x\U0010FFFF!", "y", "\uD7FFa", "\uE000"} {
		mkUser(t, s, name)
	}
	for _, c := range []struct {
		prefix string
		want   []string
	}{
		{"", nil}, // everything
		{"a", []string{"a", "a%", "a%%", "a%b", "a-b", "a.b", "aZ", "a_b", "aa", "ab"}},
		{"a%", []string{"a%", "a%%", "a%b"}}, // not everything starting with a
		{"a%%", []string{"a%%"}},
		{"a_", []string{"a_b"}}, // not aa, ab
		{"a_b", []string{"a_b"}},
		{"ab", []string{"ab"}},
		{"abc", []string{}},
		{"A", []string{}}, // byte-wise: no case folding
		{"Z", []string{"Zed"}},
		{"é", []string{"é", "éa"}},
		{"e", []string{"e"}},
		{"😀", []string{"😀"}},
		{"%", []string{}},
		{"_", []string{}},
		{"\U0010FFFF", []string{}},                // no string after it to bound the range
		{"x\U0010FFFF", []string{"x\U0010FFFF!"}}, // up to y
		{"x", []string{"x\U0010FFFF!"}},
		{"\uD7FF", []string{"\uD7FFa"}}, // up to U+E000: UTF-8 has no surrogates
	} {
		want := c.want
		if want == nil {
			want = listUsernames(t, s, storage.UserFilter{})
		}
		got := listUsernames(t, s, storage.UserFilter{UsernamePrefix: c.prefix})
		if !slices.Equal(got, want) {
			t.Errorf("ListUsers(UsernamePrefix %q) = %q, want %q", c.prefix, got, want)
		}
	}
}

func testUserListPages(t *testing.T, s storage.Store) {
	for _, name := range orderedNames {
		mkUser(t, s, name)
	}
	for _, f := range []storage.UserFilter{
		{Limit: 1},
		{Limit: 4},
		{Limit: len(orderedNames)},
		{Limit: 3, UsernamePrefix: "a"},
	} {
		all := listUsernames(t, s, storage.UserFilter{UsernamePrefix: f.UsernamePrefix, Limit: storage.MaxListLimit})
		var got []string
		for page := 0; page <= len(all); page++ {
			names := listUsernames(t, s, f)
			if len(names) > f.Limit {
				t.Fatalf("ListUsers(%+v) listed %d, want at most %d", f, len(names), f.Limit)
			}
			got = append(got, names...)
			if len(names) < f.Limit {
				break
			}
			f.After = names[len(names)-1]
		}
		if !slices.Equal(got, all) {
			t.Errorf("ListUsers in pages of %d from %q = %q, want %q", f.Limit, f.UsernamePrefix, got, all)
		}
	}
	// The cursor need not be a username.
	got := listUsernames(t, s, storage.UserFilter{After: "a.", Limit: 2})
	if want := []string{"a.b", "aZ"}; !slices.Equal(got, want) {
		t.Errorf("ListUsers(After a.) = %q, want %q", got, want)
	}
	got = listUsernames(t, s, storage.UserFilter{After: "😀"})
	if len(got) != 0 {
		t.Errorf("ListUsers(After the last) = %q, want []", got)
	}
}

func testUserListFilters(t *testing.T, s storage.Store) {
	ctx := t.Context()
	viewer, admin := mkRole(t, s, "Viewer"), mkRole(t, s, "Admin")
	inv, plat := mkDepartment(t, s, "INVENTORY", viewer, admin), mkDepartment(t, s, "PLATFORM", admin)
	mkDepartment(t, s, "EMPTY")
	users := map[string]*storage.User{}
	for _, name := range []string{"alice", "amy", "bob", "carol", "dave"} {
		users[name] = mkUser(t, s, name)
	}
	_, err := s.UpdateUser(ctx, users["amy"].ID, func(u *storage.User) error { u.Active = false; return nil })
	ok(t, "UpdateUser(amy)", err)
	_, err = s.UpdateUser(ctx, users["carol"].ID, func(u *storage.User) error { u.Active = false; return nil })
	ok(t, "UpdateUser(carol)", err)
	for _, m := range []struct {
		user string
		dept *storage.Department
		role *storage.Role
	}{
		{"alice", inv, viewer},
		{"alice", plat, admin},
		{"amy", inv, viewer},
		{"bob", plat, nil},
		{"carol", inv, admin},
	} {
		ok(t, "AddUserDepartment("+m.user+", "+m.dept.Code+")", s.AddUserDepartment(ctx, users[m.user].ID, m.dept.ID))
		if m.role != nil {
			ok(t, "AssignUserRole("+m.user+", "+m.role.Name+")", s.AssignUserRole(ctx, users[m.user].ID, m.role.ID))
		}
	}
	yes, no := true, false
	for _, c := range []struct {
		name string
		f    storage.UserFilter
		want []string
	}{
		{"all", storage.UserFilter{}, []string{"alice", "amy", "bob", "carol", "dave"}},
		{"department", storage.UserFilter{Department: "INVENTORY"}, []string{"alice", "amy", "carol"}},
		{"other department", storage.UserFilter{Department: "PLATFORM"}, []string{"alice", "bob"}},
		{"empty department", storage.UserFilter{Department: "EMPTY"}, []string{}},
		{"unknown department", storage.UserFilter{Department: "NOPE"}, []string{}},
		{"department code is exact", storage.UserFilter{Department: "inventory"}, []string{}},
		{"role", storage.UserFilter{Role: "Viewer"}, []string{"alice", "amy"}},
		{"other role", storage.UserFilter{Role: "Admin"}, []string{"alice", "carol"}},
		{"unknown role", storage.UserFilter{Role: "Nope"}, []string{}},
		{"active", storage.UserFilter{Active: &yes}, []string{"alice", "bob", "dave"}},
		{"inactive", storage.UserFilter{Active: &no}, []string{"amy", "carol"}},
		{"department and role", storage.UserFilter{Department: "INVENTORY", Role: "Admin"}, []string{"alice", "carol"}},
		{"department and active", storage.UserFilter{Department: "INVENTORY", Active: &yes}, []string{"alice"}},
		{"role and inactive", storage.UserFilter{Role: "Viewer", Active: &no}, []string{"amy"}},
		{"prefix and department", storage.UserFilter{UsernamePrefix: "a", Department: "INVENTORY"}, []string{"alice", "amy"}},
		{"prefix and role and active", storage.UserFilter{UsernamePrefix: "a", Role: "Viewer", Active: &yes}, []string{"alice"}},
		{"department after", storage.UserFilter{Department: "INVENTORY", After: "alice"}, []string{"amy", "carol"}},
		{"everything", storage.UserFilter{UsernamePrefix: "a", Department: "INVENTORY", Role: "Viewer", Active: &no, After: "a", Limit: 1}, []string{"amy"}},
		{"limit", storage.UserFilter{Department: "INVENTORY", Limit: 2}, []string{"alice", "amy"}},
	} {
		if got := listUsernames(t, s, c.f); !slices.Equal(got, c.want) {
			t.Errorf("ListUsers(%s: %+v) = %q, want %q", c.name, c.f, got, c.want)
		}
	}
}

func testUserListLimit(t *testing.T, s storage.Store) {
	ctx := t.Context()
	var want []string
	ok(t, "InTx", s.InTx(ctx, func(ctx context.Context) error {
		for i := range storage.DefaultListLimit + 5 {
			u := &storage.User{Username: fmt.Sprintf("user%03d", i)}
			if err := s.CreateUser(ctx, u); err != nil {
				return err
			}
			want = append(want, u.Username)
		}
		return nil
	}))
	if got := listUsernames(t, s, storage.UserFilter{}); !slices.Equal(got, want[:storage.DefaultListLimit]) {
		t.Errorf("ListUsers() = %d users, want the first %d", len(got), storage.DefaultListLimit)
	}
	if got := listUsernames(t, s, storage.UserFilter{Limit: storage.MaxListLimit}); !slices.Equal(got, want) {
		t.Errorf("ListUsers(Limit MaxListLimit) = %d users, want all %d", len(got), len(want))
	}
	for _, f := range []storage.UserFilter{
		{Limit: storage.MaxListLimit + 1},
		{Limit: -1},
		{UsernamePrefix: "user\xff"},
		{UsernamePrefix: "user\x00"},
		{After: "\xc3"},
		{Department: "\x00"},
		{Role: "\xff"},
	} {
		us, err := s.ListUsers(ctx, f)
		is(t, fmt.Sprintf("ListUsers(%+v)", f), err, storage.ErrInvalid)
		if us != nil {
			t.Errorf("ListUsers(%+v) = %d users, want nil", f, len(us))
		}
	}
}
