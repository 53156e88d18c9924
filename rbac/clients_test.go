package rbac_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/gaia-platform/iam/password"
	"github.com/gaia-platform/iam/rbac"
	"github.com/gaia-platform/iam/storage"
)

// hmacHasher hashes secrets as the token endpoint's hasher does: HMAC
// under a key, so equal secrets have equal hashes.
type hmacHasher struct{ key []byte }

func (h hmacHasher) hash(_ context.Context, secret string) (string, error) {
	m := hmac.New(sha256.New, h.key)
	m.Write([]byte(secret))
	return "hmac:" + base64.RawStdEncoding.EncodeToString(m.Sum(nil)), nil
}

// matches reports whether secret hashes to stored.
func (h hmacHasher) matches(stored, secret string) bool {
	got, _ := h.hash(context.Background(), secret)
	return subtle.ConstantTimeCompare([]byte(got), []byte(stored)) == 1
}

// newClients returns a Clients over store and the hasher it uses.
func newClients(t testing.TB, store storage.Store) (*rbac.Clients, hmacHasher) {
	t.Helper()
	h := hmacHasher{key: []byte("0123456789abcdef0123456789abcdef")}
	c, err := rbac.NewClients(store, h.hash, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return c, h
}

// checkSecret fails t unless secret is a fresh 43-character secret that
// the stored client's hash matches.
func checkSecret(t *testing.T, store storage.Store, h hmacHasher, clientID, secret string) {
	t.Helper()
	ctx := context.Background()
	if b, err := base64.RawURLEncoding.DecodeString(secret); err != nil || len(b) != 32 || len(secret) != 43 {
		t.Errorf("secret %q: want 32 random bytes, base64url without padding (43 characters)", secret)
	}
	rec, err := store.GetClient(ctx, clientID)
	if err != nil {
		t.Fatal(err)
	}
	if !h.matches(rec.SecretHash, secret) {
		t.Errorf("stored hash of %s = %q, want the hash of the returned secret", clientID, rec.SecretHash)
	}
}

func TestNewClientsRequiresDependencies(t *testing.T) {
	if _, err := rbac.NewClients(nil, nil, nil); err == nil {
		t.Error("NewClients(nil, nil, nil) = nil error, want one")
	}
}

func TestCreateClient(t *testing.T) {
	forEachBackend(t, func(t *testing.T, store storage.Store) {
		ctx := context.Background()
		catalog(t, store, testRoles, testDepts)
		clients, h := newClients(t, store)

		svc, secret, err := clients.Create(ctx, rbac.Operator, rbac.NewClient{
			ClientID:   "inventory-service",
			Name:       "Inventory service",
			GrantTypes: []string{"client_credentials"},
			Scopes:     []string{"inventory"},
			Audiences:  []string{"gaia", "inventory"},
			Roles:      []string{"PlatformAdmin", "InventoryViewer"},
		})
		if err != nil {
			t.Fatal(err)
		}
		checkSecret(t, store, h, "inventory-service", secret)
		if !svc.Active || svc.Public || svc.ID == "" || svc.SecretHash == "" || svc.CreatedAt.IsZero() {
			t.Errorf("Create = %+v, want an active confidential client with an ID, a hash and timestamps", svc)
		}
		got, err := clients.Get(ctx, "inventory-service")
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != "Inventory service" || !slices.Equal(got.GrantTypes, []string{"client_credentials"}) ||
			!slices.Equal(got.Scopes, []string{"inventory"}) || !slices.Equal(got.Audiences, []string{"gaia", "inventory"}) {
			t.Errorf("Get = %+v, want what Create was given", got)
		}
		if roles, err := clients.Roles(ctx, "inventory-service"); err != nil || !slices.Equal(roles, []string{"InventoryViewer", "PlatformAdmin"}) {
			t.Errorf("Roles = %v, %v; want [InventoryViewer PlatformAdmin]", roles, err)
		}

		// A second client gets another secret.
		_, other, err := clients.Create(ctx, rbac.Operator, rbac.NewClient{ClientID: "svc2", Name: "Second", GrantTypes: []string{"client_credentials"}})
		if err != nil {
			t.Fatal(err)
		}
		if other == secret {
			t.Error("two clients got the same secret")
		}

		cli, secret, err := clients.Create(ctx, rbac.Operator, rbac.NewClient{ClientID: "gaia-cli", Name: "CLI", Public: true, GrantTypes: []string{"password", "refresh_token"}})
		if err != nil {
			t.Fatal(err)
		}
		if secret != "" || cli.SecretHash != "" || !cli.Public {
			t.Errorf("public Create = %+v, secret %q; want a public client with no secret", cli, secret)
		}
		if cli.Scopes == nil || cli.Audiences == nil {
			t.Errorf("public Create = %+v, want empty lists, not nil", cli)
		}

		if _, _, err := clients.Create(ctx, rbac.Operator, rbac.NewClient{ClientID: "gaia-cli", Name: "Again", Public: true, GrantTypes: []string{"password"}}); !errors.Is(err, storage.ErrConflict) {
			t.Errorf("Create with a taken client_id = %v, want ErrConflict", err)
		}

		// An unknown role fails the whole creation.
		_, _, err = clients.Create(ctx, rbac.Operator, rbac.NewClient{ClientID: "orphan", Name: "Orphan", GrantTypes: []string{"client_credentials"}, Roles: []string{"InventoryViewer", "Nobody"}})
		if !errors.Is(err, storage.ErrNotFound) || !strings.Contains(err.Error(), "Nobody") {
			t.Errorf("Create with an unknown role = %v, want ErrNotFound naming the role", err)
		}
		if _, err := store.GetClient(ctx, "orphan"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("after a failed Create, GetClient = %v; want ErrNotFound (nothing stored)", err)
		}
	})
}

func TestClientValidation(t *testing.T) {
	valid := func() rbac.NewClient {
		return rbac.NewClient{ClientID: "web", Name: "Web", GrantTypes: []string{"password", "refresh_token"}, Scopes: []string{"openid"}, Audiences: []string{"gaia"}, Roles: []string{"InventoryViewer"}}
	}
	for _, tc := range []struct {
		name   string
		change func(*rbac.NewClient)
		fields []string // the fields reported, in order
		detail string   // a part of the first detail
	}{
		{"client_id empty", func(c *rbac.NewClient) { c.ClientID = "" }, []string{"client_id"}, "client_id must be"},
		{"client_id leading dot", func(c *rbac.NewClient) { c.ClientID = ".web" }, []string{"client_id"}, "client_id must be"},
		{"client_id with space", func(c *rbac.NewClient) { c.ClientID = "my app" }, []string{"client_id"}, "client_id must be"},
		{"client_id too long", func(c *rbac.NewClient) { c.ClientID = strings.Repeat("a", 129) }, []string{"client_id"}, "at most 128"},
		{"name empty", func(c *rbac.NewClient) { c.Name = "" }, []string{"name"}, "name is required"},
		{"name blank", func(c *rbac.NewClient) { c.Name = "  \t" }, []string{"name"}, "name is required"},
		{"name too long", func(c *rbac.NewClient) { c.Name = strings.Repeat("é", 256) }, []string{"name"}, "longer than 255"},
		{"name not UTF-8", func(c *rbac.NewClient) { c.Name = "\xff" }, []string{"name"}, "UTF-8"},
		{"no grant types", func(c *rbac.NewClient) { c.GrantTypes = nil }, []string{"grant_types"}, "grant_types is empty"},
		{"unknown grant type", func(c *rbac.NewClient) { c.GrantTypes = []string{"implicit"} }, []string{"grant_types"}, "grant_types[0] is not one of"},
		{"authorization_code without redirect_uris", func(c *rbac.NewClient) { c.GrantTypes = []string{"authorization_code", "refresh_token"} }, []string{"redirect_uris"}, "redirect_uris is empty"},
		{"authorization_code without refresh_token", func(c *rbac.NewClient) {
			code(c, "https://app.example/cb")
			c.GrantTypes = []string{"authorization_code"}
		}, []string{"grant_types"}, "needs refresh_token"},
		{"redirect_uris without the grant", func(c *rbac.NewClient) { c.RedirectURIs = []string{"https://app.example/cb"} }, []string{"redirect_uris"}, "for authorization_code clients only"},
		{"post-logout URI without the grant", func(c *rbac.NewClient) { c.PostLogoutRedirectURIs = []string{"https://app.example/"} }, []string{"redirect_uris"}, "for authorization_code clients only"},
		{"http redirect", func(c *rbac.NewClient) { code(c, "http://app.example/cb") }, []string{"redirect_uris"}, "redirect_uris[0] is not https"},
		{"fragment", func(c *rbac.NewClient) { code(c, "https://app.example/cb#x") }, []string{"redirect_uris"}, "has a fragment"},
		{"empty fragment", func(c *rbac.NewClient) { code(c, "https://app.example/cb#") }, []string{"redirect_uris"}, "has a fragment"},
		{"wildcard host", func(c *rbac.NewClient) { code(c, "https://*.example.com/cb") }, []string{"redirect_uris"}, "has a wildcard"},
		{"wildcard path", func(c *rbac.NewClient) { code(c, "https://app.example/*") }, []string{"redirect_uris"}, "has a wildcard"},
		{"relative", func(c *rbac.NewClient) { code(c, "/callback") }, []string{"redirect_uris"}, "not an absolute URI"},
		{"no host", func(c *rbac.NewClient) { code(c, "https:///cb") }, []string{"redirect_uris"}, "not an absolute URI"},
		{"custom scheme opaque", func(c *rbac.NewClient) { code(c, "javascript:alert(1)") }, []string{"redirect_uris"}, "not an absolute URI"},
		{"user info", func(c *rbac.NewClient) { code(c, "https://user@app.example/cb") }, []string{"redirect_uris"}, "user information"},
		{"space", func(c *rbac.NewClient) { code(c, "https://app.example/c b") }, []string{"redirect_uris"}, "space or a control character"},
		{"redirect twice", func(c *rbac.NewClient) { code(c, "https://app.example/cb", "https://app.example/cb") }, []string{"redirect_uris"}, "repeats an earlier URI"},
		{"post-logout http", func(c *rbac.NewClient) {
			code(c, "https://app.example/cb")
			c.PostLogoutRedirectURIs = []string{"http://app.example/"}
		}, []string{"post_logout_redirect_uris"}, "post_logout_redirect_uris[0] is not https"},
		{"grant type twice", func(c *rbac.NewClient) { c.GrantTypes = []string{"password", "password"} }, []string{"grant_types"}, "grant_types[1] repeats an earlier grant type"},
		{"public client_credentials", func(c *rbac.NewClient) { c.Public = true; c.GrantTypes = []string{"client_credentials"} }, []string{"grant_types"}, "needs a confidential client"},
		{"scope with space", func(c *rbac.NewClient) { c.Scopes = []string{"a b"} }, []string{"scopes"}, "scopes[0] is not an RFC 6749 scope token"},
		{"scope with quote", func(c *rbac.NewClient) { c.Scopes = []string{`a"b`} }, []string{"scopes"}, "RFC 6749 scope token"},
		{"scope with backslash", func(c *rbac.NewClient) { c.Scopes = []string{`a\b`} }, []string{"scopes"}, "RFC 6749 scope token"},
		{"scope empty", func(c *rbac.NewClient) { c.Scopes = []string{""} }, []string{"scopes"}, "RFC 6749 scope token"},
		{"scope too long", func(c *rbac.NewClient) { c.Scopes = []string{strings.Repeat("s", 129)} }, []string{"scopes"}, "RFC 6749 scope token"},
		{"scope twice", func(c *rbac.NewClient) { c.Scopes = []string{"openid", "openid"} }, []string{"scopes"}, "scopes[1] repeats an earlier scope"},
		{"audience empty", func(c *rbac.NewClient) { c.Audiences = []string{""} }, []string{"audiences"}, "audience is empty"},
		{"audience twice", func(c *rbac.NewClient) { c.Audiences = []string{"gaia", "gaia"} }, []string{"audiences"}, "audiences[1] repeats an earlier audience"},
		{"role twice", func(c *rbac.NewClient) { c.Roles = []string{"InventoryViewer", "InventoryViewer"} }, []string{"roles"}, "roles[1] repeats an earlier role"},
		{"every field at once", func(c *rbac.NewClient) {
			*c = rbac.NewClient{ClientID: "-", Public: true, GrantTypes: []string{"client_credentials", "x"}, Scopes: []string{" "}, Audiences: []string{""}, Roles: []string{"A", "A"}}
		}, []string{"client_id", "name", "grant_types", "grant_types", "scopes", "audiences", "roles"}, "client_id must be"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc := valid()
			tc.change(&nc)
			err := nc.Validate()
			var v *rbac.ValidationError
			if !errors.Is(err, rbac.ErrInvalidInput) || !errors.As(err, &v) {
				t.Fatalf("Validate() = %v, want a *ValidationError that is ErrInvalidInput", err)
			}
			var fields []string
			for _, f := range v.Fields {
				fields = append(fields, f.Field)
			}
			if !slices.Equal(fields, tc.fields) {
				t.Errorf("Validate() fields = %v, want %v (%v)", fields, tc.fields, err)
			}
			if !strings.Contains(v.Fields[0].Detail, tc.detail) {
				t.Errorf("Validate() detail = %q, want it to contain %q", v.Fields[0].Detail, tc.detail)
			}
		})
	}
	for _, uri := range []string{"https://app.example/cb", "http://127.0.0.1:5173/callback", "http://[::1]:8080/cb", "http://localhost/cb?x=1"} {
		nc := valid()
		code(&nc, uri)
		if err := nc.Validate(); err != nil {
			t.Errorf("Validate() with redirect URI %q = %v, want nil", uri, err)
		}
	}
	if err := valid().Validate(); err != nil {
		t.Errorf("Validate(valid) = %v", err)
	}
	public := rbac.NewClient{ClientID: "a.b_c-9", Name: strings.Repeat("é", 255), Public: true, GrantTypes: []string{"password", "refresh_token"}}
	if err := public.Validate(); err != nil {
		t.Errorf("Validate(%+v) = %v", public, err)
	}

	// Create refuses what Validate refuses, and stores nothing.
	forEachBackend(t, func(t *testing.T, store storage.Store) {
		clients, _ := newClients(t, store)
		nc := valid()
		nc.GrantTypes = []string{"implicit"}
		if _, secret, err := clients.Create(context.Background(), rbac.Operator, nc); !errors.Is(err, rbac.ErrInvalidInput) || secret != "" {
			t.Errorf("Create(invalid) = %q, %v; want no secret and ErrInvalidInput", secret, err)
		}
		if list, _ := clients.List(context.Background()); len(list) != 0 {
			t.Errorf("after Create(invalid), List = %v; want nothing", list)
		}
	})
}

