package storage

import (
	"context"
	"fmt"
	"net/netip"
	"time"
)

// Bounds of login-protection records, in bytes.
const (
	MaxThrottleKeyLen = 255 // Throttle.Key
	MaxBlockReasonLen = 255 // Block.Reason
)

// Throttle is the failure count behind one login-protection key: an
// account, a client or a source address, as package oauth/guard names
// them. Storage keeps it; the policy (thresholds, delays) lives in guard.
type Throttle struct {
	Key string // at most MaxThrottleKeyLen bytes of UTF-8 text
	// Failures counts the failures since the last success or reset: for
	// an account or a client, consecutive ones; for an address, those
	// since WindowStart.
	Failures    int
	Lockouts    int       // how many times the key was locked
	WindowStart time.Time // the first failure counted; zero when none
	LockedUntil time.Time // zero when not locked
	Permanent   bool      // locked until an admin unlocks it
	// UpdatedAt is the last change, by the clock of whoever made it (fn
	// of UpdateThrottle sets it; UpdateThrottle stamps it now when it is
	// zero). PurgeThrottles goes by it. Zero for a throttle not stored yet.
	UpdatedAt time.Time
}

// Block is an entry of the admin-managed block list: requests from
// addresses inside Prefix are refused before any credential is checked.
type Block struct {
	ID        string // UUID, assigned by CreateBlock when empty
	Prefix    netip.Prefix
	Reason    string    // optional, at most MaxBlockReasonLen bytes
	ExpiresAt time.Time // zero: never
	CreatedAt time.Time
}

// Throttles stores login-protection counters, shared by every server on
// one database.
type Throttles interface {
	// GetThrottles returns the stored throttles of keys, by key; a key
	// with none stored is absent from the map.
	GetThrottles(ctx context.Context, keys ...string) (map[string]Throttle, error)
	// UpdateThrottle loads the throttle of key (a zero one with Key set
	// when none is stored), calls fn on it and stores the result, all in
	// one transaction with the row locked, so that concurrent failures on
	// several servers each count. An error from fn aborts the update and is
	// returned as is. A key that breaks its bound is ErrInvalid.
	UpdateThrottle(ctx context.Context, key string, fn func(*Throttle) error) (Throttle, error)
	// DeleteThrottle forgets the throttle of key, and reports whether one
	// was stored.
	DeleteThrottle(ctx context.Context, key string) (bool, error)
	// PurgeThrottles deletes the throttles not updated since before that
	// are not permanently locked, and the blocks that expired before
	// before, and returns how many rows went.
	PurgeThrottles(ctx context.Context, before time.Time) (int64, error)
}

// Blocks stores the block list.
type Blocks interface {
	// CreateBlock stores b, assigning ID and CreatedAt when they are zero.
	// A prefix listed already is ErrConflict; an invalid prefix or a
	// reason that breaks its bound is ErrInvalid.
	CreateBlock(ctx context.Context, b *Block) error
	// ListBlocks lists every block, expired ones included, sorted by
	// prefix text; none is an empty, non-nil slice.
	ListBlocks(ctx context.Context) ([]Block, error)
	// DeleteBlock removes the block with id; an unknown one is ErrNotFound.
	DeleteBlock(ctx context.Context, id string) error
}

// Logins is login protection's part of a Store.
type Logins interface {
	Throttles
	Blocks
}

// ParseBlockPrefix reads a block's prefix as an operator writes it: a CIDR,
// or a single address, taken as its /32 or /128.
func ParseBlockPrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%w: %q is not a CIDR or an IP address", ErrInvalid, s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// CheckThrottleKey reports, wrapping ErrInvalid, a key that is empty, too
// long, or not text.
func CheckThrottleKey(key string) error {
	if key == "" || len(key) > MaxThrottleKeyLen {
		return fmt.Errorf("%w: throttle key of %d bytes, want 1 to %d", ErrInvalid, len(key), MaxThrottleKeyLen)
	}
	return CheckText("throttle key", key)
}

// PrepareThrottle returns t as UpdateThrottle stores it under key: its
// times in UTC at microsecond precision, UpdatedAt stamped now when zero.
func PrepareThrottle(key string, t Throttle, now time.Time) Throttle {
	t.Key = key
	if t.UpdatedAt.IsZero() {
		t.UpdatedAt = now
	}
	for _, p := range []*time.Time{&t.WindowStart, &t.LockedUntil, &t.UpdatedAt} {
		if !p.IsZero() {
			*p = p.UTC().Truncate(time.Microsecond)
		}
	}
	return t
}

// PrepareBlock returns b as CreateBlock stores it: its prefix masked, its
// ID assigned or canonical, its CreatedAt stamped. A block that breaks a
// bound is ErrInvalid.
func PrepareBlock(b Block, now time.Time) (Block, error) {
	if !b.Prefix.IsValid() {
		return b, fmt.Errorf("%w: block without a valid prefix", ErrInvalid)
	}
	if a := b.Prefix.Addr(); a.Is4In6() && b.Prefix.Bits() >= 96 {
		// Requests are matched by their unmapped address.
		b.Prefix = netip.PrefixFrom(a.Unmap(), b.Prefix.Bits()-96)
	}
	b.Prefix = netip.PrefixFrom(b.Prefix.Addr().WithZone(""), b.Prefix.Bits()).Masked()
	if len(b.Reason) > MaxBlockReasonLen {
		return b, fmt.Errorf("%w: reason of %d bytes, want at most %d", ErrInvalid, len(b.Reason), MaxBlockReasonLen)
	}
	if err := CheckText("reason", b.Reason); err != nil {
		return b, err
	}
	var err error
	if b.ID, err = NewID(b.ID); err != nil {
		return b, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	b.CreatedAt = Stamp(b.CreatedAt, now)
	if !b.ExpiresAt.IsZero() {
		b.ExpiresAt = b.ExpiresAt.UTC().Truncate(time.Microsecond)
	}
	return b, nil
}
