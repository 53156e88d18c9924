package conformance

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gaia-platform/iam/audit"
	"github.com/gaia-platform/iam/oauth/guard"
	"github.com/gaia-platform/iam/rbac/admin"
	"github.com/gaia-platform/iam/server"
	"github.com/gaia-platform/iam/server/servertest"
	"github.com/gaia-platform/iam/storage"
	"github.com/gaia-platform/iam/storage/sqlite"
	"github.com/gaia-platform/iam/storage/storagetest"
)

// Login protection (package guard), end to end: the account lock and its
// growing delay, the address limit, client-secret throttling, the block
// list, and two servers on one database sharing the counts. The clock of
// the policy is injected: no test sleeps.

// frozenClock stands still until a test moves it, so that the delays login
// protection answers (Retry-After) come out exact.
type frozenClock struct{ unixNano atomic.Int64 }

func newFrozenClock() *frozenClock {
	c := &frozenClock{}
	c.unixNano.Store(time.Now().UnixNano())
	return c
}

func (c *frozenClock) now() time.Time { return time.Unix(0, c.unixNano.Load()) }

func (c *frozenClock) advance(d time.Duration) { c.unixNano.Add(int64(d)) }

// protected tunes a server for these tests: the given clock, the default
// policy changed by tune.
func protected(c *frozenClock, tune func(*guard.Policy)) func(*server.Config) {
	return func(cfg *server.Config) {
		cfg.Login = guard.DefaultPolicy()
		if tune != nil {
			tune(&cfg.Login)
		}
		cfg.Now = c.now
	}
}

// answer is what a client sees of a token response: everything but the
// tokens and the Date.
type answer struct {
	status                                     int
	body, contentType, cacheControl, challenge string
	retryAfter                                 string
}

func answerOf(r tokenResult) answer {
	a := answer{status: r.status, contentType: r.header.Get("Content-Type"), cacheControl: r.header.Get("Cache-Control"),
		challenge: r.header.Get("WWW-Authenticate"), retryAfter: r.header.Get("Retry-After")}
	if r.status != http.StatusOK {
		a.body = r.raw // a success carries fresh tokens: compared by status only
	}
	return a
}

func passwordAttempt(t *testing.T, s *iam, username, password string) tokenResult {
	t.Helper()
	return tokenCall{body: passwordLogin(username, password), basic: web}.do(t, s)
}

func serviceToken(t *testing.T, s *iam, clientID, secret string) tokenResult {
	t.Helper()
	return tokenCall{body: "grant_type=client_credentials", basic: [2]string{clientID, secret}}.do(t, s)
}

func wantError(t *testing.T, what string, r tokenResult, status int, code string) {
	t.Helper()
	if r.status != status || r.body["error"] != code {
		t.Fatalf("%s: %d %s, want %d %s", what, r.status, r.raw, status, code)
	}
}

