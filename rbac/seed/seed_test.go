package seed_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gaia-platform/iam/password"
	"github.com/gaia-platform/iam/rbac"
	"github.com/gaia-platform/iam/rbac/seed"
	"github.com/gaia-platform/iam/storage"
	"github.com/gaia-platform/iam/storage/storagetest"
)

const secret = "0123456789abcdef0123456789abcdef" // 32 bytes, the minimum

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

var defaultEnv = env(map[string]string{
	"WEB_SECRET": secret,
	"SVC_SECRET": secret,
	"ADMIN_PW":   "correct horse battery",
})

const base = `
permissions:
  - {name: inventory.read, description: Read inventory}
  - {name: inventory.write, description: Write inventory}
  - {name: iam.user.create}
roles:
  - {name: InventoryViewer, permissions: [inventory.read]}
  - {name: InventoryManager, permissions: [inventory.read, inventory.write]}
  - {name: PlatformAdmin, permissions: [iam.user.create, inventory.read]}
  - {name: Legacy, permissions: [inventory.read]}
departments:
  - {code: INVENTORY, name: Inventory, allowed_roles: [InventoryViewer, InventoryManager, Legacy]}
  - {code: PLATFORM, name: Platform, allowed_roles: [PlatformAdmin]}
clients:
  - client_id: web
    name: web app
    secret_env: WEB_SECRET
    grant_types: [password, refresh_token]
    scopes: [openid, offline_access]
    audiences: [gaia]
  - client_id: cli
    name: cli app
    public: true
    grant_types: [password, refresh_token]
  - client_id: svc
    name: svc app
    secret_env: SVC_SECRET
    grant_types: [client_credentials]
    roles: [InventoryViewer]
users:
  - username: admin
    email: admin@example.com
    password_env: ADMIN_PW
    departments: [PLATFORM, INVENTORY]
    roles: [PlatformAdmin, Legacy]
`

type fixture struct {
	store  storage.Store
	svc    *rbac.Service
	hasher *password.Hasher
	seeder *seed.Seeder
}

func newFixture(t *testing.T, store storage.Store, hash seed.SecretHasher) fixture {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := password.NewHasher(password.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}, 4)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := rbac.New(store, h, log)
	if err != nil {
		t.Fatal(err)
	}
	if hash == nil {
		hash = h.Hash
	}
	s, err := seed.New(store, svc, hash, log)
	if err != nil {
		t.Fatal(err)
	}
	return fixture{store, svc, h, s}
}

func parse(t *testing.T, yaml string, getenv func(string) string) *seed.File {
	t.Helper()
	f, err := seed.Parse(strings.NewReader(yaml), getenv)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return f
}

func forEachBackend(t *testing.T, test func(t *testing.T, store storage.Store)) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) { test(t, b.Open(t)) })
	}
}

func lines(cs []seed.Change) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.String()
	}
	return out
}

func TestApplyIsIdempotent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, store storage.Store) {
		ctx := context.Background()
		fx := newFixture(t, store, nil)
		f := parse(t, base, defaultEnv)

		plan, err := fx.seeder.Plan(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if perms, _ := store.ListPermissions(ctx); len(perms) != 0 {
			t.Fatalf("Plan wrote %d permissions, want a dry run", len(perms))
		}
		res, err := fx.seeder.Apply(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(lines(res.Changes), lines(plan)) {
			t.Errorf("Apply did\n%s\nPlan said\n%s", strings.Join(lines(res.Changes), "\n"), strings.Join(lines(plan), "\n"))
		}
		if len(res.Changes) != 3+4+2+3+1 {
			t.Errorf("first Apply made %d changes, want 13:\n%s", len(res.Changes), strings.Join(lines(res.Changes), "\n"))
		}
		if len(res.Generated) != 0 {
			t.Errorf("generated %d passwords though ADMIN_PW was set", len(res.Generated))
		}

		again, err := fx.seeder.Apply(ctx, f)
		if err != nil || len(again.Changes) != 0 {
			t.Errorf("second Apply = %v, %v; want zero changes", lines(again.Changes), err)
		}

		// What the seed says is what the store holds.
		admin, err := fx.svc.Authenticate(ctx, "admin", "correct horse battery")
		if err != nil {
			t.Fatalf("seeded admin cannot log in: %v", err)
		}
		g, _ := fx.svc.Resolve(ctx, admin.ID)
		if want := []string{"iam.user.create", "inventory.read"}; !slices.Equal(g.Permissions, want) {
			t.Errorf("admin permissions = %v, want %v", g.Permissions, want)
		}
		svc, _ := fx.svc.ResolveClient(ctx, "svc")
		if want := []string{"inventory.read"}; !slices.Equal(svc.Permissions, want) {
			t.Errorf("svc permissions = %v, want %v", svc.Permissions, want)
		}
		web, err := store.GetClient(ctx, "web")
		if err != nil {
			t.Fatal(err)
		}
		if ok, _, _ := fx.hasher.Verify(ctx, web.SecretHash, secret); !ok || web.Public || !slices.Equal(web.Scopes, []string{"openid", "offline_access"}) {
			t.Errorf("client web = %+v; want its hashed secret and scopes", web)
		}
		if cli, _ := store.GetClient(ctx, "cli"); cli == nil || !cli.Public || cli.SecretHash != "" {
			t.Errorf("client cli = %+v, want public with no secret", cli)
		}
	})
}

