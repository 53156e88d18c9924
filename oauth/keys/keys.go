// Package keys keeps the keys that sign Gaia's tokens: one current RSA key,
// which signs; the next key, published ahead of signing so that every
// replica and resource server has it before the first token it signs; and
// the keys it replaced, still published until every token they signed has
// expired. A revoked key is neither published nor trusted.
//
// A key's life is a function of its stored times, so every process that
// has loaded the same rows agrees on which key signs at any instant, even
// between reloads: next (before ActivatesAt), current (then, until
// RetiredAt), retired (published until RetiredAt + Retention), deleted;
// or revoked, at any point.
//
// The keys live in storage, so every process on one database signs with the
// same key and publishes the same JWKS. Their private halves are stored
// sealed with a key-encryption key (KEK) that only the processes hold; the
// database never sees them in plain text. Each process keeps the keys in an
// immutable snapshot that token signing reads without a lock, and reloads
// it periodically (Run) to pick up a rotation done by another process.
package keys

import (
	"cmp"
	"context"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gaia-platform/iam/storage"
)

// Algorithm is the JWS algorithm of every key (RFC 7518 §3.3).
const Algorithm = "RS256"

const (
	// lockName is the storage lock that serializes key creation and
	// rotation across processes.
	lockName = "gaia.keys"
	// minBits is the smallest RSA modulus accepted (NIST SP 800-57: 112-bit
	// security).
	minBits                = 2048
	defaultRefreshInterval = 15 * time.Second
)

// errNoCurrentKey reports that storage holds no key that signs now.
var errNoCurrentKey = errors.New("no current signing key in storage")

// The states of a key, as List and Describe show them.
const (
	StateCurrent = "current" // signs new tokens
	StateNext    = "next"    // published, signs from its ActivatesAt
	StateRetired = "retired" // published until its retention ends, signs nothing
	StateRevoked = "revoked" // neither published nor trusted
)

// Key is a signing key: the JWS kid and its RSA private key. Private is
// shared by every caller and must not be modified. Key's LogValue and
// MarshalJSON never reveal Private.
type Key struct {
	ID      string
	Private *rsa.PrivateKey
}

// LogValue logs a key as its kid alone.
func (k Key) LogValue() slog.Value { return slog.StringValue(k.ID) }

// MarshalJSON refuses: a private key never leaves the process.
func (k Key) MarshalJSON() ([]byte, error) {
	return nil, fmt.Errorf("signing key %s: a private key is never marshaled", k.ID)
}

// KeyInfo describes a key, for display.
type KeyInfo struct {
	ID          string
	State       string // StateCurrent, StateNext, StateRetired or StateRevoked
	CreatedAt   time.Time
	ActivatesAt time.Time // when it starts (or started) signing
	RetiredAt   time.Time // when it stops (or stopped) signing; zero while no successor is set
	RevokedAt   time.Time // zero for a key not revoked
}

// signsAt reports whether k may sign at t: not revoked, activated and not
// retired. Of several such keys the last activated signs (see signer).
func signsAt(k *storage.SigningKey, t time.Time) bool {
	return k.RevokedAt.IsZero() && !t.Before(k.ActivatesAt) && (k.RetiredAt.IsZero() || t.Before(k.RetiredAt))
}

// signer returns the index of the key of rows that signs at t, or -1: the
// last activated of those that may (the newest stored on a tie). When none
// may, t is behind the clock of the process that made the first key (or
// the fresh key of a revocation): then the first to activate of the keys
// not revoked or retired by t signs, rather than none.
func signer(rows []storage.SigningKey, t time.Time) int {
	c := -1
	for i := range rows {
		if signsAt(&rows[i], t) && (c < 0 || rows[i].ActivatesAt.After(rows[c].ActivatesAt)) {
			c = i
		}
	}
	if c >= 0 {
		return c
	}
	for i := range rows {
		k := &rows[i]
		if k.RevokedAt.IsZero() && (k.RetiredAt.IsZero() || t.Before(k.RetiredAt)) &&
			(c < 0 || k.ActivatesAt.Before(rows[c].ActivatesAt)) {
			c = i
		}
	}
	return c
}

// Describe tells the state at now of each stored key, in rows' order. It
// needs no key-encryption key: the keys list command uses it on the rows.
func Describe(rows []storage.SigningKey, now time.Time) []KeyInfo {
	c := signer(rows, now)
	infos := make([]KeyInfo, len(rows))
	for i := range rows {
		k := &rows[i]
		state := StateRetired
		switch {
		case !k.RevokedAt.IsZero():
			state = StateRevoked
		case i == c:
			state = StateCurrent
		case now.Before(k.ActivatesAt) && (k.RetiredAt.IsZero() || now.Before(k.RetiredAt)):
			state = StateNext
		}
		infos[i] = KeyInfo{ID: k.ID, State: state, CreatedAt: k.CreatedAt, ActivatesAt: k.ActivatesAt, RetiredAt: k.RetiredAt, RevokedAt: k.RevokedAt}
	}
	return infos
}

