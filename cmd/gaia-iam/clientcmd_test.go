package main

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/gaia-platform/iam/rbac"
	"github.com/gaia-platform/iam/storage"
)

// checkClientSecret fails the test unless secret is the one the stored
// client's hash matches, as the token endpoint compares it.
func (o *operatorTest) checkClientSecret(clientID, secret string, want bool) {
	o.t.Helper()
	ctx := context.Background()
	c, err := o.store.GetClient(ctx, clientID)
	if err != nil {
		o.t.Fatal(err)
	}
	hash, err := o.domain.ClientSecrets.HashString(ctx, secret)
	if err != nil {
		o.t.Fatal(err)
	}
	err = o.domain.ClientSecrets.Compare(ctx, []byte(c.SecretHash), []byte(secret))
	if want && (err != nil || hash != c.SecretHash) {
		o.t.Errorf("secret of %s: Compare = %v, hash equal %v; want it to match the stored hash", clientID, err, hash == c.SecretHash)
	}
	if !want && err == nil {
		o.t.Errorf("secret of %s still matches the stored hash", clientID)
	}
}

func TestClientCreate(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, o *operatorTest) {
		ctx := context.Background()
		r := o.mustRun("", "client", "create", "--client-id", "reports", "--name", "Reports service",
			"--grant-type", "client_credentials", "--scope", "reports", "--audience", "gaia", "--audience", "reports",
			"--role", "InventoryViewer", "--role", "AnalyticsViewer")
		secret := o.printedOnce(r)
		if len(secret) != 43 {
			t.Errorf("secret %q is %d characters, want 43", secret, len(secret))
		}
		if !strings.Contains(r.stdout, `Client secret of "reports"`) {
			t.Errorf("stdout does not label the secret:\n%s", r.stdout)
		}
		o.checkClientSecret("reports", secret, true)
		c, err := o.store.GetClient(ctx, "reports")
		if err != nil {
			t.Fatal(err)
		}
		if c.Name != "Reports service" || c.Public || !c.Active || !slices.Equal(c.GrantTypes, []string{"client_credentials"}) ||
			!slices.Equal(c.Scopes, []string{"reports"}) || !slices.Equal(c.Audiences, []string{"gaia", "reports"}) {
			t.Errorf("client = %+v", c)
		}
		if g, err := o.store.ClientGrants(ctx, "reports"); err != nil || !slices.Equal(g.Roles, []string{"AnalyticsViewer", "InventoryViewer"}) {
			t.Errorf("client roles = %v, %v", g.Roles, err)
		}
		o.checkAudit(o.audit("client.", "reports"), "client", "reports",
			[2]string{"client.create", "public=false,roles=InventoryViewer AnalyticsViewer"})

		r = o.mustRun("", "client", "create", "--client-id", "mobile", "--name", "Mobile app", "--public",
			"--grant-type", "password", "--grant-type", "refresh_token", "--scope", "openid")
		if strings.Contains(r.stdout, "store it now") || !strings.Contains(r.stdout, "no secret") {
			t.Errorf("a public client's creation printed:\n%s", r.stdout)
		}
		if c, err := o.store.GetClient(ctx, "mobile"); err != nil || !c.Public || c.SecretHash != "" {
			t.Errorf("public client = %+v, %v", c, err)
		}
		o.checkAudit(o.audit("client.", "mobile"), "client", "mobile", [2]string{"client.create", "public=true"})

		o.mustRun("", "client", "create", "--client-id", "spa", "--name", "SPA", "--public",
			"--grant-type", "authorization_code", "--grant-type", "refresh_token", "--scope", "openid",
			"--redirect-uri", "https://app.example/cb", "--redirect-uri", "http://127.0.0.1:5173/cb",
			"--post-logout-redirect-uri", "https://app.example/")
		if c, err := o.store.GetClient(ctx, "spa"); err != nil ||
			!slices.Equal(c.RedirectURIs, []string{"https://app.example/cb", "http://127.0.0.1:5173/cb"}) ||
			!slices.Equal(c.PostLogoutRedirectURIs, []string{"https://app.example/"}) {
			t.Errorf("authorization_code client = %+v, %v", c, err)
		}
	})
}