func TestRotateClientSecret(t *testing.T) {
	forEachBackend(t, func(t *testing.T, store storage.Store) {
		ctx := context.Background()
		clients, h := newClients(t, store)
		before, old, err := clients.Create(ctx, rbac.Operator, rbac.NewClient{ClientID: "svc", Name: "Service", GrantTypes: []string{"client_credentials"}})
		if err != nil {
			t.Fatal(err)
		}
		secret, err := clients.RotateSecret(ctx, rbac.Operator, "svc")
		if err != nil {
			t.Fatal(err)
		}
		if secret == old {
			t.Fatal("RotateSecret returned the old secret")
		}
		checkSecret(t, store, h, "svc", secret)
		after, _ := store.GetClient(ctx, "svc")
		if h.matches(after.SecretHash, old) {
			t.Error("the old secret still matches the stored hash after rotation")
		}
		if after.SecretHash == before.SecretHash {
			t.Error("the stored hash did not change")
		}

		if _, _, err := clients.Create(ctx, rbac.Operator, rbac.NewClient{ClientID: "cli", Name: "CLI", Public: true, GrantTypes: []string{"password"}}); err != nil {
			t.Fatal(err)
		}
		if s, err := clients.RotateSecret(ctx, rbac.Operator, "cli"); !errors.Is(err, rbac.ErrPublicClient) || s != "" {
			t.Errorf("RotateSecret(public) = %q, %v; want ErrPublicClient", s, err)
		}
		if cli, _ := store.GetClient(ctx, "cli"); cli.SecretHash != "" || !cli.Public {
			t.Errorf("after RotateSecret(public), client = %+v; want it unchanged", cli)
		}
		if _, err := clients.RotateSecret(ctx, rbac.Operator, "nobody"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("RotateSecret(unknown) = %v, want ErrNotFound", err)
		}
	})
}