func TestApplyReconciles(t *testing.T) {
	forEachBackend(t, func(t *testing.T, store storage.Store) {
		ctx := context.Background()
		fx := newFixture(t, store, nil)
		if _, err := fx.seeder.Apply(ctx, parse(t, base, defaultEnv)); err != nil {
			t.Fatal(err)
		}
		admin, _ := store.GetUserByUsername(ctx, "admin")
		// Runtime changes to users are kept by later seeds.
		if _, err := store.UpdateUser(ctx, admin.ID, func(u *storage.User) error { u.Email = "root@example.com"; return nil }); err != nil {
			t.Fatal(err)
		}

		changed := strings.NewReplacer(
			"  - {name: Legacy, permissions: [inventory.read]}\n", "",
			", Legacy]}", "]}",
			"roles: [PlatformAdmin, Legacy]", "roles: [PlatformAdmin]",
			"{name: InventoryManager, permissions: [inventory.read, inventory.write]}", "{name: InventoryManager, permissions: [inventory.write]}",
			"{name: iam.user.create}", "{name: iam.user.create, description: Create users}",
		).Replace(base)
		// Legacy is held by admin: refused unless cascading.
		_, err := fx.seeder.Apply(ctx, parse(t, changed, defaultEnv))
		if !errors.Is(err, seed.ErrRemovesInUse) || errors.Is(err, seed.ErrBreaksAssignments) {
			t.Fatalf("Apply deleting a role in use = %v, want ErrRemovesInUse alone", err)
		}
		if _, err := store.GetRoleByName(ctx, "Legacy"); err != nil {
			t.Fatalf("role Legacy after a refused seed: %v", err)
		}
		res, err := fx.seeder.ApplyCascading(ctx, parse(t, changed, defaultEnv))
		if err != nil {
			t.Fatal(err)
		}
		want := []string{
			"~ permission iam.user.create: description",
			"~ role InventoryManager: permissions -inventory.read",
			"~ department INVENTORY: allowed roles -Legacy",
			"- role Legacy: unassigned from every user and client; in use: user admin",
		}
		if got := lines(res.Changes); !slices.Equal(got, want) {
			t.Errorf("changes =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if _, err := store.GetRoleByName(ctx, "Legacy"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("role Legacy after it left the file: %v, want ErrNotFound", err)
		}
		g, _ := fx.svc.Resolve(ctx, admin.ID)
		if !slices.Equal(g.Roles, []string{"PlatformAdmin"}) {
			t.Errorf("admin roles = %v, want [PlatformAdmin]: the removed role goes with its assignments", g.Roles)
		}
		if u, _ := store.GetUser(ctx, admin.ID); u.Email != "root@example.com" {
			t.Errorf("admin email = %q, want the runtime change kept", u.Email)
		}
	})
}

func TestInvalidSeedsWriteNothing(t *testing.T) {
	for _, tc := range []struct {
		name, old, new, want string
		getenv               func(string) string
	}{
		{"unknown permission in a role", "[inventory.read, inventory.write]}", "[inventory.read, inventory.delete]}", `role "InventoryManager": unknown permission "inventory.delete"`, nil},
		{"role no department allows", "departments: [PLATFORM, INVENTORY]\n    roles: [PlatformAdmin, Legacy]", "departments: [PLATFORM]\n    roles: [PlatformAdmin, InventoryManager]", `user "admin": role "InventoryManager" cannot be assigned to user "admin": none of their departments (PLATFORM) allows it`, nil},
		{"duplicate permission", "  - {name: iam.user.create}\n", "  - {name: iam.user.create}\n  - {name: inventory.read}\n", `permission "inventory.read": declared twice`, nil},
		{"duplicate role", "  - {name: Legacy, permissions: [inventory.read]}\n", "  - {name: Legacy, permissions: [inventory.read]}\n  - {name: Legacy}\n", `role "Legacy": declared twice`, nil},
		{"duplicate department", "departments:\n", "departments:\n  - {code: PLATFORM}\n", `department "PLATFORM": declared twice`, nil},
		{"duplicate client", "  - client_id: cli\n", "  - client_id: svc\n    secret_env: SVC_SECRET\n    grant_types: [client_credentials]\n  - client_id: cli\n", `client "svc": declared twice`, nil},
		{"duplicate user", "users:\n", "users:\n  - username: ADMIN\n", `user "admin": declared twice`, nil},
		{"empty", "", "# nothing\n", "the seed declares nothing", nil},
		{"short secret", "", "", `client "svc": the secret in SVC_SECRET must be 32`, env(map[string]string{"WEB_SECRET": secret, "SVC_SECRET": "short"})},
		{"weak bootstrap password", "", "", `user "admin": the password in ADMIN_PW: password too short`, env(map[string]string{"WEB_SECRET": secret, "SVC_SECRET": secret, "ADMIN_PW": "1234"})},
		{"unknown field", "    public: true\n", "    public: true\n    secrets: hunter2\n", "field secrets not found", nil},
		{"bad permission name", "{name: iam.user.create}", "{name: IAM.User}", `permission "IAM.User": name must be dotted lower case`, nil},
		{"unknown grant type", "grant_types: [client_credentials]", "grant_types: [implicit]", `client "svc": grant_types[0] is not one of`, nil},
		{"public client_credentials", "    public: true\n    grant_types: [password, refresh_token]", "    public: true\n    grant_types: [client_credentials]", `client "cli": client_credentials needs a confidential client`, nil},
		{"unknown department", "departments: [PLATFORM, INVENTORY]", "departments: [PLATFORM, INVENTORY, SALES]", `user "admin": unknown department "SALES"`, nil},
		{"bad scope", "scopes: [openid, offline_access]", `scopes: [openid, "a\"b"]`, `client "web": scopes[1] is not an RFC 6749 scope token`, nil},
		{"client without name", "    name: cli app\n", "", `client "cli": name is required`, nil},
		{"bad client_id", "client_id: cli\n", "client_id: -cli\n", `client "-cli": client_id must be letters`, nil},
		{"duplicate scope", "scopes: [openid, offline_access]", "scopes: [openid, openid]", `client "web": scopes[1] repeats an earlier scope`, nil},
		{"client role unknown", "roles: [InventoryViewer]\nusers", "roles: [Nobody]\nusers", `client "svc": unknown role "Nobody"`, nil},
		{"redirect URI with a fragment", "    public: true\n    grant_types: [password, refresh_token]", "    public: true\n    grant_types: [authorization_code, refresh_token]\n    redirect_uris: [\"https://app.example/cb#x\"]", `client "cli": redirect_uris[0] has a fragment`, nil},
		{"code client without redirect URI", "    public: true\n    grant_types: [password, refresh_token]", "    public: true\n    grant_types: [authorization_code, refresh_token]", `client "cli": redirect_uris is empty`, nil},
		{"duplicate service", "departments:\n", "services:\n  - {audience: \"https://a.example\", permissions: [inventory.*]}\n  - {audience: \"https://a.example\", permissions: [inventory.read]}\ndepartments:\n", `service "https://a.example": declared twice`, nil},
		{"bad service pattern", "departments:\n", "services:\n  - {audience: \"https://a.example\", permissions: [\"inventory.*.read\"]}\ndepartments:\n", `service "https://a.example": "inventory.*.read" is neither a permission name nor a namespace`, nil},
		{"service without permissions", "departments:\n", "services:\n  - {audience: \"https://a.example\"}\ndepartments:\n", `service "https://a.example": list its permissions`, nil},
		{"redirect URI without the grant", "    public: true\n    grant_types: [password, refresh_token]", "    public: true\n    grant_types: [password, refresh_token]\n    post_logout_redirect_uris: [\"https://app.example/\"]", `client "cli": redirect_uris and post_logout_redirect_uris are for authorization_code clients only`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			getenv := tc.getenv
			if getenv == nil {
				getenv = defaultEnv
			}
			yaml := base
			if tc.old == "" && tc.new != "" {
				yaml = tc.new
			} else if tc.old != "" {
				if !strings.Contains(base, tc.old) {
					t.Fatalf("test case does not apply: %q not in base seed", tc.old)
				}
				yaml = strings.Replace(base, tc.old, tc.new, 1)
			}
			_, err := seed.Parse(strings.NewReader(yaml), getenv)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse error = %v\nwant one containing %s", err, tc.want)
			}
		})
	}
}

