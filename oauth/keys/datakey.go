package keys

import (
	"context"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/gaia-platform/iam/storage"
)

// dataKeySize is the size of a data key: the HKDF input of the derived keys.
const dataKeySize = 32

// DataKey is the secret the server's other keys (refresh tokens, client
// secrets, login protection) are derived from. It is stored sealed under
// the key-encryption key, not derived from it, so that a new key-encryption
// key (Rewrap) re-seals it and changes none of the keys derived from it:
// refresh tokens and client secrets stay valid. Its version names it, so
// that a later rotation of the data key can tell which one made a hash or
// token. LogValue and String never reveal the key.
type DataKey struct {
	Version int
	key     []byte // never nil in a DataKey from OpenDataKey
}

// LogValue logs a data key as its version alone.
func (d DataKey) LogValue() slog.Value {
	return slog.StringValue("data key v" + strconv.Itoa(d.Version))
}

// String names a data key by its version alone.
func (d DataKey) String() string { return "data key v" + strconv.Itoa(d.Version) }

// GoString, for %#v, names it by its version alone too.
func (d DataKey) GoString() string { return d.String() }

// Derive returns the 32-byte key for one purpose (HKDF-SHA256, RFC 5869,
// with purpose as info), so that no two uses share a key.
func (d DataKey) Derive(purpose string) ([]byte, error) {
	if len(d.key) != dataKeySize {
		return nil, errors.New("derive " + purpose + " key: no data key")
	}
	k, err := hkdf.Key(sha256.New, d.key, nil, purpose, 32)
	if err != nil {
		return nil, fmt.Errorf("derive %s key: %w", purpose, err)
	}
	return k, nil
}

// DataKeyStore is what OpenDataKey and Rewrap need from storage. Clients
// and signing keys tell a deployment that predates data keys.
type DataKeyStore interface {
	storage.DataKeys
	ListSigningKeys(ctx context.Context) ([]storage.SigningKey, error)
	ListClients(ctx context.Context) ([]storage.Client, error)
	storage.Transactor
}

// Whether OpenDataKey may store the data key it makes when there is none.
const (
	StoreDataKey  = true
	WriteNothing  = false
	dataKeyLegacy = 1 // the version of a data key that is the key-encryption key itself
)

// OpenDataKey returns the newest stored data key, opened with kek. When
// storage holds none, it makes version 1: a deployment that already holds
// signing keys or clients derived its keys from the key-encryption key
// itself, before data keys existed, so version 1 is that key, and its
// refresh tokens and client secrets stay valid; a fresh one gets random
// bytes. It stores it (store true: under the storage lock, so that of
// several processes starting at once one makes it and the others load it),
// or, for a command that writes nothing, only returns it. A kek that does
// not open the stored key is ErrWrongKEK.
func OpenDataKey(ctx context.Context, store DataKeyStore, kek []byte, write bool) (DataKey, error) {
	aead, err := newAEAD(kek)
	if err != nil {
		return DataKey{}, err
	}
	d, err := openNewestDataKey(ctx, store, aead)
	if err == nil || !errors.Is(err, errNoDataKey) {
		return d, err
	}
	if !write {
		return initialDataKey(ctx, store, kek)
	}
	err = store.InTx(ctx, func(ctx context.Context) error {
		if err := store.Lock(ctx, lockName); err != nil {
			return err
		}
		d, err = openNewestDataKey(ctx, store, aead)
		if !errors.Is(err, errNoDataKey) {
			return err // made by another process meanwhile, or an error
		}
		if d, err = initialDataKey(ctx, store, kek); err != nil {
			return err
		}
		return store.CreateDataKey(ctx, &storage.DataKey{Version: d.Version, Sealed: aead.Seal(nil, nil, d.key, dataKeyAD(d.Version))})
	})
	if err != nil {
		return DataKey{}, fmt.Errorf("create data key: %w", err)
	}
	return d, nil
}

var errNoDataKey = errors.New("no data key stored")

// openNewestDataKey opens the newest stored data key.
func openNewestDataKey(ctx context.Context, store DataKeyStore, aead cipher.AEAD) (DataKey, error) {
	rows, err := store.ListDataKeys(ctx)
	if err != nil {
		return DataKey{}, fmt.Errorf("load data key: %w", err)
	}
	if len(rows) == 0 {
		return DataKey{}, errNoDataKey
	}
	key, err := aead.Open(nil, nil, rows[0].Sealed, dataKeyAD(rows[0].Version))
	if err != nil {
		return DataKey{}, fmt.Errorf("%w (data key v%d)", ErrWrongKEK, rows[0].Version)
	}
	return DataKey{Version: rows[0].Version, key: key}, nil
}

// initialDataKey is version 1 for store: the key-encryption key itself
// when the deployment predates data keys, else random bytes.
func initialDataKey(ctx context.Context, store DataKeyStore, kek []byte) (DataKey, error) {
	signing, err := store.ListSigningKeys(ctx)
	if err != nil {
		return DataKey{}, fmt.Errorf("create data key: %w", err)
	}
	clients, err := store.ListClients(ctx)
	if err != nil {
		return DataKey{}, fmt.Errorf("create data key: %w", err)
	}
	key := make([]byte, dataKeySize)
	if len(signing) > 0 || len(clients) > 0 {
		copy(key, kek)
	} else {
		rand.Read(key) // never fails: crypto/rand crashes the program rather than return short
	}
	return DataKey{Version: dataKeyLegacy, key: key}, nil
}

// dataKeyAD binds a sealed data key to its version, apart from the signing
// keys sealed under the same key-encryption key (see additionalData).
func dataKeyAD(version int) []byte {
	return []byte("gaia-iam data key v" + strconv.Itoa(version))
}
