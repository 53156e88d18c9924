package keys

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/gaia-platform/iam/storage"
)

// RewrapStore is what Rewrap needs from storage.
type RewrapStore interface {
	DataKeyStore
	ResealSigningKey(ctx context.Context, id string, sealed []byte) error
}

// Rewrapped is what Rewrap re-sealed.
type Rewrapped struct {
	SigningKeys int // signing keys re-sealed, revoked and retired ones included
	DataKeys    int // data keys re-sealed (or made, see OpenDataKey)
	// OldKEK and NewKEK are Fingerprint of the keys, for the audit log.
	OldKEK, NewKEK string
}

// ErrSameKEK reports a rewrap to the key-encryption key in use.
var ErrSameKEK = errors.New("the new key-encryption key is the one in use")

// Rewrap replaces the key-encryption key: it re-seals every stored signing
// key and data key, sealed under oldKEK, under newKEK, in one transaction
// under the storage lock, and calls then (nil: none) in that transaction,
// so that what then writes (the audit event) is written with the rewrap or
// not at all. Derived keys come from the data key, which does not change,
// so refresh tokens and client secrets stay valid.
//
// Every key is opened with oldKEK before anything is written: a key that
// does not open is ErrWrongKEK, naming it, and nothing changes. A store
// without a data key (a deployment that has not run since data keys came)
// gets version 1 made as OpenDataKey makes it, sealed under newKEK.
//
// Running processes keep the keys they opened (see Ring.Refresh), but
// cannot open keys sealed later under newKEK, nor restart with oldKEK:
// restart them with newKEK before the next rotation.
func Rewrap(ctx context.Context, store RewrapStore, oldKEK, newKEK []byte, then func(ctx context.Context, r Rewrapped) error) (Rewrapped, error) {
	oldAEAD, err := newAEAD(oldKEK)
	if err != nil {
		return Rewrapped{}, fmt.Errorf("old key-encryption key: %w", err)
	}
	newAEAD, err := newAEAD(newKEK)
	if err != nil {
		return Rewrapped{}, fmt.Errorf("new key-encryption key: %w", err)
	}
	if subtle.ConstantTimeCompare(oldKEK, newKEK) == 1 {
		return Rewrapped{}, ErrSameKEK
	}
	res := Rewrapped{OldKEK: Fingerprint(oldKEK), NewKEK: Fingerprint(newKEK)}
	err = store.InTx(ctx, func(ctx context.Context) error {
		if err := store.Lock(ctx, lockName); err != nil {
			return err
		}
		res.SigningKeys, res.DataKeys = 0, 0
		signing, err := store.ListSigningKeys(ctx)
		if err != nil {
			return err
		}
		data, err := store.ListDataKeys(ctx)
		if err != nil {
			return err
		}
		// Open everything first: a key that does not open stops the
		// rewrap before its first write.
		signingPlain := make([][]byte, len(signing))
		defer clearAll(signingPlain)
		for i := range signing {
			if signingPlain[i], err = open(oldAEAD, signing[i].ID, signing[i].PrivateKey); err != nil {
				return fmt.Errorf("%w (signing key %s): nothing was changed", ErrWrongKEK, signing[i].ID)
			}
		}
		dataPlain := make([][]byte, len(data))
		defer clearAll(dataPlain)
		for i := range data {
			if dataPlain[i], err = oldAEAD.Open(nil, nil, data[i].Sealed, dataKeyAD(data[i].Version)); err != nil {
				return fmt.Errorf("%w (data key v%d): nothing was changed", ErrWrongKEK, data[i].Version)
			}
		}
		for i := range signing {
			if err := store.ResealSigningKey(ctx, signing[i].ID, seal(newAEAD, signing[i].ID, signingPlain[i])); err != nil {
				return err
			}
			res.SigningKeys++
		}
		for i := range data {
			if err := store.ResealDataKey(ctx, data[i].Version, newAEAD.Seal(nil, nil, dataPlain[i], dataKeyAD(data[i].Version))); err != nil {
				return err
			}
			res.DataKeys++
		}
		if len(data) == 0 {
			d, err := initialDataKey(ctx, store, oldKEK)
			if err != nil {
				return err
			}
			row := &storage.DataKey{Version: d.Version, Sealed: newAEAD.Seal(nil, nil, d.key, dataKeyAD(d.Version))}
			clear(d.key)
			if err := store.CreateDataKey(ctx, row); err != nil {
				return err
			}
			res.DataKeys++
		}
		if then != nil {
			return then(ctx, res)
		}
		return nil
	})
	if err != nil {
		return Rewrapped{}, fmt.Errorf("rewrap: %w", err)
	}
	return res, nil
}

// Fingerprint names a key-encryption key without revealing it: 16 hex
// digits of an HMAC under the key, so that an operator can tell which key
// a server or an audit event used. It is no aid to guessing a 256-bit key.
func Fingerprint(kek []byte) string {
	m := hmac.New(sha256.New, kek)
	m.Write([]byte("gaia-iam key-encryption key fingerprint"))
	return hex.EncodeToString(m.Sum(nil)[:8])
}

func clearAll(bs [][]byte) {
	for _, b := range bs {
		clear(b)
	}
}
