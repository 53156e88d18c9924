package claims_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gaia-platform/iam/claims"
)

// fakeClock is a clock tests move by hand. Verify reads it on the calling
// goroutine only (refreshes are synchronous), so it needs no lock.
type fakeClock struct{ t time.Time }

func newFakeClock() *fakeClock { return &fakeClock{t: time.Now()} }

func (c *fakeClock) Now() time.Time { return c.t }

func (c *fakeClock) Advance(d time.Duration) { c.t = c.t.Add(d) }

// TestVerifyKeyRefresh: the cached keys are fetched again on a schedule
// set by the JWKS response's Cache-Control max-age within the stated
// bounds, so a key the issuer stops publishing stops verifying; a failed
// fetch keeps the keys.
func TestVerifyKeyRefresh(t *testing.T) {
	for _, tc := range []struct {
		name         string
		cacheControl string
		config       time.Duration // VerifierConfig.KeyRefreshInterval
		due          time.Duration // when the keys are due for refresh
	}{
		{"max-age", "public, max-age=120", 0, 120 * time.Second},
		{"no max-age: the default", "", 0, claims.DefaultKeyRefreshInterval},
		{"no max-age: the configured interval", "", 30 * time.Second, 30 * time.Second},
		{"max-age below the bound", "max-age=1", 0, claims.MinKeyRefreshInterval},
		{"max-age above the bound", "max-age=86400", 0, claims.MaxKeyRefreshInterval},
		{"no-store", "no-store", 0, claims.MinKeyRefreshInterval},
		{"max-age not a number", "max-age=soon", 0, claims.DefaultKeyRefreshInterval},
	} {
		t.Run(tc.name, func(t *testing.T) {
			li := newLocalIssuer(keyA(), keyB())
			defer li.Close()
			li.mu.Lock()
			li.cacheControl = tc.cacheControl
			li.mu.Unlock()
			clock := newFakeClock()
			v := newVerifier(t, claims.VerifierConfig{Issuer: li.URL, Now: clock.Now, KeyRefreshInterval: tc.config})
			old := li.mint(keyA())
			li.publish(keyB()) // key A unpublished, e.g. revoked

			clock.Advance(tc.due - time.Second)
			if _, err := v.Verify(t.Context(), old); err != nil {
				t.Fatalf("Verify before the keys are due: %v", err)
			}
			if n := li.jwksHits.Load(); n != 1 {
				t.Errorf("JWKS fetched %d times before the keys were due, want 1", n)
			}
			clock.Advance(time.Second)
			wantInvalid(t, v, old)
			// The refresh, then one refetch for the kid no longer known.
			if n := li.jwksHits.Load(); n != 3 {
				t.Errorf("JWKS fetched %d times once due, want 3", n)
			}
			if _, err := v.Verify(t.Context(), li.mint(keyB())); err != nil {
				t.Errorf("Verify with the published key: %v", err)
			}
		})
	}

	t.Run("failed refresh keeps the keys and retries later", func(t *testing.T) {
		li := newLocalIssuer(keyA())
		defer li.Close()
		clock := newFakeClock()
		v := newVerifier(t, claims.VerifierConfig{Issuer: li.URL, Now: clock.Now})
		tok := li.mint(keyA())
		li.down.Store(true)
		clock.Advance(claims.DefaultKeyRefreshInterval)
		for range 3 {
			if _, err := v.Verify(t.Context(), tok); err != nil {
				t.Fatalf("Verify while the IAM is down: %v", err)
			}
		}
		if n := li.jwksHits.Load(); n != 1 { // the handler counts only when up
			t.Errorf("JWKS answered %d times, want 1", n)
		}
		li.down.Store(false)
		li.publish(keyB())
		clock.Advance(claims.MinKeyRefreshInterval - time.Second)
		if _, err := v.Verify(t.Context(), tok); err != nil {
			t.Fatalf("Verify before the retry: %v", err)
		}
		clock.Advance(time.Second)
		wantInvalid(t, v, tok)
	})

	t.Run("unknown kids still refetch at most once per interval", func(t *testing.T) {
		li := newLocalIssuer(keyA())
		defer li.Close()
		clock := newFakeClock()
		v := newVerifier(t, claims.VerifierConfig{Issuer: li.URL, Now: clock.Now, MinRefetchInterval: time.Minute,
			KeyRefreshInterval: claims.MaxKeyRefreshInterval})
		wantInvalid(t, v, li.mint(keyB())) // unknown: one refetch
		li.publish(keyA(), keyB())
		clock.Advance(time.Minute - time.Second)
		wantInvalid(t, v, li.mint(keyB())) // within the interval: no fetch
		if n := li.jwksHits.Load(); n != 2 {
			t.Errorf("JWKS fetched %d times, want 2", n)
		}
		clock.Advance(time.Second)
		if _, err := v.Verify(t.Context(), li.mint(keyB())); err != nil {
			t.Errorf("Verify after the interval: %v", err)
		}
	})
}

// TestIAMJWKSMaxAge: the IAM's JWKS says how long to keep its keys with a
// max-age the verifier honours as is, so the README's bound holds.
func TestIAMJWKSMaxAge(t *testing.T) {
	s := startIAM(t, nil)
	resp, err := http.Get(s.issuer + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cc := resp.Header.Get("Cache-Control")
	_, age, ok := strings.Cut(cc, "max-age=")
	n, err := strconv.Atoi(age)
	if d := time.Duration(n) * time.Second; !ok || err != nil || d < claims.MinKeyRefreshInterval || d > claims.MaxKeyRefreshInterval {
		t.Errorf("JWKS Cache-Control %q, want a max-age from %v to %v", cc, claims.MinKeyRefreshInterval, claims.MaxKeyRefreshInterval)
	}
}