func TestUpdateClient(t *testing.T) {
	forEachBackend(t, func(t *testing.T, store storage.Store) {
		ctx := context.Background()
		clients, _ := newClients(t, store)
		orig, _, err := clients.Create(ctx, rbac.Operator, rbac.NewClient{ClientID: "web", Name: "Web", GrantTypes: []string{"password"}, Scopes: []string{"openid"}, Audiences: []string{"gaia"}})
		if err != nil {
			t.Fatal(err)
		}
		name, inactive := "Web app", false
		got, err := clients.Update(ctx, rbac.Operator, "web", rbac.ClientChange{Name: &name, Active: &inactive})
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != name || got.Active || !slices.Equal(got.Scopes, []string{"openid"}) || !slices.Equal(got.Audiences, []string{"gaia"}) || got.SecretHash != orig.SecretHash {
			t.Errorf("Update(name, active) = %+v; want name and active changed, the rest kept", got)
		}
		scopes, auds := []string{"openid", "profile"}, []string{}
		got, err = clients.Update(ctx, rbac.Operator, "web", rbac.ClientChange{Scopes: &scopes, Audiences: &auds})
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != name || got.Active || !slices.Equal(got.Scopes, scopes) || len(got.Audiences) != 0 {
			t.Errorf("Update(scopes, audiences) = %+v; want scopes and audiences changed, the rest kept", got)
		}
		stored, _ := clients.Get(ctx, "web")
		if stored.Name != name || stored.Active || !slices.Equal(stored.Scopes, scopes) || len(stored.Audiences) != 0 {
			t.Errorf("stored after Update = %+v", stored)
		}
		if got, err := clients.Update(ctx, rbac.Operator, "web", rbac.ClientChange{}); err != nil || got.Name != name {
			t.Errorf("Update(nothing) = %+v, %v; want the client as stored", got, err)
		}

		blank, badScopes, badAuds := "", []string{"ok", "no good"}, []string{"x", "x"}
		_, err = clients.Update(ctx, rbac.Operator, "web", rbac.ClientChange{Name: &blank, Scopes: &badScopes, Audiences: &badAuds})
		var v *rbac.ValidationError
		if !errors.As(err, &v) || !errors.Is(err, rbac.ErrInvalidInput) || len(v.Fields) != 3 ||
			v.Fields[0].Field != "name" || v.Fields[1].Field != "scopes" || v.Fields[2].Field != "audiences" {
			t.Errorf("Update(invalid) = %v, want a ValidationError for name, scopes and audiences", err)
		}
		if after, _ := clients.Get(ctx, "web"); after.Name != name {
			t.Errorf("after a refused Update the name is %q, want %q", after.Name, name)
		}
		if _, err := clients.Update(ctx, rbac.Operator, "nobody", rbac.ClientChange{Name: &name}); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Update(unknown) = %v, want ErrNotFound", err)
		}
		if _, err := clients.Update(ctx, rbac.Operator, "nobody", rbac.ClientChange{}); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Update(unknown, nothing) = %v, want ErrNotFound", err)
		}
	})
}

