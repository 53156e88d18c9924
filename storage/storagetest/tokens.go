package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gaia-platform/iam/storage"
)

var tokensCases = []testCase{
	{"CreateGet", testTokenCreateGet},
	{"CreateInvalid", testTokenCreateInvalid},
	{"SecondTokenKeepsFamily", testTokenSecondKeepsFamily},
	{"CreateInClosedFamily", testTokenCreateInClosedFamily},
	{"Deactivate", testTokenDeactivate},
	{"DeactivateConcurrently", testTokenDeactivateConcurrently},
	{"RotateConcurrently", testTokenRotateConcurrently},
	{"RevokeWhileRotating", testTokenRevokeWhileRotating},
	{"RevokeFamily", testTokenRevokeFamily},
	{"RevokeSubject", testTokenRevokeSubject},
	{"RevokeClient", testTokenRevokeClient},
	{"RevokeAccessToken", testTokenRevokeAccessToken},
	{"Purge", testTokenPurge},
	{"Rollback", testTokenRollback},
}

// tokenTime is a fixed instant with nanoseconds, which the store keeps to
// the microsecond.
var tokenTime = time.Date(2026, 3, 4, 5, 6, 7, 891234567, time.UTC)

func sameFamily(a, b *storage.TokenFamily) bool {
	return a.ID == b.ID && a.ClientID == b.ClientID && a.Subject == b.Subject &&
		a.StartedAt.Equal(b.StartedAt) && a.RevokedAt.Equal(b.RevokedAt)
}

func sameRefreshToken(a, b *storage.RefreshToken) bool {
	return a.Signature == b.Signature && a.FamilyID == b.FamilyID && a.Active == b.Active &&
		a.ExpiresAt.Equal(b.ExpiresAt) && a.CreatedAt.Equal(b.CreatedAt) && a.RotatedAt.Equal(b.RotatedAt) && bytes.Equal(a.Request, b.Request)
}

// newFamily returns a family, not stored, of a new fosite request ID
// (a UUIDv4, as fosite makes them).
func newFamily(clientID, subject string) *storage.TokenFamily {
	return &storage.TokenFamily{ID: uuid.NewString(), ClientID: clientID, Subject: subject}
}

// mkRefreshToken stores a refresh token with signature sig in f, expiring
// at expires, and fails t on error.
func mkRefreshToken(t *testing.T, s storage.Store, f *storage.TokenFamily, sig string, expires time.Time) *storage.RefreshToken {
	t.Helper()
	rt := &storage.RefreshToken{Signature: sig, ExpiresAt: expires, Request: []byte(`{"scope":"openid"}`)}
	ok(t, fmt.Sprintf("CreateRefreshToken(%s)", sig), s.CreateRefreshToken(t.Context(), f, rt))
	return rt
}

// wantRefreshToken fails t unless the token with signature sig is stored
// and active is its state.
func wantRefreshToken(t *testing.T, s storage.Store, sig string, active bool) {
	t.Helper()
	rt, _, err := s.GetRefreshToken(t.Context(), sig)
	if err != nil || rt.Active != active {
		t.Errorf("GetRefreshToken(%s) = %+v, %v, want Active %v", sig, rt, err, active)
	}
}

