package storagetest

import (
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gaia-platform/iam/storage"
)

var loginsCases = []testCase{
	{"ThrottleRoundTrip", testThrottleRoundTrip},
	{"ThrottleAbort", testThrottleAbort},
	{"ThrottleBadKey", testThrottleBadKey},
	{"ThrottleConcurrentFailuresAllCount", testThrottleConcurrent},
	{"ThrottlePurge", testThrottlePurge},
	{"BlockRoundTrip", testBlockRoundTrip},
	{"BlockRefused", testBlockRefused},
}

// testThrottleRoundTrip stores a throttle, reads it back, and forgets it.
func testThrottleRoundTrip(t *testing.T, s storage.Store) {
	ctx := t.Context()
	got, err := s.GetThrottles(ctx, "account:a", "addr:b")
	ok(t, "GetThrottles (none)", err)
	if len(got) != 0 {
		t.Fatalf("GetThrottles of nothing stored = %v, want empty", got)
	}
	window := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.FixedZone("x", 3600))
	locked := window.Add(time.Minute)
	want := storage.Throttle{Key: "account:a", Failures: 5, Lockouts: 1,
		WindowStart: window.UTC().Truncate(time.Microsecond), LockedUntil: locked.UTC().Truncate(time.Microsecond)}
	stored, err := s.UpdateThrottle(ctx, "account:a", func(th *storage.Throttle) error {
		if th.Key != "account:a" || th.Failures != 0 || !th.LockedUntil.IsZero() {
			t.Errorf("UpdateThrottle of a new key passed %+v, want a zero throttle with its key", *th)
		}
		th.Failures, th.Lockouts, th.WindowStart, th.LockedUntil = 5, 1, window, locked
		return nil
	})
	ok(t, "UpdateThrottle", err)
	got, err = s.GetThrottles(ctx, "account:a", "addr:b")
	ok(t, "GetThrottles", err)
	th, found := got["account:a"]
	if _, other := got["addr:b"]; !found || other || len(got) != 1 {
		t.Fatalf("GetThrottles = %v, want account:a only", got)
	}
	if th.UpdatedAt.IsZero() || !th.UpdatedAt.Equal(stored.UpdatedAt) {
		t.Errorf("UpdatedAt = %v, want %v as UpdateThrottle returned", th.UpdatedAt, stored.UpdatedAt)
	}
	th.UpdatedAt = time.Time{}
	if th != want {
		t.Errorf("GetThrottles = %+v, want %+v", th, want)
	}
	// A second update sees the first.
	_, err = s.UpdateThrottle(ctx, "account:a", func(th *storage.Throttle) error {
		if th.Failures != 5 || th.Lockouts != 1 || !th.LockedUntil.Equal(want.LockedUntil) {
			t.Errorf("UpdateThrottle passed %+v, want the stored one", *th)
		}
		th.Failures, th.LockedUntil, th.Permanent = 6, time.Time{}, true
		return nil
	})
	ok(t, "UpdateThrottle again", err)
	got, _ = s.GetThrottles(ctx, "account:a")
	if th := got["account:a"]; th.Failures != 6 || !th.LockedUntil.IsZero() || !th.Permanent {
		t.Errorf("after the second update = %+v, want 6 failures, no lock time, permanent", th)
	}
	existed, err := s.DeleteThrottle(ctx, "account:a")
	ok(t, "DeleteThrottle", err)
	if !existed {
		t.Error("DeleteThrottle of a stored key = false, want true")
	}
	existed, err = s.DeleteThrottle(ctx, "account:a")
	ok(t, "DeleteThrottle again", err)
	if existed {
		t.Error("DeleteThrottle of a deleted key = true, want false")
	}
	if got, _ := s.GetThrottles(ctx, "account:a"); len(got) != 0 {
		t.Errorf("after DeleteThrottle: %v, want nothing", got)
	}
}

// testThrottleAbort checks that an error from fn stores nothing.
func testThrottleAbort(t *testing.T, s storage.Store) {
	ctx := t.Context()
	boom := errors.New("boom")
	_, err := s.UpdateThrottle(ctx, "client:x", func(th *storage.Throttle) error {
		th.Failures = 3
		return boom
	})
	is(t, "UpdateThrottle with a failing fn", err, boom)
	if got, _ := s.GetThrottles(ctx, "client:x"); len(got) != 0 {
		t.Errorf("after an aborted update: %v, want nothing stored", got)
	}
}

func testThrottleBadKey(t *testing.T, s storage.Store) {
	for _, key := range []string{"", strings.Repeat("k", storage.MaxThrottleKeyLen+1), "a\x00b", "\xff"} {
		_, err := s.UpdateThrottle(t.Context(), key, func(*storage.Throttle) error { return nil })
		is(t, "UpdateThrottle(bad key)", err, storage.ErrInvalid)
	}
}

// testThrottleConcurrent has 20 goroutines count a failure of one key at
// once, the first ones racing to create its row: every one must count.
func testThrottleConcurrent(t *testing.T, s storage.Store) {
	ctx := t.Context()
	const n = 20
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			_, err := s.UpdateThrottle(ctx, "addr:203.0.113.9", func(th *storage.Throttle) error {
				th.Failures++
				return nil
			})
			if err != nil {
				t.Errorf("UpdateThrottle: %v", err)
			}
		})
	}
	wg.Wait()
	got, err := s.GetThrottles(ctx, "addr:203.0.113.9")
	ok(t, "GetThrottles", err)
	if f := got["addr:203.0.113.9"].Failures; f != n {
		t.Errorf("Failures = %d after %d concurrent increments, want %d (lost writes)", f, n, n)
	}
}