func TestDeleteAndListClients(t *testing.T) {
	forEachBackend(t, func(t *testing.T, store storage.Store) {
		ctx := context.Background()
		catalog(t, store, testRoles, testDepts)
		clients, _ := newClients(t, store)
		if list, err := clients.List(ctx); err != nil || len(list) != 0 {
			t.Errorf("List(empty) = %v, %v", list, err)
		}
		for _, id := range []string{"zeta", "alpha", "Mid"} {
			if _, _, err := clients.Create(ctx, rbac.Operator, rbac.NewClient{ClientID: id, Name: id, GrantTypes: []string{"client_credentials"}, Roles: []string{"Auditor"}}); err != nil {
				t.Fatal(err)
			}
		}
		list, err := clients.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, c := range list {
			ids = append(ids, c.ClientID)
			if c.SecretHash == "" {
				t.Errorf("List: %s has no hash", c.ClientID)
			}
		}
		if !slices.Equal(ids, []string{"Mid", "alpha", "zeta"}) {
			t.Errorf("List = %v, want sorted by client_id (byte order)", ids)
		}

		if err := clients.Delete(ctx, rbac.Operator, "alpha"); err != nil {
			t.Fatal(err)
		}
		if _, err := clients.Get(ctx, "alpha"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Get after Delete = %v, want ErrNotFound", err)
		}
		if _, err := clients.Roles(ctx, "alpha"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Roles after Delete = %v, want ErrNotFound", err)
		}
		if err := clients.Delete(ctx, rbac.Operator, "alpha"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Delete twice = %v, want ErrNotFound", err)
		}
		if list, _ := clients.List(ctx); len(list) != 2 {
			t.Errorf("List after Delete = %v, want 2 clients", list)
		}
		// The same client_id can be created afresh, with no roles left over.
		if _, _, err := clients.Create(ctx, rbac.Operator, rbac.NewClient{ClientID: "alpha", Name: "alpha", GrantTypes: []string{"client_credentials"}}); err != nil {
			t.Fatal(err)
		}
		if roles, err := clients.Roles(ctx, "alpha"); err != nil || len(roles) != 0 {
			t.Errorf("Roles of a recreated client = %v, %v; want none", roles, err)
		}
	})
}