func testTokenCreateGet(t *testing.T, s storage.Store) {
	ctx := t.Context()
	request := make([]byte, 1000) // every byte value, NUL and invalid UTF-8 included
	for i := range request {
		request[i] = byte(i)
	}
	f := &storage.TokenFamily{ID: "6BA7B810-9DAD-11D1-80B4-00C04FD430C8", ClientID: "gaia-web", Subject: uuid.NewString(), StartedAt: tokenTime}
	rt := &storage.RefreshToken{
		Signature: "dGhlIHNpZ25hdHVyZQ",
		ExpiresAt: tokenTime.Add(720 * time.Hour),
		CreatedAt: tokenTime,
		Request:   request,
	}
	ok(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, f, rt))
	wantF := &storage.TokenFamily{ID: "6ba7b810-9dad-11d1-80b4-00c04fd430c8", ClientID: "gaia-web", Subject: f.Subject,
		StartedAt: tokenTime.Truncate(time.Microsecond)}
	wantRT := &storage.RefreshToken{Signature: rt.Signature, FamilyID: wantF.ID, Active: true,
		ExpiresAt: rt.ExpiresAt.Truncate(time.Microsecond), CreatedAt: tokenTime.Truncate(time.Microsecond), Request: request}
	if !sameFamily(f, wantF) || !sameRefreshToken(rt, wantRT) {
		t.Errorf("CreateRefreshToken set %+v, %+v, want %+v, %+v", f, rt, wantF, wantRT)
	}

	gotRT, gotF, err := s.GetRefreshToken(ctx, rt.Signature)
	ok(t, "GetRefreshToken", err)
	if !sameRefreshToken(gotRT, wantRT) || !sameFamily(gotF, wantF) {
		t.Errorf("GetRefreshToken = %+v, %+v, want %+v, %+v", gotRT, gotF, wantRT, wantF)
	}
	if gotRT.ExpiresAt.Location() != time.UTC || gotF.StartedAt.Location() != time.UTC {
		t.Errorf("GetRefreshToken returned times %v, %v, want UTC", gotRT.ExpiresAt, gotF.StartedAt)
	}
	gotF, err = s.GetTokenFamily(ctx, f.ID)
	if err != nil || !sameFamily(gotF, wantF) {
		t.Errorf("GetTokenFamily = %+v, %v, want %+v", gotF, err, wantF)
	}

	// Unset times are stamped now; a family ID is assigned when empty; the
	// largest request fits.
	big := bytes.Repeat([]byte{0xff}, storage.MaxTokenRequestLen)
	f2 := &storage.TokenFamily{ClientID: "gaia-web", Subject: "svc"}
	rt2 := &storage.RefreshToken{Signature: "second", ExpiresAt: tokenTime, Request: big}
	ok(t, "CreateRefreshToken(second)", s.CreateRefreshToken(ctx, f2, rt2))
	if _, err := uuid.Parse(f2.ID); err != nil || rt2.FamilyID != f2.ID {
		t.Errorf("CreateRefreshToken assigned family %q, token's %q, want one UUID", f2.ID, rt2.FamilyID)
	}
	for name, at := range map[string]time.Time{"StartedAt": f2.StartedAt, "CreatedAt": rt2.CreatedAt} {
		if d := time.Since(at); d < 0 || d > time.Minute || at.Nanosecond()%1000 != 0 {
			t.Errorf("CreateRefreshToken set %s %v, want now at microsecond precision", name, at)
		}
	}
	gotRT, _, err = s.GetRefreshToken(ctx, "second")
	ok(t, "GetRefreshToken(second)", err)
	if !bytes.Equal(gotRT.Request, big) {
		t.Errorf("GetRefreshToken(second) returned %d request bytes, want the %d stored", len(gotRT.Request), len(big))
	}

	is(t, "CreateRefreshToken with a signature taken",
		s.CreateRefreshToken(ctx, newFamily("gaia-web", "bob"), &storage.RefreshToken{Signature: rt.Signature, ExpiresAt: tokenTime}),
		storage.ErrConflict)
	_, _, err = s.GetRefreshToken(ctx, "nope")
	is(t, "GetRefreshToken(nope)", err, storage.ErrNotFound)
	for _, id := range []string{uuid.NewString(), "nope", ""} {
		_, err = s.GetTokenFamily(ctx, id)
		is(t, fmt.Sprintf("GetTokenFamily(%q)", id), err, storage.ErrNotFound)
	}
}

