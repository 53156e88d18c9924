package storagetest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gaia-platform/iam/storage"
)

var clientsCases = []testCase{
	{"CreateGet", testClientCreateGet},
	{"SecretRule", testClientSecretRule},
	{"Update", testClientUpdate},
	{"UpdateAbort", testClientUpdateAbort},
	{"Delete", testClientDelete},
	{"List", testClientList},
	{"Roles", testClientRoles},
}

func testClientCreateGet(t *testing.T, s storage.Store) {
	ctx := t.Context()
	c := &storage.Client{
		ClientID:   "gaia-web",
		Name:       "Gaia web app",
		SecretHash: "$argon2id$secret",
		GrantTypes: []string{"password", "refresh_token"},
		Scopes:     []string{"openid", "profile", "email", "offline_access"},
		Audiences:  []string{"gaia", "inventory"},
		Active:     true,
	}
	ok(t, "CreateClient", s.CreateClient(ctx, c))
	if id, err := uuid.Parse(c.ID); err != nil || id.String() != c.ID {
		t.Errorf("CreateClient assigned ID %q, want a canonical UUID", c.ID)
	}
	if c.CreatedAt.IsZero() || !c.UpdatedAt.Equal(c.CreatedAt) || c.CreatedAt.Nanosecond()%1000 != 0 {
		t.Errorf("CreateClient set CreatedAt %v, UpdatedAt %v, want both now at µs precision", c.CreatedAt, c.UpdatedAt)
	}
	got, err := s.GetClient(ctx, "gaia-web")
	ok(t, "GetClient", err)
	if !sameClient(got, c) {
		t.Errorf("GetClient = %+v, want %+v", got, c)
	}

	// A public client with no lists at all.
	pub := &storage.Client{ClientID: "cli", Public: true}
	ok(t, "CreateClient(cli)", s.CreateClient(ctx, pub))
	got, err = s.GetClient(ctx, "cli")
	ok(t, "GetClient(cli)", err)
	if !sameClient(got, pub) || got.Active {
		t.Errorf("GetClient(cli) = %+v, want %+v", got, pub)
	}
	for name, l := range map[string][]string{"GrantTypes": got.GrantTypes, "Scopes": got.Scopes, "Audiences": got.Audiences} {
		if l == nil || len(l) != 0 {
			t.Errorf("GetClient(cli).%s = %#v, want []", name, l)
		}
	}

	is(t, "CreateClient(gaia-web) again",
		s.CreateClient(ctx, &storage.Client{ClientID: "gaia-web", Public: true}), storage.ErrConflict)
	_, err = s.GetClient(ctx, "nope")
	is(t, "GetClient(nope)", err, storage.ErrNotFound)
	_, err = s.GetClient(ctx, "GAIA-WEB")
	is(t, "GetClient(GAIA-WEB)", err, storage.ErrNotFound)

	created := time.Date(2023, 5, 6, 7, 8, 9, 999999999, time.UTC)
	old := &storage.Client{ClientID: "old", Public: true, CreatedAt: created}
	ok(t, "CreateClient(old)", s.CreateClient(ctx, old))
	got, err = s.GetClient(ctx, "old")
	ok(t, "GetClient(old)", err)
	if want := created.Truncate(time.Microsecond); !got.CreatedAt.Equal(want) {
		t.Errorf("GetClient(old).CreatedAt = %v, want %v", got.CreatedAt, want)
	}
}

func testClientSecretRule(t *testing.T, s storage.Store) {
	ctx := t.Context()
	if err := s.CreateClient(ctx, &storage.Client{ClientID: "pub", Public: true, SecretHash: "$argon2id$x"}); err == nil {
		t.Errorf("CreateClient(public, with a secret) = nil, want an error")
	}
	if err := s.CreateClient(ctx, &storage.Client{ClientID: "conf"}); err == nil {
		t.Errorf("CreateClient(confidential, no secret) = nil, want an error")
	}
	cs, err := s.ListClients(ctx)
	if err != nil || len(cs) != 0 {
		t.Errorf("ListClients after rejected creates = %+v, %v, want none", cs, err)
	}
	c := mkClient(t, s, "svc")
	_, err = s.UpdateClient(ctx, c.ClientID, func(c *storage.Client) error {
		c.SecretHash = ""
		return nil
	})
	if err == nil {
		t.Errorf("UpdateClient removing the secret of a confidential client = nil, want an error")
	}
}