// Config configures a Ring.
type Config struct {
	// Retention is how long a retired key stays published, and its
	// signatures valid: at least the longest lifetime of a token it signs
	// (access and ID tokens) plus the clock skew verifiers allow, plus
	// RefreshInterval, during which a process that has not reloaded yet
	// still signs with the key another process retired. Required.
	Retention time.Duration
	// RefreshInterval is how often Run reloads the keys from storage, and so
	// how long other processes take to see a rotation. Default 15s.
	RefreshInterval time.Duration
	// PublishDelay is how long a key made by Rotate is published before it
	// signs: at least RefreshInterval (every process has loaded it) plus
	// the longest a resource server may cache the JWKS (its max-age), so
	// that no one meets a kid it cannot fetch. Zero makes it sign at once,
	// which only a lone process without verifiers can afford.
	PublishDelay time.Duration
	// Bits is the RSA modulus size of new keys. Default 2048; less is refused.
	Bits int

	// For this package's tests: the clock, and a generator of keys that
	// spares the cost of generating RSA keys. Nil means the real ones.
	now      func() time.Time
	generate func(bits int) (*rsa.PrivateKey, error)
}

// Store is what a Ring needs from storage.
type Store interface {
	storage.SigningKeys
	storage.Transactor
}

// Ring holds the signing keys. It is safe for concurrent use.
type Ring struct {
	store     Store
	aead      cipher.AEAD // AES-256-GCM under the KEK; see seal
	log       *slog.Logger
	retention time.Duration
	interval  time.Duration
	delay     time.Duration
	bits      int
	now       func() time.Time
	generate  func(bits int) (*rsa.PrivateKey, error)

	// snap is what the keys were at the last load; never nil after New.
	snap atomic.Pointer[snapshot]
	// loadMu is held from reading storage to storing snap, so that a load
	// never replaces a newer one.
	loadMu sync.Mutex
}

