package conformance

import (
	"context"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/gaia-platform/iam/password"
	"github.com/gaia-platform/iam/rbac"
	"github.com/gaia-platform/iam/rbac/admin"
	"github.com/gaia-platform/iam/rbac/admin/openapitest"
	"github.com/gaia-platform/iam/server"
	"github.com/gaia-platform/iam/storage"
	"github.com/gaia-platform/iam/storage/storagetest"
)

// delegation is a test bench for the rules of delegation: an admin client
// with the example seed's super-admin, and helpers to make narrow
// administrators.
type delegation struct {
	t    *testing.T
	l    *local
	root *adminClient // no token
	api  *adminClient // the admin
}

func newDelegation(t *testing.T, l *local) *delegation {
	v := openapitest.New(t, admin.Document)
	root := &adminClient{t: t, base: l.issuer + "/admin/v1", http: &http.Client{Transport: v.Transport(t, http.DefaultTransport)}}
	return &delegation{t: t, l: l, root: root, api: root.as(userToken(t, l.issuer, "admin", adminPassword).AccessToken)}
}

// role declares a role with perms, allowed by the department dept, as a
// seed would; the example seed has none this narrow.
func (d *delegation) role(name, dept string, perms ...string) {
	t, ctx, st := d.t, d.t.Context(), d.l.store
	all, err := st.ListPermissions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range all {
		if slices.Contains(perms, p.Name) {
			ids = append(ids, p.ID)
		}
	}
	r := &storage.Role{Name: name, Description: name}
	dep := &storage.Department{Code: dept, Name: dept}
	for _, err := range []error{
		st.CreateRole(ctx, r), st.SetRolePermissions(ctx, r.ID, ids),
		st.CreateDepartment(ctx, dep), st.SetDepartmentRoles(ctx, dep.ID, []string{r.ID}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// user creates a user in the departments holding the roles, through the
// admin API, and returns the user with an admin client acting as them.
func (d *delegation) user(name string, depts, roles []string) (admin.User, *adminClient) {
	pw := name + "'s long password"
	u := createUser(d.t, d.api, name, pw)
	for _, code := range depts {
		want(d.t, d.api.do("PUT", "/users/"+u.ID+"/departments/"+code, nil), http.StatusNoContent)
	}
	for _, r := range roles {
		want(d.t, d.api.do("PUT", "/users/"+u.ID+"/roles/"+r, nil), http.StatusNoContent)
	}
	return u, d.root.as(userToken(d.t, d.l.issuer, name, pw).AccessToken)
}

// adminID is the id of the example seed's admin.
func (d *delegation) adminID() string {
	u, err := d.l.store.GetUserByUsername(d.t.Context(), "admin")
	if err != nil {
		d.t.Fatal(err)
	}
	return u.ID
}

// refused checks a 403 delegation problem naming exactly missing.
func refused(t *testing.T, r reply, missing ...string) {
	t.Helper()
	p := r.problem(t, http.StatusForbidden, admin.KindDelegation)
	slices.Sort(missing)
	if !slices.Equal(p.MissingPermissions, missing) {
		t.Errorf("missing_permissions %v, want %v", p.MissingPermissions, missing)
	}
}

// TestDelegationAttacks replays the three escalations of issue 9: one
// admin permission was as good as all of them.
func TestDelegationAttacks(t *testing.T) {
	forEachLocal(t, nil, func(t *testing.T, l *local) {
		d := newDelegation(t, l)
		adminID := d.adminID()
		platformAdmin := []string{"iam.audit.read", "iam.client.manage", "iam.role.assign", "iam.security.manage", "iam.session.revoke",
			"iam.user.create", "iam.user.read", "iam.user.update"}
		without := func(held string) []string {
			return slices.DeleteFunc(slices.Clone(platformAdmin), func(p string) bool { return p == held })
		}

		t.Run("iam.role.assign alone", func(t *testing.T) {
			d.role("Assigner", "ASSIGNERS", "iam.role.assign")
			mallory, api := d.user("mallory", []string{"ASSIGNERS"}, []string{"Assigner"})
			api.do("PUT", "/users/"+mallory.ID+"/departments/PLATFORM", nil).problem(t, http.StatusForbidden, admin.KindSelfChange)
			api.do("PUT", "/users/"+mallory.ID+"/roles/PlatformAdmin", nil).problem(t, http.StatusForbidden, admin.KindSelfChange)
			api.do("DELETE", "/users/"+mallory.ID+"/departments/ASSIGNERS", nil).problem(t, http.StatusForbidden, admin.KindSelfChange)
			// Nor through an accomplice who holds nothing yet.
			acc, _ := d.user("accomplice", []string{"PLATFORM"}, nil)
			refused(t, api.do("PUT", "/users/"+acc.ID+"/roles/PlatformAdmin", nil), without("iam.role.assign")...)
			// Nor by taking the admin's roles away.
			refused(t, api.do("DELETE", "/users/"+adminID+"/roles/PlatformAdmin", nil),
				"analytics.report.view", "inventory.read", "inventory.write", "iam.audit.read", "iam.client.manage", "iam.security.manage",
				"iam.session.revoke", "iam.user.create", "iam.user.read", "iam.user.update")
			if e := permissionsOf(t, d.api, mallory.ID); !slices.Equal(e.Roles, []string{"Assigner"}) {
				t.Errorf("mallory holds %v, want [Assigner]", e.Roles)
			}
			if e := permissionsOf(t, d.api, acc.ID); len(e.Roles) != 0 {
				t.Errorf("the accomplice holds %v", e.Roles)
			}
			// What the role allows still works: a department for a user
			// who holds nothing.
			want(t, api.do("PUT", "/users/"+acc.ID+"/departments/ASSIGNERS", nil), http.StatusNoContent)
			want(t, api.do("PUT", "/users/"+acc.ID+"/roles/Assigner", nil), http.StatusNoContent)
		})

		t.Run("iam.client.manage alone", func(t *testing.T) {
			d.role("ClientManager", "CLIENT_MANAGERS", "iam.client.manage")
			_, api := d.user("oscar", []string{"CLIENT_MANAGERS"}, []string{"ClientManager"})
			body := map[string]any{"client_id": "backdoor", "name": "Backdoor",
				"grant_types": []string{"client_credentials"}, "roles": []string{"PlatformAdmin"}}
			refused(t, api.do("POST", "/clients", body), without("iam.client.manage")...)
			d.api.do("GET", "/clients/backdoor", nil).problem(t, http.StatusNotFound, admin.KindNotFound)
			// A client holding more than the caller: no new secret, no
			// new role, no disabling.
			want(t, d.api.do("POST", "/clients", body), http.StatusCreated)
			refused(t, api.do("POST", "/clients/backdoor/secret", nil), without("iam.client.manage")...)
			refused(t, api.do("PATCH", "/clients/backdoor", map[string]any{"active": false}), without("iam.client.manage")...)
			refused(t, api.do("DELETE", "/clients/backdoor", nil), without("iam.client.manage")...)
			refused(t, api.do("PUT", "/clients/inventory-service/roles/PlatformAdmin", nil), "inventory.read")
			// A client holding nothing the caller lacks is the caller's to run.
			delete(body, "roles")
			body["client_id"] = "harmless"
			var c admin.NewClientSecret
			want(t, api.do("POST", "/clients", body), http.StatusCreated).decode(t, &c)
			want(t, api.do("POST", "/clients/harmless/secret", nil), http.StatusOK)
			refused(t, api.do("PUT", "/clients/harmless/roles/InventoryViewer", nil), "inventory.read")
			cc := clientcredentials.Config{ClientID: "backdoor", ClientSecret: c.ClientSecret, TokenURL: l.issuer + "/oauth2/token"}
			if _, err := cc.Token(t.Context()); err == nil {
				t.Error("a token for the backdoor client with another client's secret")
			}
		})

		t.Run("iam.user.update alone", func(t *testing.T) {
			d.role("Updater", "UPDATERS", "iam.user.update")
			_, api := d.user("ursula", []string{"UPDATERS"}, []string{"Updater"})
			refused(t, api.do("PUT", "/users/"+adminID+"/password", map[string]any{"password": "ursula owns admin now"}),
				"analytics.report.view", "inventory.read", "inventory.write", "iam.audit.read", "iam.client.manage", "iam.security.manage",
				"iam.role.assign", "iam.session.revoke", "iam.user.create", "iam.user.read")
			if _, err := webConfig(l.issuer).PasswordCredentialsToken(t.Context(), "admin", "ursula owns admin now"); !isInvalidGrant(err) {
				t.Errorf("login with the password ursula set: %v, want invalid_grant", err)
			}
			userToken(t, l.issuer, "admin", adminPassword)
			refused(t, api.do("PATCH", "/users/"+adminID, map[string]any{"active": false}),
				"analytics.report.view", "inventory.read", "inventory.write", "iam.audit.read", "iam.client.manage", "iam.security.manage",
				"iam.role.assign", "iam.session.revoke", "iam.user.create", "iam.user.read")
			refused(t, api.do("DELETE", "/users/"+adminID, nil),
				"analytics.report.view", "inventory.read", "inventory.write", "iam.audit.read", "iam.client.manage", "iam.security.manage",
				"iam.role.assign", "iam.session.revoke", "iam.user.create", "iam.user.read")
		})

		// Every refusal is in the audit log, as a failure with its reason.
		var page admin.Page[admin.AuditEvent]
		want(t, d.api.do("GET", "/audit?outcome=failure&limit=200", nil), http.StatusOK).decode(t, &page)
		reasons := map[string]bool{}
		for _, e := range page.Items {
			reasons[e.Action+" "+e.Details["reason"]] = true
		}
		for _, w := range []string{
			"user.department.add self-change", "user.role.assign self-change", "user.role.assign delegation",
			"user.role.unassign delegation", "client.create delegation", "client.secret.rotate delegation",
			"client.disable delegation", "client.delete delegation", "client.role.assign delegation",
			"user.password.set delegation", "user.disable delegation", "user.delete delegation",
		} {
			if !reasons[w] {
				t.Errorf("no audited failure %q", w)
			}
		}
	})
}

// TestHelpDesk: the example seed's HelpDesk role resets an inventory
// clerk, not the admin; and what the actor holds is read at request time,
// not from its token.
func TestHelpDesk(t *testing.T) {
	forEachLocal(t, nil, func(t *testing.T, l *local) {
		d := newDelegation(t, l)
		adminID := d.adminID()
		clerk, _ := d.user("clerk", []string{"INVENTORY"}, []string{"InventoryViewer"})
		desk, api := d.user("desk", []string{"INVENTORY"}, []string{"HelpDesk", "InventoryManager"})

		want(t, api.do("PUT", "/users/"+clerk.ID+"/password", map[string]any{"password": "the clerk's new password"}), http.StatusNoContent)
		userToken(t, l.issuer, "clerk", "the clerk's new password")
		want(t, api.do("POST", "/users/"+clerk.ID+"/logout", nil), http.StatusOK)
		want(t, api.do("PATCH", "/users/"+clerk.ID, map[string]any{"active": false}), http.StatusOK)
		want(t, api.do("PATCH", "/users/"+clerk.ID, map[string]any{"active": true}), http.StatusOK)

		missing := []string{"analytics.report.view", "iam.audit.read", "iam.client.manage", "iam.role.assign", "iam.security.manage", "iam.user.create"}
		refused(t, api.do("PUT", "/users/"+adminID+"/password", map[string]any{"password": "the desk's own password"}), missing...)
		refused(t, api.do("POST", "/users/"+adminID+"/logout", nil), missing...)
		// No one changes their own active flag.
		api.do("PATCH", "/users/"+desk.ID, map[string]any{"active": false}).problem(t, http.StatusForbidden, admin.KindSelfChange)
		d.api.do("PATCH", "/users/"+adminID, map[string]any{"active": false}).problem(t, http.StatusForbidden, admin.KindSelfChange)
		d.api.do("DELETE", "/users/"+adminID+"/roles/AnalyticsViewer", nil).problem(t, http.StatusForbidden, admin.KindSelfChange)

		// The desk loses InventoryManager; its token still says
		// inventory.read, the database no longer does.
		want(t, d.api.do("DELETE", "/users/"+desk.ID+"/roles/InventoryManager", nil), http.StatusNoContent)
		refused(t, api.do("PUT", "/users/"+clerk.ID+"/password", map[string]any{"password": "the clerk's third password"}), "inventory.read")
	})
}

// TestPasswordSetEndsSessions: a password set by the admin API ends every
// login of the user at once, in the transaction that sets it.
func TestPasswordSetEndsSessions(t *testing.T) {
	forEachLocal(t, nil, func(t *testing.T, l *local) {
		d := newDelegation(t, l)
		u, _ := d.user("frank", nil, nil)
		conf := webConfig(l.issuer)
		tok := userToken(t, l.issuer, "frank", "frank's long password")
		want(t, d.api.do("PUT", "/users/"+u.ID+"/password", map[string]any{"password": "frank's newer password"}), http.StatusNoContent)
		if _, err := refresh(t, conf, tok); !isInvalidGrant(err) {
			t.Errorf("refresh with a refresh token from before the password set: %v, want invalid_grant", err)
		}
		userToken(t, l.issuer, "frank", "frank's newer password")
	})
}

// txProbe is the server's password hasher, reporting every hash made while
// the request's context carries a database transaction: Lock succeeds only
// inside one (and is harmless there).
type txProbe struct {
	rbac.PasswordHasher
	store  storage.Store
	hashes atomic.Int32
	inTx   atomic.Int32
}

func (p *txProbe) Hash(ctx context.Context, pw string) (string, error) {
	p.hashes.Add(1)
	if p.store.Lock(ctx, "probe") == nil {
		p.inTx.Add(1)
	}
	return p.PasswordHasher.Hash(ctx, pw)
}

// TestHashOutsideTransaction: creating a user and setting a password hash
// before the transaction opens, so that no write waits on argon2id (on
// SQLite a writing transaction holds the whole database's write turn).
func TestHashOutsideTransaction(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			h, err := password.NewHasher(password.OWASP(), 2)
			if err != nil {
				t.Fatal(err)
			}
			store := b.Open(t)
			probe := &txProbe{PasswordHasher: h, store: store}
			l := startLocal(t, store, func(c *server.Config) { c.PasswordHasher = probe })
			probe.hashes.Store(0) // the seed's bootstrap admin is not the point here
			probe.inTx.Store(0)
			d := newDelegation(t, l)
			u, _ := d.user("hana", nil, nil)
			want(t, d.api.do("PUT", "/users/"+u.ID+"/password", map[string]any{"password": "hana's newer password"}), http.StatusNoContent)
			if n, in := probe.hashes.Load(), probe.inTx.Load(); n != 2 || in != 0 {
				t.Errorf("%d passwords hashed, %d of them inside a transaction; want 2, none inside", n, in)
			}
		})
	}
}

