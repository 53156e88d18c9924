package keys

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"

	"github.com/gaia-platform/iam/storage"
	"github.com/gaia-platform/iam/storage/sqlite"
	"github.com/gaia-platform/iam/storage/storagetest"
)

// testTimeout bounds each test; see storagetest.PanicAfter.
const testTimeout = 2 * time.Minute

// clock is a settable clock for Config.now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testKeys are RSA keys generated once per test binary: generating one
// costs 100 ms or more, and the tests rotate often.
var testKeys = sync.OnceValues(func() ([]*rsa.PrivateKey, error) {
	ks := make([]*rsa.PrivateKey, 3)
	for i := range ks {
		var err error
		if ks[i], err = rsa.GenerateKey(rand.Reader, minBits); err != nil {
			return nil, err
		}
	}
	return ks, nil
})

// generator returns a Config.generate that hands out testKeys in turn, so
// that consecutive keys differ, and counts its calls.
func generator(t testing.TB) (func(bits int) (*rsa.PrivateKey, error), *atomic.Int32) {
	t.Helper()
	ks, err := testKeys()
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	return func(bits int) (*rsa.PrivateKey, error) {
		if bits < minBits {
			return nil, fmt.Errorf("asked for %d bits", bits)
		}
		return ks[int(calls.Add(1)-1)%len(ks)], nil
	}, &calls
}

// newKEK returns a random key-encryption key.
func newKEK() []byte {
	kek := make([]byte, kekSize)
	rand.Read(kek)
	return kek
}

// testConfig returns a config on c's clock with keys from generate.
func testConfig(c *clock, generate func(int) (*rsa.PrivateKey, error)) Config {
	return Config{Retention: time.Hour, now: c.now, generate: generate}
}

// mustNew returns New's ring or fails t.
func mustNew(t testing.TB, cfg Config, store Store, kek []byte) *Ring {
	t.Helper()
	r, err := New(t.Context(), cfg, store, kek, storagetest.Logger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

// rows returns the keys in store or fails t.
func rows(t testing.TB, store Store) []storage.SigningKey {
	t.Helper()
	ks, err := store.ListSigningKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// eachBackend runs test against a fresh store of every backend.
func eachBackend(t *testing.T, test func(t *testing.T, store Store)) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			storagetest.PanicAfter(t, testTimeout)
			test(t, b.Open(t))
		})
	}
}

// kids returns the kids of a JWK Set, failing t if it does not parse.
func kids(t *testing.T, jwks []byte) []string {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(jwks, &set); err != nil {
		t.Fatalf("JWKS %s: %v", jwks, err)
	}
	var ids []string
	for _, k := range set.Keys {
		ids = append(ids, k.KeyID)
	}
	return ids
}

func infoIDs(infos []KeyInfo) []string {
	ids := make([]string, len(infos))
	for i, k := range infos {
		ids[i] = k.ID
	}
	return ids
}