// New returns a ring with the keys in store, whose private halves it opens
// with kek. When store has no current key, New creates one, under the
// storage lock: of several processes starting at once on an empty database,
// exactly one creates it and the others load it. A kek that does not open
// the keys is an error.
func New(ctx context.Context, cfg Config, store Store, kek []byte, log *slog.Logger) (*Ring, error) {
	if store == nil || log == nil {
		return nil, errors.New("signing keys: nil store or logger")
	}
	if cfg.Retention <= 0 {
		return nil, fmt.Errorf("signing keys: retention %v, want the longest token lifetime plus clock skew", cfg.Retention)
	}
	if cfg.RefreshInterval < 0 || cfg.PublishDelay < 0 {
		return nil, fmt.Errorf("signing keys: negative refresh interval %v or publish delay %v", cfg.RefreshInterval, cfg.PublishDelay)
	}
	if cfg.Bits == 0 {
		cfg.Bits = minBits
	}
	if cfg.Bits < minBits {
		return nil, fmt.Errorf("signing keys: %d-bit RSA keys are too weak, want %d bits or more", cfg.Bits, minBits)
	}
	aead, err := newAEAD(kek)
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	r := &Ring{
		store:     store,
		aead:      aead,
		log:       log,
		retention: cfg.Retention,
		interval:  cmp.Or(cfg.RefreshInterval, defaultRefreshInterval),
		delay:     cfg.PublishDelay,
		bits:      cfg.Bits,
		now:       cfg.now,
		generate:  cfg.generate,
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.generate == nil {
		r.generate = func(bits int) (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, bits) }
	}

	s, _, err := r.load(ctx, nil)
	if errors.Is(err, errNoCurrentKey) {
		if err := r.createFirst(ctx); err != nil {
			return nil, err
		}
		s, _, err = r.load(ctx, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("load signing keys: %w", err)
	}
	r.snap.Store(s)
	log.LogAttrs(ctx, slog.LevelInfo, "signing keys loaded",
		slog.String("kid", s.current.ID), slog.Int("published", len(s.keys)))
	return r, nil
}

// createFirst creates a key unless, once it holds the lock, it finds one
// current: another process created it meanwhile.
func (r *Ring) createFirst(ctx context.Context) error {
	return r.store.InTx(ctx, func(ctx context.Context) error {
		if err := r.store.Lock(ctx, lockName); err != nil {
			return fmt.Errorf("create signing key: %w", err)
		}
		// Generated under the lock, so that only one process pays for it.
		_, err := r.ensureSigner(ctx, r.now(), func() (*storage.SigningKey, error) {
			row, _, err := r.newKey()
			return row, err
		})
		return err
	})
}

// ensureSigner, in a transaction holding the lock, makes a key sign at now
// when none does: a fresh one from newRow, active at once, which supersedes
// every other key (a next key never signs). It returns the fresh key's
// kid, or "" when a key signs already.
func (r *Ring) ensureSigner(ctx context.Context, now time.Time, newRow func() (*storage.SigningKey, error)) (string, error) {
	rows, err := r.store.ListSigningKeys(ctx)
	if err != nil {
		return "", fmt.Errorf("create signing key: %w", err)
	}
	if signer(rows, now) >= 0 {
		return "", nil
	}
	row, err := newRow()
	if err != nil {
		return "", err
	}
	row.CreatedAt, row.ActivatesAt = now, now
	if err := r.store.CreateSigningKey(ctx, row); err != nil {
		return "", fmt.Errorf("create signing key: %w", err)
	}
	if err := r.store.RetireSigningKeys(ctx, row.ID, now); err != nil {
		return "", fmt.Errorf("create signing key: %w", err)
	}
	r.log.LogAttrs(ctx, slog.LevelInfo, "signing key created", slog.String("kid", row.ID))
	return row.ID, nil
}

// Current returns the key that signs new tokens now. It takes no lock and
// does not allocate. A next key loaded earlier becomes current at its
// activation time without a reload, on every process at once.
func (r *Ring) Current() Key {
	s := r.snap.Load()
	now := r.now()
	for i := range s.signers { // latest activation first
		k := &s.signers[i]
		if !now.Before(k.activates) && (k.retires.IsZero() || now.Before(k.retires)) {
			return k.key
		}
	}
	return s.current
}

// PublicKey returns the public key of the current key or of a retired key
// still within Retention, the keys whose signatures are valid; false for
// any other kid. The key is shared and must not be modified.
func (r *Ring) PublicKey(kid string) (*rsa.PublicKey, bool) {
	s := r.snap.Load()
	for i := range s.keys { // a handful of keys: a scan beats a map
		k := &s.keys[i]
		if k.id != kid {
			continue
		}
		// Checked here rather than at the next load: a key is trusted
		// not a moment past its retention.
		if !k.until.IsZero() && r.now().After(k.until) {
			return nil, false
		}
		return k.public, true
	}
	return nil, false
}

// JWKS returns the JSON Web Key Set (RFC 7517 §5) of the current key and
// the retired keys still within Retention: their public members only, with
// kid, alg and use. It is built when the keys change, at a load, so a key
// past its retention leaves it at the next Refresh. The slice is shared and
// must not be modified.
func (r *Ring) JWKS() []byte {
	return r.snap.Load().jwks
}

// List describes the published keys as of now, newest first.
func (r *Ring) List() []KeyInfo {
	return Describe(r.snap.Load().rows, r.now())
}

// Revoked reports whether storage holds kid revoked, or no longer holds it:
// the fresh answer the liveness rule needs, where the ring itself may be
// RefreshInterval behind a revocation by another process.
func (r *Ring) Revoked(ctx context.Context, kid string) (bool, error) {
	revoked, err := r.store.SigningKeyRevoked(ctx, kid)
	if errors.Is(err, storage.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("signing key %s revoked: %w", kid, err)
	}
	return revoked, nil
}

// Rotate makes a new key, published at once and current after
// PublishDelay: it creates the key, due to activate then, retires every
// other key at that instant and deletes the keys retired longer than
// Retention ago, in one transaction under the storage lock, then reloads.
// It returns the key and when it starts signing. A retired key stays
// published for Retention, so tokens it signed stay valid until they
// expire. If only the reload fails, the rotation stands: Rotate returns the
// new key with the error, and the next Refresh picks it up.
func (r *Ring) Rotate(ctx context.Context) (Key, time.Time, error) {
	// Generated before taking the lock, which holds every other writer
	// (on SQLite) or rotation (on PostgreSQL) while it is held.
	row, priv, err := r.newKey()
	if err != nil {
		return Key{}, time.Time{}, err
	}
	var deleted int
	err = r.store.InTx(ctx, func(ctx context.Context) error {
		if err := r.store.Lock(ctx, lockName); err != nil {
			return err
		}
		now := r.now()
		row.CreatedAt, row.ActivatesAt = now, now.Add(r.delay)
		if err := r.store.CreateSigningKey(ctx, row); err != nil {
			return err
		}
		// The key it replaces signs until then, and no longer: so does a
		// next key of an earlier rotation.
		if err := r.store.RetireSigningKeys(ctx, row.ID, row.ActivatesAt); err != nil {
			return err
		}
		var err error
		deleted, err = r.store.DeleteSigningKeys(ctx, now.Add(-r.retention))
		return err
	})
	if err != nil {
		return Key{}, time.Time{}, fmt.Errorf("rotate signing key: %w", err)
	}
	k := Key{ID: row.ID, Private: priv}
	r.log.LogAttrs(ctx, slog.LevelInfo, "signing key rotated",
		slog.String("kid", k.ID), slog.Time("signs_from", row.ActivatesAt), slog.Int("expired_deleted", deleted))
	if err := r.Refresh(ctx); err != nil {
		return k, row.ActivatesAt, fmt.Errorf("rotated signing key to %s: %w", k.ID, err)
	}
	return k, row.ActivatesAt, nil
}

// Revocation is what Revoke did.
type Revocation struct {
	// Already is true when the key was revoked before: nothing changed.
	Already bool
	// Fresh is the kid of the key made to sign at once because the revoked
	// key was the one signing and no next key could; "" when none was made.
	Fresh string
}

// Revoke revokes the key kid, for a key that is compromised: from then on
// it is neither published nor trusted by this ring (others see it at their
// next reload, and Revoked tells the liveness rule at once). When it was
// the key signing, the next key of a rotation signs at once if there is
// one (it is published already); otherwise a fresh key does. The fresh key
// is not published ahead, so a verifier meets its kid before it has it and
// fetches the JWKS on demand, which a compromised key leaves no time to
// avoid. Revoking a revoked key changes nothing; an unknown kid is
// storage.ErrNotFound. Like Rotate, a failed reload is returned with the
// revocation standing.
func (r *Ring) Revoke(ctx context.Context, kid string) (Revocation, error) {
	// A fresh key is generated before taking the lock, whether or not it
	// is needed: generating it under the lock would hold every writer.
	row, _, err := r.newKey()
	if err != nil {
		return Revocation{}, err
	}
	var rev Revocation
	err = r.store.InTx(ctx, func(ctx context.Context) error {
		if err := r.store.Lock(ctx, lockName); err != nil {
			return err
		}
		now := r.now()
		first, err := r.store.RevokeSigningKey(ctx, kid, now)
		if err != nil {
			return err
		}
		rev.Already = !first
		rev.Fresh, err = r.ensureSigner(ctx, now, func() (*storage.SigningKey, error) { return row, nil })
		return err
	})
	if err != nil {
		return Revocation{}, fmt.Errorf("revoke signing key: %w", err)
	}
	r.log.LogAttrs(ctx, slog.LevelWarn, "signing key revoked",
		slog.String("kid", kid), slog.Bool("already", rev.Already), slog.String("fresh_kid", rev.Fresh))
	if err := r.Refresh(ctx); err != nil {
		return rev, fmt.Errorf("revoked signing key %s: %w", kid, err)
	}
	return rev, nil
}

// Refresh reloads the keys from storage. Keys retired longer than
// Retention are dropped from the ring but not deleted from storage: Rotate
// and Run do that. On error the ring keeps the keys it had.
func (r *Ring) Refresh(ctx context.Context) error {
	_, err := r.refresh(ctx)
	return err
}

// refresh is Refresh, also returning how many stored keys are past their
// retention.
func (r *Ring) refresh(ctx context.Context) (stale int, err error) {
	r.loadMu.Lock()
	defer r.loadMu.Unlock()
	prev := r.snap.Load()
	next, stale, err := r.load(ctx, prev)
	if err != nil {
		return 0, fmt.Errorf("reload signing keys: %w", err)
	}
	if next == prev {
		return stale, nil
	}
	r.snap.Store(next)
	if next.current.ID != prev.current.ID {
		r.log.LogAttrs(ctx, slog.LevelInfo, "signing key changed",
			slog.String("kid", next.current.ID), slog.String("previous_kid", prev.current.ID))
	}
	return stale, nil
}

// Run reloads the keys every RefreshInterval until ctx ends, so that a
// rotation done by another process, or by the keys rotate command, is
// picked up without a restart. A failed reload is logged and the ring keeps
// the keys it had. When a reload finds keys past their retention, Run
// deletes them from storage.
func (r *Ring) Run(ctx context.Context) {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		stale, err := r.refresh(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			r.log.LogAttrs(ctx, slog.LevelWarn, "signing keys not reloaded, keeping the loaded ones",
				slog.String("kid", r.Current().ID), slog.Any("error", err))
			continue
		}
		if stale > 0 {
			r.prune(ctx)
		}
	}
}

// prune deletes from storage the keys retired longer than Retention ago.
// Several processes may prune at once: the deletes are idempotent.
func (r *Ring) prune(ctx context.Context) {
	n, err := r.store.DeleteSigningKeys(ctx, r.now().Add(-r.retention))
	if err != nil {
		if ctx.Err() == nil {
			r.log.LogAttrs(ctx, slog.LevelWarn, "expired signing keys not deleted", slog.Any("error", err))
		}
		return
	}
	if n > 0 {
		r.log.LogAttrs(ctx, slog.LevelInfo, "expired signing keys deleted", slog.Int("count", n))
	}
}
