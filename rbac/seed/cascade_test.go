package seed_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/gaia-platform/iam/rbac"
	"github.com/gaia-platform/iam/rbac/seed"
	"github.com/gaia-platform/iam/storage"
)

// TestSeedKeepsTheDepartmentRule: a seed that stops a department allowing
// a role, or removes the department, would leave users holding roles none
// of their departments allows. The plan lists each such assignment; Apply
// refuses the seed and changes nothing; ApplyCascading removes them in
// the same transaction and lists them.
func TestSeedKeepsTheDepartmentRule(t *testing.T) {
	for _, tc := range []struct {
		name    string
		replace *strings.Replacer
		broken  []string // the plan's lines for the broken assignments
		kept    map[string][]string
	}{
		{
			name: "a department stops allowing a role",
			replace: strings.NewReplacer(
				"allowed_roles: [InventoryViewer, InventoryManager, Legacy]", "allowed_roles: [InventoryViewer, Legacy]"),
			broken: []string{"- user clerk: role InventoryManager, which none of their departments (INVENTORY) allows after this seed"},
			kept:   map[string][]string{"clerk": {"InventoryViewer"}, "admin": {"Legacy", "PlatformAdmin"}},
		},
		{
			name: "a department is removed",
			replace: strings.NewReplacer(
				"  - {code: INVENTORY, name: Inventory, allowed_roles: [InventoryViewer, InventoryManager, Legacy]}\n", "",
				"departments: [PLATFORM, INVENTORY]", "departments: [PLATFORM]",
				"roles: [PlatformAdmin, Legacy]", "roles: [PlatformAdmin]"),
			broken: []string{
				"- user admin: role Legacy, which none of their departments (PLATFORM) allows after this seed",
				"- user clerk: role InventoryManager, which none of their departments allows after this seed",
				"- user clerk: role InventoryViewer, which none of their departments allows after this seed",
			},
			kept: map[string][]string{"clerk": nil, "admin": {"PlatformAdmin"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, store storage.Store) {
				ctx := context.Background()
				fx := newFixture(t, store, nil)
				if _, err := fx.seeder.Apply(ctx, parse(t, base, defaultEnv)); err != nil {
					t.Fatal(err)
				}
				clerk, err := fx.svc.CreateUser(ctx, rbac.NewUser{Username: "clerk"})
				if err != nil {
					t.Fatal(err)
				}
				if err := fx.svc.AddDepartment(ctx, rbac.Operator, clerk.ID, "INVENTORY"); err != nil {
					t.Fatal(err)
				}
				for _, r := range []string{"InventoryManager", "InventoryViewer"} {
					if err := fx.svc.AssignRole(ctx, rbac.Operator, clerk.ID, r); err != nil {
						t.Fatal(err)
					}
				}
				before := rolesOf(t, fx, "admin", "clerk")
				f := parse(t, tc.replace.Replace(base), defaultEnv)

				plan, err := fx.seeder.Plan(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				for _, want := range tc.broken {
					if !slices.Contains(lines(plan), want) {
						t.Errorf("plan =\n%s\nwant a line %q", strings.Join(lines(plan), "\n"), want)
					}
				}

				_, err = fx.seeder.Apply(ctx, f)
				var be *seed.BrokenAssignmentsError
				if !errors.Is(err, seed.ErrBreaksAssignments) || !errors.As(err, &be) {
					t.Fatalf("Apply = %v, want ErrBreaksAssignments", err)
				}
				if got := lines(be.Changes); !slices.Equal(got, tc.broken) {
					t.Errorf("refused for\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.broken, "\n"))
				}
				if after := rolesOf(t, fx, "admin", "clerk"); !equalRoles(after, before) {
					t.Errorf("roles after a refused seed = %v, want unchanged %v", after, before)
				}
				if d, err := store.ListDepartments(ctx); err != nil || len(d) != 2 || !slices.Contains(d[0].AllowedRoles, "InventoryManager") {
					t.Errorf("departments after a refused seed = %+v, %v; want unchanged", d, err)
				}

				res, err := fx.seeder.ApplyCascading(ctx, f)
				if err != nil {
					t.Fatalf("ApplyCascading: %v", err)
				}
				for _, want := range tc.broken {
					if !slices.Contains(lines(res.Changes), want) {
						t.Errorf("changes =\n%s\nwant a line %q", strings.Join(lines(res.Changes), "\n"), want)
					}
				}
				if after := rolesOf(t, fx, "admin", "clerk"); !equalRoles(after, tc.kept) {
					t.Errorf("roles after a cascading seed = %v, want %v", after, tc.kept)
				}
				if again, err := fx.seeder.Apply(ctx, f); err != nil || len(again.Changes) != 0 {
					t.Errorf("Apply again = %v, %v; want no changes", lines(again.Changes), err)
				}
			})
		})
	}
}

func rolesOf(t *testing.T, fx fixture, usernames ...string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, name := range usernames {
		u, err := fx.store.GetUserByUsername(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		g, err := fx.svc.Resolve(context.Background(), u.ID)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = g.Roles
	}
	return out
}

func equalRoles(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}