func TestNewCreatesKey(t *testing.T) {
	eachBackend(t, func(t *testing.T, store Store) {
		// The real generator, at the default size.
		kek := newKEK()
		r := mustNew(t, Config{Retention: time.Hour}, store, kek)
		cur := r.Current()
		if cur.Private == nil || cur.Private.N.BitLen() < 2048 {
			t.Fatalf("Current() = %v, want an RSA key of 2048 bits or more", cur.Private)
		}
		if id, err := uuid.Parse(cur.ID); err != nil || id.Version() != 7 || id.String() != cur.ID {
			t.Errorf("Current().ID = %q, want a canonical UUIDv7", cur.ID)
		}
		ks := rows(t, store)
		if len(ks) != 1 || ks[0].ID != cur.ID || ks[0].Algorithm != "RS256" || !ks[0].RetiredAt.IsZero() {
			t.Fatalf("stored keys = %+v, want one current RS256 key %s", ks, cur.ID)
		}
		if pub, err := x509.MarshalPKIXPublicKey(&cur.Private.PublicKey); err != nil || !bytes.Equal(ks[0].PublicKey, pub) {
			t.Errorf("stored public key is not the current key's PKIX DER")
		}
		if got := r.List(); len(got) != 1 || got[0].ID != cur.ID || got[0].State != StateCurrent || !got[0].RetiredAt.IsZero() ||
			!got[0].CreatedAt.Equal(ks[0].CreatedAt) {
			t.Errorf("List() = %+v, want the current key %+v", got, ks[0])
		}

		// What Current signs, PublicKey verifies.
		digest := sha256.Sum256([]byte("token"))
		sig, err := rsa.SignPKCS1v15(nil, cur.Private, crypto.SHA256, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		pub, ok := r.PublicKey(cur.ID)
		if !ok || rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig) != nil {
			t.Errorf("PublicKey(%s) = %v, %v, want the key that verifies Current's signature", cur.ID, pub, ok)
		}
		if _, ok := r.PublicKey("nope"); ok {
			t.Errorf("PublicKey(nope) = _, true, want false")
		}

		// Another ring loads that key and creates none.
		generate, calls := generator(t)
		again := mustNew(t, testConfig(newClock(), generate), store, kek)
		if again.Current().ID != cur.ID || !again.Current().Private.Equal(cur.Private) || calls.Load() != 0 {
			t.Errorf("New again: Current() = %s after %d generations, want %s loaded", again.Current().ID, calls.Load(), cur.ID)
		}
		if n := len(rows(t, store)); n != 1 {
			t.Errorf("New again: %d stored keys, want 1", n)
		}
	})
}

func TestSealedAtRest(t *testing.T) {
	eachBackend(t, func(t *testing.T, store Store) {
		generate, _ := generator(t)
		r := mustNew(t, testConfig(newClock(), generate), store, newKEK())
		cur := r.Current()
		row := rows(t, store)[0]
		der, err := x509.MarshalPKCS8PrivateKey(cur.Private)
		if err != nil {
			t.Fatal(err)
		}
		for name, secret := range map[string][]byte{
			"PKCS#8": der, "D": cur.Private.D.Bytes(), "P": cur.Private.Primes[0].Bytes(), "Q": cur.Private.Primes[1].Bytes(),
		} {
			if bytes.Contains(row.PrivateKey, secret) {
				t.Errorf("stored private key contains the %s plaintext", name)
			}
		}
		if want := 12 + len(der) + 16; len(row.PrivateKey) != want {
			t.Errorf("stored private key is %d bytes, want %d: nonce, ciphertext, tag", len(row.PrivateKey), want)
		}
		if got, err := open(r.aead, row.ID, row.PrivateKey); err != nil || !bytes.Equal(got, der) {
			t.Errorf("open(stored key) = %v, want the PKCS#8 of the current key", err)
		}
		if _, err := open(r.aead, uuid.NewString(), row.PrivateKey); err == nil {
			t.Errorf("open under another kid = nil error, want the AAD to refuse it")
		}
		flipped := bytes.Clone(row.PrivateKey)
		flipped[len(flipped)/2] ^= 1
		if _, err := open(r.aead, row.ID, flipped); err == nil {
			t.Errorf("open(a flipped bit) = nil error, want one")
		}
	})
}

func TestSealedKeyMovedToAnotherRow(t *testing.T) {
	eachBackend(t, func(t *testing.T, store Store) {
		ctx := t.Context()
		c := newClock()
		generate, _ := generator(t)
		r := mustNew(t, testConfig(c, generate), store, newKEK())
		cur := r.Current()
		orig := rows(t, store)[0]

		// A retired row with another kid but the sealed bytes of the current
		// key: not published.
		c.advance(time.Minute)
		moved := storage.SigningKey{ID: uuid.NewString(), Algorithm: Algorithm, PrivateKey: orig.PrivateKey,
			PublicKey: orig.PublicKey, CreatedAt: c.now(), RetiredAt: c.now()}
		if err := store.CreateSigningKey(ctx, &moved); err != nil {
			t.Fatal(err)
		}
		if err := r.Refresh(ctx); err != nil {
			t.Fatalf("Refresh with a moved retired key: %v", err)
		}
		if _, ok := r.PublicKey(moved.ID); ok {
			t.Errorf("PublicKey(moved kid) = _, true, want false")
		}
		if got := kids(t, r.JWKS()); !slices.Equal(got, []string{cur.ID}) {
			t.Errorf("JWKS kids with a moved key = %v, want [%s]", got, cur.ID)
		}

		// As the newest current key, it stops the reload; the ring keeps the
		// keys it had.
		c.advance(time.Minute)
		moved = storage.SigningKey{ID: uuid.NewString(), Algorithm: Algorithm, PrivateKey: orig.PrivateKey,
			PublicKey: orig.PublicKey, CreatedAt: c.now()}
		if err := store.CreateSigningKey(ctx, &moved); err != nil {
			t.Fatal(err)
		}
		err := r.Refresh(ctx)
		if err == nil || !strings.Contains(err.Error(), "does not open signing key "+moved.ID) {
			t.Errorf("Refresh with a moved current key = %v, want it not to open", err)
		}
		if r.Current() != cur {
			t.Errorf("Current() after a failed Refresh = %s, want %s kept", r.Current().ID, cur.ID)
		}
	})
}

