package storagetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gaia-platform/iam/storage"
)

var invalidTextCases = []testCase{
	{"Keys", testInvalidTextKeys},
	{"Records", testInvalidTextRecords},
}

// invalidTexts are strings no id, name or code can be: PostgreSQL's text
// refuses them, SQLite's would keep them, so a backend must refuse them
// itself, the same way on both, before any statement runs.
var invalidTexts = []string{"\xff", "\xc0\xae", "a\x00b", "0190f3a0-0000-7000-8000-00000000000\xff"}

// testInvalidTextKeys calls every method that takes an id, name or code
// from its caller with text that is not UTF-8 or holds a NUL: each must
// answer storage.ErrInvalid, never a driver error (a 500 upstream) nor
// storage.ErrNotFound. The other arguments name records that exist, so that
// only the bad one can be the reason.
func testInvalidTextKeys(t *testing.T, s storage.Store) {
	ctx := t.Context()
	u := mkUser(t, s, "alice")
	r := mkRole(t, s, "Viewer")
	d := mkDepartment(t, s, "INVENTORY", r)
	p := mkPermission(t, s, "inventory.read")
	c := mkClient(t, s, "svc")
	noop := func(*storage.User) error { return nil }
	soon := time.Now().Add(time.Hour)
	for _, bad := range invalidTexts {
		calls := map[string]func(ctx context.Context) error{
			"GetUser":             func(ctx context.Context) error { _, err := s.GetUser(ctx, bad); return err },
			"GetUserByUsername":   func(ctx context.Context) error { _, err := s.GetUserByUsername(ctx, bad); return err },
			"UpdateUser":          func(ctx context.Context) error { _, err := s.UpdateUser(ctx, bad, noop); return err },
			"DeleteUser":          func(ctx context.Context) error { return s.DeleteUser(ctx, bad) },
			"DeletePermission":    func(ctx context.Context) error { return s.DeletePermission(ctx, bad) },
			"UpdatePermission":    func(ctx context.Context) error { return s.UpdatePermission(ctx, &storage.Permission{ID: bad}) },
			"GetRoleByName":       func(ctx context.Context) error { _, err := s.GetRoleByName(ctx, bad); return err },
			"UpdateRole":          func(ctx context.Context) error { return s.UpdateRole(ctx, &storage.Role{ID: bad, Name: "X"}) },
			"DeleteRole":          func(ctx context.Context) error { return s.DeleteRole(ctx, bad) },
			"SetRolePermissions":  func(ctx context.Context) error { return s.SetRolePermissions(ctx, bad, []string{p.ID}) },
			"SetRolePermissions2": func(ctx context.Context) error { return s.SetRolePermissions(ctx, r.ID, []string{bad}) },
			"GetDepartmentByCode": func(ctx context.Context) error { _, err := s.GetDepartmentByCode(ctx, bad); return err },
			"UpdateDepartment": func(ctx context.Context) error {
				return s.UpdateDepartment(ctx, &storage.Department{ID: bad, Code: "X"})
			},
			"DeleteDepartment":     func(ctx context.Context) error { return s.DeleteDepartment(ctx, bad) },
			"SetDepartmentRoles":   func(ctx context.Context) error { return s.SetDepartmentRoles(ctx, bad, []string{r.ID}) },
			"SetDepartmentRoles2":  func(ctx context.Context) error { return s.SetDepartmentRoles(ctx, d.ID, []string{bad}) },
			"DepartmentsAllowing":  func(ctx context.Context) error { _, err := s.DepartmentsAllowing(ctx, bad); return err },
			"AddUserDepartment":    func(ctx context.Context) error { return s.AddUserDepartment(ctx, bad, d.ID) },
			"AddUserDepartment2":   func(ctx context.Context) error { return s.AddUserDepartment(ctx, u.ID, bad) },
			"RemoveUserDepartment": func(ctx context.Context) error { return s.RemoveUserDepartment(ctx, u.ID, bad) },
			"UserDepartments":      func(ctx context.Context) error { _, err := s.UserDepartments(ctx, bad); return err },
			"AssignUserRole":       func(ctx context.Context) error { return s.AssignUserRole(ctx, u.ID, bad) },
			"UnassignUserRole":     func(ctx context.Context) error { return s.UnassignUserRole(ctx, bad, r.ID) },
			"UserRoles":            func(ctx context.Context) error { _, err := s.UserRoles(ctx, bad); return err },
			"UserGrants":           func(ctx context.Context) error { _, err := s.UserGrants(ctx, bad); return err },
			"GetClient":            func(ctx context.Context) error { _, err := s.GetClient(ctx, bad); return err },
			"UpdateClient": func(ctx context.Context) error {
				_, err := s.UpdateClient(ctx, bad, func(*storage.Client) error { return nil })
				return err
			},
			"DeleteClient":           func(ctx context.Context) error { return s.DeleteClient(ctx, bad) },
			"AssignClientRole":       func(ctx context.Context) error { return s.AssignClientRole(ctx, bad, r.ID) },
			"AssignClientRole2":      func(ctx context.Context) error { return s.AssignClientRole(ctx, c.ClientID, bad) },
			"UnassignClientRole":     func(ctx context.Context) error { return s.UnassignClientRole(ctx, bad, r.ID) },
			"ClientGrants":           func(ctx context.Context) error { _, err := s.ClientGrants(ctx, bad); return err },
			"GetRefreshToken":        func(ctx context.Context) error { _, _, err := s.GetRefreshToken(ctx, bad); return err },
			"DeactivateRefreshToken": func(ctx context.Context) error { return s.DeactivateRefreshToken(ctx, bad) },
			"GetTokenFamily":         func(ctx context.Context) error { _, err := s.GetTokenFamily(ctx, bad); return err },
			"RevokeTokenFamily":      func(ctx context.Context) error { return s.RevokeTokenFamily(ctx, bad, time.Time{}) },
			"RevokeSubjectTokens": func(ctx context.Context) error {
				_, err := s.RevokeSubjectTokens(ctx, bad, time.Time{})
				return err
			},
			"RevokeClientTokens": func(ctx context.Context) error {
				_, err := s.RevokeClientTokens(ctx, bad, time.Time{})
				return err
			},
			"RevokeAccessToken":  func(ctx context.Context) error { return s.RevokeAccessToken(ctx, bad, soon) },
			"AccessTokenRevoked": func(ctx context.Context) error { _, err := s.AccessTokenRevoked(ctx, bad); return err },
			"RetireSigningKeys":  func(ctx context.Context) error { return s.RetireSigningKeys(ctx, bad, time.Time{}) },
		}
		for name, call := range calls {
			is(t, fmt.Sprintf("%s(%q)", name, bad), call(ctx), storage.ErrInvalid)
			// Inside a transaction too, which must stay usable: the
			// check runs before any statement could abort it.
			err := s.InTx(ctx, func(ctx context.Context) error {
				is(t, fmt.Sprintf("%s(%q) in a transaction", name, bad), call(ctx), storage.ErrInvalid)
				_, err := s.GetUser(ctx, u.ID)
				return err
			})
			ok(t, fmt.Sprintf("InTx around %s(%q)", name, bad), err)
		}
	}
}

