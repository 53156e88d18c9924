package main

import (
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
