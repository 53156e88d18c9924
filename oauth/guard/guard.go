// Package guard protects Gaia's credential checks against online guessing:
// it counts failed password logins and client authentications in storage,
// so that every server on one database shares the counts, and decides
// before each attempt whether it may proceed.
//
//   - An account (by username, known or not) or a client (by client_id,
//     known or not) that failed Threshold times in a row is locked for
//     BaseDelay, doubled at each further failure up to MaxDelay; a success
//     resets it. Keycloak's brute-force detector is the model.
//   - A source address (IPv4, or IPv6 by /64) that failed AddressFailures
//     times within AddressWindow, whatever the usernames, is refused until
//     the window ends.
//   - An address on the admin-managed block list is refused outright.
//
// Accounts and clients are keyed by an HMAC of the name under a server key,
// the same way whether or not the name exists: the answers cannot tell them
// apart, and nothing a caller typed is stored.
package guard

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/gaia-platform/iam/clientip"
	"github.com/gaia-platform/iam/storage"
)

// Policy is what the guard enforces. DefaultPolicy gives the defaults.
type Policy struct {
	// Off turns counting and throttling off (the block list still
	// applies): for benchmarks, and for operators whose proxy does it.
	Off bool
	// Threshold is the number of consecutive failures that locks an
	// account or a client.
	Threshold int
	// BaseDelay is the first lock; each further failure doubles it, up to
	// MaxDelay.
	BaseDelay, MaxDelay time.Duration
	// ResetAfter forgets the failures of an account or client that has had
	// none for this long.
	ResetAfter time.Duration
	// PermanentAfter, when above 0, makes the lock of an account permanent
	// (until an admin unlocks it) at its PermanentAfter-th lock. Clients
	// are never locked for good: that would let anyone stop a service.
	PermanentAfter int
	// AddressFailures failures from one address within AddressWindow get
	// the address refused until the window ends.
	AddressFailures int
	AddressWindow   time.Duration
	// CacheTTL is how long a server trusts that a client or an address it
	// found with no failures still has none, so that a service's token
	// requests read nothing. A failure elsewhere reaches this server within
	// CacheTTL; failures here, at once. 0 reads every time.
	CacheTTL time.Duration
	// BlockRefresh is how often a server reloads the block list, so that a
	// change made on another server reaches it.
	BlockRefresh time.Duration
}

// DefaultPolicy returns the defaults: lock after 5 failures for 1 minute,
// doubling to at most 15 minutes, forgotten after 12 hours without a
// failure, never permanent; 50 failures per address per 5 minutes;
// counts cached 1 second, the block list reloaded every 5 seconds.
func DefaultPolicy() Policy {
	return Policy{
		Threshold:       5,
		BaseDelay:       time.Minute,
		MaxDelay:        15 * time.Minute,
		ResetAfter:      12 * time.Hour,
		AddressFailures: 50,
		AddressWindow:   5 * time.Minute,
		CacheTTL:        time.Second,
		BlockRefresh:    5 * time.Second,
	}
}

// Check reports a policy that cannot work.
func (p Policy) Check() error {
	switch {
	case p.Threshold < 1 || p.AddressFailures < 1 || p.PermanentAfter < 0:
		return errors.New("login protection: threshold and address failures must be at least 1, permanent-after at least 0")
	case p.BaseDelay <= 0 || p.MaxDelay < p.BaseDelay || p.ResetAfter <= 0 || p.AddressWindow <= 0:
		return errors.New("login protection: delays and windows must be positive, the maximum delay at least the first")
	case p.CacheTTL < 0 || p.BlockRefresh <= 0:
		return errors.New("login protection: cache ttl must be ≥ 0, block refresh positive")
	}
	return nil
}

// Store is what the guard keeps its counts and block list in.
type Store interface {
	storage.Throttles
	storage.Blocks
}

// Guard decides whether a credential check may proceed and records how it
// ended. Its methods are safe for concurrent use.
type Guard struct {
	p     Policy
	store Store
	key   []byte // HMAC key of account and client names
	log   *slog.Logger
	now   func() time.Time // the policy's clock; the caches use the monotonic one

	// clean maps the client and address keys read recently and found
	// with no failures stored to when they were read (monotonic), guarded
	// by mu. Only clean keys are cached: a key with failures is read from
	// the database at every attempt, so that a lock set by another server
	// applies at once, and a success resets the count it really has.
	mu    sync.Mutex
	clean map[string]time.Time

	blocks blockList
}

// maxCached bounds the cache; past it the cache starts over.
const maxCached = 100_000

// New returns a guard over store. key (32 bytes or more) keys the names;
// every server on one database must use the same. now is the clock of the
// policy; nil means time.Now.
func New(p Policy, store Store, key []byte, log *slog.Logger, now func() time.Time) (*Guard, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	if store == nil || log == nil || len(key) < 32 {
		return nil, errors.New("guard.New: store, log and a key of 32 bytes or more are required")
	}
	if now == nil {
		now = time.Now
	}
	g := &Guard{p: p, store: store, key: key, log: log, now: now, clean: map[string]time.Time{}}
	g.blocks.refresh = p.BlockRefresh
	return g, nil
}