func testClientUpdate(t *testing.T, s storage.Store) {
	ctx := t.Context()
	c := mkClient(t, s, "svc")
	got, err := s.UpdateClient(ctx, "svc", func(x *storage.Client) error {
		if !sameClient(x, c) {
			t.Errorf("UpdateClient passed fn %+v, want %+v", x, c)
		}
		x.Name = "Inventory service"
		x.Scopes = append(x.Scopes, "inventory")
		x.Audiences = nil
		x.Public, x.SecretHash = true, ""
		x.Active = false
		return nil
	})
	ok(t, "UpdateClient", err)
	want := *c
	want.Name, want.Scopes, want.Audiences = "Inventory service", []string{"openid", "inventory"}, []string{}
	want.Public, want.SecretHash, want.Active = true, "", false
	want.UpdatedAt = got.UpdatedAt
	if !sameClient(got, &want) || got.UpdatedAt.Before(c.UpdatedAt) {
		t.Errorf("UpdateClient = %+v, want %+v", got, &want)
	}
	stored, err := s.GetClient(ctx, "svc")
	ok(t, "GetClient", err)
	if !sameClient(stored, got) {
		t.Errorf("GetClient after UpdateClient = %+v, want %+v", stored, got)
	}

	// The client_id may change, to one not taken.
	mkClient(t, s, "other")
	_, err = s.UpdateClient(ctx, "svc", func(x *storage.Client) error { x.ClientID = "other"; return nil })
	is(t, "UpdateClient to a taken client_id", err, storage.ErrConflict)
	_, err = s.UpdateClient(ctx, "svc", func(x *storage.Client) error { x.ClientID = "inventory"; return nil })
	ok(t, "UpdateClient renaming", err)
	if _, err := s.GetClient(ctx, "inventory"); err != nil {
		t.Errorf("GetClient(inventory) after renaming: %v", err)
	}
	_, err = s.UpdateClient(ctx, "svc", func(*storage.Client) error { return nil })
	is(t, "UpdateClient(old client_id)", err, storage.ErrNotFound)
}

func testClientUpdateAbort(t *testing.T, s storage.Store) {
	ctx := t.Context()
	c := mkClient(t, s, "svc")
	errStop := errors.New("stop")
	got, err := s.UpdateClient(ctx, "svc", func(x *storage.Client) error {
		x.Name = "changed"
		return errStop
	})
	is(t, "UpdateClient with fn failing", err, errStop)
	if got != nil {
		t.Errorf("UpdateClient with fn failing returned %+v, want nil", got)
	}
	_, err = s.UpdateClient(ctx, "svc", func(x *storage.Client) error {
		x.ID = uuid.NewString()
		x.Name = "changed"
		return nil
	})
	if err == nil {
		t.Errorf("UpdateClient changing the ID = nil, want an error")
	}
	stored, err := s.GetClient(ctx, "svc")
	ok(t, "GetClient", err)
	if !sameClient(stored, c) {
		t.Errorf("GetClient after failed updates = %+v, want %+v", stored, c)
	}
}

func testClientDelete(t *testing.T, s storage.Store) {
	ctx := t.Context()
	mkClient(t, s, "svc")
	ok(t, "DeleteClient", s.DeleteClient(ctx, "svc"))
	_, err := s.GetClient(ctx, "svc")
	is(t, "GetClient after DeleteClient", err, storage.ErrNotFound)
	is(t, "DeleteClient again", s.DeleteClient(ctx, "svc"), storage.ErrNotFound)
	_, err = s.UpdateClient(ctx, "svc", func(*storage.Client) error { return nil })
	is(t, "UpdateClient after DeleteClient", err, storage.ErrNotFound)
}

