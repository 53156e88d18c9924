package server

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gaia-platform/iam/oauth"
	"github.com/gaia-platform/iam/oauth/keys"
	"github.com/gaia-platform/iam/rbac/seed"
	"github.com/gaia-platform/iam/storage"
	"github.com/gaia-platform/iam/storage/storagetest"
)

// TestUpgradeKeepsClientSecrets: a deployment from before data keys, whose
// client secrets were hashed under a key derived from the key-encryption
// key itself, still authenticates them once the server derives its keys
// from the data key, and after a rewrap to another key-encryption key.
func TestUpgradeKeepsClientSecrets(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := t.Context()
			store := b.Open(t)
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			kek := make([]byte, 32)
			rand.Read(kek)
			// What the previous release left: signing keys, and a client
			// whose secret is keyed with HKDF(KEK).
			if _, err := keys.New(ctx, keys.Config{Retention: time.Hour}, store, kek, log); err != nil {
				t.Fatal(err)
			}
			legacyKey, err := hkdf.Key(sha256.New, kek, nil, purposeClientSecrets, 32)
			if err != nil {
				t.Fatal(err)
			}
			hasher, err := oauth.NewSecretHasher(legacyKey)
			if err != nil {
				t.Fatal(err)
			}
			const secret = "a-secret-from-the-previous-release-0123"
			hash, err := hasher.HashString(ctx, secret)
			if err != nil {
				t.Fatal(err)
			}
			if err := store.CreateClient(ctx, &storage.Client{ClientID: "old-svc", Name: "Old", SecretHash: hash,
				GrantTypes: []string{"client_credentials"}, Active: true}); err != nil {
				t.Fatal(err)
			}

			token := func(kek []byte) int {
				t.Helper()
				file, err := seed.Parse(strings.NewReader("permissions: [{name: a.b}]\n"), func(string) string { return "" })
				if err != nil {
					t.Fatal(err)
				}
				srv, err := New(ctx, Config{
					Issuer: "http://127.0.0.1:1", AccessTokenTTL: time.Minute, RefreshTokenTTL: time.Hour,
					MaxSessionAge: time.Hour, DefaultAudience: "gaia", KeyRefresh: time.Second, KEK: kek, Seed: file,
				}, store, log)
				if err != nil {
					t.Fatal(err)
				}
				defer srv.Close(ctx)
				req := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth("old-svc", secret)
				rec := httptest.NewRecorder()
				srv.Handler().ServeHTTP(rec, req)
				return rec.Code
			}
			if code := token(kek); code != http.StatusOK {
				t.Fatalf("client credentials with a secret of the previous release = %d, want 200", code)
			}
			newKEK := make([]byte, 32)
			rand.Read(newKEK)
			if _, err := keys.Rewrap(ctx, store, kek, newKEK, nil); err != nil {
				t.Fatal(err)
			}
			if code := token(newKEK); code != http.StatusOK {
				t.Errorf("client credentials with a secret of the previous release after rewrap = %d, want 200", code)
			}
		})
	}
}