func testTokenCreateInvalid(t *testing.T, s storage.Store) {
	ctx := t.Context()
	valid := func() (*storage.TokenFamily, *storage.RefreshToken) {
		return newFamily("gaia-web", "alice"), &storage.RefreshToken{Signature: "sig", ExpiresAt: tokenTime}
	}
	for _, c := range []struct {
		name   string
		modify func(*storage.TokenFamily, *storage.RefreshToken)
	}{
		{"no signature", func(_ *storage.TokenFamily, rt *storage.RefreshToken) { rt.Signature = "" }},
		{"long signature", func(_ *storage.TokenFamily, rt *storage.RefreshToken) {
			rt.Signature = string(bytes.Repeat([]byte{'s'}, storage.MaxTokenKeyLen+1))
		}},
		{"no expiry", func(_ *storage.TokenFamily, rt *storage.RefreshToken) { rt.ExpiresAt = time.Time{} }},
		{"large request", func(_ *storage.TokenFamily, rt *storage.RefreshToken) {
			rt.Request = make([]byte, storage.MaxTokenRequestLen+1)
		}},
		{"family ID not a UUID", func(f *storage.TokenFamily, _ *storage.RefreshToken) { f.ID = "req-1" }},
		{"token of another family", func(_ *storage.TokenFamily, rt *storage.RefreshToken) { rt.FamilyID = uuid.NewString() }},
		{"no client", func(f *storage.TokenFamily, _ *storage.RefreshToken) { f.ClientID = "" }},
		{"no subject", func(f *storage.TokenFamily, _ *storage.RefreshToken) { f.Subject = "" }},
	} {
		f, rt := valid()
		c.modify(f, rt)
		if err := s.CreateRefreshToken(ctx, f, rt); err == nil {
			t.Errorf("CreateRefreshToken with %s = nil, want an error", c.name)
		}
		if _, _, err := s.GetRefreshToken(ctx, rt.Signature); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("GetRefreshToken after CreateRefreshToken with %s = %v, want ErrNotFound", c.name, err)
		}
	}
	if err := s.CreateRefreshToken(ctx, nil, &storage.RefreshToken{Signature: "sig", ExpiresAt: tokenTime}); err == nil {
		t.Errorf("CreateRefreshToken with a nil family = nil, want an error")
	}
	f, rt := valid()
	rt.FamilyID = f.ID
	ok(t, "CreateRefreshToken naming its family", s.CreateRefreshToken(ctx, f, rt))
}

func testTokenSecondKeepsFamily(t *testing.T, s storage.Store) {
	ctx := t.Context()
	f := newFamily("gaia-web", "alice")
	f.StartedAt = tokenTime
	first := mkRefreshToken(t, s, f, "first", tokenTime.Add(time.Hour))
	want := *f

	// A rotation passes the family again, with other times.
	again := &storage.TokenFamily{ID: f.ID, ClientID: f.ClientID, Subject: f.Subject,
		StartedAt: tokenTime.Add(time.Hour), RevokedAt: tokenTime}
	second := mkRefreshToken(t, s, again, "second", tokenTime.Add(2*time.Hour))
	if got, err := s.GetTokenFamily(ctx, f.ID); err != nil || !sameFamily(got, &want) {
		t.Errorf("GetTokenFamily after a second token = %+v, %v, want %+v", got, err, &want)
	}
	if !again.StartedAt.Equal(tokenTime.Add(time.Hour)) {
		t.Errorf("CreateRefreshToken of an existing family set StartedAt %v, want it left alone", again.StartedAt)
	}
	for _, rt := range []*storage.RefreshToken{first, second} {
		got, gotF, err := s.GetRefreshToken(ctx, rt.Signature)
		if err != nil || !sameRefreshToken(got, rt) || !sameFamily(gotF, &want) {
			t.Errorf("GetRefreshToken(%s) = %+v, %+v, %v, want %+v, %+v", rt.Signature, got, gotF, err, rt, &want)
		}
	}
}

func testTokenCreateInClosedFamily(t *testing.T, s storage.Store) {
	ctx := t.Context()
	f := newFamily("gaia-web", "alice")
	mkRefreshToken(t, s, f, "first", tokenTime)

	// The family belongs to one client and one subject.
	for name, other := range map[string]*storage.TokenFamily{
		"another client":  {ID: f.ID, ClientID: "evil", Subject: f.Subject},
		"another subject": {ID: f.ID, ClientID: f.ClientID, Subject: "mallory"},
	} {
		err := s.CreateRefreshToken(ctx, other, &storage.RefreshToken{Signature: "x", ExpiresAt: tokenTime})
		is(t, "CreateRefreshToken for "+name, err, storage.ErrConflict)
	}

	ok(t, "RevokeTokenFamily", s.RevokeTokenFamily(ctx, f.ID, tokenTime))
	err := s.CreateRefreshToken(ctx, f, &storage.RefreshToken{Signature: "second", ExpiresAt: tokenTime})
	is(t, "CreateRefreshToken in a revoked family", err, storage.ErrConflict)
	for _, sig := range []string{"x", "second"} {
		_, _, err = s.GetRefreshToken(ctx, sig)
		is(t, fmt.Sprintf("GetRefreshToken(%s) refused", sig), err, storage.ErrNotFound)
	}
	got, err := s.GetTokenFamily(ctx, f.ID)
	if err != nil || got.ClientID != f.ClientID || got.Subject != f.Subject || !got.RevokedAt.Equal(tokenTime.Truncate(time.Microsecond)) {
		t.Errorf("GetTokenFamily = %+v, %v, want %+v revoked at %v", got, err, f, tokenTime)
	}
}