// TestAccountLockout runs one sequence against an existing account and an
// unknown username: five wrong passwords lock the account for a minute
// (BaseDelay), during which even the right password gets the answer of a
// wrong one; the next failure doubles the lock; a success resets the
// count. Every answer but the final success is the same for both names.
func TestAccountLockout(t *testing.T) {
	c := newFrozenClock()
	forEachLocal(t, protected(c, func(p *guard.Policy) { p.AddressFailures = 1000 }), func(t *testing.T, l *local) {
		s := l.asIAM()
		type step struct {
			name     string
			advance  time.Duration
			password string // "" wrong, else the right one
			wantOK   bool   // for the existing account
		}
		steps := []step{
			{name: "failure 1"}, {name: "failure 2"}, {name: "failure 3"}, {name: "failure 4"},
			{name: "failure 5 locks for 1m"},
			{name: "right password while locked", password: adminPassword},
			{name: "right password at 59s", advance: 59 * time.Second, password: adminPassword},
			{name: "failure 6 after the lock, locks for 2m", advance: 2 * time.Second},
			{name: "right password at 1m59s of 2m", advance: 119 * time.Second, password: adminPassword},
			{name: "right password after 2m", advance: 2 * time.Second, password: adminPassword, wantOK: true},
		}
		run := func(username string) []answer {
			start := c.now()
			var got []answer
			for _, st := range steps {
				c.advance(st.advance)
				pw := st.password
				if pw == "" {
					pw = "wrong password"
				}
				r := passwordAttempt(t, s, username, pw)
				if username == "admin" && st.wantOK {
					if r.status != http.StatusOK {
						t.Fatalf("%s: %s: %d %s, want 200", username, st.name, r.status, r.raw)
					}
				} else {
					wantError(t, username+": "+st.name, r, http.StatusBadRequest, "invalid_grant")
				}
				got = append(got, answerOf(r))
			}
			c.advance(time.Hour - c.now().Sub(start)) // the next run starts past every lock
			return got
		}
		known, unknown := run("admin"), run("nobody-at-all")
		for i, st := range steps {
			if st.wantOK {
				continue
			}
			if known[i] != unknown[i] {
				t.Errorf("%s: existing account %+v, unknown username %+v; want identical", st.name, known[i], unknown[i])
			}
		}

		// The success reset the count: four more failures do not lock.
		for range 4 {
			wantError(t, "failure after the reset", passwordAttempt(t, s, "admin", "wrong"), http.StatusBadRequest, "invalid_grant")
		}
		if r := passwordAttempt(t, s, "admin", adminPassword); r.status != http.StatusOK {
			t.Fatalf("right password after 4 failures past a reset: %d %s, want 200", r.status, r.raw)
		}

		// The lock was an audit event naming the user.
		flush(t, l)
		events, err := l.store.ListAudit(t.Context(), storage.AuditFilter{Action: audit.ActionAuthLockout})
		if err != nil {
			t.Fatal(err)
		}
		var forAdmin int
		for _, e := range events {
			if e.TargetType == audit.TargetUser {
				forAdmin++
			} else if e.TargetType != audit.TargetLoginKey {
				t.Errorf("lockout event target %s %s, want a user or a login key", e.TargetType, e.TargetID)
			}
		}
		// Admin was locked twice; the unknown name a third time by its
		// last step, a failure where admin's was a success.
		if forAdmin != 2 || len(events) != 5 {
			t.Errorf("%d lockout events, %d naming a user; want 5, 2 naming admin", len(events), forAdmin)
		}
		locked, err := l.store.ListAudit(t.Context(), storage.AuditFilter{Action: audit.ActionAuthPassword, Outcome: audit.Failure})
		if err != nil {
			t.Fatal(err)
		}
		reasons := map[string]int{}
		for _, e := range locked {
			reasons[e.Details[audit.DetailReason]] += audit.Count(e) // unauthenticated failures are aggregated
		}
		if reasons["locked"] != 6 {
			t.Errorf("password failures by reason %v, want 6 refused as locked (3 per name)", reasons)
		}
	})
}