// TestLookAlikeNames: the admin API refuses a username that mixes scripts
// or looks like an existing one, and a client_id that looks like a user id.
func TestLookAlikeNames(t *testing.T) {
	forEachLocal(t, nil, func(t *testing.T, l *local) {
		d := newDelegation(t, l)
		createUser(t, d.api, "acc-admin", "")
		for _, name := range []string{"асс-admin", "АСС-АDМIN", "acc-аdmin"} {
			p := d.api.do("POST", "/users", map[string]any{"username": name}).problem(t, http.StatusBadRequest, admin.KindValidation)
			if len(p.Errors) != 1 || p.Errors[0].Field != "username" {
				t.Errorf("POST /users %q: errors %+v, want one about username", name, p.Errors)
			}
		}
		createUser(t, d.api, "асе", "") // all Cyrillic, and no Latin "ace" yet
		d.api.do("POST", "/users", map[string]any{"username": "ace"}).problem(t, http.StatusBadRequest, admin.KindValidation)

		p := d.api.do("POST", "/clients", map[string]any{"client_id": "0190F1E2-7C4B-7000-8000-00000000CAFE", "name": "Sub clash",
			"grant_types": []string{"client_credentials"}}).problem(t, http.StatusBadRequest, admin.KindValidation)
		if len(p.Errors) != 1 || p.Errors[0].Field != "client_id" {
			t.Errorf("POST /clients with a UUID client_id: errors %+v, want one about client_id", p.Errors)
		}
	})
}