// AccountKey is the key of the counts of a username, which must be in its
// normalized form.
func (g *Guard) AccountKey(username string) string { return g.nameKey("account", username) }

// ClientKey is the key of the counts of a client_id.
func (g *Guard) ClientKey(clientID string) string { return g.nameKey("client", clientID) }

func (g *Guard) nameKey(kind, name string) string {
	m := hmac.New(sha256.New, g.key)
	m.Write([]byte(kind + "\x00" + name))
	return kind + ":" + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// AddressKey is the key of the counts of an address: its clientip.Group,
// the address for IPv4 and its /64 for IPv6.
func AddressKey(a netip.Addr) string {
	return "address:" + clientip.Group(a).String()
}

// Attempt is one credential check: the source address (invalid when not
// known), the client_id presented ("" when none), and, for a password
// login, the normalized username.
type Attempt struct {
	Addr    netip.Addr
	Client  string
	Account string
}

// Verdict is the guard's decision on an attempt.
type Verdict struct {
	// Blocked reports that the address is on the block list.
	Blocked bool
	// RetryAfter, when positive, is how long the address or the client
	// must wait: the attempt must be refused without checking anything.
	RetryAfter time.Duration
	// AccountLocked reports that the account is locked: the password must
	// still be checked (for the time it costs), then refused whatever it
	// was.
	AccountLocked bool

	// keys of the attempt, and whether each had failures counted
	addr, client, account             string
	clientFailed, accountFailed, seen bool
}

// Check decides whether the attempt may proceed. A password login reads
// the counts from the database (a password hash costs far more); other
// attempts read them from a short-lived cache, so that a service's
// successful token requests read nothing.
func (g *Guard) Check(ctx context.Context, a Attempt) (Verdict, error) {
	var v Verdict
	blocked, err := g.blocks.contains(ctx, g.store, a.Addr, g.now(), g.log)
	if err != nil {
		return v, err
	}
	if blocked {
		return Verdict{Blocked: true}, nil
	}
	if g.p.Off {
		return v, nil
	}
	v.seen = true
	var keys []string
	if a.Addr.IsValid() {
		v.addr = AddressKey(a.Addr)
		keys = append(keys, v.addr)
	}
	if a.Client != "" {
		v.client = g.ClientKey(a.Client)
		keys = append(keys, v.client)
	}
	if a.Account != "" {
		v.account = g.AccountKey(a.Account)
		keys = append(keys, v.account)
	}
	state, err := g.read(ctx, keys, a.Account != "")
	if err != nil {
		return v, fmt.Errorf("login protection: %w", err)
	}
	now := g.now()
	if t, ok := state[v.addr]; ok && now.Before(t.LockedUntil) {
		v.RetryAfter = t.LockedUntil.Sub(now)
	}
	if t, ok := state[v.client]; ok {
		if now.Before(t.LockedUntil) {
			v.RetryAfter = max(v.RetryAfter, t.LockedUntil.Sub(now))
		}
		v.clientFailed = t.Failures > 0
	}
	if t, ok := state[v.account]; ok {
		v.AccountLocked = t.Permanent || now.Before(t.LockedUntil)
		v.accountFailed = t.Failures > 0
	}
	return v, nil
}

// read returns the stored counts of keys, from the database when fresh is
// set or the cache has none recent enough.
func (g *Guard) read(ctx context.Context, keys []string, fresh bool) (map[string]storage.Throttle, error) {
	out := make(map[string]storage.Throttle, len(keys))
	missing := keys
	if !fresh && g.p.CacheTTL > 0 {
		missing = nil
		g.mu.Lock()
		for _, k := range keys {
			if at, ok := g.clean[k]; !ok || time.Since(at) > g.p.CacheTTL {
				missing = append(missing, k)
			}
		}
		g.mu.Unlock()
	}
	if len(missing) == 0 {
		return out, nil
	}
	got, err := g.store.GetThrottles(ctx, missing...)
	if err != nil {
		return nil, err
	}
	for _, k := range missing {
		t := got[k]
		if t.Key != "" {
			out[k] = t
		}
		g.remember(k, t)
	}
	return out, nil
}

// remember notes what was stored of k: t, or none when t is zero.
func (g *Guard) remember(k string, t storage.Throttle) {
	if g.p.CacheTTL <= 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if t.Key != "" {
		delete(g.clean, k)
		return
	}
	if len(g.clean) >= maxCached {
		clear(g.clean)
	}
	g.clean[k] = time.Now()
}

// Outcome is how one side of an attempt ended.
type Outcome int

// Outcomes of the client and the account side of an attempt.
const (
	NotChecked Outcome = iota // the check did not get that far
	Succeeded
	Failed
)

// Lock is a lock an attempt set off.
type Lock struct {
	Kind      string // "account" or "client"
	Key       string
	Failures  int
	Until     time.Time
	Permanent bool
}

// Record counts how the attempt v was given to ended, and returns the locks
// it set off. A failure counts against the address and against the client
// or account that failed; a success resets that client or account. An
// attempt refused because its account was locked counts against the
// address only. Storage failures are logged: the answer is decided.
func (g *Guard) Record(ctx context.Context, v Verdict, client, account Outcome) []Lock {
	if !v.seen || v.Blocked || v.RetryAfter > 0 {
		return nil
	}
	var locks []Lock
	failed := false
	if v.client != "" {
		switch client {
		case Failed:
			failed = true
			if l, ok := g.fail(ctx, "client", v.client, false); ok {
				locks = append(locks, l)
			}
		case Succeeded:
			if v.clientFailed {
				g.reset(ctx, v.client)
			}
		}
	}
	if v.account != "" {
		switch {
		case account == Failed || (account == Succeeded && v.AccountLocked):
			failed = true
			if v.AccountLocked {
				break // not counted: the lock would otherwise grow with the attacker's pace
			}
			if l, ok := g.fail(ctx, "account", v.account, g.p.PermanentAfter > 0); ok {
				locks = append(locks, l)
			}
		case account == Succeeded && v.accountFailed:
			g.reset(ctx, v.account)
		}
	}
	if failed && v.addr != "" {
		g.failAddress(ctx, v.addr)
	}
	return locks
}

// fail counts a failure of an account or client, and locks it at the
// threshold: BaseDelay, doubled for each failure past it, up to MaxDelay.
func (g *Guard) fail(ctx context.Context, kind, key string, permanent bool) (Lock, bool) {
	var lock Lock
	locked := false
	t, err := g.store.UpdateThrottle(ctx, key, func(t *storage.Throttle) error {
		now := g.now()
		if !t.Permanent && !t.UpdatedAt.IsZero() && now.Sub(t.UpdatedAt) >= g.p.ResetAfter {
			*t = storage.Throttle{Key: t.Key}
		}
		t.UpdatedAt = now
		if t.Permanent || now.Before(t.LockedUntil) {
			return nil // another server's attempt locked it meanwhile
		}
		t.Failures++
		if t.WindowStart.IsZero() {
			t.WindowStart = now
		}
		if t.Failures < g.p.Threshold {
			return nil
		}
		t.LockedUntil = now.Add(g.delay(t.Failures - g.p.Threshold))
		t.Lockouts++
		t.Permanent = permanent && t.Lockouts >= g.p.PermanentAfter
		locked = true
		lock = Lock{Kind: kind, Key: key, Failures: t.Failures, Until: t.LockedUntil, Permanent: t.Permanent}
		return nil
	})
	if err != nil {
		g.log.ErrorContext(ctx, "counting a login failure failed", "key_kind", kind, "error", err)
		return Lock{}, false
	}
	g.remember(key, t)
	return lock, locked
}

// delay is the lock after n failures past the threshold.
func (g *Guard) delay(n int) time.Duration {
	d := g.p.BaseDelay
	for range n {
		if d >= g.p.MaxDelay {
			break
		}
		d *= 2
	}
	return min(d, g.p.MaxDelay)
}

// failAddress counts a failure from an address in its current window, and
// refuses the address until the window ends once it reaches the limit.
func (g *Guard) failAddress(ctx context.Context, key string) {
	t, err := g.store.UpdateThrottle(ctx, key, func(t *storage.Throttle) error {
		now := g.now()
		t.UpdatedAt = now
		if t.WindowStart.IsZero() || now.Sub(t.WindowStart) >= g.p.AddressWindow || now.Before(t.WindowStart) {
			t.Failures, t.WindowStart, t.LockedUntil = 0, now, time.Time{}
		}
		t.Failures++
		if t.Failures >= g.p.AddressFailures && t.LockedUntil.IsZero() {
			t.LockedUntil = t.WindowStart.Add(g.p.AddressWindow)
			t.Lockouts++
		}
		return nil
	})
	if err != nil {
		g.log.ErrorContext(ctx, "counting a login failure failed", "key_kind", "address", "error", err)
		return
	}
	g.remember(key, t)
}

// reset forgets the failures of a client or account after a success.
func (g *Guard) reset(ctx context.Context, key string) {
	if _, err := g.store.DeleteThrottle(ctx, key); err != nil {
		g.log.ErrorContext(ctx, "resetting login failures failed", "error", err)
		return
	}
	g.remember(key, storage.Throttle{})
}

// Unlock forgets the failures and lock of the account with the normalized
// username, in the transaction ctx carries, and reports whether it had any.
func (g *Guard) Unlock(ctx context.Context, username string) (bool, error) {
	had, err := g.store.DeleteThrottle(ctx, g.AccountKey(username))
	if err != nil {
		return false, fmt.Errorf("unlock account: %w", err)
	}
	return had, nil
}

// Purge deletes counts idle for longer than ResetAfter and the address
// window, and expired blocks; replicas may purge at once.
func (g *Guard) Purge(ctx context.Context) (int64, error) {
	return g.store.PurgeThrottles(ctx, g.now().Add(-max(g.p.ResetAfter, g.p.AddressWindow, g.p.MaxDelay)))
}
