package keys

import (
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gaia-platform/iam/storage"
)

// TestRotatePublishesFirst: a rotated key is published at once and signs
// only after PublishDelay, on every ring alike, and the key it replaces
// stays valid for Retention after that.
func TestRotatePublishesFirst(t *testing.T) {
	eachBackend(t, func(t *testing.T, store Store) {
		ctx := t.Context()
		c := newClock()
		generate, _ := generator(t)
		kek := newKEK()
		cfg := testConfig(c, generate)
		cfg.PublishDelay = 75 * time.Second
		a := mustNew(t, cfg, store, kek) // the ring that rotates, as keys rotate does
		b := mustNew(t, cfg, store, kek) // a serving replica
		old := a.Current()

		c.advance(time.Minute)
		rotatedAt := c.now()
		next, from, err := a.Rotate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := rotatedAt.Add(cfg.PublishDelay); !from.Equal(want) {
			t.Errorf("Rotate signs from %v, want %v", from, want)
		}
		if err := b.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		for name, r := range map[string]*Ring{"rotating": a, "replica": b} {
			if got := r.Current(); got.ID != old.ID {
				t.Errorf("%s: Current() right after Rotate = %s, want the old key %s", name, got.ID, old.ID)
			}
			if got := kids(t, r.JWKS()); !slices.Equal(got, []string{next.ID, old.ID}) {
				t.Errorf("%s: JWKS kids after Rotate = %v, want the next key published: [%s %s]", name, got, next.ID, old.ID)
			}
			if _, ok := r.PublicKey(next.ID); !ok {
				t.Errorf("%s: PublicKey(next) = _, false, want it published", name)
			}
		}
		want := []KeyInfo{
			{ID: next.ID, State: StateNext, CreatedAt: rotatedAt, ActivatesAt: from},
			{ID: old.ID, State: StateCurrent, CreatedAt: rotatedAt.Add(-time.Minute), ActivatesAt: rotatedAt.Add(-time.Minute), RetiredAt: from},
		}
		if got := b.List(); !slices.EqualFunc(got, want, sameInfo) {
			t.Errorf("List() after Rotate = %+v, want %+v", got, want)
		}

		// Just before the delay ends, the old key signs; at its end, the new
		// one, on both rings, without a reload.
		c.advance(cfg.PublishDelay - time.Microsecond)
		if a.Current().ID != old.ID || b.Current().ID != old.ID {
			t.Errorf("Current() 1µs before the delay ends = %s, %s, want %s", a.Current().ID, b.Current().ID, old.ID)
		}
		c.advance(time.Microsecond)
		for name, r := range map[string]*Ring{"rotating": a, "replica": b} {
			if got := r.Current(); got.ID != next.ID || !got.Private.Equal(next.Private) {
				t.Errorf("%s: Current() once the delay has passed = %s, want %s", name, got.ID, next.ID)
			}
		}
		want[0].State, want[1].State = StateCurrent, StateRetired
		if got := b.List(); !slices.EqualFunc(got, want, sameInfo) {
			t.Errorf("List() after the delay = %+v, want %+v", got, want)
		}

		// The old key's tokens verify until Retention after it stopped signing.
		wantRetention(t, b, c, cfg.Retention, old.ID, next.ID)
	})
}

// wantRetention checks that r, whose key old retired now on c, publishes
// and trusts it for retention and not a µs more, leaving only cur.
func wantRetention(t *testing.T, r *Ring, c *clock, retention time.Duration, old, cur string) {
	t.Helper()
	c.advance(retention)
	if err := r.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.PublicKey(old); !ok {
		t.Errorf("PublicKey(old) at the end of its retention = _, false, want true")
	}
	if got := kids(t, r.JWKS()); !slices.Equal(got, []string{cur, old}) {
		t.Errorf("JWKS kids at the end of the retention = %v, want [%s %s]", got, cur, old)
	}
	c.advance(time.Microsecond)
	if _, ok := r.PublicKey(old); ok {
		t.Errorf("PublicKey(old) after its retention = _, true, want false, even before a Refresh")
	}
	if err := r.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := kids(t, r.JWKS()); !slices.Equal(got, []string{cur}) {
		t.Errorf("JWKS kids after the retention = %v, want [%s]", got, cur)
	}
}

