package rbac_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gaia-platform/iam/password"
	"github.com/gaia-platform/iam/rbac"
	"github.com/gaia-platform/iam/storage"
	"github.com/gaia-platform/iam/storage/storagetest"
)

// fastHasher keeps tests quick; production parameters are benchmarked in package password.
func fastHasher(t testing.TB) *password.Hasher {
	t.Helper()
	h, err := password.NewHasher(password.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}, 4)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func newService(t testing.TB, store storage.Store) *rbac.Service {
	t.Helper()
	svc, err := rbac.New(store, fastHasher(t), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// forEachBackend runs test on a fresh store of every backend.
func forEachBackend(t *testing.T, test func(t *testing.T, store storage.Store)) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) { test(t, b.Open(t)) })
	}
}

// catalog creates permissions p1..pN, the given roles (name → permission
// names) and departments (code → allowed role names).
func catalog(t testing.TB, store storage.Store, roles map[string][]string, depts map[string][]string) {
	t.Helper()
	ctx := context.Background()
	permIDs := map[string]string{}
	roleIDs := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(roles)) {
		r := &storage.Role{Name: name}
		if err := store.CreateRole(ctx, r); err != nil {
			t.Fatal(err)
		}
		roleIDs[name] = r.ID
		var ids []string
		for _, p := range roles[name] {
			if permIDs[p] == "" {
				rec := &storage.Permission{Name: p}
				if err := store.CreatePermission(ctx, rec); err != nil {
					t.Fatal(err)
				}
				permIDs[p] = rec.ID
			}
			ids = append(ids, permIDs[p])
		}
		if err := store.SetRolePermissions(ctx, r.ID, ids); err != nil {
			t.Fatal(err)
		}
	}
	for _, code := range slices.Sorted(maps.Keys(depts)) {
		d := &storage.Department{Code: code, Name: code}
		if err := store.CreateDepartment(ctx, d); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range depts[code] {
			ids = append(ids, roleIDs[r])
		}
		if err := store.SetDepartmentRoles(ctx, d.ID, ids); err != nil {
			t.Fatal(err)
		}
	}
}

var (
	testRoles = map[string][]string{
		"InventoryViewer":  {"inventory.read"},
		"InventoryManager": {"inventory.read", "inventory.write"},
		"PlatformAdmin":    {"iam.user.create", "inventory.read"},
		"Auditor":          {"iam.audit.read"},
	}
	testDepts = map[string][]string{
		"INVENTORY": {"InventoryViewer", "InventoryManager"},
		"PLATFORM":  {"PlatformAdmin", "InventoryViewer"},
		"SECURITY":  {"Auditor"},
	}
)

func TestAssignRole(t *testing.T) {
	forEachBackend(t, func(t *testing.T, store storage.Store) {
		ctx := context.Background()
		catalog(t, store, testRoles, testDepts)
		svc := newService(t, store)
		u, err := svc.CreateUser(ctx, rbac.NewUser{Username: "bob", Password: "correct horse"})
		if err != nil {
			t.Fatal(err)
		}

		err = svc.AssignRole(ctx, rbac.Operator, u.ID, "InventoryViewer")
		var notAllowed *rbac.RoleNotAllowedError
		if !errors.As(err, &notAllowed) || !errors.Is(err, rbac.ErrRoleNotAllowed) {
			t.Fatalf("AssignRole with no department = %v, want *RoleNotAllowedError", err)
		}
		if got := err.Error(); !strings.Contains(got, `"bob"`) || !strings.Contains(got, "InventoryViewer") || !strings.Contains(got, "no department") {
			t.Errorf("error = %q, want it to name the user, the role and that there is no department", got)
		}

		if err := svc.AddDepartment(ctx, rbac.Operator, u.ID, "SECURITY"); err != nil {
			t.Fatal(err)
		}
		if err := svc.AddDepartment(ctx, rbac.Operator, u.ID, "INVENTORY"); err != nil {
			t.Fatal(err)
		}
		err = svc.AssignRole(ctx, rbac.Operator, u.ID, "PlatformAdmin")
		if !errors.As(err, &notAllowed) {
			t.Fatalf("AssignRole(PlatformAdmin) = %v, want *RoleNotAllowedError", err)
		}
		if want := []string{"INVENTORY", "SECURITY"}; !slices.Equal(notAllowed.Departments, want) {
			t.Errorf("error departments = %v, want %v", notAllowed.Departments, want)
		}
		if got, want := err.Error(), `role "PlatformAdmin" cannot be assigned to user "bob": none of their departments (INVENTORY, SECURITY) allows it`; got != want {
			t.Errorf("error = %q, want %q", got, want)
		}

		for _, role := range []string{"InventoryManager", "Auditor"} {
			if err := svc.AssignRole(ctx, rbac.Operator, u.ID, role); err != nil {
				t.Errorf("AssignRole(%s) = %v, want nil (a department allows it)", role, err)
			}
		}
		if err := svc.AssignRole(ctx, rbac.Operator, u.ID, "InventoryManager"); !errors.Is(err, storage.ErrConflict) {
			t.Errorf("AssignRole twice = %v, want ErrConflict", err)
		}
		if err := svc.AssignRole(ctx, rbac.Operator, u.ID, "NoSuchRole"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("AssignRole(unknown role) = %v, want ErrNotFound", err)
		}
		if err := svc.AssignRole(ctx, rbac.Operator, "01890000-0000-7000-8000-000000000000", "Auditor"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("AssignRole(unknown user) = %v, want ErrNotFound", err)
		}
		g, err := svc.Resolve(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"Auditor", "InventoryManager"}; !slices.Equal(g.Roles, want) {
			t.Errorf("roles = %v, want %v", g.Roles, want)
		}
	})
}

