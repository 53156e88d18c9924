package rbac_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gaia-platform/iam/password"
	"github.com/gaia-platform/iam/rbac"
	"github.com/gaia-platform/iam/storage"
)

// TestCredentialsError: a failed Authenticate names the user the username
// matched, and why it failed, for the audit log; nothing else of what the
// caller typed.
func TestCredentialsError(t *testing.T) {
	forEachBackend(t, func(t *testing.T, store storage.Store) {
		ctx := context.Background()
		svc := newService(t, store)
		alice, err := svc.CreateUser(ctx, rbac.NewUser{Username: "alice", Password: "correct horse battery"})
		if err != nil {
			t.Fatal(err)
		}
		nopw, _ := svc.CreateUser(ctx, rbac.NewUser{Username: "nopw"})
		off, _ := svc.CreateUser(ctx, rbac.NewUser{Username: "off", Password: "correct horse battery"})
		if _, err := store.UpdateUser(ctx, off.ID, func(u *storage.User) error { u.Active = false; return nil }); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name, user, pw string
			want           rbac.CredentialsError
		}{
			{"wrong password", "alice", "correct horse batterY", rbac.CredentialsError{UserID: alice.ID, Reason: rbac.ReasonInvalidCredentials}},
			{"username in another case", "ALICE", "wrong", rbac.CredentialsError{UserID: alice.ID, Reason: rbac.ReasonInvalidCredentials}},
			{"unknown user", "mallory", "correct horse battery", rbac.CredentialsError{Reason: rbac.ReasonUnknownUser}},
			{"password typed as username", "correct horse battery", "", rbac.CredentialsError{Reason: rbac.ReasonUnknownUser}},
			{"no password set", "nopw", "anything at all", rbac.CredentialsError{UserID: nopw.ID, Reason: rbac.ReasonNoPassword}},
			{"disabled, right password", "off", "correct horse battery", rbac.CredentialsError{UserID: off.ID, Reason: rbac.ReasonDisabled}},
			{"disabled, wrong password", "off", "wrong", rbac.CredentialsError{UserID: off.ID, Reason: rbac.ReasonInvalidCredentials}},
			{"too long", "alice", strings.Repeat("x", password.MaxLength+1), rbac.CredentialsError{Reason: rbac.ReasonInvalidCredentials}},
		} {
			_, err := svc.Authenticate(ctx, tc.user, tc.pw)
			var ce *rbac.CredentialsError
			if !errors.As(err, &ce) || !errors.Is(err, rbac.ErrInvalidCredentials) {
				t.Errorf("%s: Authenticate = %v, want a *CredentialsError that is ErrInvalidCredentials", tc.name, err)
				continue
			}
			if *ce != tc.want {
				t.Errorf("%s: Authenticate = %+v, want %+v", tc.name, *ce, tc.want)
			}
			if tc.user != "" && strings.Contains(err.Error(), tc.user) || tc.pw != "" && strings.Contains(err.Error(), tc.pw) {
				t.Errorf("%s: error %q repeats what the caller typed", tc.name, err)
			}
		}
	})
}
