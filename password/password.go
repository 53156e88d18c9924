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
	"runtime"
	"strings"
	"sync/atomic"
	"time"

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
	// ErrHashTooCostly reports a stored hash whose parameters exceed the
	// Hasher's Limits: it is refused unhashed, since verifying it would
	// take memory and time the server never budgeted.
	ErrHashTooCostly = errors.New("stored password hash exceeds the cost limits")
	// ErrBusy reports that no hashing slot came free within Config.MaxWait.
	// The caller should answer "try again later", not a failed login.
	ErrBusy = errors.New("password hashing at capacity")
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

// Limits bound the parameters a stored hash may declare. A hash is a row
// in the database: whoever can write one (a restored backup, an import, an
// attacker with SQL access) could otherwise make each login allocate
// gigabytes.
type Limits struct {
	Memory      uint32 // KiB
	Iterations  uint32
	Parallelism uint8
}

// Defaults of Config.
const (
	// DefaultMemoryBudget is the memory all running hashes may hold at
	// once, in KiB: 128 MiB, six hashes at the OWASP parameters.
	DefaultMemoryBudget = 128 * 1024
	// DefaultMaxWait is how long a hash waits for a free slot.
	DefaultMaxWait = time.Second
	// DefaultMaxStoredMemory is the most memory a stored hash may declare
	// unless the parameters ask for more: 64 MiB, in KiB.
	DefaultMaxStoredMemory = 64 * 1024
)

// Config sets up a Hasher. Zero fields take the defaults.
type Config struct {
	// Params are the parameters of new hashes; default OWASP().
	Params Params
	// Concurrency is how many hashes run at once; default
	// DefaultConcurrency(Params.Memory, MemoryBudget).
	Concurrency int
	// MemoryBudget (KiB) sizes the default Concurrency; default
	// DefaultMemoryBudget.
	MemoryBudget uint64
	// MaxWait is how long a hash waits for a slot before failing with
	// ErrBusy; default DefaultMaxWait. Waiting callers are never queued
	// past it, so a flood of logins costs bounded memory and time.
	MaxWait time.Duration
	// MaxStored bounds stored hashes; default DefaultLimits(Params). It
	// must allow Params.
	MaxStored Limits
}

// DefaultConcurrency is the number of CPU cores, lowered so that that many
// hashes of memory KiB each fit in budget KiB, and at least 1. More hashes
// than cores would only share the cores and hold more memory.
func DefaultConcurrency(memory uint32, budget uint64) int {
	n := runtime.NumCPU()
	if memory > 0 && budget/uint64(memory) < uint64(n) {
		n = int(budget / uint64(memory))
	}
	return max(n, 1)
}

// DefaultLimits are the Limits when none are configured: p itself or
// 64 MiB, 10 iterations and 4 lanes, whichever is more.
func DefaultLimits(p Params) Limits {
	return Limits{
		Memory:      max(p.Memory, DefaultMaxStoredMemory),
		Iterations:  max(p.Iterations, 10),
		Parallelism: max(p.Parallelism, 4),
	}
}

// Stats are what a Hasher has seen since it was made.
type Stats struct {
	Limit   int    // hashes allowed at once
	Running int    // hashes running now
	Peak    int    // the most that ever ran at once
	Busy    uint64 // hashes refused with ErrBusy
}

// Hasher hashes and verifies passwords. It bounds how many hashes run at
// once: each holds Params.Memory of RAM, so an unbounded login endpoint is
// an out-of-memory vector.
type Hasher struct {
	params  Params
	limits  Limits
	maxWait time.Duration
	slots   chan struct{} // a token per running hash
	dummy   string        // a valid hash to verify against when there is no user

	running, peak atomic.Int64
	busy          atomic.Uint64
}

// NewHasher returns a Hasher using p that runs at most concurrency hashes
// at once, with the other defaults of Config.
func NewHasher(p Params, concurrency int) (*Hasher, error) {
	if concurrency < 1 {
		return nil, fmt.Errorf("hash concurrency must be at least 1, got %d", concurrency)
	}
	return New(Config{Params: p, Concurrency: concurrency})
}

// New returns a Hasher configured by cfg.
func New(cfg Config) (*Hasher, error) {
	p := cfg.Params
	if p == (Params{}) {
		p = OWASP()
	}
	if p.Memory < 8*uint32(p.Parallelism) || p.Iterations < 1 || p.Parallelism < 1 || p.SaltLength < 8 || p.KeyLength < 16 {
		return nil, fmt.Errorf("argon2id parameters too weak: %+v", p)
	}
	if cfg.MemoryBudget == 0 {
		cfg.MemoryBudget = DefaultMemoryBudget
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = DefaultConcurrency(p.Memory, cfg.MemoryBudget)
	}
	if cfg.Concurrency < 1 {
		return nil, fmt.Errorf("hash concurrency must be at least 1, got %d", cfg.Concurrency)
	}
	if cfg.MaxWait == 0 {
		cfg.MaxWait = DefaultMaxWait
	}
	if cfg.MaxWait < 0 {
		return nil, fmt.Errorf("hash wait must be positive, got %s", cfg.MaxWait)
	}
	if cfg.MaxStored == (Limits{}) {
		cfg.MaxStored = DefaultLimits(p)
	}
	if l := cfg.MaxStored; p.Memory > l.Memory || p.Iterations > l.Iterations || p.Parallelism > l.Parallelism {
		return nil, fmt.Errorf("argon2id parameters %+v exceed the stored-hash limits %+v", p, l)
	}
	h := &Hasher{params: p, limits: cfg.MaxStored, maxWait: cfg.MaxWait, slots: make(chan struct{}, cfg.Concurrency)}
	dummy, err := h.Hash(context.Background(), rand.Text())
	if err != nil {
		return nil, err
	}
	h.dummy = dummy
	return h, nil
}

// Params returns the parameters of new hashes.
func (h *Hasher) Params() Params { return h.params }

// MaxWait is how long a hash waits for a slot before ErrBusy.
func (h *Hasher) MaxWait() time.Duration { return h.maxWait }

// Stats reports the Hasher's concurrency so far.
func (h *Hasher) Stats() Stats {
	return Stats{Limit: cap(h.slots), Running: int(h.running.Load()), Peak: int(h.peak.Load()), Busy: h.busy.Load()}
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
	if p.Memory > h.limits.Memory || p.Iterations > h.limits.Iterations || p.Parallelism > h.limits.Parallelism {
		return false, false, fmt.Errorf("%w: m=%d,t=%d,p=%d", ErrHashTooCostly, p.Memory, p.Iterations, p.Parallelism)
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
	if err := h.acquire(ctx); err != nil {
		return nil, err
	}
	defer h.release()
	return argon2.IDKey([]byte(password), salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLength), nil
}

// acquire takes a hashing slot, waiting at most maxWait for one.
func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
	default:
		t := time.NewTimer(h.maxWait)
		defer t.Stop()
		select {
		case h.slots <- struct{}{}:
		case <-t.C:
			h.busy.Add(1)
			return ErrBusy
		case <-ctx.Done():
			return fmt.Errorf("wait for a hashing slot: %w", ctx.Err())
		}
	}
	n := h.running.Add(1)
	for {
		peak := h.peak.Load()
		if n <= peak || h.peak.CompareAndSwap(peak, n) {
			return nil
		}
	}
}

func (h *Hasher) release() {
	h.running.Add(-1)
	<-h.slots
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
