package rbac_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/gaia-platform/iam/rbac"
	"github.com/gaia-platform/iam/storage"
)

// TestDelegation checks the rules at the domain, where the CLI and the
// seed meet them too: the operator may do anything, a principal only what
// it holds, and no one changes their own grants.
func TestDelegation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, store storage.Store) {
		ctx := t.Context()
		catalog(t, store, map[string][]string{"Desk": {"p1", "p2"}, "Clerk": {"p1"}, "Boss": {"p1", "p2", "p3"}},
			map[string][]string{"D": {"Desk", "Clerk", "Boss"}})
		svc := newService(t, store)
		user := func(name string, roles ...string) *storage.User {
			u, err := svc.CreateUser(ctx, rbac.NewUser{Username: name})
			if err != nil {
				t.Fatal(err)
			}
			if err := svc.AddDepartment(ctx, rbac.Operator, u.ID, "D"); err != nil {
				t.Fatal(err)
			}
			for _, r := range roles {
				if err := svc.AssignRole(ctx, rbac.Operator, u.ID, r); err != nil {
					t.Fatal(err)
				}
			}
			return u
		}
		desk, clerk, boss, newbie := user("desk", "Desk"), user("clerk", "Clerk"), user("boss", "Boss"), user("newbie")
		actor, err := svc.UserActor(ctx, desk.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got := actor.Permissions(); !slices.Equal(got, []string{"p1", "p2"}) || actor.IsOperator() {
			t.Fatalf("UserActor(desk) = %v, operator %v", got, actor.IsOperator())
		}
		h, err := svc.HashPassword(ctx, "a long enough password")
		if err != nil {
			t.Fatal(err)
		}
		refusal := func(err error) *rbac.DelegationError {
			var d *rbac.DelegationError
			if !errors.As(err, &d) || !errors.Is(err, rbac.ErrDelegation) {
				return nil
			}
			return d
		}

		if _, err := svc.SetPassword(ctx, actor, clerk.ID, h); err != nil {
			t.Errorf("desk sets the clerk's password: %v", err)
		}
		if err := svc.AssignRole(ctx, actor, newbie.ID, "Clerk"); err != nil {
			t.Errorf("desk gives Clerk: %v", err)
		}
		if d := refusal(svc.AssignRole(ctx, actor, newbie.ID, "Boss")); d == nil || d.Reason != rbac.ReasonGrant || !slices.Equal(d.Missing, []string{"p3"}) {
			t.Errorf("desk gives Boss: %+v, want a grant refusal missing p3", d)
		}
		if _, err := svc.SetPassword(ctx, actor, boss.ID, h); refusal(err) == nil || refusal(err).Reason != rbac.ReasonPrincipal {
			t.Errorf("desk sets the boss's password: %v, want a principal refusal", err)
		}
		if _, err := svc.Logout(ctx, actor, boss.ID); refusal(err) == nil {
			t.Errorf("desk logs the boss out: %v, want a refusal", err)
		}
		if err := svc.DeleteUser(ctx, actor, boss.ID); refusal(err) == nil {
			t.Errorf("desk deletes the boss: %v, want a refusal", err)
		}
		if err := svc.AssignRole(ctx, actor, desk.ID, "Clerk"); refusal(err) == nil || refusal(err).Reason != rbac.ReasonSelf {
			t.Errorf("desk changes its own roles: %v, want a self refusal", err)
		}
		off := false
		if _, _, err := svc.UpdateUser(ctx, actor, desk.ID, rbac.UserChange{Active: &off}); refusal(err) == nil {
			t.Errorf("desk disables itself: %v, want a refusal", err)
		}
		if _, err := svc.RemoveDepartment(ctx, actor, desk.ID, "D", true); refusal(err) == nil {
			t.Errorf("desk leaves its department: %v, want a refusal", err)
		}
		// The zero Actor holds nothing; the operator holds everything.
		if err := svc.UnassignRole(ctx, rbac.Actor{}, clerk.ID, "Clerk"); refusal(err) == nil {
			t.Errorf("the zero Actor takes a role: %v, want a refusal", err)
		}
		if _, err := svc.SetPassword(ctx, rbac.Operator, boss.ID, h); err != nil {
			t.Errorf("the operator sets the boss's password: %v", err)
		}
		if g, err := store.UserGrants(ctx, boss.ID); err != nil || !slices.Equal(g.Roles, []string{"Boss"}) {
			t.Errorf("the boss holds %v, %v after the refusals", g.Roles, err)
		}
	})
}