func testTokenDeactivate(t *testing.T, s storage.Store) {
	ctx := t.Context()
	f := newFamily("gaia-web", "alice")
	mkRefreshToken(t, s, f, "sig", tokenTime)
	rotated := tokenTime.Add(-time.Hour)
	ok(t, "DeactivateRefreshToken", s.DeactivateRefreshToken(ctx, "sig", rotated))
	wantRefreshToken(t, s, "sig", false)
	wantRotatedAt(t, s, "sig", rotated.Truncate(time.Microsecond))
	// A lost compare-and-swap changes nothing: the time stays the winner's.
	is(t, "DeactivateRefreshToken again", s.DeactivateRefreshToken(ctx, "sig", tokenTime), storage.ErrConflict)
	wantRotatedAt(t, s, "sig", rotated.Truncate(time.Microsecond))
	is(t, "DeactivateRefreshToken(nope)", s.DeactivateRefreshToken(ctx, "nope", tokenTime), storage.ErrNotFound)
	if got, err := s.GetTokenFamily(ctx, f.ID); err != nil || !got.RevokedAt.IsZero() {
		t.Errorf("GetTokenFamily after DeactivateRefreshToken = %+v, %v, want it live", got, err)
	}

	// No time is now.
	mkRefreshToken(t, s, f, "now", tokenTime)
	wantRotatedAt(t, s, "now", time.Time{})
	before := storage.Now()
	ok(t, "DeactivateRefreshToken(now)", s.DeactivateRefreshToken(ctx, "now", time.Time{}))
	after := storage.Now()
	if rt, _, err := s.GetRefreshToken(ctx, "now"); err != nil || rt.RotatedAt.Before(before) || rt.RotatedAt.After(after) {
		t.Errorf("GetRefreshToken(now) = %+v, %v, want RotatedAt in [%v, %v]", rt, err, before, after)
	}

	// Revocation deactivates without rotating.
	mkRefreshToken(t, s, f, "revoked", tokenTime)
	ok(t, "RevokeTokenFamily", s.RevokeTokenFamily(ctx, f.ID, tokenTime))
	wantRefreshToken(t, s, "revoked", false)
	wantRotatedAt(t, s, "revoked", time.Time{})
	wantRotatedAt(t, s, "sig", rotated.Truncate(time.Microsecond))
}

// wantRotatedAt fails t unless the token with signature sig is stored with
// RotatedAt at.
func wantRotatedAt(t *testing.T, s storage.Store, sig string, at time.Time) {
	t.Helper()
	rt, _, err := s.GetRefreshToken(t.Context(), sig)
	if err != nil || !rt.RotatedAt.Equal(at) {
		t.Errorf("GetRefreshToken(%s) = %+v, %v, want RotatedAt %v", sig, rt, err, at)
	}
}

// testTokenDeactivateConcurrently has 20 goroutines deactivate one token at
// once, as 20 refresh requests with it would: exactly one may win.
func testTokenDeactivateConcurrently(t *testing.T, s storage.Store) {
	PanicAfter(t, 30*time.Second)
	ctx := t.Context()
	mkRefreshToken(t, s, newFamily("gaia-web", "alice"), "sig", tokenTime)
	const n = 20
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = s.DeactivateRefreshToken(ctx, "sig", tokenTime.Add(time.Duration(i)*time.Second))
		})
	}
	close(start)
	wg.Wait()
	wins, winner := 0, 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins, winner = wins+1, i
		case !errors.Is(err, storage.ErrConflict):
			t.Errorf("DeactivateRefreshToken #%d = %v, want nil or ErrConflict", i, err)
		}
	}
	if wins != 1 {
		t.Errorf("%d of %d concurrent DeactivateRefreshToken calls succeeded, want 1", wins, n)
	}
	wantRefreshToken(t, s, "sig", false)
	// The rotation time is the winner's: no loser overwrote it.
	wantRotatedAt(t, s, "sig", tokenTime.Add(time.Duration(winner)*time.Second).Truncate(time.Microsecond))
}

