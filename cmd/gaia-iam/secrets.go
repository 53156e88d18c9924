package main

import (
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/gaia-platform/iam/oauth/keys"
)

// devKEKFile is where a development key-encryption key is kept when none is
// configured.
const devKEKFile = "gaia-data/kek"

// loadKEK returns the key-encryption key from the configuration, or a
// development key file it creates (with a warning) when none is configured.
func loadKEK(cfg Config, stderr io.Writer) ([]byte, error) {
	switch {
	case cfg.KEK != "":
		return keys.ParseKEK(cfg.KEK)
	case cfg.KEKFile != "":
		return keys.LoadKEKFile(cfg.KEKFile)
	}
	kek, err := keys.LoadKEKFile(devKEKFile)
	if errors.Is(err, fs.ErrNotExist) {
		kek, err = keys.CreateKEKFile(devKEKFile)
		if err == nil {
			fmt.Fprintf(stderr, "WARNING: no GAIA_KEY_ENCRYPTION_KEY(_FILE) set: created a development key-encryption key in %s (mode 0600). Set one for production.\n", devKEKFile)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("key-encryption key: %w", err)
	}
	return kek, nil
}

// serverSecrets are the keys derived from the KEK, one per purpose, so the
// operator manages one secret and no two uses share a key.
type serverSecrets struct {
	refreshTokens []byte // HMAC of refresh tokens
	clientSecrets []byte // HMAC of client secrets
}

func deriveSecrets(kek []byte) (serverSecrets, error) {
	derive := func(info string) ([]byte, error) {
		return hkdf.Key(sha256.New, kek, nil, info, 32)
	}
	rt, err := derive("gaia-iam refresh tokens v1")
	if err != nil {
		return serverSecrets{}, fmt.Errorf("derive refresh token key: %w", err)
	}
	cs, err := derive("gaia-iam client secrets v1")
	if err != nil {
		return serverSecrets{}, fmt.Errorf("derive client secret key: %w", err)
	}
	return serverSecrets{refreshTokens: rt, clientSecrets: cs}, nil
}
