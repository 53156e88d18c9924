package postgres_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gaia-platform/iam/storage"
	"github.com/gaia-platform/iam/storage/storagetest"
)

// BenchmarkHotPath measures the statements of the token endpoint's hot
// path: reading a refresh token and its family, the compare-and-swap that
// rotates it, and resolving a service client's grants. It is how the choice
// between pgx's own pool and database/sql over pgx's stdlib was measured.
func BenchmarkHotPath(b *testing.B) {
	u, ok := storagetest.PostgresURL(b)
	if !ok {
		b.SkipNow()
	}
	s := storagetest.Postgres(b, u)
	ctx := b.Context()
	c := &storage.Client{ClientID: "svc", SecretHash: "x", GrantTypes: []string{"client_credentials"}, Active: true}
	if err := s.CreateClient(ctx, c); err != nil {
		b.Fatal(err)
	}
	for i := range 3 {
		r := &storage.Role{Name: fmt.Sprintf("R%d", i)}
		p := &storage.Permission{Name: fmt.Sprintf("p.%d", i)}
		if err := s.CreateRole(ctx, r); err != nil {
			b.Fatal(err)
		}
		if err := s.CreatePermission(ctx, p); err != nil {
			b.Fatal(err)
		}
		if err := s.SetRolePermissions(ctx, r.ID, []string{p.ID}); err != nil {
			b.Fatal(err)
		}
		if err := s.AssignClientRole(ctx, c.ClientID, r.ID); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("RefreshRotate", func(b *testing.B) {
		f := &storage.TokenFamily{ClientID: "svc", Subject: "bench"}
		sigs := make([]string, b.N)
		for i := range sigs {
			sigs[i] = "sig-" + uuid.NewString()
			rt := &storage.RefreshToken{Signature: sigs[i], ExpiresAt: time.Now().Add(time.Hour)}
			if err := s.CreateRefreshToken(ctx, f, rt); err != nil {
				b.Fatal(err)
			}
		}
		b.ResetTimer()
		for i := range b.N {
			if _, _, err := s.GetRefreshToken(ctx, sigs[i]); err != nil {
				b.Fatal(err)
			}
			if err := s.DeactivateRefreshToken(ctx, sigs[i]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ClientGrants", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.ClientGrants(ctx, "svc"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