// flush writes the audit events the server still has queued.
func flush(t *testing.T, l *local) {
	t.Helper()
	if err := l.srv.Audit().Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// TestPermanentLockout turns on the permanent lock at the second lock: only
// an admin lifts it.
func TestPermanentLockout(t *testing.T) {
	c := newFrozenClock()
	tune := protected(c, func(p *guard.Policy) { p.PermanentAfter = 2; p.AddressFailures = 1000 })
	forEachLocal(t, tune, func(t *testing.T, l *local) {
		s := l.asIAM()
		for range 5 {
			passwordAttempt(t, s, "admin", "wrong")
		}
		c.advance(time.Minute)
		passwordAttempt(t, s, "admin", "wrong") // the second lock: permanent
		c.advance(24 * time.Hour)
		wantError(t, "right password a day after a permanent lock", passwordAttempt(t, s, "admin", adminPassword), http.StatusBadRequest, "invalid_grant")
		had, err := l.srv.Guard().Unlock(t.Context(), "admin")
		if err != nil || !had {
			t.Fatalf("Unlock = %t, %v; want true", had, err)
		}
		if r := passwordAttempt(t, s, "admin", adminPassword); r.status != http.StatusOK {
			t.Fatalf("after unlock: %d %s, want 200", r.status, r.raw)
		}
	})
}

// TestAddressLimit makes one address fail across many usernames, unknown
// ones included (credential stuffing): past the limit every token request
// from it gets 429 slow_down with Retry-After until the window ends,
// whatever X-Forwarded-For says.
func TestAddressLimit(t *testing.T) {
	c := newFrozenClock()
	forEachLocal(t, protected(c, func(p *guard.Policy) { p.AddressFailures = 10 }), func(t *testing.T, l *local) {
		s := l.asIAM()
		for i := range 10 {
			wantError(t, "stuffing attempt", passwordAttempt(t, s, "victim"+strconv.Itoa(i), "Summer2026!"), http.StatusBadRequest, "invalid_grant")
		}
		r := passwordAttempt(t, s, "admin", adminPassword)
		wantError(t, "valid login past the address limit", r, http.StatusTooManyRequests, "slow_down")
		if ra := r.header.Get("Retry-After"); ra != "300" {
			t.Errorf("Retry-After %q, want 300 (the 5-minute window)", ra)
		}
		if r.header.Get("Cache-Control") != "no-store" || r.body["error_description"] == "" {
			t.Errorf("429 headers %v body %s, want no-store and a description", r.header, r.raw)
		}
		c.advance(4 * time.Minute)
		r = serviceToken(t, s, "inventory-service", serviceSecret)
		wantError(t, "client credentials from the limited address", r, http.StatusTooManyRequests, "slow_down")
		if ra := r.header.Get("Retry-After"); ra != "60" {
			t.Errorf("Retry-After %q a minute before the window ends, want 60", ra)
		}
		for i := range 3 {
			r := forwardedCall(t, s, "198.51.100."+strconv.Itoa(i+1), serviceSecret)
			wantError(t, "with a forged X-Forwarded-For", r, http.StatusTooManyRequests, "slow_down")
		}
		c.advance(time.Minute)
		if r := passwordAttempt(t, s, "admin", adminPassword); r.status != http.StatusOK {
			t.Fatalf("after the window: %d %s, want 200", r.status, r.raw)
		}
	})
}

// at posts the call to another endpoint than the token endpoint.
func (c tokenCall) at(t *testing.T, s *iam, path string) tokenResult {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.issuer+path, strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(c.basic[0], c.basic[1])
	return send(t, req)
}

// send does req and reads its answer.
func send(t *testing.T, req *http.Request) tokenResult {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := tokenResult{status: resp.StatusCode, raw: string(raw), header: resp.Header}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

// forwardedCall asks for a service token with secret, claiming, in
// forwarding headers, to come from addr.
func forwardedCall(t *testing.T, s *iam, addr, secret string) tokenResult {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.issuer+"/oauth2/token", strings.NewReader("grant_type=client_credentials"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("inventory-service", secret)
	req.Header.Set("X-Forwarded-For", addr)
	req.Header.Set("X-Real-IP", addr)
	req.Header.Set("Forwarded", "for="+addr)
	return send(t, req)
}

// TestClientSecretThrottle: five wrong secrets lock a client for a minute;
// then even the right secret gets 429 with Retry-After, exactly as an
// unknown client_id does after the same sequence.
func TestClientSecretThrottle(t *testing.T) {
	c := newFrozenClock()
	forEachLocal(t, protected(c, func(p *guard.Policy) { p.AddressFailures = 1000 }), func(t *testing.T, l *local) {
		s := l.asIAM()
		run := func(clientID string) []answer {
			var got []answer
			for i := range 5 {
				r := serviceToken(t, s, clientID, "wrong-secret")
				wantError(t, clientID+": wrong secret "+strconv.Itoa(i+1), r, http.StatusUnauthorized, "invalid_client")
				got = append(got, answerOf(r))
			}
			r := serviceToken(t, s, clientID, serviceSecret)
			wantError(t, clientID+": right secret while locked", r, http.StatusTooManyRequests, "slow_down")
			if ra := r.header.Get("Retry-After"); ra != "60" {
				t.Errorf("%s: Retry-After %q, want 60", clientID, ra)
			}
			return append(got, answerOf(r))
		}
		known, unknown := run("inventory-service"), run("no-such-service")
		for i := range known {
			if known[i] != unknown[i] {
				t.Errorf("step %d: existing client %+v, unknown client %+v; want identical", i+1, known[i], unknown[i])
			}
		}
		// Introspection and revocation authenticate clients too: the same
		// lock holds there.
		for _, path := range []string{"/oauth2/introspect", "/oauth2/revoke"} {
			r := tokenCall{body: "token=x", basic: [2]string{"inventory-service", serviceSecret}}.at(t, s, path)
			wantError(t, path+" while the client is locked", r, http.StatusTooManyRequests, "slow_down")
		}
		c.advance(time.Minute)
		if r := serviceToken(t, s, "inventory-service", serviceSecret); r.status != http.StatusOK {
			t.Fatalf("after the lock: %d %s, want 200", r.status, r.raw)
		}
		// Wrong secrets at introspection count toward the same lock.
		for range 5 {
			r := tokenCall{body: "token=x", basic: [2]string{"inventory-service", "wrong-secret"}}.at(t, s, "/oauth2/introspect")
			wantError(t, "introspection with a wrong secret", r, http.StatusUnauthorized, "invalid_client")
		}
		wantError(t, "token after 5 wrong secrets at introspection", serviceToken(t, s, "inventory-service", serviceSecret), http.StatusTooManyRequests, "slow_down")
		c.advance(time.Minute)
		if r := serviceToken(t, s, "inventory-service", serviceSecret); r.status != http.StatusOK {
			t.Fatalf("after the second lock: %d %s, want 200", r.status, r.raw)
		}
		// The success reset the count.
		for range 4 {
			serviceToken(t, s, "inventory-service", "wrong-secret")
		}
		if r := serviceToken(t, s, "inventory-service", serviceSecret); r.status != http.StatusOK {
			t.Fatalf("4 failures after a reset: %d %s, want 200", r.status, r.raw)
		}
	})
}

// TestReplicasShareCounts runs two servers on one database: failures on
// either count toward one lock, for an account and for a client.
func TestReplicasShareCounts(t *testing.T) {
	type db struct {
		name string
		open func(t *testing.T) (storage.Store, storage.Store)
	}
	dbs := []db{{"sqlite", func(t *testing.T) (storage.Store, storage.Store) {
		path := filepath.Join(t.TempDir(), "gaia.db")
		return openSQLite(t, path, true), openSQLite(t, path, false)
	}}}
	if u, ok := storagetest.PostgresURL(t); ok {
		dbs = append(dbs, db{"postgres", func(t *testing.T) (storage.Store, storage.Store) {
			schema := storagetest.PostgresSchema(t, u)
			a := storagetest.OpenPostgres(t, schema)
			if _, err := a.Migrate(t.Context()); err != nil {
				t.Fatal(err)
			}
			return a, storagetest.OpenPostgres(t, schema)
		}})
	}
	for _, d := range dbs {
		t.Run(d.name, func(t *testing.T) {
			c := newFrozenClock()
			tune := protected(c, func(p *guard.Policy) { p.AddressFailures = 1000 })
			storeA, storeB := d.open(t)
			a := servertest.Start(t, storeA, servertest.Options{Tune: tune})
			b := servertest.Start(t, storeB, servertest.Options{Tune: func(cfg *server.Config) {
				tune(cfg)
				cfg.KEK = a.KEK // replicas share the key-encryption key
			}})
			sa, sb := &iam{issuer: a.Issuer}, &iam{issuer: b.Issuer}
			for i, s := range []*iam{sa, sa, sa, sb, sb} {
				wantError(t, "wrong password "+strconv.Itoa(i+1), passwordAttempt(t, s, "admin", "wrong"), http.StatusBadRequest, "invalid_grant")
				wantError(t, "wrong secret "+strconv.Itoa(i+1), serviceToken(t, s, "inventory-service", "wrong"), http.StatusUnauthorized, "invalid_client")
			}
			for name, s := range map[string]*iam{"A": sa, "B": sb} {
				wantError(t, "right password on "+name, passwordAttempt(t, s, "admin", adminPassword), http.StatusBadRequest, "invalid_grant")
				wantError(t, "right secret on "+name, serviceToken(t, s, "inventory-service", serviceSecret), http.StatusTooManyRequests, "slow_down")
			}
			c.advance(time.Minute)
			if r := passwordAttempt(t, sb, "admin", adminPassword); r.status != http.StatusOK {
				t.Fatalf("after the lock, on B: %d %s, want 200", r.status, r.raw)
			}
		})
	}
}

// openSQLite opens a second handle on one SQLite file, as a second
// server process would; migrate the first.
func openSQLite(t *testing.T, path string, migrate bool) storage.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path, storagetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if migrate {
		if _, err := s.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// lockAndUnlock locks u with five wrong passwords, checks that even pw is
// refused, unlocks u through api and checks that pw then logs in.
func lockAndUnlock(t *testing.T, s *iam, api *adminClient, u admin.User, pw string) {
	t.Helper()
	for range 5 {
		passwordAttempt(t, s, u.Username, "wrong")
	}
	wantError(t, "right password while locked", passwordAttempt(t, s, u.Username, pw), http.StatusBadRequest, "invalid_grant")
	var un admin.Unlocked
	want(t, api.do("POST", "/users/"+u.ID+"/unlock", nil), http.StatusOK).decode(t, &un)
	if !un.HadFailures {
		t.Error("unlock of a locked account: had_failures false, want true")
	}
	if r := passwordAttempt(t, s, u.Username, pw); r.status != http.StatusOK {
		t.Fatalf("after unlock: %d %s, want 200", r.status, r.raw)
	}
}

// testAdminSecurity drives the login-protection endpoints of the admin
// API: unlocking an account and keeping the block list.
func testAdminSecurity(t *testing.T, l *local, api *adminClient) {
	s := l.asIAM()
	u := createUser(t, api, "fumbler", "fumbler's long password")
	lockAndUnlock(t, s, api, u, "fumbler's long password")
	var un admin.Unlocked
	want(t, api.do("POST", "/users/"+u.ID+"/unlock", nil), http.StatusOK).decode(t, &un)
	if un.HadFailures {
		t.Error("unlock of an account with no failures: had_failures true, want false")
	}
	api.do("POST", "/users/00000000-0000-0000-0000-000000000000/unlock", nil).problem(t, http.StatusNotFound, admin.KindNotFound)

	// Blocks: the test's own address, then a list, a refusal and removal.
	expires := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	var b admin.Block
	want(t, api.do("POST", "/blocks", map[string]any{"cidr": "127.0.0.1", "reason": "test", "expires_at": expires}), http.StatusCreated).decode(t, &b)
	if b.CIDR != "127.0.0.1/32" || b.Reason != "test" || b.ExpiresAt == nil || !b.ExpiresAt.Equal(expires) {
		t.Errorf("created block %+v, want 127.0.0.1/32 with its reason and expiry", b)
	}
	r := passwordAttempt(t, s, "admin", adminPassword)
	wantError(t, "login from a blocked address", r, http.StatusForbidden, "access_denied")
	api.do("POST", "/blocks", map[string]any{"cidr": "127.0.0.1/32"}).problem(t, http.StatusConflict, admin.KindConflict)
	api.do("POST", "/blocks", map[string]any{"cidr": "not-an-address"}).problem(t, http.StatusBadRequest, admin.KindValidation)
	api.do("POST", "/blocks", map[string]any{"cidr": "10.0.0.0/8", "expires_at": time.Now().Add(-time.Hour)}).problem(t, http.StatusBadRequest, admin.KindValidation)
	var list admin.Items[admin.Block]
	want(t, api.do("GET", "/blocks", nil), http.StatusOK).decode(t, &list)
	if len(list.Items) != 1 || list.Items[0].ID != b.ID {
		t.Errorf("GET /blocks = %+v, want the one block", list.Items)
	}
	want(t, api.do("DELETE", "/blocks/"+b.ID, nil), http.StatusNoContent)
	api.do("DELETE", "/blocks/"+b.ID, nil).problem(t, http.StatusNotFound, admin.KindNotFound)
	if r := passwordAttempt(t, s, "admin", adminPassword); r.status != http.StatusOK {
		t.Fatalf("after the block was lifted: %d %s, want 200", r.status, r.raw)
	}

	// Each change is in the audit log, with the admin as the actor.
	for _, action := range []string{audit.ActionUserUnlock, audit.ActionBlockAdd, audit.ActionBlockRemove} {
		events, err := l.store.ListAudit(t.Context(), storage.AuditFilter{Action: action, Outcome: audit.Success})
		if err != nil {
			t.Fatal(err)
		}
		if len(events) == 0 || events[0].ActorType != audit.ActorUser {
			t.Errorf("audit events of %s: %+v, want one by the admin user", action, events)
		}
	}
}

// TestThroughTrustedProxy: behind a proxy named in TrustedProxies, login
// protection judges the client address the proxy forwarded (clientip), not
// the proxy's: the block list refuses a blocked client and lets the others
// and the proxy's own requests through, and the address limit counts an
// IPv6 client by its /64 (clientip.Group), so that moving to another
// address inside it does not escape the limit.
func TestThroughTrustedProxy(t *testing.T) {
	c := newFrozenClock()
	tune := protected(c, func(p *guard.Policy) { p.AddressFailures = 3 })
	forEachLocal(t, func(cfg *server.Config) {
		tune(cfg)
		cfg.TrustedProxies = []string{"127.0.0.1", "::1"}
	}, func(t *testing.T, l *local) {
		s := l.asIAM()
		api := newDelegation(t, l).api
		want(t, api.do("POST", "/blocks", map[string]any{"cidr": "203.0.113.0/24"}), http.StatusCreated)
		wantError(t, "a blocked client through the proxy", forwardedCall(t, s, "203.0.113.9", serviceSecret), http.StatusForbidden, "access_denied")
		if r := forwardedCall(t, s, "198.51.100.7", serviceSecret); r.status != http.StatusOK {
			t.Fatalf("another client through the proxy: %d %s, want 200", r.status, r.raw)
		}

		for range 3 {
			wantError(t, "a wrong secret from 2001:db8:1:2::1", forwardedCall(t, s, "2001:db8:1:2::1", "wrong secret"), http.StatusUnauthorized, "invalid_client")
		}
		wantError(t, "the right secret from the same /64", forwardedCall(t, s, "2001:db8:1:2::ffff", serviceSecret), http.StatusTooManyRequests, "slow_down")
		if r := forwardedCall(t, s, "2001:db8:1:3::1", serviceSecret); r.status != http.StatusOK {
			t.Fatalf("from the next /64: %d %s, want 200", r.status, r.raw)
		}
		if r := serviceToken(t, s, "inventory-service", serviceSecret); r.status != http.StatusOK {
			t.Fatalf("from the proxy itself: %d %s, want 200", r.status, r.raw)
		}
	})
}

// TestUnlockDelegation: lifting a user's lock acts on that user, so the
// rules of delegation apply: a holder of iam.security.manage alone
// unlocks a user who holds nothing, but not the admin, who holds more.
func TestUnlockDelegation(t *testing.T) {
	forEachLocal(t, nil, func(t *testing.T, l *local) {
		d := newDelegation(t, l)
		d.role("Unlocker", "UNLOCKERS", "iam.security.manage")
		_, api := d.user("unlocker", []string{"UNLOCKERS"}, []string{"Unlocker"})
		clerk, _ := d.user("clerk", nil, nil)
		lockAndUnlock(t, l.asIAM(), api, clerk, "clerk's long password")

		adminID := d.adminID()
		missing := slices.DeleteFunc(permissionsOf(t, d.api, adminID).Permissions, func(p string) bool { return p == "iam.security.manage" })
		if len(missing) == 0 {
			t.Fatal("the admin holds nothing but iam.security.manage")
		}
		refused(t, api.do("POST", "/users/"+adminID+"/unlock", nil), missing...)
	})
}