// testTokenRotateConcurrently is the refresh grant raced: 20 goroutines
// each rotate one token in a transaction (deactivate it, store a
// successor). One rotation commits; the others roll back, leaving no
// successor behind.
func testTokenRotateConcurrently(t *testing.T, s storage.Store) {
	PanicAfter(t, 30*time.Second)
	ctx := t.Context()
	f := newFamily("gaia-web", "alice")
	mkRefreshToken(t, s, f, "old", tokenTime)
	const n = 20
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = s.InTx(ctx, func(ctx context.Context) error {
				if err := s.DeactivateRefreshToken(ctx, "old", time.Time{}); err != nil {
					return err
				}
				next := &storage.RefreshToken{Signature: fmt.Sprintf("new%d", i), ExpiresAt: tokenTime}
				return s.CreateRefreshToken(ctx, &storage.TokenFamily{ID: f.ID, ClientID: f.ClientID, Subject: f.Subject}, next)
			})
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("rotations #%d and #%d both succeeded", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, storage.ErrConflict):
			t.Errorf("rotation #%d = %v, want nil or ErrConflict", i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("no rotation succeeded")
	}
	wantRefreshToken(t, s, "old", false)
	for i := range n {
		sig := fmt.Sprintf("new%d", i)
		if i == winner {
			wantRefreshToken(t, s, sig, true)
		} else if _, _, err := s.GetRefreshToken(ctx, sig); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("GetRefreshToken(%s) of a lost rotation = %v, want ErrNotFound", sig, err)
		}
	}
}

// testTokenRevokeWhileRotating revokes a family while a client keeps
// rotating its token, as reuse detection does when a stolen token is
// replayed: once the revocation is done, no token of the family may be
// active, whatever the interleaving.
func testTokenRevokeWhileRotating(t *testing.T, s storage.Store) {
	PanicAfter(t, 30*time.Second)
	ctx := t.Context()
	f := newFamily("gaia-web", "alice")
	mkRefreshToken(t, s, f, "t0", tokenTime)
	var (
		wg      sync.WaitGroup
		created []string // guarded by wg: read after Wait
		last    error
	)
	revoke := make(chan struct{})
	wg.Go(func() {
		for i := 1; ; i++ {
			if i == 3 {
				close(revoke) // let the revocation race the next rotations
			}
			cur, next := fmt.Sprintf("t%d", i-1), fmt.Sprintf("t%d", i)
			last = s.InTx(ctx, func(ctx context.Context) error {
				if err := s.DeactivateRefreshToken(ctx, cur, time.Time{}); err != nil {
					return err
				}
				return s.CreateRefreshToken(ctx, &storage.TokenFamily{ID: f.ID, ClientID: f.ClientID, Subject: f.Subject},
					&storage.RefreshToken{Signature: next, ExpiresAt: tokenTime})
			})
			if last != nil {
				return
			}
			created = append(created, next)
		}
	})
	<-revoke
	ok(t, "RevokeTokenFamily", s.RevokeTokenFamily(ctx, f.ID, time.Time{}))
	wg.Wait()
	is(t, "the rotation after the revocation", last, storage.ErrConflict)
	for _, sig := range append([]string{"t0"}, created...) {
		wantRefreshToken(t, s, sig, false)
	}
}