func TestWrongKEK(t *testing.T) {
	eachBackend(t, func(t *testing.T, store Store) {
		generate, _ := generator(t)
		r := mustNew(t, testConfig(newClock(), generate), store, newKEK())
		_, err := New(t.Context(), testConfig(newClock(), generate), store, newKEK(), storagetest.Logger(t))
		want := fmt.Sprintf("key-encryption key does not open signing key %s: wrong GAIA_KEY_ENCRYPTION_KEY?", r.Current().ID)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New with another KEK = %v, want %q", err, want)
		}
		for _, n := range []int{0, 16, 31, 33} {
			if _, err := New(t.Context(), testConfig(newClock(), generate), store, make([]byte, n), storagetest.Logger(t)); err == nil {
				t.Errorf("New with a %d-byte KEK = nil error, want one", n)
			}
		}
	})
}

func TestConfig(t *testing.T) {
	store := storagetest.SQLite(t)
	log := storagetest.Logger(t)
	kek := newKEK()
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no retention", Config{}},
		{"negative retention", Config{Retention: -time.Hour}},
		{"negative refresh interval", Config{Retention: time.Hour, RefreshInterval: -time.Second}},
		{"1024 bits", Config{Retention: time.Hour, Bits: 1024}},
		{"2047 bits", Config{Retention: time.Hour, Bits: 2047}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(t.Context(), tc.cfg, store, kek, log); err == nil {
				t.Errorf("New(%+v) = nil error, want one", tc.cfg)
			}
		})
	}
	if _, err := New(t.Context(), Config{Retention: time.Hour}, nil, kek, log); err == nil {
		t.Errorf("New(nil store) = nil error, want one")
	}
	if _, err := New(t.Context(), Config{Retention: time.Hour}, store, kek, nil); err == nil {
		t.Errorf("New(nil logger) = nil error, want one")
	}
	if ks := rows(t, store); len(ks) != 0 {
		t.Errorf("refused configs stored keys %+v", ks)
	}
}

