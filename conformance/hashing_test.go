package conformance

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gaia-platform/iam/password"
	"github.com/gaia-platform/iam/server"
	"github.com/gaia-platform/iam/storage"
)

// passwordLogin is the body of a password grant for username.
func passwordLogin(username, pw string) string {
	return url.Values{"grant_type": {"password"}, "username": {username}, "password": {pw}}.Encode()
}

// TestHashingBound: 200 password logins at once against a server allowed
// two hashes at a time and a short wait. The hasher never ran more than two
// hashes (so memory stayed at two hashes' worth), every login it could not
// take in time got 503 temporarily_unavailable with Retry-After rather
// than waiting in a queue, no answer was anything else, and real logins
// work once the flood is over.
func TestHashingBound(t *testing.T) {
	tune := func(c *server.Config) {
		c.Hashing = password.Config{Concurrency: 2, MaxWait: 5 * time.Millisecond}
	}
	forEachLocal(t, tune, func(t *testing.T, l *local) {
		s := l.asIAM()
		const n = 200
		results := make([]tokenResult, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				results[i] = tokenCall{basic: web, body: passwordLogin("admin", adminPassword)}.do(t, s)
			})
		}
		close(start)
		wg.Wait()

		var ok, busy int
		for _, r := range results {
			switch r.status {
			case 200:
				ok++
			case 503:
				busy++
				if r.body["error"] != "temporarily_unavailable" || r.header.Get("Retry-After") != "1" || r.header.Get("Cache-Control") != "no-store" {
					t.Errorf("503 answer: body %s, Retry-After %q, Cache-Control %q; want temporarily_unavailable, 1, no-store",
						r.raw, r.header.Get("Retry-After"), r.header.Get("Cache-Control"))
				}
			default:
				t.Errorf("status %d (%s), want 200 or 503", r.status, r.raw)
			}
		}
		st := l.srv.PasswordStats()
		t.Logf("%d logins: %d succeeded, %d refused busy; hasher %+v", n, ok, busy, st)
		if st.Limit != 2 || st.Peak > st.Limit {
			t.Errorf("hasher ran %d hashes at once, limit %d; want at most 2", st.Peak, st.Limit)
		}
		if busy == 0 || uint64(busy) != st.Busy {
			t.Errorf("%d answers were 503 and the hasher refused %d hashes; want as many, and some", busy, st.Busy)
		}
		if ok == 0 {
			t.Error("no login of the 200 succeeded")
		}
		if r := (tokenCall{basic: web, body: passwordLogin("admin", adminPassword)}).do(t, s); r.status != 200 {
			t.Errorf("login after the flood: %d %s, want 200", r.status, r.raw)
		}
	})
}

// TestStoredHashBounds: a stored hash that declares more memory, time or
// lanes than the server allows fails the login exactly as a wrong password
// does (the password package's tests show it is never hashed); a hash weaker than the server's parameters
// is upgraded by the next successful login.
func TestStoredHashBounds(t *testing.T) {
	forEachLocal(t, nil, func(t *testing.T, l *local) {
		ctx := context.Background()
		s := l.asIAM()
		admin, err := l.store.GetUserByUsername(ctx, "admin")
		if err != nil {
			t.Fatal(err)
		}
		setHash := func(p password.Params) string {
			t.Helper()
			h, err := password.New(password.Config{Params: p, MaxStored: password.Limits{Memory: 1 << 21, Iterations: 64, Parallelism: 16}})
			if err != nil {
				t.Fatal(err)
			}
			enc, err := h.Hash(ctx, adminPassword)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l.store.UpdateUser(ctx, admin.ID, func(u *storage.User) error { u.PasswordHash = enc; return nil }); err != nil {
				t.Fatal(err)
			}
			return enc
		}
		wrong := tokenCall{basic: web, body: passwordLogin("admin", "not the password")}.do(t, s)
		if wrong.status != 400 || wrong.body["error"] != "invalid_grant" {
			t.Fatalf("wrong password: %d %s, want 400 invalid_grant", wrong.status, wrong.raw)
		}
		for name, p := range map[string]password.Params{
			"memory":      {Memory: 65*1024 + 1, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32},
			"iterations":  {Memory: 64, Iterations: 11, Parallelism: 1, SaltLength: 16, KeyLength: 32},
			"parallelism": {Memory: 64, Iterations: 1, Parallelism: 5, SaltLength: 16, KeyLength: 32},
		} {
			setHash(p)
			got := tokenCall{basic: web, body: passwordLogin("admin", adminPassword)}.do(t, s)
			if got.status != wrong.status || got.raw != wrong.raw {
				t.Errorf("right password, stored hash over the %s limit: %d %s; want what a wrong password gets, %d %s",
					name, got.status, got.raw, wrong.status, wrong.raw)
			}
		}

		weak := setHash(password.Params{Memory: 1024, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32})
		if r := (tokenCall{basic: web, body: passwordLogin("admin", adminPassword)}).do(t, s); r.status != 200 {
			t.Fatalf("login with a weak stored hash: %d %s, want 200", r.status, r.raw)
		}
		u, err := l.store.GetUser(ctx, admin.ID)
		if err != nil {
			t.Fatal(err)
		}
		if u.PasswordHash == weak || !strings.HasPrefix(u.PasswordHash, "$argon2id$v=19$m=19456,t=2,p=1$") {
			t.Errorf("stored hash after login = %.40s…, want it rehashed with the server's parameters", u.PasswordHash)
		}
	})
}
