package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gaia-platform/iam/rbac/seed"
	"github.com/gaia-platform/iam/storage"
	"github.com/gaia-platform/iam/storage/storagetest"
)

// TestPurge: the background purge deletes expired token state and keeps
// live state.
func TestPurge(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			store := b.Open(t)
			file, err := seed.Parse(strings.NewReader("permissions: [{name: a.b}]\n"), func(string) string { return "" })
			if err != nil {
				t.Fatal(err)
			}
			srv, err := New(ctx, Config{
				Issuer: "http://127.0.0.1:1", AccessTokenTTL: time.Minute, RefreshTokenTTL: time.Hour,
				MaxSessionAge: time.Hour, DefaultAudience: "gaia", KeyRefresh: time.Second,
				KEK: make([]byte, 32), Seed: file,
			}, store, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			for i, exp := range []time.Time{now.Add(-time.Hour), now.Add(time.Hour)} {
				fam := &storage.TokenFamily{ID: []string{"0190a000-0000-7000-8000-000000000001", "0190a000-0000-7000-8000-000000000002"}[i], ClientID: "c", Subject: "s", StartedAt: now}
				rt := &storage.RefreshToken{Signature: []string{"expired", "live"}[i], FamilyID: fam.ID, ExpiresAt: exp, Request: []byte("{}")}
				if err := store.CreateRefreshToken(ctx, fam, rt); err != nil {
					t.Fatal(err)
				}
			}
			srv.purge(ctx)
			if _, _, err := store.GetRefreshToken(ctx, "expired"); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("expired refresh token after purge: %v, want ErrNotFound", err)
			}
			if _, _, err := store.GetRefreshToken(ctx, "live"); err != nil {
				t.Errorf("live refresh token after purge: %v", err)
			}
		})
	}
}
