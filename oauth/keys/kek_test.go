package keys

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseKEK(t *testing.T) {
	key := make([]byte, kekSize)
	for i := range key {
		key[i] = byte(0xf0 + i) // +, / and -, _ in the encodings
	}
	for _, tc := range []struct {
		name, in string
	}{
		{"std padded", base64.StdEncoding.EncodeToString(key)},
		{"std raw", base64.RawStdEncoding.EncodeToString(key)},
		{"url padded", base64.URLEncoding.EncodeToString(key)},
		{"url raw", base64.RawURLEncoding.EncodeToString(key)},
		{"with a newline", base64.StdEncoding.EncodeToString(key) + "\n"},
		{"with spaces", "  " + base64.StdEncoding.EncodeToString(key) + " \t\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseKEK(tc.in)
			if err != nil || !bytes.Equal(got, key) {
				t.Errorf("ParseKEK(%q) = %x, %v, want %x", tc.in, got, err, key)
			}
		})
	}
	for _, tc := range []struct {
		name, in, want string
	}{
		{"empty", "", "empty"},
		{"blank", " \n", "empty"},
		{"31 bytes", base64.StdEncoding.EncodeToString(key[:31]), "31 bytes, want 32"},
		{"33 bytes", base64.StdEncoding.EncodeToString(append(key, 0)), "33 bytes, want 32"},
		{"31 bytes url raw", base64.RawURLEncoding.EncodeToString(key[:31]), "31 bytes, want 32"},
		{"hex", strings.Repeat("ab", 32) + "!", "not base64"},
		{"mixed alphabets", "+" + base64.RawURLEncoding.EncodeToString(key)[1:42] + "_", "not base64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseKEK(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseKEK(%q) = %x, %v, want an error saying %q", tc.in, got, err, tc.want)
			}
			if err != nil && strings.TrimSpace(tc.in) != "" && strings.Contains(err.Error(), strings.TrimSpace(tc.in)) {
				t.Errorf("ParseKEK error %q quotes the key", err)
			}
		})
	}
}

func TestLoadKEKFile(t *testing.T) {
	dir := t.TempDir()
	key := newKEK()
	write := func(name string, mode os.FileMode) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil { // not subject to the umask
			t.Fatal(err)
		}
		return path
	}

	for _, mode := range []os.FileMode{0o600, 0o400} {
		path := write(mode.String(), mode)
		if got, err := LoadKEKFile(path); err != nil || !bytes.Equal(got, key) {
			t.Errorf("LoadKEKFile(mode %04o) = %x, %v, want %x", mode, got, err, key)
		}
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o620, 0o601, 0o660, 0o666} {
		path := write(mode.String(), mode)
		got, err := LoadKEKFile(path)
		if err == nil || !strings.Contains(err.Error(), "open to group or others") || !strings.Contains(err.Error(), path) {
			t.Errorf("LoadKEKFile(mode %04o) = %x, %v, want it refused for its mode", mode, got, err)
		}
	}

	if _, err := LoadKEKFile(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadKEKFile(missing) = %v, want fs.ErrNotExist", err)
	}
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKEKFile(sub); err == nil {
		t.Errorf("LoadKEKFile(a directory) = nil error, want one")
	}
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte(base64.StdEncoding.EncodeToString(key[:31])), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKEKFile(short); err == nil || !strings.Contains(err.Error(), "31 bytes") {
		t.Errorf("LoadKEKFile(31 bytes) = %v, want an error saying 31 bytes", err)
	}
}

func TestCreateKEKFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "keys")
	path := filepath.Join(dir, "kek")
	key, err := CreateKEKFile(path)
	if err != nil {
		t.Fatalf("CreateKEKFile: %v", err)
	}
	if len(key) != kekSize || bytes.Equal(key, make([]byte, kekSize)) {
		t.Errorf("CreateKEKFile = %x, want 32 random bytes", key)
	}
	for p, want := range map[string]os.FileMode{dir: 0o700, path: 0o600} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != want {
			t.Errorf("CreateKEKFile made %s with mode %v (%v), want %04o", p, fi.Mode().Perm(), err, want)
		}
	}
	if got, err := LoadKEKFile(path); err != nil || !bytes.Equal(got, key) {
		t.Errorf("LoadKEKFile of a created file = %x, %v, want %x", got, err, key)
	}

	// An existing key is never replaced.
	again, err := CreateKEKFile(path)
	if !errors.Is(err, fs.ErrExist) || again != nil {
		t.Errorf("CreateKEKFile over an existing file = %x, %v, want fs.ErrExist", again, err)
	}
	if got, err := LoadKEKFile(path); err != nil || !bytes.Equal(got, key) {
		t.Errorf("LoadKEKFile after a second CreateKEKFile = %x, %v, want the first key %x", got, err, key)
	}
}
