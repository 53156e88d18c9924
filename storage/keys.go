package storage

import (
	"context"
	"time"
)

// SigningKey is a key that signs tokens, as package oauth/keys keeps it.
// Rows are written once and then only retired, revoked or resealed under a
// new key-encryption key, never changed otherwise.
type SigningKey struct {
	// ID is the JWS key id (kid): a UUIDv7, assigned by CreateSigningKey
	// when empty.
	ID        string
	Algorithm string // JWS alg, e.g. RS256
	// PrivateKey is the PKCS#8 private key sealed by oauth/keys with the
	// key-encryption key. The store never sees it in plain text.
	PrivateKey []byte
	PublicKey  []byte // PKIX DER
	CreatedAt  time.Time
	// ActivatesAt is when the key starts signing; before it the key is
	// only published. CreateSigningKey sets it to CreatedAt when zero.
	ActivatesAt time.Time
	// RetiredAt is when the key stops signing (it may be ahead: the
	// instant the next key activates); zero while no successor is set.
	RetiredAt time.Time
	// RevokedAt is when an operator revoked the key: from then on it is
	// neither published nor trusted. Zero for a key not revoked.
	RevokedAt time.Time
}

// SigningKeys stores the signing keys. Key rotation is a sequence of these
// calls under Transactor.Lock; the store itself enforces no rule on how
// many keys are current.
type SigningKeys interface {
	// CreateSigningKey inserts k, assigning ID and CreatedAt when they are
	// zero. An ID already taken is ErrConflict.
	CreateSigningKey(ctx context.Context, k *SigningKey) error
	// ListSigningKeys lists every key, newest (by CreatedAt, then ID) first.
	ListSigningKeys(ctx context.Context) ([]SigningKey, error)
	// RetireSigningKeys sets RetiredAt to at (now when zero) on every key
	// not retired by at, except the one with exceptID. An exceptID that is
	// not a UUID, such as "", spares no key. Keys retired at or before at
	// keep their RetiredAt; a key due to retire after at retires at at.
	RetireSigningKeys(ctx context.Context, exceptID string, at time.Time) error
	// DeleteSigningKeys deletes the keys retired before retiredBefore and
	// returns how many it deleted. Keys not retired are never deleted.
	DeleteSigningKeys(ctx context.Context, retiredBefore time.Time) (int, error)
	// RevokeSigningKey sets RevokedAt to at (now when zero) on the key id,
	// and retires it at at unless it retired earlier, so that it is deleted
	// once its retention ends. It reports whether this call revoked it: a
	// key revoked already keeps its RevokedAt and is false, nil. An id that
	// is no key's is ErrNotFound.
	RevokeSigningKey(ctx context.Context, id string, at time.Time) (bool, error)
	// SigningKeyRevoked reports whether the key id is revoked, reading only
	// that. An id that is no key's (never stored, or deleted after its
	// retention) is ErrNotFound.
	SigningKeyRevoked(ctx context.Context, id string) (bool, error)
	// ResealSigningKey replaces the sealed private key of the key id, for
	// a change of key-encryption key; nothing else of the row changes. An
	// id that is no key's is ErrNotFound.
	ResealSigningKey(ctx context.Context, id string, sealed []byte) error
}

// DataKey is a server secret kept sealed under the key-encryption key, as
// package oauth/keys keeps it: the keys of refresh tokens, client secrets
// and login protection are derived from it, so that a new key-encryption
// key re-seals it and changes none of them. Versions count up from 1.
type DataKey struct {
	Version   int
	Sealed    []byte // sealed with the key-encryption key
	CreatedAt time.Time
}

// DataKeys stores the data keys.
type DataKeys interface {
	// CreateDataKey inserts k, assigning CreatedAt when zero. A version
	// below 1 is ErrInvalid, a version taken ErrConflict.
	CreateDataKey(ctx context.Context, k *DataKey) error
	// ListDataKeys lists every data key, newest version first.
	ListDataKeys(ctx context.Context) ([]DataKey, error)
	// ResealDataKey replaces the sealed key of version, for a change of
	// key-encryption key. A version that is no key's is ErrNotFound.
	ResealDataKey(ctx context.Context, version int, sealed []byte) error
}