func TestRemoveDepartment(t *testing.T) {
	forEachBackend(t, func(t *testing.T, store storage.Store) {
		ctx := context.Background()
		catalog(t, store, testRoles, testDepts)
		svc := newService(t, store)
		u, _ := svc.CreateUser(ctx, rbac.NewUser{Username: "carol"})
		for _, d := range []string{"INVENTORY", "PLATFORM"} {
			if err := svc.AddDepartment(ctx, rbac.Operator, u.ID, d); err != nil {
				t.Fatal(err)
			}
		}
		for _, r := range []string{"InventoryViewer", "InventoryManager", "PlatformAdmin"} {
			if err := svc.AssignRole(ctx, rbac.Operator, u.ID, r); err != nil {
				t.Fatal(err)
			}
		}

		// InventoryViewer is also allowed by PLATFORM; InventoryManager is not.
		_, err := svc.RemoveDepartment(ctx, rbac.Operator, u.ID, "INVENTORY", false)
		var dep *rbac.DependentRolesError
		if !errors.As(err, &dep) || !slices.Equal(dep.Roles, []string{"InventoryManager"}) {
			t.Fatalf("RemoveDepartment(no cascade) = %v, want DependentRolesError{InventoryManager}", err)
		}
		if depts, _ := store.UserDepartments(ctx, u.ID); len(depts) != 2 {
			t.Errorf("after a refused removal the user is in %d departments, want 2 (nothing written)", len(depts))
		}

		removed, err := svc.RemoveDepartment(ctx, rbac.Operator, u.ID, "INVENTORY", true)
		if err != nil || !slices.Equal(removed, []string{"InventoryManager"}) {
			t.Fatalf("RemoveDepartment(cascade) = %v, %v; want [InventoryManager], nil", removed, err)
		}
		g, _ := svc.Resolve(ctx, u.ID)
		if want := []string{"InventoryViewer", "PlatformAdmin"}; !slices.Equal(g.Roles, want) {
			t.Errorf("roles after cascade = %v, want %v", g.Roles, want)
		}
		if _, err := svc.RemoveDepartment(ctx, rbac.Operator, u.ID, "SECURITY", false); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("RemoveDepartment(not a member) = %v, want ErrNotFound", err)
		}
	})
}