// TestApplyFailureRollsBack makes the last client's creation fail, after
// permissions, roles and departments were written in the same transaction.
func TestApplyFailureRollsBack(t *testing.T) {
	forEachBackend(t, func(t *testing.T, store storage.Store) {
		ctx := context.Background()
		calls := 0
		fx := newFixture(t, store, func(ctx context.Context, s string) (string, error) {
			if calls++; calls == 2 {
				return "", errors.New("hasher exploded")
			}
			return "$argon2id$stub", nil
		})
		_, err := fx.seeder.Apply(ctx, parse(t, base, defaultEnv))
		if err == nil || !strings.Contains(err.Error(), `+ client svc`) {
			t.Fatalf("Apply = %v, want the failure of client svc", err)
		}
		perms, _ := store.ListPermissions(ctx)
		roles, _ := store.ListRoles(ctx)
		clients, _ := store.ListClients(ctx)
		if len(perms)+len(roles)+len(clients) != 0 {
			t.Errorf("after a failed Apply the store holds %d permissions, %d roles, %d clients; want nothing", len(perms), len(roles), len(clients))
		}
	})
}

func TestGeneratedBootstrapPassword(t *testing.T) {
	forEachBackend(t, func(t *testing.T, store storage.Store) {
		ctx := context.Background()
		fx := newFixture(t, store, nil)
		noPW := env(map[string]string{"WEB_SECRET": secret, "SVC_SECRET": secret})
		f := parse(t, base, noPW)
		plan, _ := fx.seeder.Plan(ctx, f)
		if last := plan[len(plan)-1].String(); !strings.Contains(last, "password generated") {
			t.Errorf("plan for the admin = %q, want it to say a password will be generated", last)
		}
		res, err := fx.seeder.Apply(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Generated) != 1 || res.Generated[0].Username != "admin" || len(res.Generated[0].Password) < 20 {
			t.Fatalf("Generated = %v, want one strong password for admin", len(res.Generated))
		}
		if _, err := fx.svc.Authenticate(ctx, "admin", res.Generated[0].Password); err != nil {
			t.Errorf("admin cannot log in with the generated password: %v", err)
		}
		again, _ := fx.seeder.Apply(ctx, f)
		if len(again.Generated) != 0 {
			t.Errorf("a second Apply generated a password again")
		}
	})
}