// testThrottlePurge purges idle throttles, but not permanent locks, and
// expired blocks, but not live ones.
func testThrottlePurge(t *testing.T, s storage.Store) {
	ctx := t.Context()
	for _, key := range []string{"idle", "locked"} {
		_, err := s.UpdateThrottle(ctx, key, func(th *storage.Throttle) error {
			th.Failures, th.Permanent = 1, key == "locked"
			return nil
		})
		ok(t, "UpdateThrottle", err)
	}
	past, future := storage.Now().Add(-time.Hour), storage.Now().Add(time.Hour)
	expired := storage.Block{Prefix: netip.MustParsePrefix("192.0.2.0/24"), ExpiresAt: past}
	live := storage.Block{Prefix: netip.MustParsePrefix("198.51.100.0/24"), ExpiresAt: future}
	forever := storage.Block{Prefix: netip.MustParsePrefix("2001:db8::/32")}
	for _, b := range []*storage.Block{&expired, &live, &forever} {
		ok(t, "CreateBlock", s.CreateBlock(ctx, b))
	}
	n, err := s.PurgeThrottles(ctx, storage.Now().Add(time.Second))
	ok(t, "PurgeThrottles", err)
	if n != 2 {
		t.Errorf("PurgeThrottles = %d rows, want 2 (the idle throttle and the expired block)", n)
	}
	got, _ := s.GetThrottles(ctx, "idle", "locked")
	if _, idle := got["idle"]; idle || !got["locked"].Permanent {
		t.Errorf("after purge: %v, want the permanent lock only", got)
	}
	bs, err := s.ListBlocks(ctx)
	ok(t, "ListBlocks", err)
	if len(bs) != 2 || bs[0].ID != live.ID || bs[1].ID != forever.ID {
		t.Errorf("after purge ListBlocks = %+v, want the live and the unexpiring blocks", bs)
	}
}

// testBlockRoundTrip stores blocks and reads them back in canonical form.
func testBlockRoundTrip(t *testing.T, s storage.Store) {
	ctx := t.Context()
	bs, err := s.ListBlocks(ctx)
	ok(t, "ListBlocks (none)", err)
	if bs == nil || len(bs) != 0 {
		t.Fatalf("ListBlocks of none = %#v, want empty non-nil", bs)
	}
	expires := time.Date(2030, 5, 6, 7, 8, 9, 999, time.UTC)
	a := storage.Block{Prefix: netip.MustParsePrefix("203.0.113.77/24"), Reason: "stuffing from here", ExpiresAt: expires}
	b := storage.Block{Prefix: netip.MustParsePrefix("::ffff:198.51.100.1/128")}
	ok(t, "CreateBlock", s.CreateBlock(ctx, &a))
	ok(t, "CreateBlock mapped", s.CreateBlock(ctx, &b))
	if a.ID == "" || a.CreatedAt.IsZero() || a.Prefix.String() != "203.0.113.0/24" {
		t.Errorf("CreateBlock left %+v, want an ID, a creation time and the masked prefix", a)
	}
	if b.Prefix.String() != "198.51.100.1/32" {
		t.Errorf("a mapped IPv6 prefix is stored as %s, want 198.51.100.1/32", b.Prefix)
	}
	bs, err = s.ListBlocks(ctx)
	ok(t, "ListBlocks", err)
	if len(bs) != 2 {
		t.Fatalf("ListBlocks = %+v, want 2", bs)
	}
	if got := bs[1]; got.ID != a.ID || got.Prefix != a.Prefix || got.Reason != a.Reason ||
		!got.ExpiresAt.Equal(expires.Truncate(time.Microsecond)) || !got.CreatedAt.Equal(a.CreatedAt) {
		t.Errorf("ListBlocks[1] = %+v, want %+v", got, a)
	}
	if got := bs[0]; got.ID != b.ID || !got.ExpiresAt.IsZero() {
		t.Errorf("ListBlocks[0] = %+v, want %+v with no expiry", got, b)
	}
	ok(t, "DeleteBlock", s.DeleteBlock(ctx, a.ID))
	is(t, "DeleteBlock again", s.DeleteBlock(ctx, a.ID), storage.ErrNotFound)
	is(t, "DeleteBlock(not a uuid)", s.DeleteBlock(ctx, "nope"), storage.ErrNotFound)
	if bs, _ := s.ListBlocks(ctx); len(bs) != 1 {
		t.Errorf("after DeleteBlock ListBlocks = %+v, want one", bs)
	}
}

// testBlockRefused refuses a duplicate prefix and out-of-bounds blocks.
func testBlockRefused(t *testing.T, s storage.Store) {
	ctx := t.Context()
	ok(t, "CreateBlock", s.CreateBlock(ctx, &storage.Block{Prefix: netip.MustParsePrefix("10.0.0.0/8")}))
	is(t, "CreateBlock(same prefix, other host bits)",
		s.CreateBlock(ctx, &storage.Block{Prefix: netip.MustParsePrefix("10.1.2.3/8")}), storage.ErrConflict)
	for name, b := range map[string]storage.Block{
		"no prefix":   {},
		"long reason": {Prefix: netip.MustParsePrefix("10.0.0.0/16"), Reason: strings.Repeat("r", storage.MaxBlockReasonLen+1)},
		"NUL reason":  {Prefix: netip.MustParsePrefix("10.0.0.0/16"), Reason: "a\x00"},
	} {
		is(t, "CreateBlock("+name+")", s.CreateBlock(ctx, &b), storage.ErrInvalid)
	}
	if bs, _ := s.ListBlocks(ctx); len(bs) != 1 {
		t.Errorf("after refusals ListBlocks = %+v, want the first block only", bs)
	}
}