func TestClientRoles(t *testing.T) {
	forEachBackend(t, func(t *testing.T, store storage.Store) {
		ctx := context.Background()
		catalog(t, store, testRoles, testDepts)
		clients, _ := newClients(t, store)
		if _, _, err := clients.Create(ctx, rbac.Operator, rbac.NewClient{ClientID: "svc", Name: "Service", GrantTypes: []string{"client_credentials"}}); err != nil {
			t.Fatal(err)
		}
		if roles, err := clients.Roles(ctx, "svc"); err != nil || roles == nil || len(roles) != 0 {
			t.Errorf("Roles(new client) = %#v, %v; want an empty list", roles, err)
		}
		// No department rule for clients: any role may be held.
		for _, r := range []string{"PlatformAdmin", "Auditor", "InventoryViewer"} {
			if err := clients.AssignRole(ctx, rbac.Operator, "svc", r); err != nil {
				t.Fatalf("AssignRole(%s) = %v", r, err)
			}
		}
		if roles, err := clients.Roles(ctx, "svc"); err != nil || !slices.Equal(roles, []string{"Auditor", "InventoryViewer", "PlatformAdmin"}) {
			t.Errorf("Roles = %v, %v; want them sorted", roles, err)
		}
		if g, _ := store.ClientGrants(ctx, "svc"); !slices.Equal(g.Permissions, []string{"iam.audit.read", "iam.user.create", "inventory.read"}) {
			t.Errorf("ClientGrants permissions = %v", g.Permissions)
		}
		if err := clients.AssignRole(ctx, rbac.Operator, "svc", "Auditor"); !errors.Is(err, storage.ErrConflict) {
			t.Errorf("AssignRole(held) = %v, want ErrConflict", err)
		}
		if err := clients.AssignRole(ctx, rbac.Operator, "svc", "Nobody"); !errors.Is(err, storage.ErrNotFound) || !strings.Contains(err.Error(), "Nobody") {
			t.Errorf("AssignRole(unknown role) = %v, want ErrNotFound naming it", err)
		}
		if err := clients.AssignRole(ctx, rbac.Operator, "nobody", "Auditor"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("AssignRole(unknown client) = %v, want ErrNotFound", err)
		}

		if err := clients.UnassignRole(ctx, rbac.Operator, "svc", "PlatformAdmin"); err != nil {
			t.Fatal(err)
		}
		if roles, _ := clients.Roles(ctx, "svc"); !slices.Equal(roles, []string{"Auditor", "InventoryViewer"}) {
			t.Errorf("Roles after UnassignRole = %v", roles)
		}
		if err := clients.UnassignRole(ctx, rbac.Operator, "svc", "PlatformAdmin"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("UnassignRole(not held) = %v, want ErrNotFound", err)
		}
		if err := clients.UnassignRole(ctx, rbac.Operator, "svc", "Nobody"); !errors.Is(err, storage.ErrNotFound) || !strings.Contains(err.Error(), "Nobody") {
			t.Errorf("UnassignRole(unknown role) = %v, want ErrNotFound naming it", err)
		}
		if err := clients.UnassignRole(ctx, rbac.Operator, "nobody", "Auditor"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("UnassignRole(unknown client) = %v, want ErrNotFound", err)
		}
		if _, err := clients.Roles(ctx, "nobody"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Roles(unknown client) = %v, want ErrNotFound", err)
		}
	})
}