func TestClientCreateRefusals(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, o *operatorTest) {
		before, _ := o.store.ListClients(context.Background())
		events := len(o.audit("client.", ""))
		base := []string{"client", "create", "--client-id", "svc", "--name", "Service"}
		for _, tc := range []struct {
			name  string
			args  []string
			check func(error) bool
		}{
			{"taken client_id", []string{"client", "create", "--client-id", "gaia-web", "--name", "Again", "--grant-type", "password"},
				func(err error) bool { return errors.Is(err, storage.ErrConflict) }},
			{"unknown role", append(base, "--grant-type", "client_credentials", "--role", "InventoryViewer", "--role", "Nobody"),
				func(err error) bool {
					return errors.Is(err, storage.ErrNotFound) && strings.Contains(err.Error(), "Nobody")
				}},
			{"unknown grant type", append(base, "--grant-type", "implicit"),
				func(err error) bool { return errors.Is(err, rbac.ErrInvalidInput) }},
			{"public client_credentials", append(base, "--grant-type", "client_credentials", "--public"),
				func(err error) bool { return errors.Is(err, rbac.ErrInvalidInput) }},
			{"bad scope", append(base, "--grant-type", "password", "--scope", `a"b`),
				func(err error) bool { return errors.Is(err, rbac.ErrInvalidInput) }},
			{"bad client_id", []string{"client", "create", "--client-id", "my svc", "--name", "S", "--grant-type", "password"},
				func(err error) bool { return errors.Is(err, rbac.ErrInvalidInput) }},
			{"no grant type", base, func(err error) bool { return errors.Is(err, errUsage) }},
			{"no name", []string{"client", "create", "--client-id", "svc", "--grant-type", "password"}, func(err error) bool { return errors.Is(err, errUsage) }},
			{"no client_id", []string{"client", "create", "--name", "S", "--grant-type", "password"}, func(err error) bool { return errors.Is(err, errUsage) }},
			{"secret as a flag", append(base, "--grant-type", "client_credentials", "--client-secret", "x"), func(err error) bool { return errors.Is(err, errUsage) }},
		} {
			r := o.run("", tc.args...)
			if !tc.check(r.err) {
				t.Errorf("%s: client create = %v (stderr %q)", tc.name, r.err, r.stderr)
			}
			if strings.Contains(r.stdout, "store it now") {
				t.Errorf("%s: a refused create printed a secret:\n%s", tc.name, r.stdout)
			}
		}
		if after, _ := o.store.ListClients(context.Background()); len(after) != len(before) {
			t.Errorf("refused creates left %d clients, want %d", len(after), len(before))
		}
		if n := len(o.audit("client.", "")); n != events {
			t.Errorf("refused creates wrote %d audit events, want none", n-events)
		}
	})
}

func TestClientRotateSecret(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, o *operatorTest) {
		old := o.printedOnce(o.mustRun("", "client", "create", "--client-id", "svc", "--name", "Service", "--grant-type", "client_credentials"))
		r := o.mustRun("", "client", "rotate-secret", "--client-id", "svc")
		secret := o.printedOnce(r)
		if secret == old {
			t.Fatal("rotate-secret printed the old secret")
		}
		o.checkClientSecret("svc", secret, true)
		o.checkClientSecret("svc", old, false)
		// A seeded client's secret can be rotated too.
		seeded := o.getenv("INVENTORY_SERVICE_SECRET")
		o.checkClientSecret("inventory-service", seeded, true)
		fresh := o.printedOnce(o.mustRun("", "client", "rotate-secret", "--client-id", "inventory-service"))
		o.checkClientSecret("inventory-service", fresh, true)
		o.checkClientSecret("inventory-service", seeded, false)
		o.checkAudit(o.audit("client.secret.rotate", "svc"), "client", "svc", [2]string{"client.secret.rotate", ""})

		if r := o.run("", "client", "rotate-secret", "--client-id", "gaia-cli"); !errors.Is(r.err, rbac.ErrPublicClient) || strings.Contains(r.stdout, "store it now") {
			t.Errorf("rotate-secret of a public client = %v, %q; want ErrPublicClient and no secret", r.err, r.stdout)
		}
		if c, _ := o.store.GetClient(context.Background(), "gaia-cli"); c.SecretHash != "" {
			t.Error("the public client has a secret now")
		}
		if r := o.run("", "client", "rotate-secret", "--client-id", "nobody"); !errors.Is(r.err, storage.ErrNotFound) {
			t.Errorf("rotate-secret of an unknown client = %v, want ErrNotFound", r.err)
		}
		if r := o.run("", "client", "rotate-secret"); !errors.Is(r.err, errUsage) {
			t.Errorf("rotate-secret with no client-id = %v, want a usage error", r.err)
		}
		if n := len(o.audit("client.secret.rotate", "")); n != 2 {
			t.Errorf("%d rotation events, want 2", n)
		}
	})
}