func testTokenRevokeFamily(t *testing.T, s storage.Store) {
	ctx := t.Context()
	f := newFamily("gaia-web", "alice")
	for _, sig := range []string{"a", "b", "c"} {
		mkRefreshToken(t, s, f, sig, tokenTime)
	}
	ok(t, "DeactivateRefreshToken(a)", s.DeactivateRefreshToken(ctx, "a", time.Time{}))
	other := newFamily("gaia-web", "alice")
	mkRefreshToken(t, s, other, "other", tokenTime)

	ok(t, "RevokeTokenFamily", s.RevokeTokenFamily(ctx, f.ID, tokenTime))
	for _, sig := range []string{"a", "b", "c"} {
		wantRefreshToken(t, s, sig, false)
	}
	wantRefreshToken(t, s, "other", true)
	want := tokenTime.Truncate(time.Microsecond)
	if got, err := s.GetTokenFamily(ctx, f.ID); err != nil || !got.RevokedAt.Equal(want) {
		t.Errorf("GetTokenFamily after RevokeTokenFamily = %+v, %v, want RevokedAt %v", got, err, want)
	}
	ok(t, "RevokeTokenFamily again", s.RevokeTokenFamily(ctx, f.ID, tokenTime.Add(time.Hour)))
	if got, err := s.GetTokenFamily(ctx, f.ID); err != nil || !got.RevokedAt.Equal(want) {
		t.Errorf("GetTokenFamily after revoking again = %+v, %v, want RevokedAt still %v", got, err, want)
	}
	is(t, "DeactivateRefreshToken(b) of a revoked family", s.DeactivateRefreshToken(ctx, "b", time.Time{}), storage.ErrConflict)

	// A zero time is now.
	ok(t, "RevokeTokenFamily(other)", s.RevokeTokenFamily(ctx, other.ID, time.Time{}))
	if got, err := s.GetTokenFamily(ctx, other.ID); err != nil || time.Since(got.RevokedAt) > time.Minute {
		t.Errorf("GetTokenFamily after RevokeTokenFamily at zero = %+v, %v, want RevokedAt now", got, err)
	}
	for _, id := range []string{uuid.NewString(), "nope"} {
		is(t, fmt.Sprintf("RevokeTokenFamily(%q)", id), s.RevokeTokenFamily(ctx, id, tokenTime), storage.ErrNotFound)
	}
}

func testTokenRevokeSubject(t *testing.T, s storage.Store) {
	ctx := t.Context()
	alice, bob := uuid.NewString(), uuid.NewString()
	web, cli, old := newFamily("gaia-web", alice), newFamily("gaia-cli", alice), newFamily("gaia-web", alice)
	bobs := newFamily("gaia-web", bob)
	mkRefreshToken(t, s, web, "web1", tokenTime)
	mkRefreshToken(t, s, web, "web2", tokenTime)
	mkRefreshToken(t, s, cli, "cli", tokenTime)
	mkRefreshToken(t, s, old, "old", tokenTime)
	mkRefreshToken(t, s, bobs, "bob", tokenTime)
	oldRevoked := tokenTime.Add(-time.Hour).Truncate(time.Microsecond)
	ok(t, "RevokeTokenFamily(old)", s.RevokeTokenFamily(ctx, old.ID, oldRevoked))

	n, err := s.RevokeSubjectTokens(ctx, alice, tokenTime)
	if err != nil || n != 2 {
		t.Errorf("RevokeSubjectTokens(alice) = %d, %v, want 2 (the live families)", n, err)
	}
	for _, sig := range []string{"web1", "web2", "cli", "old"} {
		wantRefreshToken(t, s, sig, false)
	}
	wantRefreshToken(t, s, "bob", true)
	for _, c := range []struct {
		f       *storage.TokenFamily
		revoked time.Time
	}{
		{web, tokenTime.Truncate(time.Microsecond)},
		{cli, tokenTime.Truncate(time.Microsecond)},
		{old, oldRevoked},
		{bobs, time.Time{}},
	} {
		if got, err := s.GetTokenFamily(ctx, c.f.ID); err != nil || !got.RevokedAt.Equal(c.revoked) {
			t.Errorf("GetTokenFamily(%s of %s) = %+v, %v, want RevokedAt %v", c.f.ClientID, c.f.Subject, got, err, c.revoked)
		}
	}
	n, err = s.RevokeSubjectTokens(ctx, alice, tokenTime)
	if err != nil || n != 0 {
		t.Errorf("RevokeSubjectTokens(alice) again = %d, %v, want 0", n, err)
	}
	n, err = s.RevokeSubjectTokens(ctx, "nobody", tokenTime)
	if err != nil || n != 0 {
		t.Errorf("RevokeSubjectTokens(nobody) = %d, %v, want 0", n, err)
	}
}