func TestResolveDeduplicates(t *testing.T) {
	forEachBackend(t, func(t *testing.T, store storage.Store) {
		ctx := context.Background()
		catalog(t, store, testRoles, testDepts)
		svc := newService(t, store)
		u, _ := svc.CreateUser(ctx, rbac.NewUser{Username: "dave"})
		_ = svc.AddDepartment(ctx, rbac.Operator, u.ID, "INVENTORY")
		_ = svc.AddDepartment(ctx, rbac.Operator, u.ID, "PLATFORM")
		for _, r := range []string{"PlatformAdmin", "InventoryManager", "InventoryViewer"} {
			if err := svc.AssignRole(ctx, rbac.Operator, u.ID, r); err != nil {
				t.Fatal(err)
			}
		}
		g, err := svc.Resolve(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		// inventory.read comes from three roles and appears once.
		if want := []string{"iam.user.create", "inventory.read", "inventory.write"}; !slices.Equal(g.Permissions, want) {
			t.Errorf("Resolve permissions = %v, want %v", g.Permissions, want)
		}
		if want := []string{"InventoryManager", "InventoryViewer", "PlatformAdmin"}; !slices.Equal(g.Roles, want) {
			t.Errorf("Resolve roles = %v, want %v", g.Roles, want)
		}

		lonely, _ := svc.CreateUser(ctx, rbac.NewUser{Username: "erin"})
		g, err = svc.Resolve(ctx, lonely.ID)
		if err != nil || g.Roles == nil || g.Permissions == nil || len(g.Roles)+len(g.Permissions) != 0 {
			t.Errorf("Resolve(no roles) = %#v, %v; want empty non-nil lists", g, err)
		}

		if _, err := store.UpdateUser(ctx, u.ID, func(u *storage.User) error { u.Active = false; return nil }); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Resolve(ctx, u.ID); !errors.Is(err, rbac.ErrDisabled) {
			t.Errorf("Resolve(disabled) = %v, want ErrDisabled", err)
		}
		if _, err := svc.Resolve(ctx, "01890000-0000-7000-8000-000000000000"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Resolve(unknown) = %v, want ErrNotFound", err)
		}
	})
}

func TestResolveClient(t *testing.T) {
	forEachBackend(t, func(t *testing.T, store storage.Store) {
		ctx := context.Background()
		catalog(t, store, testRoles, testDepts)
		svc := newService(t, store)
		c := &storage.Client{ClientID: "inventory-service", SecretHash: "x", GrantTypes: []string{"client_credentials"}, Active: true}
		if err := store.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
		for _, r := range []string{"InventoryViewer", "InventoryManager"} {
			role, _ := store.GetRoleByName(ctx, r)
			if err := store.AssignClientRole(ctx, c.ClientID, role.ID); err != nil {
				t.Fatal(err)
			}
		}
		g, err := svc.ResolveClient(ctx, c.ClientID)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"inventory.read", "inventory.write"}; !slices.Equal(g.Permissions, want) {
			t.Errorf("ResolveClient permissions = %v, want %v", g.Permissions, want)
		}
	})
}

func TestAuthenticate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, store storage.Store) {
		ctx := context.Background()
		svc := newService(t, store)
		alice, err := svc.CreateUser(ctx, rbac.NewUser{Username: "  Alice ", Email: "alice@example.com", Password: "correct horse battery"})
		if err != nil {
			t.Fatal(err)
		}
		if alice.Username != "alice" {
			t.Errorf("stored username = %q, want the normalized %q", alice.Username, "alice")
		}
		nopw, _ := svc.CreateUser(ctx, rbac.NewUser{Username: "nopw"})
		off, _ := svc.CreateUser(ctx, rbac.NewUser{Username: "off", Password: "correct horse battery"})
		if _, err := store.UpdateUser(ctx, off.ID, func(u *storage.User) error { u.Active = false; return nil }); err != nil {
			t.Fatal(err)
		}

		for _, login := range []string{"alice", "ALICE", "ａｌｉｃｅ", " alice"} {
			u, err := svc.Authenticate(ctx, login, "correct horse battery")
			if err != nil || u.ID != alice.ID {
				t.Errorf("Authenticate(%q) = %v, %v; want alice", login, u, err)
			}
		}
		for _, tc := range []struct{ name, user, pw string }{
			{"wrong password", "alice", "correct horse batterY"},
			{"unknown user", "mallory", "correct horse battery"},
			{"no password set", nopw.Username, ""},
			{"disabled", off.Username, "correct horse battery"},
			{"zero-width", "alice\u200b", "correct horse battery"},
			{"cyrillic a", "\u0430lice", "correct horse battery"},
			{"sql", "' OR '1'='1", "x' OR '1'='1"},
			{"wildcard", "%", "correct horse battery"},
			{"too long", "alice", strings.Repeat("x", password.MaxLength+1)},
		} {
			if u, err := svc.Authenticate(ctx, tc.user, tc.pw); !errors.Is(err, rbac.ErrInvalidCredentials) || u != nil {
				t.Errorf("%s: Authenticate = %v, %v; want nil, ErrInvalidCredentials", tc.name, u, err)
			}
		}

		if _, err := svc.CreateUser(ctx, rbac.NewUser{Username: "ALICE"}); !errors.Is(err, storage.ErrConflict) {
			t.Errorf("CreateUser(ALICE) = %v, want ErrConflict", err)
		}
		for _, bad := range []rbac.NewUser{
			{Username: "two words"},
			{Username: ""},
			{Username: "ok", Email: "not an email"},
			{Username: "ok", Password: "short"},
		} {
			if _, err := svc.CreateUser(ctx, bad); !errors.Is(err, rbac.ErrInvalidInput) {
				t.Errorf("CreateUser(%+v) = %v, want ErrInvalidInput", bad, err)
			}
		}
	})
}

