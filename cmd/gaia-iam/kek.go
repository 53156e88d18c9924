package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/gaia-platform/iam/oauth/keys"
)

// devKEKFile is where a development key-encryption key is kept when none is
// configured.
const devKEKFile = "gaia-data/kek"

// kekEnv is the only place the key-encryption key itself is read from.
const kekEnv = "GAIA_KEY_ENCRYPTION_KEY"

// kekHow tells the operator how to give the key-encryption key.
const kekHow = "set " + kekEnv + " (base64) or " + kekEnv + "_FILE (a file holding it)"

// devKEK says whether a command may create the development key file: only
// serve does, and only on a database without signing keys.
type devKEK bool

const (
	mayCreateDevKEK devKEK = true
	neverCreateKEK  devKEK = false
)

// resolveKEK returns the configured key-encryption key, or the development
// key file, checked against the signing keys in store (which must be
// migrated) before the caller writes anything sealed or hashed under it:
// a wrong key would otherwise write client secrets or keys that no server
// can read. The development key file is created only when create allows it
// and store has no signing keys yet (a fresh install): elsewhere, a missing
// file means the command runs in another directory than serve did, and a
// new key would silently split the database in two.
func resolveKEK(ctx context.Context, cfg Config, store keys.KeyLister, stderr io.Writer, create devKEK) ([]byte, error) {
	var (
		kek    []byte
		source string
		err    error
	)
	switch {
	case cfg.KEK != "":
		source = kekEnv
		kek, err = keys.ParseKEK(cfg.KEK)
	case cfg.KEKFile != "":
		source = kekEnv + "_FILE " + cfg.KEKFile
		kek, err = keys.LoadKEKFile(cfg.KEKFile)
	default:
		source = "the development key file " + devKEKFile
		kek, err = keys.LoadKEKFile(devKEKFile)
		if errors.Is(err, fs.ErrNotExist) {
			return createDevKEK(ctx, store, stderr, create)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("key-encryption key (%s): %w", source, err)
	}
	switch err := keys.CheckKEK(ctx, store, kek); {
	case errors.Is(err, keys.ErrWrongKEK):
		return nil, fmt.Errorf("%w: the key-encryption key from %s is not the one this database's signing keys were sealed with; "+
			"%s to that key (nothing was written)", err, source, kekHow)
	case err != nil && !errors.Is(err, keys.ErrNoSigningKeys):
		return nil, err
	}
	return kek, nil
}

// createDevKEK creates the development key file, when create allows it and
// store holds no signing keys.
func createDevKEK(ctx context.Context, store keys.KeyLister, stderr io.Writer, create devKEK) ([]byte, error) {
	rows, err := store.ListSigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("check key-encryption key: %w", err)
	}
	if len(rows) > 0 {
		return nil, fmt.Errorf("no key-encryption key: %s to the key this database's signing keys were sealed with "+
			"(a development key is in %s under the directory the first 'gaia-iam serve' ran in)", kekHow, devKEKFile)
	}
	if !create {
		return nil, fmt.Errorf("no key-encryption key: %s, or run 'gaia-iam serve' once, which creates a development key in %s", kekHow, devKEKFile)
	}
	kek, err := keys.CreateKEKFile(devKEKFile)
	if errors.Is(err, fs.ErrExist) { // another serve created it meanwhile
		kek, err = keys.LoadKEKFile(devKEKFile)
	} else if err == nil {
		fmt.Fprintf(stderr, "WARNING: no %s(_FILE) set: created a development key-encryption key in %s (mode 0600). Set one for production.\n", kekEnv, devKEKFile)
	}
	if err != nil {
		return nil, fmt.Errorf("key-encryption key: %w", err)
	}
	return kek, nil
}

// newKEKEnv gives keys rewrap the key-encryption key that replaces the one
// in use: like kekEnv, the key itself (base64) or, with _FILE, a file
// holding it; never a flag.
const newKEKEnv = "GAIA_NEW_KEY_ENCRYPTION_KEY"

// resolveNewKEK reads the new key-encryption key of keys rewrap.
func resolveNewKEK(getenv func(string) string) ([]byte, error) {
	v, file := getenv(newKEKEnv), getenv(newKEKEnv+"_FILE")
	switch {
	case v != "" && file != "":
		return nil, errors.New("set " + newKEKEnv + " or " + newKEKEnv + "_FILE, not both")
	case v != "":
		kek, err := keys.ParseKEK(v)
		if err != nil {
			return nil, fmt.Errorf("new key-encryption key (%s): %w", newKEKEnv, err)
		}
		return kek, nil
	case file != "":
		kek, err := keys.LoadKEKFile(file)
		if err != nil {
			return nil, fmt.Errorf("new key-encryption key (%s_FILE): %w", newKEKEnv, err)
		}
		return kek, nil
	}
	return nil, errors.New("no new key-encryption key: set " + newKEKEnv + "_FILE to a file (mode 0600) holding it, " +
		"or " + newKEKEnv + " to it (make one with: openssl rand -base64 32)")
}
