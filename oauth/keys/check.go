package keys

import (
	"context"
	"errors"
	"fmt"

	"github.com/gaia-platform/iam/storage"
)

var (
	// ErrNoSigningKeys reports a store without signing keys: a fresh
	// install, against which no key-encryption key can be checked.
	ErrNoSigningKeys = errors.New("no signing keys stored")
	// ErrWrongKEK reports a key-encryption key that does not open the
	// stored signing keys.
	ErrWrongKEK = errors.New("the key-encryption key does not open the stored signing keys")
)

// KeyLister is what CheckKEK reads.
type KeyLister interface {
	ListSigningKeys(ctx context.Context) ([]storage.SigningKey, error)
}

// CheckKEK reports whether kek opens the stored signing keys, without
// writing anything: a process given the wrong key should refuse to start
// before it writes what only that key can read (client secrets, keys). It
// opens the current key, or the newest when all are retired.
func CheckKEK(ctx context.Context, store KeyLister, kek []byte) error {
	aead, err := newAEAD(kek)
	if err != nil {
		return err
	}
	rows, err := store.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("check key-encryption key: %w", err)
	}
	if len(rows) == 0 {
		return ErrNoSigningKeys
	}
	row := &rows[0] // newest first
	for i := range rows {
		if rows[i].RetiredAt.IsZero() {
			row = &rows[i]
			break
		}
	}
	der, err := open(aead, row.ID, row.PrivateKey)
	if err != nil {
		return fmt.Errorf("%w (signing key %s)", ErrWrongKEK, row.ID)
	}
	clear(der)
	return nil
}
