// Package storagetest defines what a storage backend must do, as a suite of
// tests every backend runs (Run), and gives other packages' tests the
// backends to run against (Backends).
//
// A backend's test file is a few lines:
//
//	func TestStore(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) storage.Store { return storagetest.SQLite(t) })
//	}
package storagetest

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/gaia-platform/iam/storage"
)

// caseTimeout bounds each case of the suite; see PanicAfter.
const caseTimeout = time.Minute

type testCase struct {
	name string
	fn   func(t *testing.T, s storage.Store)
}

// Run runs the conformance suite: named subtests, grouped by aggregate,
// each on a fresh store from open. open must return an empty, migrated
// store and arrange for it to be closed when t ends.
func Run(t *testing.T, open func(t *testing.T) storage.Store) {
	groups := []struct {
		name  string
		cases []testCase
	}{
		{"Users", usersCases},
		{"Permissions", permissionsCases},
		{"Roles", rolesCases},
		{"Departments", departmentsCases},
		{"Memberships", membershipsCases},
		{"Clients", clientsCases},
		{"SigningKeys", signingKeysCases},
		{"Tokens", tokensCases},
		{"Audit", auditCases},
		{"Logins", loginsCases},
		{"Authorizations", authorizationsCases},
		{"InvalidText", invalidTextCases},
		{"Tx", txCases},
		{"Concurrency", concurrencyCases},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, c := range g.cases {
				t.Run(c.name, func(t *testing.T) {
					PanicAfter(t, caseTimeout)
					c.fn(t, open(t))
				})
			}
		})
	}
}

// PanicAfter makes the test binary panic, printing the stack of every
// goroutine, if t is still running after d: a deadlocked test then shows
// where everything is stuck, long before go test's own timeout.
func PanicAfter(t testing.TB, d time.Duration) {
	timer := time.AfterFunc(d, func() {
		buf := make([]byte, 1<<22)
		buf = buf[:runtime.Stack(buf, true)]
		panic(fmt.Sprintf("%s: still running after %v, deadlocked?\n\n%s", t.Name(), d, buf))
	})
	t.Cleanup(func() { timer.Stop() })
}

// is fails t unless errors.Is(err, want); what names the call.
func is(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s = %v, want %v", what, err, want)
	}
}

// ok fails t now if err is not nil.
func ok(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// nonNilEqual fails t unless got is non-nil and equal to want.
func nonNilEqual(t *testing.T, what string, got, want []string) {
	t.Helper()
	if got == nil || !slices.Equal(got, want) {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

func sameUser(a, b *storage.User) bool {
	return a.ID == b.ID && a.Username == b.Username && a.Email == b.Email &&
		a.PasswordHash == b.PasswordHash && a.Active == b.Active &&
		a.CreatedAt.Equal(b.CreatedAt) && a.UpdatedAt.Equal(b.UpdatedAt)
}

func sameClient(a, b *storage.Client) bool {
	return a.ID == b.ID && a.ClientID == b.ClientID && a.Name == b.Name &&
		a.SecretHash == b.SecretHash && a.Public == b.Public &&
		slices.Equal(a.GrantTypes, b.GrantTypes) && slices.Equal(a.Scopes, b.Scopes) &&
		slices.Equal(a.Audiences, b.Audiences) && a.Active == b.Active &&
		a.CreatedAt.Equal(b.CreatedAt) && a.UpdatedAt.Equal(b.UpdatedAt)
}

// Fixtures: each creates a record with the given identity and fails t on error.

func mkUser(t *testing.T, s storage.Store, username string) *storage.User {
	t.Helper()
	u := &storage.User{Username: username, Email: username + "@example.com", PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", Active: true}
	ok(t, fmt.Sprintf("CreateUser(%q)", username), s.CreateUser(t.Context(), u))
	return u
}

func mkPermission(t *testing.T, s storage.Store, name string) *storage.Permission {
	t.Helper()
	p := &storage.Permission{Name: name, Description: "may " + name}
	ok(t, fmt.Sprintf("CreatePermission(%q)", name), s.CreatePermission(t.Context(), p))
	return p
}

// mkRole creates a role holding perms.
func mkRole(t *testing.T, s storage.Store, name string, perms ...*storage.Permission) *storage.Role {
	t.Helper()
	r := &storage.Role{Name: name, Description: name + " role"}
	ok(t, fmt.Sprintf("CreateRole(%q)", name), s.CreateRole(t.Context(), r))
	if len(perms) > 0 {
		ok(t, fmt.Sprintf("SetRolePermissions(%q)", name), s.SetRolePermissions(t.Context(), r.ID, permIDs(perms...)))
	}
	return r
}

// mkDepartment creates a department allowing roles.
func mkDepartment(t *testing.T, s storage.Store, code string, roles ...*storage.Role) *storage.Department {
	t.Helper()
	d := &storage.Department{Code: code, Name: code + " department"}
	ok(t, fmt.Sprintf("CreateDepartment(%q)", code), s.CreateDepartment(t.Context(), d))
	if len(roles) > 0 {
		ok(t, fmt.Sprintf("SetDepartmentRoles(%q)", code), s.SetDepartmentRoles(t.Context(), d.ID, roleIDs(roles...)))
	}
	return d
}

// mkClient creates a confidential client.
func mkClient(t *testing.T, s storage.Store, clientID string) *storage.Client {
	t.Helper()
	c := &storage.Client{
		ClientID:   clientID,
		Name:       clientID + " app",
		SecretHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$c2VjcmV0",
		GrantTypes: []string{"client_credentials"},
		Scopes:     []string{"openid"},
		Audiences:  []string{"gaia"},
		Active:     true,
	}
	ok(t, fmt.Sprintf("CreateClient(%q)", clientID), s.CreateClient(t.Context(), c))
	return c
}

func permIDs(ps ...*storage.Permission) []string {
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	return ids
}

func roleIDs(rs ...*storage.Role) []string {
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
	}
	return ids
}

func codes(ds []storage.Department) []string {
	cs := make([]string, len(ds))
	for i, d := range ds {
		cs[i] = d.Code
	}
	return cs
}

func roleNames(rs []storage.Role) []string {
	ns := make([]string, len(rs))
	for i, r := range rs {
		ns[i] = r.Name
	}
	return ns
}
