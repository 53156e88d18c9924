package keys

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gaia-platform/iam/storage"
)

// snapshot is the ring's keys as of one load. It is never modified once
// built: readers share it without a lock.
type snapshot struct {
	current Key // the key that signed at the load
	// signers are the keys that sign now or will, latest activation first,
	// with the times that tell which one signs at an instant (see signsAt).
	signers []signingKey
	// keys are the published keys, in storage order, newest first.
	keys []publishedKey
	rows []storage.SigningKey // keys' rows without their private halves, for List
	jwks []byte               // keys, as a JWK Set
	// skipped lists the stored keys that did not open, so that each is
	// reported once rather than at every load.
	skipped []string
}

// signingKey is a key that signs in [activates, retires).
type signingKey struct {
	key                Key
	activates, retires time.Time // retires is zero while no successor is set
}

// publishedKey is a key whose signatures are valid.
type publishedKey struct {
	id      string
	public  *rsa.PublicKey
	private *rsa.PrivateKey // nil for a key that will not sign again
	until   time.Time       // the last instant of its retention; zero for a key not retired
	// The stored public key, to recognize the row at the next load and
	// reuse what was opened, rather than decrypt and parse it again. Not
	// the sealed bytes: a rewrap re-seals them under a new key-encryption
	// key, and a process still holding the old one keeps the key it opened
	// (opened once, under the key it trusts, so nothing new is trusted).
	der []byte
}

// find returns the key of s stored as row, or nil; s may be nil.
func (s *snapshot) find(row *storage.SigningKey) *publishedKey {
	if s == nil {
		return nil
	}
	for i := range s.keys {
		k := &s.keys[i]
		if k.id == row.ID && bytes.Equal(k.der, row.PublicKey) {
			return k
		}
	}
	return nil
}

// load reads the keys from storage and returns their snapshot, reusing the
// keys prev (nil at first) opened already, and prev itself when nothing
// changed. It also returns how many stored keys are past their retention:
// those are left out, as are revoked keys. Storage without a key that
// signs now is errNoCurrentKey.
func (r *Ring) load(ctx context.Context, prev *snapshot) (next *snapshot, stale int, err error) {
	rows, err := r.store.ListSigningKeys(ctx)
	if err != nil {
		return nil, 0, err
	}
	now := r.now()
	c := signer(rows, now)
	if c < 0 {
		return nil, 0, errNoCurrentKey
	}
	next = &snapshot{}
	for i := range rows {
		row := &rows[i]
		if !row.RevokedAt.IsZero() {
			continue
		}
		var until time.Time
		if !row.RetiredAt.IsZero() {
			until = row.RetiredAt.Add(r.retention)
			if now.After(until) { // as DeleteSigningKeys(now - Retention) counts
				stale++
				continue
			}
		}
		signs := row.RetiredAt.IsZero() || now.Before(row.RetiredAt)
		pk := prev.find(row)
		if pk == nil || (signs && pk.private == nil) {
			// Opened, not only parsed from its public column: only a key
			// sealed under the KEK is trusted, so a row written by someone
			// without it cannot add a key that verifies tokens.
			priv, err := r.openKey(row)
			if err != nil {
				if i == c {
					// The key signing now must open: the ring would
					// have nothing to sign with.
					return nil, 0, err
				}
				// Leaving it out fails only the tokens it signed, while an
				// error would stop this process from seeing rotations.
				next.skipped = append(next.skipped, row.ID)
				if prev == nil || !slices.Contains(prev.skipped, row.ID) {
					r.log.LogAttrs(ctx, slog.LevelWarn, "signing key not published: it does not open",
						slog.String("kid", row.ID), slog.Any("error", err))
				}
				continue
			}
			pk = &publishedKey{id: row.ID, public: &priv.PublicKey, private: priv, der: row.PublicKey}
		}
		k := *pk
		k.until = until
		if !signs {
			k.private = nil
		}
		next.keys = append(next.keys, k)
		shown := *row
		shown.PrivateKey = nil
		next.rows = append(next.rows, shown)
		if signs {
			key := Key{ID: row.ID, Private: k.private}
			if prev != nil {
				// The same Key as before, so that callers may compare it.
				for _, s := range prev.signers {
					if s.key.ID == key.ID && s.key.Private == key.Private {
						key = s.key
					}
				}
			}
			next.signers = append(next.signers, signingKey{key: key, activates: row.ActivatesAt, retires: row.RetiredAt})
			if i == c {
				next.current = key
			}
		}
	}
	// Latest activation first, as Current scans them; stable, so that on a
	// tie the newest stored comes first, as signer picks it.
	slices.SortStableFunc(next.signers, func(a, b signingKey) int { return b.activates.Compare(a.activates) })

	if prev != nil && slices.EqualFunc(prev.keys, next.keys, samePublic) {
		if next.current == prev.current && slices.EqualFunc(prev.rows, next.rows, sameRow) &&
			slices.Equal(prev.skipped, next.skipped) && slices.EqualFunc(prev.signers, next.signers, sameSigner) {
			return prev, stale, nil
		}
		next.jwks = prev.jwks
	} else if next.jwks, err = marshalJWKS(next.keys); err != nil {
		return nil, 0, err
	}
	return next, stale, nil
}

