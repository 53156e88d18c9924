package rbac_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/gaia-platform/iam/password"
	"github.com/gaia-platform/iam/rbac"
	"github.com/gaia-platform/iam/storage"
)

// TestAuthenticateRefusesCostlyHash: a stored hash declaring more than the
// hasher's limits, or a malformed one, fails the login as invalid
// credentials (reason hash_refused, for the audit log) and is logged at
// error level for the operator, naming the user and never the password.
func TestAuthenticateRefusesCostlyHash(t *testing.T) {
	forEachBackend(t, func(t *testing.T, store storage.Store) {
		ctx := context.Background()
		var logs bytes.Buffer
		hasher, err := password.New(password.Config{
			Params:    password.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32},
			MaxStored: password.Limits{Memory: 1024, Iterations: 2, Parallelism: 1},
		})
		if err != nil {
			t.Fatal(err)
		}
		svc, err := rbac.New(store, hasher, slog.New(slog.NewTextHandler(&logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		u, err := svc.CreateUser(ctx, rbac.NewUser{Username: "gina", Password: "correct horse battery"})
		if err != nil {
			t.Fatal(err)
		}
		costly, err := password.New(password.Config{Params: password.Params{Memory: 2048, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}})
		if err != nil {
			t.Fatal(err)
		}
		costlyHash, _ := costly.Hash(ctx, "correct horse battery")
		for name, hash := range map[string]string{"costly": costlyHash, "malformed": "$argon2id$v=19$m=64,t=1,p=1$!!$x"} {
			logs.Reset()
			if _, err := store.UpdateUser(ctx, u.ID, func(cur *storage.User) error { cur.PasswordHash = hash; return nil }); err != nil {
				t.Fatal(err)
			}
			_, err := svc.Authenticate(ctx, "gina", "correct horse battery")
			var ce *rbac.CredentialsError
			if !errors.Is(err, rbac.ErrInvalidCredentials) || !errors.As(err, &ce) || ce.Reason != rbac.ReasonHashRefused || ce.UserID != u.ID {
				t.Errorf("%s hash: Authenticate = %v, want invalid credentials, reason %s, user %s", name, err, rbac.ReasonHashRefused, u.ID)
			}
			if got := logs.String(); !strings.Contains(got, "level=ERROR") || !strings.Contains(got, "stored password hash refused") ||
				!strings.Contains(got, u.ID) || strings.Contains(got, "correct horse") {
				t.Errorf("%s hash: log %q, want an error naming the user and not the password", name, got)
			}
		}
	})
}