// testInvalidTextRecords creates and updates records whose text is not
// UTF-8 or holds a NUL: storage.ErrInvalid, and nothing stored.
func testInvalidTextRecords(t *testing.T, s storage.Store) {
	ctx := t.Context()
	u := mkUser(t, s, "alice")
	for _, bad := range invalidTexts {
		is(t, fmt.Sprintf("CreateUser(%q)", bad), s.CreateUser(ctx, &storage.User{Username: bad}), storage.ErrInvalid)
		_, err := s.UpdateUser(ctx, u.ID, func(u *storage.User) error { u.Email = bad; return nil })
		is(t, fmt.Sprintf("UpdateUser(email %q)", bad), err, storage.ErrInvalid)
		is(t, fmt.Sprintf("CreateRole(%q)", bad), s.CreateRole(ctx, &storage.Role{Name: bad}), storage.ErrInvalid)
		is(t, fmt.Sprintf("CreatePermission(%q)", bad), s.CreatePermission(ctx, &storage.Permission{Name: "p", Description: bad}), storage.ErrInvalid)
		is(t, fmt.Sprintf("CreateDepartment(%q)", bad), s.CreateDepartment(ctx, &storage.Department{Code: bad}), storage.ErrInvalid)
		c := &storage.Client{ClientID: "c", Name: "c", SecretHash: "h", Scopes: []string{bad}, Active: true}
		is(t, fmt.Sprintf("CreateClient(scope %q)", bad), s.CreateClient(ctx, c), storage.ErrInvalid)
	}
	got, err := s.GetUser(ctx, u.ID)
	if err != nil || got.Email != u.Email {
		t.Errorf("GetUser after refused updates = %+v, %v, want %+v", got, err, u)
	}
	for what, n := range map[string]func() (int, error){
		"ListRoles":       func() (int, error) { l, err := s.ListRoles(ctx); return len(l), err },
		"ListPermissions": func() (int, error) { l, err := s.ListPermissions(ctx); return len(l), err },
		"ListDepartments": func() (int, error) { l, err := s.ListDepartments(ctx); return len(l), err },
		"ListClients":     func() (int, error) { l, err := s.ListClients(ctx); return len(l), err },
	} {
		if got, err := n(); err != nil || got != 0 {
			t.Errorf("%s after refused creates = %d records, %v, want none", what, got, err)
		}
	}
}