func TestJWKS(t *testing.T) {
	store := storagetest.SQLite(t)
	generate, _ := generator(t)
	r := mustNew(t, testConfig(newClock(), generate), store, newKEK())
	old := r.Current()
	cur, _, err := r.Rotate(t.Context())
	if err != nil {
		t.Fatal(err)
	}

	jwks := r.JWKS()
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(jwks, &set); err != nil {
		t.Fatalf("JWKS() = %s: %v", jwks, err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(jwks, &fields); err != nil || len(fields) != 1 {
		t.Errorf("JWKS() members = %v, want keys alone", slices.Collect(maps.Keys(fields)))
	}
	privs := map[string]*rsa.PrivateKey{cur.ID: cur.Private, old.ID: old.Private}
	if len(set.Keys) != 2 {
		t.Fatalf("JWKS() has %d keys, want 2: %s", len(set.Keys), jwks)
	}
	seen := map[string]bool{}
	for i, k := range set.Keys {
		names := slices.Sorted(maps.Keys(k))
		if want := []string{"alg", "e", "kid", "kty", "n", "use"}; !slices.Equal(names, want) {
			t.Errorf("JWKS key %d has members %v, want exactly %v", i, names, want)
		}
		kid, _ := k["kid"].(string)
		if seen[kid] {
			t.Errorf("JWKS kid %q appears twice", kid)
		}
		seen[kid] = true
		priv := privs[kid]
		if priv == nil {
			t.Errorf("JWKS key %d has kid %q, want one of the ring's", i, kid)
			continue
		}
		if k["kty"] != "RSA" || k["alg"] != "RS256" || k["use"] != "sig" {
			t.Errorf("JWKS key %s: kty %v, alg %v, use %v, want RSA, RS256, sig", kid, k["kty"], k["alg"], k["use"])
		}
		// RFC 7518 §2, Base64urlUInt: unpadded base64url of the big-endian
		// value in its fewest octets.
		n, _ := k["n"].(string)
		nb, err := base64.RawURLEncoding.DecodeString(n)
		if err != nil || len(nb) == 0 || nb[0] == 0 || !bytes.Equal(nb, priv.N.Bytes()) {
			t.Errorf("JWKS key %s: n = %q, want the modulus as Base64urlUInt", kid, n)
		}
		if e := k["e"]; e != "AQAB" {
			t.Errorf("JWKS key %s: e = %v, want AQAB (65537)", kid, e)
		}
	}
	if got := kids(t, jwks); !slices.Equal(got, []string{cur.ID, old.ID}) {
		t.Errorf("JWKS kids = %v, want current %s, then retired %s", got, cur.ID, old.ID)
	}

	// Served as is, and rebuilt only when the keys change.
	if err := r.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if again := r.JWKS(); &again[0] != &jwks[0] {
		t.Errorf("JWKS() after a Refresh that changed nothing is a new slice, want the same")
	}
}

func TestRotate(t *testing.T) {
	eachBackend(t, func(t *testing.T, store Store) {
		ctx := t.Context()
		c := newClock()
		generate, _ := generator(t)
		cfg := testConfig(c, generate)
		r := mustNew(t, cfg, store, newKEK())
		old := r.Current()

		c.advance(time.Minute)
		rotatedAt := c.now()
		cur, _, err := r.Rotate(ctx)
		if err != nil {
			t.Fatalf("Rotate: %v", err)
		}
		if cur.ID == old.ID || cur.Private.Equal(old.Private) {
			t.Fatalf("Rotate() = %s, want a new key, not %s", cur.ID, old.ID)
		}
		if got := r.Current(); got.ID != cur.ID || !got.Private.Equal(cur.Private) {
			t.Errorf("Current() after Rotate = %s, want %s", got.ID, cur.ID)
		}
		if pub, ok := r.PublicKey(old.ID); !ok || !pub.Equal(&old.Private.PublicKey) {
			t.Errorf("PublicKey(old) after Rotate = %v, %v, want the old key", pub, ok)
		}
		if pub, ok := r.PublicKey(cur.ID); !ok || !pub.Equal(&cur.Private.PublicKey) {
			t.Errorf("PublicKey(current) after Rotate = %v, %v, want the current key", pub, ok)
		}
		if got := kids(t, r.JWKS()); !slices.Equal(got, []string{cur.ID, old.ID}) {
			t.Errorf("JWKS kids after Rotate = %v, want [%s %s]", got, cur.ID, old.ID)
		}
		want := []KeyInfo{
			{ID: cur.ID, State: StateCurrent, CreatedAt: rotatedAt, ActivatesAt: rotatedAt},
			{ID: old.ID, State: StateRetired, CreatedAt: rotatedAt.Add(-time.Minute), ActivatesAt: rotatedAt.Add(-time.Minute), RetiredAt: rotatedAt},
		}
		if got := r.List(); !slices.EqualFunc(got, want, sameInfo) {
			t.Errorf("List() after Rotate = %+v, want %+v", got, want)
		}

		// Published until Retention has passed since the rotation.
		wantRetention(t, r, c, cfg.Retention, old.ID, cur.ID)
		if got := infoIDs(r.List()); !slices.Equal(got, []string{cur.ID}) {
			t.Errorf("List() after the retention = %v, want [%s]", got, cur.ID)
		}
		// Refresh deletes nothing; the next Rotate deletes the expired key.
		if n := len(rows(t, store)); n != 2 {
			t.Errorf("stored keys after Refresh = %d, want 2", n)
		}
		next, _, err := r.Rotate(ctx)
		if err != nil {
			t.Fatalf("Rotate again: %v", err)
		}
		ks := rows(t, store)
		if got := []string{ks[0].ID, ks[len(ks)-1].ID}; len(ks) != 2 || !slices.Equal(got, []string{next.ID, cur.ID}) {
			t.Errorf("stored keys after the second Rotate = %+v, want [%s %s]", ks, next.ID, cur.ID)
		}
	})
}

func TestRefreshSeesRotation(t *testing.T) {
	eachBackend(t, func(t *testing.T, store Store) {
		ctx := t.Context()
		c := newClock()
		generate, _ := generator(t)
		kek := newKEK()
		a := mustNew(t, testConfig(c, generate), store, kek)
		b := mustNew(t, testConfig(c, generate), store, kek)
		old := a.Current()
		if b.Current().ID != old.ID {
			t.Fatalf("two rings on one store: current %s and %s, want one key", old.ID, b.Current().ID)
		}
		c.advance(time.Minute)
		cur, _, err := b.Rotate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if a.Current().ID != old.ID {
			t.Errorf("Current() of the other ring before Refresh = %s, want %s", a.Current().ID, old.ID)
		}
		if err := a.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if got := a.Current(); got.ID != cur.ID || !got.Private.Equal(cur.Private) {
			t.Errorf("Current() of the other ring after Refresh = %s, want %s", got.ID, cur.ID)
		}
		if _, ok := a.PublicKey(old.ID); !ok {
			t.Errorf("PublicKey(old) of the other ring after Refresh = _, false, want true")
		}
		if got, want := a.JWKS(), b.JWKS(); !bytes.Equal(got, want) {
			t.Errorf("JWKS of the two rings differ:\n%s\n%s", got, want)
		}
	})
}

func TestRun(t *testing.T) {
	eachBackend(t, func(t *testing.T, store Store) {
		c := newClock()
		generate, _ := generator(t)
		kek := newKEK()
		cfg := testConfig(c, generate)
		cfg.RefreshInterval = 10 * time.Millisecond
		a := mustNew(t, cfg, store, kek)
		b := mustNew(t, testConfig(c, generate), store, kek)
		old := a.Current()

		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			defer close(done)
			a.Run(ctx)
		}()
		defer func() {
			cancel()
			<-done
		}()

		c.advance(time.Minute)
		cur, _, err := b.Rotate(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the other ring's rotation", func() bool { return a.Current().ID == cur.ID })
		if _, ok := a.PublicKey(old.ID); !ok {
			t.Errorf("PublicKey(old) = _, false, want it published still")
		}

		// Past its retention, the old key leaves the ring, and then storage.
		c.advance(cfg.Retention + time.Second)
		waitFor(t, "the old key to be deleted", func() bool { return len(rows(t, store)) == 1 })
		if got := kids(t, a.JWKS()); !slices.Equal(got, []string{cur.ID}) {
			t.Errorf("JWKS kids after the retention = %v, want [%s]", got, cur.ID)
		}

		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return when its context ended")
		}
	})
}

// waitFor polls cond until it holds, failing t after 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10s for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestNewConcurrently starts rings at once on an empty database, as
// replicas starting together would: exactly one key must be created.
func TestNewConcurrently(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name+"/one store", func(t *testing.T) {
			storagetest.PanicAfter(t, testTimeout)
			s := b.Open(t)
			testNewConcurrently(t, s, s, s, s, s)
		})
	}
	t.Run("sqlite/separate stores", func(t *testing.T) {
		storagetest.PanicAfter(t, testTimeout)
		path := filepath.Join(t.TempDir(), "gaia.db")
		var ss []Store
		for i := range 3 {
			s, err := sqlite.Open(t.Context(), path, storagetest.Logger(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			if i == 0 {
				if _, err := s.Migrate(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			ss = append(ss, s)
		}
		testNewConcurrently(t, ss[0], ss[1], ss[2], ss[0], ss[1])
	})
	if u, ok := storagetest.PostgresURL(t); ok {
		t.Run("postgres/separate stores", func(t *testing.T) {
			storagetest.PanicAfter(t, testTimeout)
			schema := storagetest.PostgresSchema(t, u)
			var ss []Store
			for i := range 3 {
				s := storagetest.OpenPostgres(t, schema)
				if i == 0 {
					if _, err := s.Migrate(t.Context()); err != nil {
						t.Fatal(err)
					}
				}
				ss = append(ss, s)
			}
			testNewConcurrently(t, ss[0], ss[1], ss[2], ss[0], ss[1])
		})
	}
}

// testNewConcurrently calls New once per store at once: one key must be
// generated and stored, and every ring must have it.
func testNewConcurrently(t *testing.T, stores ...Store) {
	generate, calls := generator(t)
	kek := newKEK()
	rings := make([]*Ring, len(stores))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() {
			<-start
			r, err := New(t.Context(), testConfig(newClock(), generate), s, kek, storagetest.Logger(t))
			if err != nil {
				t.Errorf("New #%d: %v", i, err)
				return
			}
			rings[i] = r
		})
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		return
	}
	ks := rows(t, stores[0])
	if len(ks) != 1 || calls.Load() != 1 {
		t.Fatalf("%d concurrent New: %d keys generated, %d stored, want 1", len(stores), calls.Load(), len(ks))
	}
	for i, r := range rings {
		if r.Current().ID != ks[0].ID {
			t.Errorf("ring #%d: Current() = %s, want %s", i, r.Current().ID, ks[0].ID)
		}
	}
}

func TestKeyNeverShown(t *testing.T) {
	store := storagetest.SQLite(t)
	generate, _ := generator(t)
	k := mustNew(t, testConfig(newClock(), generate), store, newKEK()).Current()
	if b, err := json.Marshal(k); err == nil {
		t.Errorf("json.Marshal(Key) = %s, want an error", b)
	}
	var out bytes.Buffer
	slog.New(slog.NewJSONHandler(&out, nil)).Info("signing", "key", k)
	d := base64.RawURLEncoding.EncodeToString(k.Private.D.Bytes())
	if !strings.Contains(out.String(), `"key":"`+k.ID+`"`) || strings.Contains(out.String(), k.Private.D.String()) ||
		strings.Contains(out.String(), d) {
		t.Errorf("slog of a Key = %s, want the kid alone", out.String())
	}
}

// sinkKey and sinkJWKS keep the benchmarked calls from being optimized away.
var (
	sinkKey  Key
	sinkJWKS []byte
)

func BenchmarkCurrent(b *testing.B) {
	r := benchRing(b)
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sinkKey = r.Current()
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			var k Key
			n := 0
			for pb.Next() {
				k = r.Current()
				n++
			}
			if n > 0 && k.Private == nil {
				b.Error("Current() has no key")
			}
		})
	})
}

func BenchmarkJWKS(b *testing.B) {
	r := benchRing(b)
	b.ReportAllocs()
	for b.Loop() {
		sinkJWKS = r.JWKS()
	}
}

func BenchmarkPublicKey(b *testing.B) {
	r := benchRing(b)
	old := r.List()[1].ID
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := r.PublicKey(old); !ok {
			b.Fatal("PublicKey(old) = _, false")
		}
	}
}

// benchRing returns a ring on SQLite with a current and a retired key.
func benchRing(b *testing.B) *Ring {
	b.Helper()
	generate, _ := generator(b)
	r := mustNew(b, Config{Retention: time.Hour, generate: generate}, storagetest.SQLite(b), newKEK())
	if _, _, err := r.Rotate(b.Context()); err != nil {
		b.Fatal(err)
	}
	return r
}

// sameInfo reports whether a and b are equal.
func sameInfo(a, b KeyInfo) bool {
	return a.ID == b.ID && a.State == b.State && a.CreatedAt.Equal(b.CreatedAt) && a.ActivatesAt.Equal(b.ActivatesAt) &&
		a.RetiredAt.Equal(b.RetiredAt) && a.RevokedAt.Equal(b.RevokedAt)
}
