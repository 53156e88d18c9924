package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gaia-platform/iam/rbac/seed"
)

// TestSeedCascade: a seed that stops a department allowing a role some
// user holds is shown by seed --dry-run, refused by seed and serve, and
// applied, removing the assignment, only with --seed-cascade or
// GAIA_SEED_CASCADE (the flag winning).
func TestSeedCascade(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, o *operatorTest) {
		o.mustRun("", "user", "create", "--username", "clerk", "--department", "INVENTORY", "--role", "InventoryManager")
		example, err := os.ReadFile(exampleSeed)
		if err != nil {
			t.Fatal(err)
		}
		changed := strings.Replace(string(example), "allowed_roles: [InventoryViewer, InventoryManager, AnalyticsViewer, HelpDesk]",
			"allowed_roles: [InventoryViewer, AnalyticsViewer, HelpDesk]", 1)
		// The seeded admin holds InventoryManager through INVENTORY too: the
		// file itself must stay valid, so it no longer gives the admin that role.
		changed = strings.Replace(changed, "roles: [PlatformAdmin, InventoryManager, AnalyticsViewer]",
			"roles: [PlatformAdmin, AnalyticsViewer]", 1)
		if changed == string(example) {
			t.Fatal("the example seed no longer lets INVENTORY hold InventoryManager: update the test")
		}
		file := filepath.Join(t.TempDir(), "seed.yaml")
		if err := os.WriteFile(file, []byte(changed), 0o600); err != nil {
			t.Fatal(err)
		}
		const line = "- user clerk: role InventoryManager, which none of their departments (INVENTORY) allows after this seed"
		holds := func() bool {
			roles, err := o.store.UserRoles(context.Background(), o.user("clerk").ID)
			if err != nil {
				t.Fatal(err)
			}
			return len(roles) == 1 && roles[0].Name == "InventoryManager"
		}

		r := o.mustRun("", "seed", "--dry-run", "--seed-file", file)
		if !strings.Contains(r.stdout, line+"  [takes away access: needs --seed-cascade]\n") || !strings.Contains(r.stdout, "refuse this seed unless --seed-cascade") {
			t.Errorf("seed --dry-run printed\n%s\nwant the broken assignment and how to cascade", r.stdout)
		}

		refused := func(name string, r result) {
			t.Helper()
			if !errors.Is(r.err, seed.ErrBreaksAssignments) || !strings.Contains(r.err.Error(), line) ||
				!strings.Contains(r.err.Error(), "--seed-cascade") {
				t.Errorf("%s = %v, want the seed refused naming the assignment and --seed-cascade", name, r.err)
			}
			if !holds() {
				t.Errorf("after a refused %s the user lost the role", name)
			}
		}
		refused("seed", o.run("", "seed", "--seed-file", file))
		refused("serve", o.run("", "serve", "--seed-file", file, "--listen", freeAddr(t)))
		withEnv := &operatorTest{t: t, store: o.store, domain: o.domain, getenv: func(k string) string {
			if k == "GAIA_SEED_CASCADE" {
				return "true"
			}
			return o.getenv(k)
		}}
		refused("seed --seed-cascade=false under GAIA_SEED_CASCADE=true",
			withEnv.run("", "seed", "--seed-cascade=false", "--seed-file", file))

		r = withEnv.mustRun("", "seed", "--seed-file", file)
		if !strings.Contains(r.stdout, line+"\n") {
			t.Errorf("seed under GAIA_SEED_CASCADE=true printed\n%s\nwant the removed assignment", r.stdout)
		}
		if holds() {
			t.Error("the cascading seed left the broken assignment")
		}
		if ev := o.audit("seed.delete", "clerk"); len(ev) != 1 || ev[0].ActorName != "seed" || ev[0].TargetType != "user" {
			t.Errorf("audit of the removed assignment = %+v, want one seed.delete by seed", ev)
		}
		if r := o.mustRun("", "seed", "--seed-file", file); r.stdout != "seed: up to date, no changes\n" {
			t.Errorf("seed again = %q, want no changes", r.stdout)
		}
	})
}
