package storage

import (
	"context"
	"time"
)

// SigningKey is a key that signs tokens, as package oauth/keys keeps it.
// Rows are written once and then only retired, never changed otherwise.
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
	RetiredAt  time.Time // zero while the key is current
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
	// not yet retired except the one with exceptID. An exceptID that is not
	// a UUID, such as "", spares no key. Keys already retired keep their
	// RetiredAt.
	RetireSigningKeys(ctx context.Context, exceptID string, at time.Time) error
	// DeleteSigningKeys deletes the keys retired before retiredBefore and
	// returns how many it deleted. Keys not retired are never deleted.
	DeleteSigningKeys(ctx context.Context, retiredBefore time.Time) (int, error)
}