func testClientList(t *testing.T, s storage.Store) {
	ctx := t.Context()
	cs, err := s.ListClients(ctx)
	if err != nil || cs == nil || len(cs) != 0 {
		t.Errorf("ListClients on an empty store = %#v, %v, want []", cs, err)
	}
	b := mkClient(t, s, "inventory-service")
	a := mkClient(t, s, "gaia-web")
	c := mkClient(t, s, "Zeta")
	cs, err = s.ListClients(ctx)
	ok(t, "ListClients", err)
	want := []*storage.Client{c, a, b} // byte order
	if len(cs) != len(want) {
		t.Fatalf("ListClients = %+v, want %d clients", cs, len(want))
	}
	for i := range cs {
		if !sameClient(&cs[i], want[i]) {
			t.Errorf("ListClients[%d] = %+v, want %+v", i, cs[i], want[i])
		}
	}
}

func testClientRoles(t *testing.T, s storage.Store) {
	ctx := t.Context()
	read, write := mkPermission(t, s, "inventory.read"), mkPermission(t, s, "inventory.write")
	viewer := mkRole(t, s, "InventoryViewer", read)
	editor := mkRole(t, s, "InventoryEditor", read, write)
	c := mkClient(t, s, "inventory-service")

	g, err := s.ClientGrants(ctx, c.ClientID)
	ok(t, "ClientGrants", err)
	nonNilEqual(t, "ClientGrants roles of a new client", g.Roles, []string{})
	nonNilEqual(t, "ClientGrants permissions of a new client", g.Permissions, []string{})

	ok(t, "AssignClientRole(InventoryViewer)", s.AssignClientRole(ctx, c.ClientID, viewer.ID))
	ok(t, "AssignClientRole(InventoryEditor)", s.AssignClientRole(ctx, c.ClientID, editor.ID))
	is(t, "AssignClientRole again", s.AssignClientRole(ctx, c.ClientID, viewer.ID), storage.ErrConflict)
	is(t, "AssignClientRole(unknown client)", s.AssignClientRole(ctx, "nope", viewer.ID), storage.ErrConflict)
	is(t, "AssignClientRole(unknown role)", s.AssignClientRole(ctx, c.ClientID, uuid.NewString()), storage.ErrConflict)
	is(t, "AssignClientRole(not-a-uuid)", s.AssignClientRole(ctx, c.ClientID, "not-a-uuid"), storage.ErrConflict)

	g, err = s.ClientGrants(ctx, c.ClientID)
	ok(t, "ClientGrants", err)
	nonNilEqual(t, "ClientGrants roles", g.Roles, []string{"InventoryEditor", "InventoryViewer"})
	nonNilEqual(t, "ClientGrants permissions", g.Permissions, []string{"inventory.read", "inventory.write"})

	ok(t, "UnassignClientRole(InventoryEditor)", s.UnassignClientRole(ctx, c.ClientID, editor.ID))
	is(t, "UnassignClientRole again", s.UnassignClientRole(ctx, c.ClientID, editor.ID), storage.ErrNotFound)
	is(t, "UnassignClientRole(unknown client)", s.UnassignClientRole(ctx, "nope", viewer.ID), storage.ErrNotFound)
	g, err = s.ClientGrants(ctx, c.ClientID)
	ok(t, "ClientGrants", err)
	nonNilEqual(t, "ClientGrants roles after UnassignClientRole", g.Roles, []string{"InventoryViewer"})
	nonNilEqual(t, "ClientGrants permissions after UnassignClientRole", g.Permissions, []string{"inventory.read"})

	_, err = s.ClientGrants(ctx, "nope")
	is(t, "ClientGrants(unknown client)", err, storage.ErrNotFound)

	// Deleting the client deletes its assignments.
	ok(t, "DeleteClient", s.DeleteClient(ctx, c.ClientID))
	mkClient(t, s, c.ClientID)
	g, err = s.ClientGrants(ctx, c.ClientID)
	ok(t, "ClientGrants of the new client", err)
	nonNilEqual(t, "ClientGrants roles of the new client", g.Roles, []string{})
}