// TestConcurrentSeeders starts several seeders at once on one database, as
// several servers starting together would: they end consistent, with each
// entry written once and the later seeders finding nothing to do.
func TestConcurrentSeeders(t *testing.T) {
	forEachBackend(t, func(t *testing.T, store storage.Store) {
		ctx := context.Background()
		fx := newFixture(t, store, nil)
		f := parse(t, base, defaultEnv)
		const n = 4
		var wg sync.WaitGroup
		results := make([]seed.Result, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() { results[i], errs[i] = fx.seeder.Apply(ctx, f) })
		}
		wg.Wait()
		total := 0
		for i := range n {
			if errs[i] != nil {
				t.Errorf("seeder %d: %v", i, errs[i])
			}
			total += len(results[i].Changes)
		}
		if total != 13 {
			t.Errorf("concurrent seeders made %d changes in all, want 13 (one seeder's worth)", total)
		}
		roles, _ := store.ListRoles(ctx)
		clients, _ := store.ListClients(ctx)
		if len(roles) != 4 || len(clients) != 3 {
			t.Errorf("after racing seeders: %d roles, %d clients; want 4, 3", len(roles), len(clients))
		}
		if again, err := fx.seeder.Apply(ctx, f); err != nil || len(again.Changes) != 0 {
			t.Errorf("Apply after the race = %v, %v; want no changes", lines(again.Changes), err)
		}
	})
}

