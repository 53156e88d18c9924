package conformance

import (
	"encoding/json"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gaia-platform/iam/claims"
	"github.com/gaia-platform/iam/oauth/keys"
	"github.com/gaia-platform/iam/server"
	"github.com/gaia-platform/iam/storage/storagetest"
)

// operatorRing is the key ring `gaia-iam keys` makes: another process's
// ring on the server's store, with the server's key-encryption key.
func operatorRing(t *testing.T, l *local, delay time.Duration) *keys.Ring {
	t.Helper()
	r, err := keys.New(ctx(t), keys.Config{Retention: time.Hour, PublishDelay: delay}, l.store, l.kek, storagetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// kidOf is the kid in a JWT's header.
func kidOf(t *testing.T, jwt string) string {
	t.Helper()
	h, _ := payload(t, jwt)
	kid, _ := h["kid"].(string)
	return kid
}

// publishedKIDs fetches the server's JWKS over HTTP.
func publishedKIDs(t *testing.T, issuer string) []string {
	t.Helper()
	resp, err := http.Get(issuer + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KeyID)
	}
	return kids
}

// countingTransport counts the JWKS fetches of a verifier.
type countingTransport struct{ jwks atomic.Int32 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path == "/.well-known/jwks.json" {
		c.jwks.Add(1)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestKeyRevokeAtOnce: `keys revoke` of the signing key, done by another
// process, refuses its tokens at once at introspection, userinfo and the
// admin API, although the server's ring reloads only hourly here: the
// liveness rule asks storage. The server signs with a fresh key from its
// next reload on.
func TestKeyRevokeAtOnce(t *testing.T) {
	forEachLocal(t, func(c *server.Config) { c.KeyRefresh = time.Hour }, func(t *testing.T, l *local) {
		tok, err := webConfig(l.issuer, "openid").PasswordCredentialsToken(ctx(t), "admin", adminPassword)
		if err != nil {
			t.Fatal(err)
		}
		live := verdicts{introspect: true, userinfo: http.StatusOK, admin: http.StatusOK}
		if got := l.verdicts(t, tok.AccessToken, "gaia-web", webSecret); got != live {
			t.Fatalf("a fresh admin token: %+v, want %+v", got, live)
		}
		kid := kidOf(t, tok.AccessToken)
		rev, err := operatorRing(t, l, 0).Revoke(ctx(t), kid)
		if err != nil || rev.Fresh == "" {
			t.Fatalf("Revoke(signing key) = %+v, %v, want a fresh key", rev, err)
		}
		if got := l.verdicts(t, tok.AccessToken, "gaia-web", webSecret); got != dead {
			t.Errorf("a token of the revoked key: %+v, want %+v at once", got, dead)
		}
	})
}

// TestKeyRevokeReachesVerifiers: once the server's reload has unpublished a
// revoked key, a claims verifier refuses its tokens at its next scheduled
// JWKS refresh (the JWKS max-age), and verifies the fresh key's tokens.
func TestKeyRevokeReachesVerifiers(t *testing.T) {
	forEachLocal(t, nil, func(t *testing.T, l *local) {
		var ahead atomic.Int64 // how far the verifier's clock is ahead of the real one
		v, err := claims.NewVerifier(ctx(t), claims.VerifierConfig{Issuer: l.issuer, Audience: "gaia",
			Now: func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }})
		if err != nil {
			t.Fatal(err)
		}
		tok := userToken(t, l.issuer, "admin", adminPassword)
		if _, err := v.Verify(ctx(t), tok.AccessToken); err != nil {
			t.Fatalf("Verify(fresh token) = %v", err)
		}
		kid := kidOf(t, tok.AccessToken)
		rev, err := operatorRing(t, l, 0).Revoke(ctx(t), kid)
		if err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "the server to unpublish the revoked key", func() bool {
			return slices.Equal(publishedKIDs(t, l.issuer), []string{rev.Fresh})
		})
		ahead.Store(int64(61 * time.Second)) // past the JWKS max-age the verifier honours
		if _, err := v.Verify(ctx(t), tok.AccessToken); err == nil {
			t.Errorf("Verify(token of the revoked key) after the verifier's refresh = nil, want refused")
		}
		waitUntil(t, "the server to sign with the fresh key", func() bool {
			return kidOf(t, userToken(t, l.issuer, "admin", adminPassword).AccessToken) == rev.Fresh
		})
		if _, err := v.Verify(ctx(t), userToken(t, l.issuer, "admin", adminPassword).AccessToken); err != nil {
			t.Errorf("Verify(token of the fresh key) = %v", err)
		}
	})
}

// TestKeyRotationPublishesFirst: after a rotation the server publishes the
// next key while it still signs with the old one, so a verifier that
// fetched the JWKS since holds the next key before any token carries it:
// when the next key starts signing (here at once, the old one being
// revoked) the verifier verifies its tokens without fetching again.
func TestKeyRotationPublishesFirst(t *testing.T) {
	forEachLocal(t, nil, func(t *testing.T, l *local) {
		old := kidOf(t, userToken(t, l.issuer, "admin", adminPassword).AccessToken)
		op := operatorRing(t, l, time.Hour)
		next, _, err := op.Rotate(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "the server to publish the next key", func() bool {
			return slices.Contains(publishedKIDs(t, l.issuer), next.ID)
		})
		tok := userToken(t, l.issuer, "admin", adminPassword)
		if got := kidOf(t, tok.AccessToken); got != old {
			t.Errorf("token kid during the publish delay = %s, want the old key %s (next is %s)", got, old, next.ID)
		}
		var rt countingTransport
		v, err := claims.NewVerifier(ctx(t), claims.VerifierConfig{Issuer: l.issuer, Audience: "gaia", HTTPClient: &http.Client{Transport: &rt}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(ctx(t), tok.AccessToken); err != nil {
			t.Fatalf("Verify(token of the old key) = %v", err)
		}
		if _, err := op.Revoke(ctx(t), old); err != nil {
			t.Fatal(err)
		}
		var fresh string
		waitUntil(t, "the server to sign with the next key", func() bool {
			fresh = userToken(t, l.issuer, "admin", adminPassword).AccessToken
			return kidOf(t, fresh) == next.ID
		})
		fetches := rt.jwks.Load()
		if _, err := v.Verify(ctx(t), fresh); err != nil {
			t.Errorf("Verify(token of the next key) = %v", err)
		}
		if got := rt.jwks.Load(); got != fetches || got != 1 {
			t.Errorf("the verifier fetched the JWKS %d times (%d before the next key's token), want once: the next key was published first", got, fetches)
		}
	})
}
