// Package password hashes and verifies secrets with argon2id, encoded as
// standard PHC strings so that parameters can be raised later without
// invalidating stored hashes.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Limits on what Hash and Verify accept. ASVS 5 6.2.9 asks that passphrases
// of 64 characters and more be allowed; the upper bound keeps a megabyte
// "password" from reaching the hash at all.
const (
	MinLength = 8   // characters, for new passwords (ASVS 5 6.2.1)
	MaxLength = 512 // bytes
)

var (
	// ErrTooLong reports a secret longer than MaxLength bytes.
	ErrTooLong = errors.New("password too long")
	// ErrTooShort reports a new password shorter than MinLength characters.
	ErrTooShort = errors.New("password too short")
	// ErrMalformedHash reports a stored hash that is not an argon2id PHC string.
	ErrMalformedHash = errors.New("malformed password hash")
)

// Params are argon2id cost parameters.
type Params struct {
	Memory      uint32 // KiB
	Iterations  uint32
	Parallelism uint8
	SaltLength  uint32 // bytes
	KeyLength   uint32 // bytes
}

// OWASP returns the parameters of the OWASP Password Storage Cheat Sheet:
// 19 MiB, 2 iterations, 1 lane.
func OWASP() Params {
	return Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}
}

// Hasher hashes and verifies passwords. It bounds how many hashes run at
// once: each holds Params.Memory of RAM, so an unbounded login endpoint is
// an out-of-memory vector.
type Hasher struct {
	params Params
	slots  chan struct{} // a token per running hash
	dummy  string        // a valid hash to verify against when there is no user
}

// NewHasher returns a Hasher using p that runs at most concurrency hashes at once.
func NewHasher(p Params, concurrency int) (*Hasher, error) {
	if p.Memory < 8*uint32(p.Parallelism) || p.Iterations < 1 || p.Parallelism < 1 || p.SaltLength < 8 || p.KeyLength < 16 {
		return nil, fmt.Errorf("argon2id parameters too weak: %+v", p)
	}
	if concurrency < 1 {
		return nil, fmt.Errorf("hash concurrency must be at least 1, got %d", concurrency)
	}
	h := &Hasher{params: p, slots: make(chan struct{}, concurrency)}
	dummy, err := h.Hash(context.Background(), rand.Text())
	if err != nil {
		return nil, err
	}
	h.dummy = dummy
	return h, nil
}

// Hash returns the PHC string of password under the Hasher's parameters.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if len(password) > MaxLength {
		return "", ErrTooLong
	}
	salt := make([]byte, h.params.SaltLength)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	key, err := h.derive(ctx, password, salt, h.params)
	if err != nil {
		return "", err
	}
	return encode(h.params, salt, key), nil
}

// Verify reports whether password matches the PHC string encoded, comparing
// in constant time. needsRehash reports that encoded uses weaker parameters
// than the Hasher's, so the caller should store a fresh Hash.
func (h *Hasher) Verify(ctx context.Context, encoded, password string) (ok, needsRehash bool, err error) {
	if len(password) > MaxLength {
		return false, false, ErrTooLong
	}
	p, salt, want, err := decode(encoded)
	if err != nil {
		return false, false, err
	}
	got, err := h.derive(ctx, password, salt, p)
	if err != nil {
		return false, false, err
	}
	ok = subtle.ConstantTimeCompare(got, want) == 1
	needsRehash = p.Memory < h.params.Memory || p.Iterations < h.params.Iterations ||
		p.Parallelism != h.params.Parallelism || p.KeyLength < h.params.KeyLength
	return ok, needsRehash, nil
}

// VerifyNothing spends the time and memory of one Verify and reports
// nothing. Call it when there is no hash to check (unknown user, no
// password set), so that the answer takes as long as a wrong password.
func (h *Hasher) VerifyNothing(ctx context.Context, password string) error {
	if len(password) > MaxLength {
		return ErrTooLong
	}
	_, _, err := h.Verify(ctx, h.dummy, password)
	return err
}

// CheckPolicy reports whether password may be set as a new password.
// Composition rules are deliberately absent (ASVS 5 6.2.5).
func CheckPolicy(password string) error {
	if len(password) > MaxLength {
		return ErrTooLong
	}
	if len([]rune(password)) < MinLength {
		return ErrTooShort
	}
	return nil
}

// Generate returns a random password of 26 characters from a 32-letter
// alphabet: 130 bits of entropy.
func Generate() string { return rand.Text() }

func (h *Hasher) derive(ctx context.Context, password string, salt []byte, p Params) ([]byte, error) {
	select {
	case h.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for a hashing slot: %w", ctx.Err())
	}
	defer func() { <-h.slots }()
	return argon2.IDKey([]byte(password), salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLength), nil
}

var b64 = base64.RawStdEncoding

func encode(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Iterations, p.Parallelism, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// decode parses $argon2id$v=19$m=M,t=T,p=P$salt$hash.
func decode(encoded string) (p Params, salt, key []byte, err error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, ErrMalformedHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return p, nil, nil, ErrMalformedHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Iterations, &p.Parallelism); err != nil {
		return p, nil, nil, ErrMalformedHash
	}
	// Bound what a corrupted or hostile row can make us allocate.
	if p.Memory == 0 || p.Memory > 1<<21 || p.Iterations == 0 || p.Iterations > 64 || p.Parallelism == 0 {
		return p, nil, nil, ErrMalformedHash
	}
	if salt, err = b64.DecodeString(parts[4]); err != nil || len(salt) < 8 {
		return p, nil, nil, ErrMalformedHash
	}
	if key, err = b64.DecodeString(parts[5]); err != nil || len(key) < 16 || len(key) > 128 {
		return p, nil, nil, ErrMalformedHash
	}
	p.SaltLength, p.KeyLength = uint32(len(salt)), uint32(len(key))
	return p, salt, key, nil
}