// rotated returns a ring on store, on its own clock, with its first key
// and the next one of a rotation with delay.
func rotated(t *testing.T, store Store, delay time.Duration) (c *clock, r *Ring, old, next Key) {
	t.Helper()
	c = newClock()
	generate, _ := generator(t)
	cfg := testConfig(c, generate)
	cfg.PublishDelay = delay
	r = mustNew(t, cfg, store, newKEK())
	old = r.Current()
	next, _, err := r.Rotate(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return c, r, old, next
}

// TestRotateTwice: a second rotation within the delay supersedes the first
// one's key when it activates, and only then.
func TestRotateTwice(t *testing.T) {
	eachBackend(t, func(t *testing.T, store Store) {
		c, r, old, k1 := rotated(t, store, time.Minute)
		c.advance(30 * time.Second)
		k2, _, err := r.Rotate(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, step := range []struct {
			advance time.Duration
			want    string
		}{{0, old.ID}, {30 * time.Second, k1.ID}, {30 * time.Second, k2.ID}} {
			c.advance(step.advance)
			if got := r.Current().ID; got != step.want {
				t.Errorf("Current() at +%v = %s, want %s (old %s, k1 %s, k2 %s)", step.advance, got, step.want, old.ID, k1.ID, k2.ID)
			}
		}
		if got := kids(t, r.JWKS()); !slices.Equal(got, []string{k2.ID, k1.ID, old.ID}) {
			t.Errorf("JWKS kids = %v, want all three", got)
		}
	})
}

// TestRevoke: a revoked key is unpublished by the revoking ring at once,
// and by the others at their next reload; storage tells every ring at
// once (Revoked). Revoking the signing key makes another sign at once.
func TestRevoke(t *testing.T) {
	eachBackend(t, func(t *testing.T, store Store) {
		ctx := t.Context()
		c := newClock()
		generate, _ := generator(t)
		kek := newKEK()
		cfg := testConfig(c, generate)
		a := mustNew(t, cfg, store, kek) // the operator's
		b := mustNew(t, cfg, store, kek) // a serving replica
		old := a.Current()
		c.advance(time.Minute)
		cur, _, err := a.Rotate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Refresh(ctx); err != nil {
			t.Fatal(err)
		}

		// A retired key: unpublished, the current one signs on.
		rev, err := a.Revoke(ctx, old.ID)
		if err != nil || rev != (Revocation{}) {
			t.Fatalf("Revoke(retired) = %+v, %v, want a first revocation, no fresh key", rev, err)
		}
		if _, ok := a.PublicKey(old.ID); ok {
			t.Errorf("PublicKey(revoked) on the revoking ring = _, true, want false at once")
		}
		if got := kids(t, a.JWKS()); !slices.Equal(got, []string{cur.ID}) {
			t.Errorf("JWKS kids after Revoke = %v, want [%s]", got, cur.ID)
		}
		if revoked, err := b.Revoked(ctx, old.ID); err != nil || !revoked {
			t.Errorf("Revoked(old) on the replica before its reload = %v, %v, want true", revoked, err)
		}
		if revoked, err := b.Revoked(ctx, cur.ID); err != nil || revoked {
			t.Errorf("Revoked(current) = %v, %v, want false", revoked, err)
		}
		if revoked, err := b.Revoked(ctx, uuid.NewString()); err != nil || !revoked {
			t.Errorf("Revoked(unknown) = %v, %v, want true: a key not stored is not trusted", revoked, err)
		}
		if err := b.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if _, ok := b.PublicKey(old.ID); ok || !slices.Equal(kids(t, b.JWKS()), []string{cur.ID}) {
			t.Errorf("replica after its reload: PublicKey(revoked) %v, JWKS %v, want it unpublished", ok, kids(t, b.JWKS()))
		}

		// Idempotent, and an unknown kid is refused.
		if rev, err := a.Revoke(ctx, old.ID); err != nil || !rev.Already || rev.Fresh != "" {
			t.Errorf("Revoke again = %+v, %v, want Already", rev, err)
		}
		for _, kid := range []string{uuid.NewString(), "nope"} {
			if _, err := a.Revoke(ctx, kid); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("Revoke(%q) = %v, want ErrNotFound", kid, err)
			}
		}

		// The signing key: a fresh key signs at once, on the revoking ring
		// and on a replica at its reload.
		rev, err = a.Revoke(ctx, cur.ID)
		if err != nil || rev.Already || rev.Fresh == "" {
			t.Fatalf("Revoke(current) = %+v, %v, want a fresh key", rev, err)
		}
		if got := a.Current().ID; got != rev.Fresh {
			t.Errorf("Current() after revoking it = %s, want the fresh %s", got, rev.Fresh)
		}
		if err := b.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if got := b.Current().ID; got != rev.Fresh {
			t.Errorf("replica: Current() after its reload = %s, want the fresh %s", got, rev.Fresh)
		}
		if got := kids(t, b.JWKS()); !slices.Equal(got, []string{rev.Fresh}) {
			t.Errorf("JWKS kids = %v, want only the fresh key %s", got, rev.Fresh)
		}
		states := map[string]string{}
		for _, k := range Describe(rows(t, store), c.now()) {
			states[k.ID] = k.State
		}
		if want := map[string]string{old.ID: StateRevoked, cur.ID: StateRevoked, rev.Fresh: StateCurrent}; !maps.Equal(states, want) {
			t.Errorf("Describe = %v, want %v", states, want)
		}
	})
}

// TestRevokeWithNextKey: revoking the signing key during a rotation's
// delay makes the next key, published already, sign at once.
func TestRevokeWithNextKey(t *testing.T) {
	eachBackend(t, func(t *testing.T, store Store) {
		c, r, old, next := rotated(t, store, time.Hour)
		rev, err := r.Revoke(t.Context(), old.ID)
		if err != nil || rev.Fresh != "" {
			t.Fatalf("Revoke(current) during a rotation = %+v, %v, want the next key to sign, none made", rev, err)
		}
		if got := r.Current().ID; got != next.ID {
			t.Errorf("Current() = %s, want the next key %s at once", got, next.ID)
		}
		c.advance(2 * time.Hour)
		if got := r.Current().ID; got != next.ID {
			t.Errorf("Current() after the delay = %s, want %s still", got, next.ID)
		}
		if n := len(rows(t, store)); n != 2 {
			t.Errorf("%d stored keys, want 2: no fresh key", n)
		}
	})
}