func TestAuthenticateRehashes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, store storage.Store) {
		ctx := context.Background()
		weak := newService(t, store)
		u, _ := weak.CreateUser(ctx, rbac.NewUser{Username: "frank", Password: "correct horse battery"})
		strongHasher, _ := password.NewHasher(password.Params{Memory: 128, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}, 2)
		strong, _ := rbac.New(store, strongHasher, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if _, err := strong.Authenticate(ctx, "frank", "correct horse battery"); err != nil {
			t.Fatal(err)
		}
		got, _ := store.GetUser(ctx, u.ID)
		if !strings.HasPrefix(got.PasswordHash, "$argon2id$v=19$m=128,t=2,p=1$") {
			t.Errorf("hash after login with stronger parameters = %q, want it upgraded", got.PasswordHash)
		}
		if _, err := strong.Authenticate(ctx, "frank", "correct horse battery"); err != nil {
			t.Errorf("login after rehash = %v", err)
		}
	})
}

// TestAssignAndRemoveRace races an assignment that depends on a department
// against that department's removal: whatever the interleaving, no user may
// end holding a role none of their departments allows.
func TestAssignAndRemoveRace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, store storage.Store) {
		ctx := context.Background()
		catalog(t, store, testRoles, testDepts)
		svc := newService(t, store)
		for i := range 10 {
			u, err := svc.CreateUser(ctx, rbac.NewUser{Username: fmt.Sprintf("racer%d", i)})
			if err != nil {
				t.Fatal(err)
			}
			if err := svc.AddDepartment(ctx, rbac.Operator, u.ID, "SECURITY"); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); _ = svc.AssignRole(ctx, rbac.Operator, u.ID, "Auditor") }()
			go func() { defer wg.Done(); _, _ = svc.RemoveDepartment(ctx, rbac.Operator, u.ID, "SECURITY", false) }()
			wg.Wait()
			roles, _ := store.UserRoles(ctx, u.ID)
			depts, _ := store.UserDepartments(ctx, u.ID)
			if len(roles) > 0 && len(depts) == 0 {
				t.Fatalf("user %d holds %v with no department: the rule was broken by a race", i, roles)
			}
		}
	})
}

func TestNormalizeUsername(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"alice", "alice"},
		{"Alice", "alice"},
		{"ＡＬＩＣＥ", "alice"},
		{"  bob  ", "bob"},
		{"jean.dupont@example.com", "jean.dupont@example.com"},
		{"ÉLODIE", "élodie"},
	} {
		if got, err := rbac.NormalizeUsername(tc.in); err != nil || got != tc.want {
			t.Errorf("NormalizeUsername(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "   ", "a b", "alice\u200b", "alice\x00", "alice\r\nX: y", strings.Repeat("a", 256)} {
		if got, err := rbac.NormalizeUsername(bad); !errors.Is(err, rbac.ErrInvalidInput) {
			t.Errorf("NormalizeUsername(%q) = %q, %v; want ErrInvalidInput", bad, got, err)
		}
	}
}

// BenchmarkResolve measures the resolution behind every token, on each
// backend: "10x50" is a user with 10 roles of 50 permissions each (some
// shared, 410 distinct), the heavy case; "2x10" a typical user.
func BenchmarkResolve(b *testing.B) {
	for _, size := range []struct {
		name         string
		roles, perms int
		wantDistinct int
	}{{"10x50", 10, 50, 410}, {"2x10", 2, 10, 18}} {
		for _, be := range storagetest.Backends(b) {
			b.Run(size.name+"/"+be.Name, func(b *testing.B) {
				ctx := context.Background()
				store := be.Open(b)
				roles := map[string][]string{}
				var names []string
				for r := range size.roles {
					name := fmt.Sprintf("Role%02d", r)
					names = append(names, name)
					for p := range size.perms {
						// Neighbouring roles overlap by a fifth of their permissions.
						roles[name] = append(roles[name], fmt.Sprintf("perm.p%03d", r*size.perms*4/5+p))
					}
				}
				catalog(b, store, roles, map[string][]string{"DEPT": names})
				svc := newService(b, store)
				u, _ := svc.CreateUser(ctx, rbac.NewUser{Username: "bench"})
				if err := svc.AddDepartment(ctx, rbac.Operator, u.ID, "DEPT"); err != nil {
					b.Fatal(err)
				}
				for _, n := range names {
					if err := svc.AssignRole(ctx, rbac.Operator, u.ID, n); err != nil {
						b.Fatal(err)
					}
				}
				b.ResetTimer()
				for b.Loop() {
					g, err := svc.Resolve(ctx, u.ID)
					if err != nil || len(g.Permissions) != size.wantDistinct || len(g.Roles) != size.roles {
						b.Fatalf("Resolve = %d roles, %d permissions, %v; want %d, %d", len(g.Roles), len(g.Permissions), err, size.roles, size.wantDistinct)
					}
				}
			})
		}
	}
}