// TestExampleSeed checks the seed shipped as the default GAIA_SEED_FILE.
func TestExampleSeed(t *testing.T) {
	getenv := env(map[string]string{"GAIA_WEB_CLIENT_SECRET": secret, "INVENTORY_SERVICE_SECRET": secret})
	f, err := seed.Load("../../seed.example.yaml", getenv)
	if err != nil {
		t.Fatal(err)
	}
	var roles, depts []string
	for _, r := range f.Roles {
		roles = append(roles, r.Name)
	}
	for _, d := range f.Departments {
		depts = append(depts, d.Code)
	}
	for _, want := range []string{"InventoryViewer", "InventoryManager", "PlatformAdmin", "SecurityAuditor"} {
		if !slices.Contains(roles, want) {
			t.Errorf("example seed lacks role %s", want)
		}
	}
	if !slices.Equal(depts, []string{"INVENTORY", "PLATFORM", "SECURITY"}) {
		t.Errorf("example departments = %v", depts)
	}
	if _, err := seed.Load("../../seed.example.yaml", env(nil)); err != nil {
		t.Errorf("Load without client secrets = %v, want them needed only to create the clients", err)
	}
	if _, err := os.Stat("../../seed.example.yaml"); err != nil {
		t.Fatal(err)
	}
}

// TestClientSecretsOnlyToCreate: the secret_env of a client is needed to
// create it, and not once it exists.
func TestClientSecretsOnlyToCreate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, store storage.Store) {
		ctx := context.Background()
		fx := newFixture(t, store, nil)
		noWeb := env(map[string]string{"SVC_SECRET": secret, "ADMIN_PW": "correct horse battery"})
		_, err := fx.seeder.Apply(ctx, parse(t, base, noWeb))
		if err == nil || !strings.Contains(err.Error(), `client "web": environment variable WEB_SECRET is not set (needed to create the client)`) {
			t.Fatalf("Apply creating web without its secret = %v, want an error naming the variable", err)
		}
		if _, err := fx.seeder.Plan(ctx, parse(t, base, noWeb)); err == nil {
			t.Error("Plan creating web without its secret succeeded")
		}
		if ps, _ := store.ListPermissions(ctx); len(ps) != 0 {
			t.Errorf("a refused seed wrote %d permissions", len(ps))
		}
		if _, err := fx.seeder.Apply(ctx, parse(t, base, defaultEnv)); err != nil {
			t.Fatal(err)
		}
		res, err := fx.seeder.Apply(ctx, parse(t, base, env(nil)))
		if err != nil || len(res.Changes) != 0 {
			t.Errorf("Apply with the clients existing and no secrets = %v, %v; want no changes", res.Changes, err)
		}
	})
}