func testTokenRevokeClient(t *testing.T, s storage.Store) {
	ctx := t.Context()
	alice, bob := uuid.NewString(), uuid.NewString()
	aliceWeb, bobWeb, aliceCLI := newFamily("gaia-web", alice), newFamily("gaia-web", bob), newFamily("gaia-cli", alice)
	mkRefreshToken(t, s, aliceWeb, "a-web", tokenTime)
	mkRefreshToken(t, s, bobWeb, "b-web", tokenTime)
	mkRefreshToken(t, s, aliceCLI, "a-cli", tokenTime)

	n, err := s.RevokeClientTokens(ctx, "gaia-web", tokenTime)
	if err != nil || n != 2 {
		t.Errorf("RevokeClientTokens(gaia-web) = %d, %v, want 2", n, err)
	}
	wantRefreshToken(t, s, "a-web", false)
	wantRefreshToken(t, s, "b-web", false)
	wantRefreshToken(t, s, "a-cli", true)
	if got, err := s.GetTokenFamily(ctx, bobWeb.ID); err != nil || !got.RevokedAt.Equal(tokenTime.Truncate(time.Microsecond)) {
		t.Errorf("GetTokenFamily(bob's) = %+v, %v, want revoked at %v", got, err, tokenTime)
	}
	if got, err := s.GetTokenFamily(ctx, aliceCLI.ID); err != nil || !got.RevokedAt.IsZero() {
		t.Errorf("GetTokenFamily(gaia-cli's) = %+v, %v, want live", got, err)
	}
	for _, id := range []string{"gaia-web", "nobody"} {
		if n, err := s.RevokeClientTokens(ctx, id, tokenTime); err != nil || n != 0 {
			t.Errorf("RevokeClientTokens(%s) again = %d, %v, want 0", id, n, err)
		}
	}
}

func testTokenRevokeAccessToken(t *testing.T, s storage.Store) {
	ctx := t.Context()
	wantRevoked := func(jti string, want bool) {
		t.Helper()
		if got, err := s.AccessTokenRevoked(ctx, jti); err != nil || got != want {
			t.Errorf("AccessTokenRevoked(%q) = %v, %v, want %v", jti, got, err, want)
		}
	}
	jti := uuid.NewString()
	wantRevoked(jti, false)
	ok(t, "RevokeAccessToken", s.RevokeAccessToken(ctx, jti, tokenTime))
	wantRevoked(jti, true)
	ok(t, "RevokeAccessToken again", s.RevokeAccessToken(ctx, jti, tokenTime.Add(time.Hour)))
	wantRevoked(jti, true)
	wantRevoked(uuid.NewString(), false)
	wantRevoked("", false)

	for name, err := range map[string]error{
		"no jti":    s.RevokeAccessToken(ctx, "", tokenTime),
		"long jti":  s.RevokeAccessToken(ctx, string(bytes.Repeat([]byte{'j'}, storage.MaxTokenKeyLen+1)), tokenTime),
		"no expiry": s.RevokeAccessToken(ctx, uuid.NewString(), time.Time{}),
	} {
		if err == nil {
			t.Errorf("RevokeAccessToken with %s = nil, want an error", name)
		}
	}
}

