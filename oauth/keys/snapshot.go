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
	current Key
	// keys are the published keys: the current key first, then the others
	// in storage order, newest first.
	keys  []publishedKey
	infos []KeyInfo // keys, described for List
	jwks  []byte    // keys, as a JWK Set
	// skipped lists the stored keys that did not open, so that each is
	// reported once rather than at every load.
	skipped []string
}

// publishedKey is a key whose signatures are valid.
type publishedKey struct {
	id     string
	public *rsa.PublicKey
	until  time.Time // the last instant of its retention; zero for a key not retired
	// The stored bytes, to recognize the row at the next load and reuse
	// what was opened, rather than decrypt and parse it again.
	sealed, der []byte
}

// find returns the key of s stored as row, or nil; s may be nil.
func (s *snapshot) find(row *storage.SigningKey) *publishedKey {
	if s == nil {
		return nil
	}
	for i := range s.keys {
		k := &s.keys[i]
		if k.id == row.ID && bytes.Equal(k.sealed, row.PrivateKey) && bytes.Equal(k.der, row.PublicKey) {
			return k
		}
	}
	return nil
}

func (s *snapshot) add(row *storage.SigningKey, public *rsa.PublicKey, until time.Time) {
	s.keys = append(s.keys, publishedKey{id: row.ID, public: public, until: until, sealed: row.PrivateKey, der: row.PublicKey})
	s.infos = append(s.infos, KeyInfo{ID: row.ID, CreatedAt: row.CreatedAt, RetiredAt: row.RetiredAt, Current: row.ID == s.current.ID})
}

// load reads the keys from storage and returns their snapshot, reusing the
// keys prev (nil at first) opened already, and prev itself when nothing
// changed. It also returns how many stored keys are past their retention:
// those are left out. Storage without a current key is errNoCurrentKey.
func (r *Ring) load(ctx context.Context, prev *snapshot) (next *snapshot, stale int, err error) {
	rows, err := r.store.ListSigningKeys(ctx)
	if err != nil {
		return nil, 0, err
	}
	now := r.now()
	// The newest key not retired signs. Rotate leaves only one, but it
	// could not prevent someone from adding one by hand.
	c := slices.IndexFunc(rows, func(k storage.SigningKey) bool { return k.RetiredAt.IsZero() })
	if c < 0 {
		return nil, 0, errNoCurrentKey
	}
	cur := &rows[c]
	next = &snapshot{}
	if prev != nil && prev.current.ID == cur.ID && prev.find(cur) != nil {
		next.current = prev.current
	} else {
		// A current key that does not open is an error, not a key to skip:
		// the ring would have nothing to sign with.
		priv, err := r.openKey(cur)
		if err != nil {
			return nil, 0, err
		}
		next.current = Key{ID: cur.ID, Private: priv}
	}
	next.add(cur, &next.current.Private.PublicKey, time.Time{})

	for i := range rows {
		row := &rows[i]
		if i == c {
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
		var public *rsa.PublicKey
		if k := prev.find(row); k != nil {
			public = k.public
		} else {
			// Opened, not only parsed from its public column: only a key
			// sealed under the KEK is trusted, so a row written by someone
			// without it cannot add a key that verifies tokens.
			priv, err := r.openKey(row)
			if err != nil {
				// Leaving it out fails only the tokens it signed, while an
				// error would stop this process from seeing rotations.
				next.skipped = append(next.skipped, row.ID)
				if prev == nil || !slices.Contains(prev.skipped, row.ID) {
					r.log.LogAttrs(ctx, slog.LevelWarn, "signing key not published: it does not open",
						slog.String("kid", row.ID), slog.Any("error", err))
				}
				continue
			}
			public = &priv.PublicKey
		}
		next.add(row, public, until)
	}

	if prev != nil && slices.EqualFunc(prev.keys, next.keys, samePublic) {
		if next.current == prev.current && slices.EqualFunc(prev.infos, next.infos, sameInfo) &&
			slices.Equal(prev.skipped, next.skipped) {
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

// sameInfo reports whether a and b are equal; retention ends follow from them.
func sameInfo(a, b KeyInfo) bool {
	return a.ID == b.ID && a.Current == b.Current && a.CreatedAt.Equal(b.CreatedAt) && a.RetiredAt.Equal(b.RetiredAt)
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
