// Package keys keeps the keys that sign Gaia's tokens: one current RSA key,
// which signs, and the keys it replaced, still published until every token
// they signed has expired.
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
	"slices"
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

// errNoCurrentKey reports that storage holds no key that is not retired.
var errNoCurrentKey = errors.New("no current signing key in storage")

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

// KeyInfo describes a published key, for display.
type KeyInfo struct {
	ID        string
	CreatedAt time.Time
	RetiredAt time.Time // zero for a key not retired
	Current   bool      // whether the key signs new tokens
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
	if cfg.RefreshInterval < 0 {
		return nil, fmt.Errorf("signing keys: negative refresh interval %v", cfg.RefreshInterval)
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
		rows, err := r.store.ListSigningKeys(ctx)
		if err != nil {
			return fmt.Errorf("create signing key: %w", err)
		}
		if slices.ContainsFunc(rows, func(k storage.SigningKey) bool { return k.RetiredAt.IsZero() }) {
			return nil
		}
		// Generated under the lock, so that only one process pays for it.
		row, _, err := r.newKey()
		if err != nil {
			return err
		}
		row.CreatedAt = r.now()
		if err := r.store.CreateSigningKey(ctx, row); err != nil {
			return fmt.Errorf("create signing key: %w", err)
		}
		r.log.LogAttrs(ctx, slog.LevelInfo, "signing key created", slog.String("kid", row.ID))
		return nil
	})
}

// Current returns the key that signs new tokens. It takes no lock and does
// not allocate.
func (r *Ring) Current() Key {
	return r.snap.Load().current
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

// List describes the published keys: the current key first, then the
// retired ones, newest first.
func (r *Ring) List() []KeyInfo {
	return slices.Clone(r.snap.Load().infos)
}

// Rotate makes a new key current: it creates the key, retires every other
// key and deletes the keys retired longer than Retention ago, in one
// transaction under the storage lock, then reloads. A retired key stays
// published for Retention, so tokens it signed stay valid until they
// expire. If only the reload fails, the rotation stands: Rotate returns the
// new key with the error, and the next Refresh picks it up.
func (r *Ring) Rotate(ctx context.Context) (Key, error) {
	// Generated before taking the lock, which holds every other writer
	// (on SQLite) or rotation (on PostgreSQL) while it is held.
	row, priv, err := r.newKey()
	if err != nil {
		return Key{}, err
	}
	var deleted int
	err = r.store.InTx(ctx, func(ctx context.Context) error {
		if err := r.store.Lock(ctx, lockName); err != nil {
			return err
		}
		now := r.now()
		row.CreatedAt = now
		if err := r.store.CreateSigningKey(ctx, row); err != nil {
			return err
		}
		if err := r.store.RetireSigningKeys(ctx, row.ID, now); err != nil {
			return err
		}
		var err error
		deleted, err = r.store.DeleteSigningKeys(ctx, now.Add(-r.retention))
		return err
	})
	if err != nil {
		return Key{}, fmt.Errorf("rotate signing key: %w", err)
	}
	k := Key{ID: row.ID, Private: priv}
	r.log.LogAttrs(ctx, slog.LevelInfo, "signing key rotated",
		slog.String("kid", k.ID), slog.Int("expired_deleted", deleted))
	if err := r.Refresh(ctx); err != nil {
		return k, fmt.Errorf("rotated signing key to %s: %w", k.ID, err)
	}
	return k, nil
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