// TestUserValidationErrors checks that user input errors name their fields.
func TestUserValidationErrors(t *testing.T) {
	forEachBackend(t, func(t *testing.T, store storage.Store) {
		ctx := context.Background()
		svc := newService(t, store)
		fields := func(err error) []string {
			var v *rbac.ValidationError
			if !errors.As(err, &v) || !errors.Is(err, rbac.ErrInvalidInput) {
				t.Fatalf("error %v is not a *ValidationError that is ErrInvalidInput", err)
			}
			var fs []string
			for _, f := range v.Fields {
				fs = append(fs, f.Field)
			}
			return fs
		}

		for _, tc := range []struct {
			name  string
			nu    rbac.NewUser
			want  []string
			cause error
		}{
			{"username", rbac.NewUser{Username: "two words"}, []string{"username"}, nil},
			{"email", rbac.NewUser{Username: "ok", Email: "Ok <ok@example.com>"}, []string{"email"}, nil},
			{"short password", rbac.NewUser{Username: "ok", Password: "short"}, []string{"password"}, password.ErrTooShort},
			{"long password", rbac.NewUser{Username: "ok", Password: strings.Repeat("x", password.MaxLength+1)}, []string{"password"}, password.ErrTooLong},
			{"all three", rbac.NewUser{Username: "", Email: "no", Password: "1"}, []string{"username", "email", "password"}, password.ErrTooShort},
		} {
			_, err := svc.CreateUser(ctx, tc.nu)
			if got := fields(err); !slices.Equal(got, tc.want) {
				t.Errorf("%s: CreateUser fields = %v, want %v (%v)", tc.name, got, tc.want, err)
			}
			if tc.cause != nil && !errors.Is(err, tc.cause) {
				t.Errorf("%s: CreateUser = %v, want errors.Is %v", tc.name, err, tc.cause)
			}
		}
		if _, err := rbac.NormalizeUsername("a\u200bb"); !slices.Equal(fields(err), []string{"username"}) {
			t.Errorf("NormalizeUsername fields = %v", fields(err))
		}

		_, err := svc.HashPassword(ctx, "short")
		if got := fields(err); !slices.Equal(got, []string{"password"}) || !errors.Is(err, password.ErrTooShort) {
			t.Errorf("HashPassword(short) = %v, want a password field error that is ErrTooShort", err)
		}
		if err.Error() != "invalid input: password too short" {
			t.Errorf("HashPassword(short) message = %q", err.Error())
		}
	})
}

// code makes c an authorization_code client with redirect URIs uris.
func code(c *rbac.NewClient, uris ...string) {
	c.GrantTypes = []string{"authorization_code", "refresh_token"}
	c.RedirectURIs = uris
}
