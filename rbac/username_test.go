package rbac_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/gaia-platform/iam/rbac"
	"github.com/gaia-platform/iam/storage"
)

// TestConfusableUsernames: a username that mixes scripts, or whose UTS #39
// skeleton is that of a stored one, is refused at creation; the same name
// again is the conflict it always was.
func TestConfusableUsernames(t *testing.T) {
	forEachBackend(t, func(t *testing.T, store storage.Store) {
		svc := newService(t, store)
		ctx := t.Context()
		for _, name := range []string{"acc-admin", "ace", "mike", "山田たろう", "ИВАН"} {
			if _, err := svc.CreateUser(ctx, rbac.NewUser{Username: name}); err != nil {
				t.Fatalf("CreateUser(%q) = %v", name, err)
			}
		}
		for _, tc := range []struct{ name, username, detail string }{
			{"Cyrillic а and с among Latin", "асс-admin", "scripts"},
			{"Greek ο in a Latin name", "bοb", "scripts"},
			{"all Cyrillic, looks like ace", "асе", "looks like"},
			{"r and n for m", "rnike", "looks like"},
			{"a name like no other", "bob", ""},
		} {
			_, err := svc.CreateUser(ctx, rbac.NewUser{Username: tc.username})
			if tc.detail == "" {
				if err != nil {
					t.Errorf("%s: CreateUser(%q) = %v, want it created", tc.name, tc.username, err)
				}
				continue
			}
			var v *rbac.ValidationError
			if !errors.As(err, &v) || len(v.Fields) != 1 || v.Fields[0].Field != "username" || !strings.Contains(v.Fields[0].Detail, tc.detail) {
				t.Errorf("%s: CreateUser(%q) = %v, want a username error saying %q", tc.name, tc.username, err, tc.detail)
			}
		}
		if _, err := svc.CreateUser(ctx, rbac.NewUser{Username: "ACC-Admin"}); !errors.Is(err, storage.ErrConflict) {
			t.Errorf("CreateUser(ACC-Admin) = %v, want ErrConflict", err)
		}
		users, err := store.ListUsers(ctx, storage.UserFilter{})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, u := range users {
			names = append(names, u.Username)
		}
		if want := []string{"acc-admin", "ace", "bob", "mike", "иван", "山田たろう"}; !slices.Equal(names, want) {
			t.Errorf("stored %v, want %v", names, want)
		}
	})
}

// TestClientIDNotAUserID: a client_id that uuid.Parse takes for a UUID, in
// any of its spellings, is refused, so that no service token's sub can be
// a user's id (RFC 9700 §4.15).
func TestClientIDNotAUserID(t *testing.T) {
	for _, id := range []string{
		"550e8400-e29b-41d4-a716-446655440000",
		"550E8400-E29B-41D4-A716-446655440000",
		"550e8400e29b41d4a716446655440000",
		"01890000-0000-7000-8000-000000000000",
	} {
		err := rbac.NewClient{ClientID: id, Name: "x", GrantTypes: []string{"client_credentials"}}.Validate()
		var v *rbac.ValidationError
		if !errors.As(err, &v) || len(v.Fields) != 1 || v.Fields[0].Field != "client_id" || !strings.Contains(v.Fields[0].Detail, "UUID") {
			t.Errorf("Validate(client_id %q) = %v, want a client_id error naming the UUID form", id, err)
		}
	}
	for _, id := range []string{"inventory-service", "550e8400-e29b-41d4-a716-44665544000", "550e8400-e29b-41d4-a716-446655440000-x"} {
		if err := (rbac.NewClient{ClientID: id, Name: "x", GrantTypes: []string{"client_credentials"}}).Validate(); err != nil {
			t.Errorf("Validate(client_id %q) = %v, want nil", id, err)
		}
	}
}