// TestErrorsShowNoStorageInternals: a duplicate user or client is said in
// plain words, not as the database's constraint error.
func TestErrorsShowNoStorageInternals(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, o *operatorTest) {
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"user", "create", "--username", "admin"}, `user "admin": exists already`},
			{[]string{"client", "create", "--client-id", "gaia-cli", "--name", "x", "--public", "--grant-type", "password"}, "exists already"},
		} {
			r := o.run("", tc.args...)
			if r.err == nil || !errors.Is(r.err, storage.ErrConflict) || !strings.Contains(r.err.Error(), tc.want) {
				t.Errorf("gaia-iam %s = %v, want a conflict saying %q", strings.Join(tc.args, " "), r.err, tc.want)
				continue
			}
			for _, internal := range []string{"constraint", "UNIQUE", "SQLSTATE", "2067", "_key", "duplicate key"} {
				if strings.Contains(r.err.Error(), internal) || strings.Contains(r.stderr, internal) {
					t.Errorf("gaia-iam %s shows storage internals (%s): %v\n%s", strings.Join(tc.args, " "), internal, r.err, r.stderr)
				}
			}
		}
	})
}

// TestListAndDelete: user and client list and delete, audited as the
// operator.
func TestListAndDelete(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, o *operatorTest) {
		ctx := context.Background()
		o.mustRun("", "user", "create", "--username", "temp", "--department", "INVENTORY")
		r := o.mustRun("", "user", "list")
		if !strings.Contains(r.stdout, "admin ") || !strings.Contains(r.stdout, "temp ") {
			t.Errorf("user list printed\n%s", r.stdout)
		}
		if r := o.mustRun("", "user", "list", "--department", "INVENTORY", "--role", "PlatformAdmin"); strings.Contains(r.stdout, "temp") || !strings.Contains(r.stdout, "admin") {
			t.Errorf("user list --department INVENTORY --role PlatformAdmin printed\n%s", r.stdout)
		}
		id := o.user("temp").ID
		o.mustRun("", "user", "delete", "--username", "temp")
		if _, err := o.store.GetUserByUsername(ctx, "temp"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("user temp after delete: %v", err)
		}
		o.checkAudit(o.audit("user.delete", id), "user", id, [2]string{"user.delete", "username=temp"})
		if r := o.run("", "user", "delete", "--username", "temp"); !errors.Is(r.err, storage.ErrNotFound) {
			t.Errorf("deleting a deleted user = %v, want not found", r.err)
		}

		r = o.mustRun("", "client", "list")
		for _, want := range []string{"gaia-cli", "public", "inventory-service", "confidential"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("client list lacks %q:\n%s", want, r.stdout)
			}
		}
		o.mustRun("", "client", "delete", "--client-id", "gaia-cli")
		if _, err := o.store.GetClient(ctx, "gaia-cli"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("client gaia-cli after delete: %v", err)
		}
		o.checkAudit(o.audit("client.delete", "gaia-cli"), "client", "gaia-cli", [2]string{"client.delete", ""})
	})
}