func testTokenPurge(t *testing.T, s storage.Store) {
	ctx := t.Context()
	now := tokenTime
	past, future := now.Add(-time.Second), now.Add(time.Second)

	gone := newFamily("gaia-web", "alice") // only expired tokens: purged with them
	mkRefreshToken(t, s, gone, "gone1", past)
	mkRefreshToken(t, s, gone, "gone2", past)
	kept := newFamily("gaia-web", "alice") // one token still valid
	mkRefreshToken(t, s, kept, "kept-expired", past)
	mkRefreshToken(t, s, kept, "kept-valid", future)
	// Used, but kept for reuse detection until it expires.
	ok(t, "DeactivateRefreshToken", s.DeactivateRefreshToken(ctx, "kept-valid", time.Time{}))
	edge := newFamily("gaia-web", "alice") // expiring at now exactly: not before it
	mkRefreshToken(t, s, edge, "edge", now)
	ok(t, "RevokeAccessToken(expired)", s.RevokeAccessToken(ctx, "expired", past))
	ok(t, "RevokeAccessToken(valid)", s.RevokeAccessToken(ctx, "valid", future))

	n, err := s.PurgeTokens(ctx, now)
	// gone1, gone2, kept-expired, the revocation of expired, and family gone.
	if err != nil || n != 5 {
		t.Errorf("PurgeTokens = %d, %v, want 5", n, err)
	}
	for _, sig := range []string{"gone1", "gone2", "kept-expired"} {
		_, _, err := s.GetRefreshToken(ctx, sig)
		is(t, fmt.Sprintf("GetRefreshToken(%s) after PurgeTokens", sig), err, storage.ErrNotFound)
	}
	_, err = s.GetTokenFamily(ctx, gone.ID)
	is(t, "GetTokenFamily(gone) after PurgeTokens", err, storage.ErrNotFound)
	wantRefreshToken(t, s, "kept-valid", false)
	wantRefreshToken(t, s, "edge", true)
	for _, f := range []*storage.TokenFamily{kept, edge} {
		if _, err := s.GetTokenFamily(ctx, f.ID); err != nil {
			t.Errorf("GetTokenFamily(%s) after PurgeTokens: %v", f.ID, err)
		}
	}
	for jti, want := range map[string]bool{"expired": false, "valid": true} {
		if got, err := s.AccessTokenRevoked(ctx, jti); err != nil || got != want {
			t.Errorf("AccessTokenRevoked(%q) after PurgeTokens = %v, %v, want %v", jti, got, err, want)
		}
	}
	n, err = s.PurgeTokens(ctx, now)
	if err != nil || n != 0 {
		t.Errorf("PurgeTokens again = %d, %v, want 0", n, err)
	}
}

func testTokenRollback(t *testing.T, s storage.Store) {
	ctx := t.Context()
	errStop := errors.New("stop")
	f := newFamily("gaia-web", "alice")
	err := s.InTx(ctx, func(ctx context.Context) error {
		rt := &storage.RefreshToken{Signature: "sig", ExpiresAt: tokenTime}
		if err := s.CreateRefreshToken(ctx, f, rt); err != nil {
			return err
		}
		if err := s.RevokeAccessToken(ctx, "jti", tokenTime); err != nil {
			return err
		}
		// Reads in the transaction see its writes.
		if _, _, err := s.GetRefreshToken(ctx, "sig"); err != nil {
			return err
		}
		if revoked, err := s.AccessTokenRevoked(ctx, "jti"); err != nil || !revoked {
			return fmt.Errorf("AccessTokenRevoked in the transaction = %v, %v, want true", revoked, err)
		}
		return errStop
	})
	is(t, "InTx", err, errStop)
	_, _, err = s.GetRefreshToken(ctx, "sig")
	is(t, "GetRefreshToken after rollback", err, storage.ErrNotFound)
	_, err = s.GetTokenFamily(ctx, f.ID)
	is(t, "GetTokenFamily after rollback", err, storage.ErrNotFound)
	if revoked, err := s.AccessTokenRevoked(ctx, "jti"); err != nil || revoked {
		t.Errorf("AccessTokenRevoked after rollback = %v, %v, want false", revoked, err)
	}

	// Rotation and revocations roll back too.
	mkRefreshToken(t, s, f, "sig", tokenTime)
	err = s.InTx(ctx, func(ctx context.Context) error {
		if err := s.DeactivateRefreshToken(ctx, "sig", time.Time{}); err != nil {
			return err
		}
		if err := s.RevokeTokenFamily(ctx, f.ID, tokenTime); err != nil {
			return err
		}
		if _, err := s.RevokeSubjectTokens(ctx, "alice", tokenTime); err != nil {
			return err
		}
		if _, err := s.PurgeTokens(ctx, tokenTime.Add(time.Hour)); err != nil {
			return err
		}
		return errStop
	})
	is(t, "InTx", err, errStop)
	wantRefreshToken(t, s, "sig", true)
	if got, err := s.GetTokenFamily(ctx, f.ID); err != nil || !got.RevokedAt.IsZero() {
		t.Errorf("GetTokenFamily after rollback = %+v, %v, want it live", got, err)
	}
}
