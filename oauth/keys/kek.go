package keys

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// ParseKEK decodes a key-encryption key: 32 bytes in base64, in the
// standard or the URL alphabet, padded or not. Surrounding white space is
// ignored. Errors never quote s.
func ParseKEK(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("key-encryption key is empty")
	}
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding,
	} {
		kek, err := enc.DecodeString(s)
		if err != nil {
			continue
		}
		if len(kek) != kekSize {
			return nil, fmt.Errorf("key-encryption key is %d bytes, want %d (make one with: openssl rand -base64 32)", len(kek), kekSize)
		}
		return kek, nil
	}
	return nil, errors.New("key-encryption key is not base64 (make one with: openssl rand -base64 32)")
}

// maxKEKFile bounds what LoadKEKFile reads: a key in base64 is 44 bytes.
const maxKEKFile = 1024

// LoadKEKFile reads a key-encryption key, as ParseKEK decodes it, from the
// file at path. It refuses a file that grants any access to group or others.
func LoadKEKFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("key-encryption key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat() // of the file opened, not of whatever path names now
	if err != nil {
		return nil, fmt.Errorf("key-encryption key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("key-encryption key file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("key-encryption key file %s has mode %04o, open to group or others: it must be readable by its owner only (chmod 600)", path, perm)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKEKFile))
	if err != nil {
		return nil, fmt.Errorf("key-encryption key file: %w", err)
	}
	defer clear(b)
	kek, err := ParseKEK(string(b))
	if err != nil {
		return nil, fmt.Errorf("key-encryption key file %s: %w", path, err)
	}
	return kek, nil
}

// CreateKEKFile creates the file at path, mode 0600, holding a new random
// key-encryption key in base64, and returns the key. It creates the parent
// directory, mode 0700, when missing. It fails, with an error satisfying
// errors.Is(err, fs.ErrExist), if the file exists: a key in use is never
// replaced, and of two processes creating it at once, one fails and should
// then load it.
func CreateKEKFile(path string) ([]byte, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create key-encryption key file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create key-encryption key file: %w", err)
	}
	kek := make([]byte, kekSize)
	rand.Read(kek) // never fails: crypto/rand crashes the program rather than return short
	_, err = f.WriteString(base64.StdEncoding.EncodeToString(kek) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path) // half written: leave no file to load
		return nil, fmt.Errorf("create key-encryption key file %s: %w", path, err)
	}
	return kek, nil
}