// TestInUseDeletionsRefusedAndAudited: a seed deleting a department with
// members, a role a client holds, or a permission a held role grants is
// refused whole; Plan marks those deletions; every change applied is
// audited by the seed, in its transaction.
func TestInUseDeletionsRefusedAndAudited(t *testing.T) {
	forEachBackend(t, func(t *testing.T, store storage.Store) {
		ctx := context.Background()
		fx := newFixture(t, store, nil)
		res, err := fx.seeder.Apply(ctx, parse(t, base, defaultEnv))
		if err != nil {
			t.Fatal(err)
		}
		events, err := store.ListAudit(ctx, storage.AuditFilter{Action: "seed."})
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != len(res.Changes) {
			t.Fatalf("%d seed audit events for %d changes", len(events), len(res.Changes))
		}
		for _, e := range events {
			if e.ActorType != "system" || e.ActorName != "seed" || e.Action != "seed.create" || e.Outcome != "success" || e.TargetID == "" {
				t.Errorf("seed audit event %+v", e)
			}
		}

		// svc holds InventoryViewer; admin is in INVENTORY; inventory.read is
		// granted by roles admin holds.
		for _, tc := range []struct{ name, changed, want string }{
			{"department with members", strings.NewReplacer(
				"  - {code: INVENTORY, name: Inventory, allowed_roles: [InventoryViewer, InventoryManager, Legacy]}\n", "",
				"departments: [PLATFORM, INVENTORY]\n    roles: [PlatformAdmin, Legacy]", "departments: [PLATFORM]\n    roles: [PlatformAdmin]",
				"    roles: [InventoryViewer]\n", "",
				"  - {name: Legacy, permissions: [inventory.read]}\n", "",
				"  - {name: InventoryViewer, permissions: [inventory.read]}\n", "",
				"  - {name: InventoryManager, permissions: [inventory.read, inventory.write]}\n", "",
			).Replace(base), "- department INVENTORY: its members leave it; in use: user admin"},
			{"role a client holds", strings.NewReplacer(
				"  - {name: InventoryViewer, permissions: [inventory.read]}\n", "",
				"allowed_roles: [InventoryViewer, InventoryManager, Legacy]", "allowed_roles: [InventoryManager, Legacy]",
				"    roles: [InventoryViewer]\n", "",
			).Replace(base), "- role InventoryViewer: unassigned from every user and client; in use: client svc"},
			{"permission a held role grants", strings.NewReplacer(
				"  - {name: inventory.read, description: Read inventory}\n", "",
				"[inventory.read, inventory.write]", "[inventory.write]",
				"{name: InventoryViewer, permissions: [inventory.read]}", "{name: InventoryViewer}",
				"[iam.user.create, inventory.read]", "[iam.user.create]",
				"{name: Legacy, permissions: [inventory.read]}", "{name: Legacy}",
			).Replace(base), "- permission inventory.read: in use: granted by role"},
		} {
			before, _ := store.ListAudit(ctx, storage.AuditFilter{})
			f := parse(t, tc.changed, defaultEnv)
			plan, err := fx.seeder.Plan(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(plan, func(c seed.Change) bool { return strings.HasPrefix(c.String(), tc.want) })
			if i < 0 || !plan[i].Cascade {
				t.Errorf("%s: plan does not mark %q:\n%s", tc.name, tc.want, strings.Join(lines(plan), "\n"))
			}
			_, err = fx.seeder.Apply(ctx, f)
			if !errors.Is(err, seed.ErrRemovesInUse) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: Apply = %v, want ErrRemovesInUse naming %q", tc.name, err, tc.want)
			}
			if after, _ := store.ListAudit(ctx, storage.AuditFilter{}); len(after) != len(before) {
				t.Errorf("%s: a refused seed wrote %d audit events", tc.name, len(after)-len(before))
			}
			if again, _ := fx.seeder.Plan(ctx, parse(t, base, defaultEnv)); len(again) != 0 {
				t.Errorf("%s: a refused seed changed the store: %v", tc.name, lines(again))
			}
		}

		// Allowed, the deletion is made and audited with its detail.
		f := parse(t, strings.NewReplacer(
			"  - {name: InventoryViewer, permissions: [inventory.read]}\n", "",
			"allowed_roles: [InventoryViewer, InventoryManager, Legacy]", "allowed_roles: [InventoryManager, Legacy]",
			"    roles: [InventoryViewer]\n", "",
		).Replace(base), defaultEnv)
		if _, err := fx.seeder.ApplyCascading(ctx, f); err != nil {
			t.Fatal(err)
		}
		del, err := store.ListAudit(ctx, storage.AuditFilter{Action: "seed.delete"})
		if err != nil || len(del) != 1 || del[0].TargetType != "role" || del[0].TargetID != "InventoryViewer" ||
			!strings.Contains(del[0].Details["change"], "in use: client svc") {
			t.Errorf("audit of the cascading deletion = %+v, %v", del, err)
		}
	})
}