// TestServiceSelfChange: a service holding iam.client.manage may not
// change its own roles or active flag, nor delete itself.
func TestServiceSelfChange(t *testing.T) {
	forEachLocal(t, nil, func(t *testing.T, l *local) {
		d := newDelegation(t, l)
		d.role("ClientManager", "CLIENT_MANAGERS", "iam.client.manage")
		var c admin.NewClientSecret
		want(t, d.api.do("POST", "/clients", map[string]any{"client_id": "ops-bot", "name": "Ops bot",
			"grant_types": []string{"client_credentials"}, "roles": []string{"ClientManager"}}), http.StatusCreated).decode(t, &c)
		cc := clientcredentials.Config{ClientID: "ops-bot", ClientSecret: c.ClientSecret, TokenURL: l.issuer + "/oauth2/token"}
		tok, err := cc.Token(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		bot := d.root.as(tok.AccessToken)
		bot.do("PUT", "/clients/ops-bot/roles/ClientManager", nil).problem(t, http.StatusForbidden, admin.KindSelfChange)
		bot.do("PATCH", "/clients/ops-bot", map[string]any{"active": false}).problem(t, http.StatusForbidden, admin.KindSelfChange)
		bot.do("DELETE", "/clients/ops-bot", nil).problem(t, http.StatusForbidden, admin.KindSelfChange)
		// Its name is not a grant: that it may change.
		want(t, bot.do("PATCH", "/clients/ops-bot", map[string]any{"name": "Ops robot"}), http.StatusOK)
		refused(t, bot.do("POST", "/clients", map[string]any{"client_id": "bot-2", "name": "Bot 2",
			"grant_types": []string{"client_credentials"}, "roles": []string{"InventoryViewer"}}), "inventory.read")
	})
}