// samePublic reports whether a and b publish the same key, as the JWKS shows it.
func samePublic(a, b publishedKey) bool { return a.id == b.id && a.public == b.public }

// sameRow reports whether a and b hold the same key with the same times;
// retention ends follow from them.
func sameRow(a, b storage.SigningKey) bool {
	return a.ID == b.ID && a.CreatedAt.Equal(b.CreatedAt) && a.ActivatesAt.Equal(b.ActivatesAt) &&
		a.RetiredAt.Equal(b.RetiredAt) && a.RevokedAt.Equal(b.RevokedAt)
}

// sameSigner reports whether a and b are the same key signing at the same times.
func sameSigner(a, b signingKey) bool {
	return a.key == b.key && a.activates.Equal(b.activates) && a.retires.Equal(b.retires)
}

// openKey returns the private key stored in row, checked against the row's
// public key.
func (r *Ring) openKey(row *storage.SigningKey) (*rsa.PrivateKey, error) {
	if row.Algorithm != Algorithm {
		return nil, fmt.Errorf("signing key %s: algorithm %q, want %s", row.ID, row.Algorithm, Algorithm)
	}
	der, err := open(r.aead, row.ID, row.PrivateKey)
	if err != nil {
		// GCM cannot tell a wrong key from a damaged or moved ciphertext;
		// a wrong key is by far the likelier.
		return nil, fmt.Errorf("key-encryption key does not open signing key %s: wrong GAIA_KEY_ENCRYPTION_KEY?", row.ID)
	}
	defer clear(der)
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", row.ID, err)
	}
	priv, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("signing key %s: a %T, want an RSA key", row.ID, k)
	}
	if pub, err := x509.ParsePKIXPublicKey(row.PublicKey); err != nil || !priv.PublicKey.Equal(pub) {
		return nil, fmt.Errorf("signing key %s: the stored public key is not the private key's", row.ID)
	}
	return priv, nil
}

// newKey generates a key and returns its row, sealed under a fresh kid,
// with CreatedAt left for the caller to set.
func (r *Ring) newKey() (*storage.SigningKey, *rsa.PrivateKey, error) {
	priv, err := r.generate(r.bits)
	if err != nil {
		return nil, nil, fmt.Errorf("generate signing key: %w", err)
	}
	kid, err := storage.NewID("") // a UUIDv7
	if err != nil {
		return nil, nil, fmt.Errorf("generate signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, fmt.Errorf("generate signing key: %w", err)
	}
	defer clear(der)
	pub, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return nil, nil, fmt.Errorf("generate signing key: %w", err)
	}
	row := &storage.SigningKey{ID: kid, Algorithm: Algorithm, PrivateKey: seal(r.aead, kid, der), PublicKey: pub}
	return row, priv, nil
}

// marshalJWKS returns the JWK Set (RFC 7517 §5) of keys: for each, the
// public members of an RSA key (RFC 7518 §6.3.1: n and e, unpadded
// base64url) with kid, alg and use (RFC 7517 §4). A *rsa.PublicKey has no
// private members to leak.
func marshalJWKS(keys []publishedKey) ([]byte, error) {
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, len(keys))}
	for i, k := range keys {
		set.Keys[i] = jose.JSONWebKey{Key: k.public, KeyID: k.id, Algorithm: Algorithm, Use: "sig"}
	}
	b, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("marshal JWKS: %w", err)
	}
	return b, nil
}
