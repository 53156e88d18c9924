package conformance

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gaia-platform/iam/claims"
	"github.com/gaia-platform/iam/rbac/admin"
	"github.com/gaia-platform/iam/rbac/seed"
	"github.com/gaia-platform/iam/storage/storagetest"
)

// The bounds the replica tests hold the servers to, set small so that the
// test waits little; the README states them with the defaults.
const (
	replicaKeyRefresh    = 200 * time.Millisecond // GAIA_KEY_REFRESH_INTERVAL
	replicaClientTTL     = 500 * time.Millisecond // GAIA_CLIENT_CACHE_TTL
	replicaReuseInterval = 5 * time.Second        // GAIA_REFRESH_REUSE_INTERVAL
	// slack is what a bound may be overrun by on a loaded test machine:
	// a poll, a request and a scheduler delay, never a whole interval.
	slack = 3 * time.Second
)

// replicaDatabase is an empty PostgreSQL database (a fresh schema) for
// replicas to share. Replicas share only PostgreSQL: the test skips with
// the usual notice without it, and fails under GAIA_REQUIRE_POSTGRES=1.
func replicaDatabase(t *testing.T) string {
	t.Helper()
	u, ok := storagetest.PostgresURL(t)
	if !ok {
		t.Skip("replicas share a PostgreSQL database")
	}
	return storagetest.PostgresSchema(t, u)
}

// replicaEnv is what every replica of one deployment shares: the database,
// the key-encryption key and the issuer. Behind a load balancer replicas
// are one issuer (the balancer's URL, here an address nothing listens on);
// the test still reaches each replica on its own port.
func replicaEnv(t *testing.T, dbURL string) []string {
	t.Helper()
	kek := make([]byte, 32)
	_, _ = rand.Read(kek)
	return []string{
		"GAIA_DATABASE_URL=" + dbURL,
		"GAIA_KEY_ENCRYPTION_KEY=" + base64.StdEncoding.EncodeToString(kek),
		"GAIA_ISSUER=http://" + freeAddr(t),
		"GAIA_KEY_REFRESH_INTERVAL=" + replicaKeyRefresh.String(),
		"GAIA_CLIENT_CACHE_TTL=" + replicaClientTTL.String(),
		"GAIA_REFRESH_REUSE_INTERVAL=" + replicaReuseInterval.String(),
	}
}

// envValue is the last value of name in env, as exec would pass it.
func envValue(env []string, name string) string {
	v := ""
	for _, kv := range env {
		if val, ok := strings.CutPrefix(kv, name+"="); ok {
			v = val
		}
	}
	return v
}

// pinnedTo is an HTTP client that sends every request, whatever its URL, to
// one replica: a load balancer that always picks s.
func pinnedTo(s *iam) *http.Client {
	addr := strings.TrimPrefix(s.issuer, "http://")
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// verifierVia is a claims verifier of the shared issuer that fetches
// discovery and the JWKS from replica s alone.
func verifierVia(t *testing.T, issuer string, s *iam) *claims.Verifier {
	t.Helper()
	v, err := claims.NewVerifier(ctx(t), claims.VerifierConfig{Issuer: issuer, Audience: "gaia", HTTPClient: pinnedTo(s)})
	if err != nil {
		t.Fatalf("claims verifier of %s through %s: %v", issuer, s.issuer, err)
	}
	return v
}

// within polls cond until it holds, failing t if that takes longer than
// bound + slack, and returns how long it took.
func within(t *testing.T, bound time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > bound+slack {
			t.Fatalf("%s: not within %v (+%v slack)", what, bound, slack)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// TestReplicas: two gaia-iam serve processes on one PostgreSQL, with one
// key-encryption key and one issuer, behave as one server. A
// `gaia-iam keys rotate` run at the start reaches both within the key
// refresh interval, and after its publish delay (the least accepted,
// 60.2 s here) both sign with the new key; the other checks run meanwhile.
func TestReplicas(t *testing.T) {
	env := replicaEnv(t, replicaDatabase(t))
	issuer := envValue(env, "GAIA_ISSUER")
	a := start(t, envValue(env, "GAIA_DATABASE_URL"), env...)
	b := start(t, envValue(env, "GAIA_DATABASE_URL"), env...)
	adminA := &adminClient{t: t, base: a.issuer + "/admin/v1", http: http.DefaultClient,
		token: userToken(t, a.issuer, "admin", adminPassword).AccessToken}

	oldKid := kidOf(t, userToken(t, a.issuer, "admin", adminPassword).AccessToken)
	rotated := time.Now()
	m := regexp.MustCompile(`new signing key (\S+), published now; it signs from (\S+) \(in `).FindStringSubmatch(a.keys(t, "rotate"))
	if m == nil {
		t.Fatal("keys rotate did not print the new key and when it signs")
	}
	next := m[1]
	signsFrom, err := time.Parse(time.RFC3339, m[2])
	if err != nil {
		t.Fatalf("keys rotate: signs from %q: %v", m[2], err)
	}

	t.Run("keys rotate is published by both", func(t *testing.T) {
		for name, s := range map[string]*iam{"a": a, "b": b} {
			took := within(t, replicaKeyRefresh, "replica "+name+" to publish the rotated key", func() bool {
				return slices.Contains(publishedKIDs(t, s.issuer), next)
			})
			t.Logf("replica %s published the rotated key %v after the rotation (%v after the check began)", name, time.Since(rotated).Round(time.Millisecond), took.Round(time.Millisecond))
			// Published first: during the delay both still sign with the old key.
			if got := kidOf(t, userToken(t, s.issuer, "admin", adminPassword).AccessToken); got != oldKid && time.Now().Before(signsFrom) {
				t.Errorf("replica %s signs with %s during the publish delay, want the old key %s", name, got, oldKid)
			}
		}
		if ka, kb := publishedKIDs(t, a.issuer), publishedKIDs(t, b.issuer); !slices.Equal(ka, kb) {
			t.Errorf("JWKS of a = %v, of b = %v, want the same keys", ka, kb)
		}
	})

	t.Run("a token from one verifies with the other's JWKS", func(t *testing.T) {
		for _, pair := range []struct {
			name             string
			issuing, serving *iam
		}{{"a→b", a, b}, {"b→a", b, a}} {
			v := verifierVia(t, issuer, pair.serving)
			user := userToken(t, pair.issuing.issuer, "admin", adminPassword)
			cc := clientcredentials.Config{ClientID: "inventory-service", ClientSecret: serviceSecret, TokenURL: pair.issuing.issuer + "/oauth2/token"}
			service, err := cc.Token(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			for kind, tok := range map[string]string{"user": user.AccessToken, "service": service.AccessToken} {
				got, err := v.Verify(ctx(t), tok)
				if err != nil {
					t.Errorf("%s: Verify(%s token) = %v", pair.name, kind, err)
					continue
				}
				if got.Issuer != issuer || string(got.Type) != kind {
					t.Errorf("%s: %s token has iss %q type %q, want %q %q", pair.name, kind, got.Issuer, got.Type, issuer, kind)
				}
			}
		}
	})

	t.Run("a refresh rotated on one is dead on the other", func(t *testing.T) {
		createUser(t, adminA, "rita", "rita's long password")
		confA, confB := webConfig(a.issuer), webConfig(b.issuer)
		t0, err := confA.PasswordCredentialsToken(ctx(t), "rita", "rita's long password")
		if err != nil {
			t.Fatal(err)
		}
		t1, err := refresh(t, confA, t0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := refresh(t, confB, t0); !isInvalidGrant(err) {
			t.Errorf("refresh on b with the token a rotated = %v, want invalid_grant", err)
		}
		// Within the reuse interval that was a concurrent refresh that
		// lost: the login lives on, on either replica.
		t2, err := refresh(t, confB, t1)
		rotatedAt := time.Now()
		if err != nil {
			t.Fatalf("refresh on b with a's new token after a replay within the reuse interval: %v, want the login live", err)
		}
		if time.Since(rotatedAt) > replicaReuseInterval {
			t.Fatal("the machine took longer than the reuse interval between two requests")
		}
		// Past the interval the same replay is reuse, and ends the login
		// everywhere: its newest token too, on the replica that issued it.
		time.Sleep(time.Until(rotatedAt.Add(replicaReuseInterval + 500*time.Millisecond)))
		if _, err := refresh(t, confA, t1); !isInvalidGrant(err) {
			t.Errorf("refresh on a with the token b rotated, past the reuse interval = %v, want invalid_grant", err)
		}
		if _, err := refresh(t, confB, t2); !isInvalidGrant(err) {
			t.Errorf("refresh on b with its newest token after reuse was detected on a = %v, want invalid_grant: the login ended", err)
		}
		if got := introspect(t, b, t2.AccessToken); got["active"] != false {
			t.Errorf("introspection on b of the newest access token after reuse on a = %v, want inactive", got)
		}
	})

	t.Run("logout on one is seen by the other at once", func(t *testing.T) {
		sam := createUser(t, adminA, "sam", "sam's long password")
		onA := userToken(t, a.issuer, "sam", "sam's long password")
		onB := userToken(t, b.issuer, "sam", "sam's long password")
		if got := bearerStatus(t, http.MethodGet, b.issuer+"/admin/v1/roles", onB.AccessToken); got != http.StatusForbidden {
			t.Fatalf("admin API on b with sam's live token = %d, want 403 (live, lacks the permission)", got)
		}
		var out admin.Logout
		want(t, adminA.do("POST", "/users/"+sam.ID+"/logout", nil), http.StatusOK).decode(t, &out)
		if out.RevokedSessions != 2 {
			t.Errorf("logout on a revoked %d sessions, want 2 (one from each replica)", out.RevokedSessions)
		}
		checkEnded(t, b, "logout on a", onA, onB)
	})

	t.Run("disabling a user on one is seen by the other at once", func(t *testing.T) {
		dee := createUser(t, adminA, "dee", "dee's long password")
		onB := userToken(t, b.issuer, "dee", "dee's long password")
		want(t, adminA.do("PATCH", "/users/"+dee.ID, map[string]any{"active": false}), http.StatusOK)
		checkEnded(t, b, "disabling on a", onB)
		if _, err := webConfig(b.issuer).PasswordCredentialsToken(ctx(t), "dee", "dee's long password"); !isInvalidGrant(err) {
			t.Errorf("login on b after disabling on a = %v, want invalid_grant", err)
		}
	})

	t.Run("a client secret rotated or disabled on one reaches the other within GAIA_CLIENT_CACHE_TTL", func(t *testing.T) {
		var created struct {
			ClientSecret string `json:"client_secret"`
		}
		want(t, adminA.do("POST", "/clients", map[string]any{
			"client_id": "replica-reports", "name": "Reports", "grant_types": []string{"client_credentials"},
			"roles": []string{"AnalyticsViewer"},
		}), http.StatusCreated).decode(t, &created)
		cc := clientcredentials.Config{ClientID: "replica-reports", ClientSecret: created.ClientSecret, TokenURL: b.issuer + "/oauth2/token"}
		if _, err := cc.Token(ctx(t)); err != nil { // b now holds the client in its cache
			t.Fatal(err)
		}
		var rotated struct {
			ClientSecret string `json:"client_secret"`
		}
		want(t, adminA.do("POST", "/clients/replica-reports/secret", nil), http.StatusOK).decode(t, &rotated)
		took := within(t, replicaClientTTL, "b to refuse the secret a rotated away", func() bool {
			_, err := cc.Token(ctx(t))
			return err != nil
		})
		t.Logf("b refused the old secret after %v (GAIA_CLIENT_CACHE_TTL %v)", took.Round(time.Millisecond), replicaClientTTL)
		cc.ClientSecret = rotated.ClientSecret
		tok, err := cc.Token(ctx(t))
		if err != nil {
			t.Fatalf("client credentials on b with the secret a rotated to: %v", err)
		}

		want(t, adminA.do("PATCH", "/clients/replica-reports", map[string]any{"active": false}), http.StatusOK)
		took = within(t, replicaClientTTL, "b to refuse the client a disabled", func() bool {
			_, err := cc.Token(ctx(t))
			return err != nil
		})
		t.Logf("b refused the disabled client after %v (GAIA_CLIENT_CACHE_TTL %v)", took.Round(time.Millisecond), replicaClientTTL)
		var re *oauth2.RetrieveError
		if _, err := cc.Token(ctx(t)); !errors.As(err, &re) || re.ErrorCode != "invalid_client" {
			t.Errorf("client credentials on b for the client a disabled = %v, want invalid_client", err)
		}
		if got := bearerStatus(t, http.MethodGet, b.issuer+"/admin/v1/roles", tok.AccessToken); got != http.StatusUnauthorized {
			t.Errorf("admin API on b with the disabled client's token = %d, want 401", got)
		}
	})

	t.Run("after the publish delay both sign with the rotated key", func(t *testing.T) {
		// The switch is a time stored with the key, not a reload, so both
		// switch at signsFrom (printed to the second) with no further wait.
		time.Sleep(time.Until(signsFrom))
		for name, s := range map[string]*iam{"a": a, "b": b} {
			within(t, time.Until(signsFrom.Add(time.Second)), "replica "+name+" to sign with the rotated key", func() bool {
				return kidOf(t, userToken(t, s.issuer, "admin", adminPassword).AccessToken) == next
			})
		}
		tok := userToken(t, a.issuer, "admin", adminPassword)
		if _, err := verifierVia(t, issuer, b).Verify(ctx(t), tok.AccessToken); err != nil {
			t.Errorf("a token of the rotated key from a, verified with b's JWKS: %v", err)
		}
		for name, s := range map[string]*iam{"a": a, "b": b} {
			if kids := publishedKIDs(t, s.issuer); !slices.Contains(kids, oldKid) || !slices.Contains(kids, next) {
				t.Errorf("replica %s publishes %v, want the retired key %s and the current %s", name, kids, oldKid, next)
			}
		}
	})
}

// cli runs `gaia-iam ARGS…` with env, as an operator would on the host of
// a replica, and returns its output.
func cli(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = env
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("gaia-iam %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// count runs a query answering one number on the database at dbURL.
func count(t *testing.T, dbURL, query string) int64 {
	t.Helper()
	conn, err := pgx.Connect(ctx(t), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(ctx(t)))
	var n int64
	if err := conn.QueryRow(ctx(t), query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// checkEnded checks on replica s that the logins of toks are over: their
// refresh tokens are invalid_grant, their access tokens introspect as
// inactive and the admin API answers 401 to them, at once.
func checkEnded(t *testing.T, s *iam, after string, toks ...*oauth2.Token) {
	t.Helper()
	conf := webConfig(s.issuer)
	for i, tok := range toks {
		if _, err := refresh(t, conf, tok); !isInvalidGrant(err) {
			t.Errorf("after %s: refresh %d on %s = %v, want invalid_grant", after, i, s.issuer, err)
		}
		if got := introspect(t, s, tok.AccessToken); got["active"] != false {
			t.Errorf("after %s: introspection %d on %s = %v, want inactive", after, i, s.issuer, got)
		}
		if got := bearerStatus(t, http.MethodGet, s.issuer+"/admin/v1/roles", tok.AccessToken); got != http.StatusUnauthorized {
			t.Errorf("after %s: admin API %d on %s = %d, want 401", after, i, s.issuer, got)
		}
	}
}

// TestReplicasSeedAtOnce: replicas started at the same instant, on an empty
// database or a migrated one, all start, and the catalog ends exactly as one seed says: the
// schema migrated once, the seed applied once (the others find nothing to
// do), one signing key, no duplicate or half-applied rows. With different
// seeds the one applied last wins whole. Without the seed's lock the
// migrated-database cases fail: a replica stops on "create permission …:
// exists already".
func TestReplicasSeedAtOnce(t *testing.T) {
	if _, ok := storagetest.PostgresURL(t); !ok {
		t.Skip("replicas share a PostgreSQL database")
	}
	example := mustAbs(t, "../seed.example.yaml")
	extended := filepath.Join(t.TempDir(), "seed.yaml")
	b, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	// One more permission, a role holding it, allowed in one more department.
	extra := strings.Replace(string(b), "\npermissions:\n", "\npermissions:\n  - name: replica.extra\n    description: Only in the second seed\n", 1)
	extra = strings.Replace(extra, "\nroles:\n", "\nroles:\n  - name: ReplicaExtra\n    description: Only in the second seed\n    permissions: [replica.extra]\n", 1)
	if err := os.WriteFile(extended, []byte(extra), 0o600); err != nil {
		t.Fatal(err)
	}
	// Both seeds have the example's clients; secrets only matter to Load.
	parsed, err := seed.Load(example, func(string) string { return "a-development-secret-for-counting-only" })
	if err != nil {
		t.Fatal(err)
	}
	clients := int64(len(parsed.Clients))

	// On an empty database the migration lock, which goose polls once a
	// second, mostly staggers the seeders; on a migrated one (replicas
	// restarted at once with a new seed) they meet at the seed itself.
	for _, tc := range []struct {
		name     string
		migrated bool
		seeds    []string
	}{
		{"empty database, same seed", false, []string{example, example, example}},
		{"empty database, different seeds", false, []string{example, extended}},
		{"migrated database, same seed, round 1", true, []string{example, example, example}},
		{"migrated database, same seed, round 2", true, []string{example, example, example}},
		{"migrated database, different seeds", true, []string{extended, example}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := replicaEnv(t, replicaDatabase(t))
			db := envValue(env, "GAIA_DATABASE_URL")
			if tc.migrated {
				cli(t, slices.Concat(defaultEnv(t, db), env), "migrate")
			}
			var servers []*iam
			for _, seed := range tc.seeds {
				s := &iam{dbURL: db, env: slices.Concat(defaultEnv(t, db), env, []string{"GAIA_SEED_FILE=" + seed})}
				servers = append(servers, s)
			}
			for _, s := range servers {
				s.launch(t)
			}
			for _, s := range servers {
				s.waitReady(t)
			}

			upToDate := 0
			for _, seed := range slices.Compact(slices.Clone(tc.seeds)) {
				out := cli(t, servers[0].env, "seed", "--dry-run", "--seed-file", seed)
				if strings.Contains(out, "seed: up to date, no changes") {
					upToDate++
				} else {
					t.Logf("seed --dry-run with %s:\n%s", filepath.Base(seed), out)
				}
			}
			if upToDate != 1 {
				t.Errorf("the catalog is exactly %d of the seeds, want exactly one", upToDate)
			}
			for query, want := range map[string]int64{
				`SELECT count(*) FROM signing_keys`: 1,
				`SELECT count(*) FROM users`:        1,
				`SELECT count(*) FROM clients`:      clients,
				// Each migration applied once.
				`SELECT count(*) - count(DISTINCT version_id) FROM goose_db_version`: 0,
				// Each entry created once: the later seeders found it there.
				`SELECT count(*) FROM (SELECT 1 FROM audit_events WHERE action = 'seed.create'
					GROUP BY target_type, target_id HAVING count(*) > 1) d`: 0,
			} {
				if got := count(t, db, query); got != want {
					t.Errorf("%s = %d, want %d", strings.Join(strings.Fields(query), " "), got, want)
				}
			}
			if len(tc.seeds) > 1 && slices.Equal(tc.seeds, slices.Repeat(tc.seeds[:1], len(tc.seeds))) {
				if got := count(t, db, `SELECT count(*) FROM audit_events WHERE action IN ('seed.update', 'seed.delete')`); got != 0 {
					t.Errorf("%d seed updates or deletes from replicas applying one seed, want 0", got)
				}
			}
			for i, s := range servers {
				if _, err := webConfig(s.issuer).PasswordCredentialsToken(ctx(t), "admin", adminPassword); err != nil {
					t.Errorf("replica %d: admin login: %v", i, err)
				}
			}
		})
	}
}
