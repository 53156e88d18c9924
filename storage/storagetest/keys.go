package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gaia-platform/iam/storage"
)

var signingKeysCases = []testCase{
	{"CreateList", testSigningKeyCreateList},
	{"ExplicitIDAndTimes", testSigningKeyExplicitIDAndTimes},
	{"Invalid", testSigningKeyInvalid},
	{"Order", testSigningKeyOrder},
	{"Retire", testSigningKeyRetire},
	{"Delete", testSigningKeyDelete},
	{"InTx", testSigningKeyInTx},
	{"Activation", testSigningKeyActivation},
	{"RetireEarlier", testSigningKeyRetireEarlier},
	{"Revoke", testSigningKeyRevoke},
	{"Reseal", testSigningKeyReseal},
}

var dataKeysCases = []testCase{
	{"CreateListReseal", testDataKeys},
	{"ResealInTx", testDataKeysResealInTx},
}

func sameSigningKey(a, b *storage.SigningKey) bool {
	return a.ID == b.ID && a.Algorithm == b.Algorithm &&
		bytes.Equal(a.PrivateKey, b.PrivateKey) && bytes.Equal(a.PublicKey, b.PublicKey) &&
		a.CreatedAt.Equal(b.CreatedAt) && a.RetiredAt.Equal(b.RetiredAt) &&
		a.ActivatesAt.Equal(b.ActivatesAt) && a.RevokedAt.Equal(b.RevokedAt)
}

// mkSigningKey creates a key with distinct stand-in key bytes, created at
// created (now when zero).
func mkSigningKey(t *testing.T, s storage.Store, created time.Time) *storage.SigningKey {
	t.Helper()
	k := &storage.SigningKey{
		Algorithm:  "RS256",
		PrivateKey: []byte("sealed " + uuid.NewString()),
		PublicKey:  []byte("public " + uuid.NewString()),
		CreatedAt:  created,
	}
	ok(t, "CreateSigningKey", s.CreateSigningKey(t.Context(), k))
	return k
}

// listSigningKeys returns the stored keys, failing t now on error.
func listSigningKeys(t *testing.T, s storage.Store) []storage.SigningKey {
	t.Helper()
	ks, err := s.ListSigningKeys(t.Context())
	ok(t, "ListSigningKeys", err)
	return ks
}

// wantSigningKeys fails t unless the stored keys are want, in order.
func wantSigningKeys(t *testing.T, s storage.Store, what string, want ...*storage.SigningKey) {
	t.Helper()
	got := listSigningKeys(t, s)
	if len(got) != len(want) {
		t.Fatalf("ListSigningKeys %s = %d keys %+v, want %d", what, len(got), got, len(want))
	}
	for i := range got {
		if !sameSigningKey(&got[i], want[i]) {
			t.Errorf("ListSigningKeys %s [%d] = %+v, want %+v", what, i, got[i], want[i])
		}
	}
}

func testSigningKeyCreateList(t *testing.T, s storage.Store) {
	ctx := t.Context()
	ks, err := s.ListSigningKeys(ctx)
	if err != nil || ks == nil || len(ks) != 0 {
		t.Errorf("ListSigningKeys on an empty store = %#v, %v, want []", ks, err)
	}

	// Every byte value, NUL included, must come back as written.
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	k := &storage.SigningKey{Algorithm: "RS256", PrivateKey: all, PublicKey: []byte{0x30, 0x00, 0xff}}
	ok(t, "CreateSigningKey", s.CreateSigningKey(ctx, k))
	if id, err := uuid.Parse(k.ID); err != nil || id.Version() != 7 || id.String() != k.ID {
		t.Errorf("CreateSigningKey assigned ID %q, want a canonical UUIDv7", k.ID)
	}
	if k.CreatedAt.Location() != time.UTC || k.CreatedAt.Nanosecond()%1000 != 0 {
		t.Errorf("CreateSigningKey set CreatedAt %v, want UTC at microsecond precision", k.CreatedAt)
	}
	if d := time.Since(k.CreatedAt); d < 0 || d > time.Minute {
		t.Errorf("CreateSigningKey set CreatedAt %v, %v from now", k.CreatedAt, d)
	}
	if !k.RetiredAt.IsZero() {
		t.Errorf("CreateSigningKey set RetiredAt %v, want zero", k.RetiredAt)
	}
	wantSigningKeys(t, s, "after CreateSigningKey", k)
}

func testSigningKeyExplicitIDAndTimes(t *testing.T, s storage.Store) {
	ctx := t.Context()
	id := "0190F3A0-0000-7000-8000-00000000000A" // not canonical: stored canonical
	created := time.Date(2024, 1, 2, 3, 4, 5, 123456789, time.FixedZone("CET", 3600))
	retired := created.Add(time.Hour)
	k := &storage.SigningKey{ID: id, Algorithm: "RS256", PrivateKey: []byte{1}, PublicKey: []byte{2},
		CreatedAt: created, RetiredAt: retired}
	ok(t, "CreateSigningKey", s.CreateSigningKey(ctx, k))
	want := &storage.SigningKey{ID: "0190f3a0-0000-7000-8000-00000000000a", Algorithm: "RS256",
		PrivateKey: []byte{1}, PublicKey: []byte{2},
		CreatedAt: created.UTC().Truncate(time.Microsecond), RetiredAt: retired.UTC().Truncate(time.Microsecond),
		ActivatesAt: created.UTC().Truncate(time.Microsecond)} // zero: active from its creation
	if !sameSigningKey(k, want) || k.CreatedAt.Location() != time.UTC || k.RetiredAt.Location() != time.UTC {
		t.Errorf("CreateSigningKey set %+v, want %+v", k, want)
	}
	got := listSigningKeys(t, s)
	if len(got) != 1 || !sameSigningKey(&got[0], want) ||
		got[0].CreatedAt.Location() != time.UTC || got[0].RetiredAt.Location() != time.UTC {
		t.Errorf("ListSigningKeys = %+v, want [%+v] in UTC", got, want)
	}
}

func testSigningKeyInvalid(t *testing.T, s storage.Store) {
	ctx := t.Context()
	k := mkSigningKey(t, s, time.Time{})
	dup := &storage.SigningKey{ID: k.ID, Algorithm: "RS256", PrivateKey: []byte{1}, PublicKey: []byte{2}}
	is(t, "CreateSigningKey with a taken ID", s.CreateSigningKey(ctx, dup), storage.ErrConflict)
	for _, bad := range []*storage.SigningKey{
		{ID: "not-a-uuid", Algorithm: "RS256", PrivateKey: []byte{1}, PublicKey: []byte{2}},
		{Algorithm: "", PrivateKey: []byte{1}, PublicKey: []byte{2}},
		{Algorithm: "RS256", PrivateKey: nil, PublicKey: []byte{2}},
		{Algorithm: "RS256", PrivateKey: []byte{}, PublicKey: []byte{2}},
		{Algorithm: "RS256", PrivateKey: []byte{1}, PublicKey: nil},
	} {
		if err := s.CreateSigningKey(ctx, bad); err == nil {
			t.Errorf("CreateSigningKey(%+v) = nil, want an error", bad)
		}
	}
	wantSigningKeys(t, s, "after rejected creates", k)
}

func testSigningKeyOrder(t *testing.T, s storage.Store) {
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	mid := mkSigningKey(t, s, base.Add(time.Hour))
	oldest := mkSigningKey(t, s, base)
	newest := mkSigningKey(t, s, base.Add(2*time.Hour))
	// Created at the same instant: the greater ID is newer, as UUIDv7s are.
	a := &storage.SigningKey{ID: "0190f3a0-0000-7000-8000-000000000001", Algorithm: "RS256",
		PrivateKey: []byte{1}, PublicKey: []byte{1}, CreatedAt: base.Add(3 * time.Hour)}
	b := &storage.SigningKey{ID: "0190f3a0-0000-7000-8000-000000000002", Algorithm: "RS256",
		PrivateKey: []byte{2}, PublicKey: []byte{2}, CreatedAt: base.Add(3 * time.Hour)}
	ok(t, "CreateSigningKey(b)", s.CreateSigningKey(t.Context(), b))
	ok(t, "CreateSigningKey(a)", s.CreateSigningKey(t.Context(), a))
	wantSigningKeys(t, s, "", b, a, newest, mid, oldest)
}

func testSigningKeyRetire(t *testing.T, s storage.Store) {
	ctx := t.Context()
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	k1, k2, k3 := mkSigningKey(t, s, base), mkSigningKey(t, s, base.Add(time.Hour)), mkSigningKey(t, s, base.Add(2*time.Hour))

	at := base.Add(2*time.Hour + 123456789) // ns: stored at µs
	ok(t, "RetireSigningKeys(k3)", s.RetireSigningKeys(ctx, k3.ID, at))
	k1.RetiredAt, k2.RetiredAt = at.Truncate(time.Microsecond), at.Truncate(time.Microsecond)
	wantSigningKeys(t, s, "after RetireSigningKeys(k3)", k3, k2, k1)

	// Retired keys keep their RetiredAt; only k3 is retired now.
	later := at.Add(time.Hour)
	k4 := mkSigningKey(t, s, later)
	// exceptID is compared as a UUID, not as a string.
	ok(t, "RetireSigningKeys(k4)", s.RetireSigningKeys(ctx, strings.ToUpper(k4.ID), later))
	k3.RetiredAt = later.Truncate(time.Microsecond)
	wantSigningKeys(t, s, "after RetireSigningKeys(k4)", k4, k3, k2, k1)

	// An exceptID that is no key's spares none.
	for _, except := range []string{"", "not-a-uuid"} {
		mkSigningKey(t, s, later.Add(time.Hour))
		ok(t, fmt.Sprintf("RetireSigningKeys(%q)", except), s.RetireSigningKeys(ctx, except, later.Add(time.Hour)))
		for _, got := range listSigningKeys(t, s) {
			if got.RetiredAt.IsZero() {
				t.Errorf("after RetireSigningKeys(%q), key %s is not retired", except, got.ID)
			}
		}
	}

	// A zero at means now.
	k5 := mkSigningKey(t, s, time.Time{})
	ok(t, "RetireSigningKeys(at zero)", s.RetireSigningKeys(ctx, "", time.Time{}))
	for _, got := range listSigningKeys(t, s) {
		if got.ID == k5.ID {
			if d := time.Since(got.RetiredAt); d < 0 || d > time.Minute {
				t.Errorf("RetireSigningKeys(at zero) set RetiredAt %v, %v from now", got.RetiredAt, d)
			}
		}
	}
}

func testSigningKeyDelete(t *testing.T, s storage.Store) {
	ctx := t.Context()
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	k1, k2, k3 := mkSigningKey(t, s, base), mkSigningKey(t, s, base.Add(time.Hour)), mkSigningKey(t, s, base.Add(2*time.Hour))
	t1, t2 := base.Add(90*time.Minute), base.Add(150*time.Minute)
	ok(t, "RetireSigningKeys(k2)", s.RetireSigningKeys(ctx, k2.ID, t1)) // k1, k3 retired at t1
	ok(t, "RetireSigningKeys(k3)", s.RetireSigningKeys(ctx, k3.ID, t2)) // k2 retired at t2
	k1.RetiredAt, k2.RetiredAt, k3.RetiredAt = t1, t2, t1
	current := mkSigningKey(t, s, base.Add(3*time.Hour)) // never retired

	n, err := s.DeleteSigningKeys(ctx, t1)
	if err != nil || n != 0 {
		t.Errorf("DeleteSigningKeys(t1) = %d, %v, want 0: before is strict", n, err)
	}
	n, err = s.DeleteSigningKeys(ctx, t1.Add(time.Microsecond))
	if err != nil || n != 2 {
		t.Errorf("DeleteSigningKeys(t1+1µs) = %d, %v, want 2", n, err)
	}
	wantSigningKeys(t, s, "after DeleteSigningKeys(t1+1µs)", current, k2)
	n, err = s.DeleteSigningKeys(ctx, base.Add(100*365*24*time.Hour))
	if err != nil || n != 1 {
		t.Errorf("DeleteSigningKeys(far future) = %d, %v, want 1", n, err)
	}
	wantSigningKeys(t, s, "after DeleteSigningKeys(far future)", current)
	n, err = s.DeleteSigningKeys(ctx, base.Add(100*365*24*time.Hour))
	if err != nil || n != 0 {
		t.Errorf("DeleteSigningKeys again = %d, %v, want 0", n, err)
	}
}

func testSigningKeyInTx(t *testing.T, s storage.Store) {
	ctx := t.Context()
	old := mkSigningKey(t, s, time.Time{})
	errStop := errors.New("stop")
	err := s.InTx(ctx, func(ctx context.Context) error {
		k := &storage.SigningKey{Algorithm: "RS256", PrivateKey: []byte{1}, PublicKey: []byte{2}}
		if err := s.CreateSigningKey(ctx, k); err != nil {
			return err
		}
		if err := s.RetireSigningKeys(ctx, k.ID, time.Time{}); err != nil {
			return err
		}
		// Reads in the transaction see its writes.
		ks, err := s.ListSigningKeys(ctx)
		if err != nil {
			return err
		}
		if len(ks) != 2 || ks[0].ID != k.ID || !ks[0].RetiredAt.IsZero() || ks[1].RetiredAt.IsZero() {
			t.Errorf("ListSigningKeys in the transaction = %+v, want the new key, then the old one retired", ks)
		}
		if _, err := s.DeleteSigningKeys(ctx, time.Now().Add(time.Hour)); err != nil {
			return err
		}
		return errStop
	})
	is(t, "InTx", err, errStop)
	wantSigningKeys(t, s, "after rollback", old)
}

// testSigningKeyActivation: a key made to sign later keeps its activation
// time, at microsecond precision in UTC, and so does a revocation time
// given at creation.
func testSigningKeyActivation(t *testing.T, s storage.Store) {
	ctx := t.Context()
	created := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	activates := created.Add(75*time.Second + 999) // ns: stored at µs
	revoked := created.Add(time.Hour)
	k := &storage.SigningKey{Algorithm: "RS256", PrivateKey: []byte{1}, PublicKey: []byte{2},
		CreatedAt: created, ActivatesAt: activates.In(time.FixedZone("CET", 3600))}
	ok(t, "CreateSigningKey", s.CreateSigningKey(ctx, k))
	r := &storage.SigningKey{Algorithm: "RS256", PrivateKey: []byte{3}, PublicKey: []byte{4},
		CreatedAt: created.Add(-time.Hour), RevokedAt: revoked}
	ok(t, "CreateSigningKey(revoked)", s.CreateSigningKey(ctx, r))
	if !k.ActivatesAt.Equal(activates.Truncate(time.Microsecond)) || k.ActivatesAt.Location() != time.UTC {
		t.Errorf("CreateSigningKey set ActivatesAt %v, want %v in UTC", k.ActivatesAt, activates.Truncate(time.Microsecond))
	}
	wantSigningKeys(t, s, "with an activation time", k, r)
	got := listSigningKeys(t, s)
	if got[0].ActivatesAt.Location() != time.UTC || !got[1].RevokedAt.Equal(revoked) || got[1].RevokedAt.Location() != time.UTC {
		t.Errorf("ListSigningKeys = %+v, want the times in UTC", got)
	}
}

// testSigningKeyRetireEarlier: a key due to retire later (when the next
// key activates) is retired at an earlier instant when asked; one retired
// earlier keeps its time.
func testSigningKeyRetireEarlier(t *testing.T, s storage.Store) {
	ctx := t.Context()
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	old, cur := mkSigningKey(t, s, base), mkSigningKey(t, s, base.Add(time.Hour))
	next := mkSigningKey(t, s, base.Add(2*time.Hour))
	ok(t, "RetireSigningKeys(next, ahead)", s.RetireSigningKeys(ctx, next.ID, base.Add(3*time.Hour)))
	old.RetiredAt, cur.RetiredAt = base.Add(3*time.Hour), base.Add(3*time.Hour)
	wantSigningKeys(t, s, "retired ahead", next, cur, old)

	ok(t, "RetireSigningKeys(old)", s.RetireSigningKeys(ctx, old.ID, base.Add(150*time.Minute)))
	cur.RetiredAt, next.RetiredAt = base.Add(150*time.Minute), base.Add(150*time.Minute)
	wantSigningKeys(t, s, "retired earlier", next, cur, old)

	ok(t, "RetireSigningKeys(later)", s.RetireSigningKeys(ctx, "", base.Add(4*time.Hour)))
	wantSigningKeys(t, s, "retired again later", next, cur, old)
}

// testSigningKeyRevoke: revoking sets RevokedAt once, retires the key then
// unless it retired earlier, and refuses an unknown id.
func testSigningKeyRevoke(t *testing.T, s storage.Store) {
	ctx := t.Context()
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	old, cur := mkSigningKey(t, s, base), mkSigningKey(t, s, base.Add(time.Hour))
	ok(t, "RetireSigningKeys(cur)", s.RetireSigningKeys(ctx, cur.ID, base.Add(time.Hour)))
	old.RetiredAt = base.Add(time.Hour)

	for _, k := range []*storage.SigningKey{old, cur} {
		revoked, err := s.SigningKeyRevoked(ctx, k.ID)
		if err != nil || revoked {
			t.Errorf("SigningKeyRevoked(%s) before revoking = %v, %v, want false", k.ID, revoked, err)
		}
	}
	at := base.Add(2*time.Hour + 123456789)
	for i, k := range []*storage.SigningKey{old, cur} {
		first, err := s.RevokeSigningKey(ctx, strings.ToUpper(k.ID), at)
		if err != nil || !first {
			t.Errorf("RevokeSigningKey(%s) = %v, %v, want true", k.ID, first, err)
		}
		k.RevokedAt = at.Truncate(time.Microsecond)
		if i == 1 { // not retired: retired as it is revoked
			k.RetiredAt = k.RevokedAt
		}
	}
	wantSigningKeys(t, s, "after RevokeSigningKey", cur, old)

	// Idempotent: a second revocation changes nothing.
	first, err := s.RevokeSigningKey(ctx, cur.ID, at.Add(time.Hour))
	if err != nil || first {
		t.Errorf("RevokeSigningKey again = %v, %v, want false, nil", first, err)
	}
	wantSigningKeys(t, s, "after RevokeSigningKey again", cur, old)
	revoked, err := s.SigningKeyRevoked(ctx, cur.ID)
	if err != nil || !revoked {
		t.Errorf("SigningKeyRevoked(%s) = %v, %v, want true", cur.ID, revoked, err)
	}
	// A revoked key is still deleted once its retention ends.
	if n, err := s.DeleteSigningKeys(ctx, at.Add(time.Second)); err != nil || n != 2 {
		t.Errorf("DeleteSigningKeys after revocation = %d, %v, want 2", n, err)
	}

	for _, id := range []string{uuid.NewString(), old.ID, "not-a-uuid", ""} {
		_, err := s.RevokeSigningKey(ctx, id, time.Time{})
		is(t, fmt.Sprintf("RevokeSigningKey(%q)", id), err, storage.ErrNotFound)
		_, err = s.SigningKeyRevoked(ctx, id)
		is(t, fmt.Sprintf("SigningKeyRevoked(%q)", id), err, storage.ErrNotFound)
	}
	_, err = s.RevokeSigningKey(ctx, "\x00\xff", time.Time{})
	is(t, "RevokeSigningKey(NUL, invalid UTF-8)", err, storage.ErrInvalid)

	// A zero at means now.
	k := mkSigningKey(t, s, time.Time{})
	if _, err := s.RevokeSigningKey(ctx, k.ID, time.Time{}); err != nil {
		t.Fatal(err)
	}
	got := listSigningKeys(t, s)
	if d := time.Since(got[0].RevokedAt); len(got) != 1 || d < 0 || d > time.Minute || !got[0].RetiredAt.Equal(got[0].RevokedAt) {
		t.Errorf("RevokeSigningKey(at zero) left %+v, want revoked and retired now", got)
	}
}

func testSigningKeyReseal(t *testing.T, s storage.Store) {
	ctx := t.Context()
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	old, cur := mkSigningKey(t, s, base), mkSigningKey(t, s, base.Add(time.Hour))
	ok(t, "ResealSigningKey", s.ResealSigningKey(ctx, old.ID, []byte("resealed")))
	old.PrivateKey = []byte("resealed")
	wantSigningKeys(t, s, "after ResealSigningKey", cur, old)

	is(t, "ResealSigningKey(unknown)", s.ResealSigningKey(ctx, uuid.NewString(), []byte("x")), storage.ErrNotFound)
	is(t, "ResealSigningKey(not a uuid)", s.ResealSigningKey(ctx, "nope", []byte("x")), storage.ErrNotFound)
	is(t, "ResealSigningKey(empty)", s.ResealSigningKey(ctx, cur.ID, nil), storage.ErrInvalid)
	wantSigningKeys(t, s, "after refused reseals", cur, old)
}

func testDataKeys(t *testing.T, s storage.Store) {
	ctx := t.Context()
	ks, err := s.ListDataKeys(ctx)
	if err != nil || len(ks) != 0 {
		t.Fatalf("ListDataKeys on an empty store = %v, %v, want none", ks, err)
	}
	at := time.Date(2024, 1, 1, 0, 0, 0, 123456789, time.UTC)
	one := &storage.DataKey{Version: 1, Sealed: []byte("sealed one"), CreatedAt: at}
	ok(t, "CreateDataKey(1)", s.CreateDataKey(ctx, one))
	two := &storage.DataKey{Version: 2, Sealed: []byte("sealed two")}
	ok(t, "CreateDataKey(2)", s.CreateDataKey(ctx, two))
	if two.CreatedAt.IsZero() {
		t.Errorf("CreateDataKey left CreatedAt zero")
	}
	is(t, "CreateDataKey(1 again)", s.CreateDataKey(ctx, &storage.DataKey{Version: 1, Sealed: []byte("x")}), storage.ErrConflict)
	is(t, "CreateDataKey(0)", s.CreateDataKey(ctx, &storage.DataKey{Version: 0, Sealed: []byte("x")}), storage.ErrInvalid)
	is(t, "CreateDataKey(empty)", s.CreateDataKey(ctx, &storage.DataKey{Version: 3}), storage.ErrInvalid)

	ok(t, "ResealDataKey(1)", s.ResealDataKey(ctx, 1, []byte("resealed one")))
	is(t, "ResealDataKey(9)", s.ResealDataKey(ctx, 9, []byte("x")), storage.ErrNotFound)
	is(t, "ResealDataKey(empty)", s.ResealDataKey(ctx, 2, nil), storage.ErrInvalid)

	ks, err = s.ListDataKeys(ctx)
	ok(t, "ListDataKeys", err)
	if len(ks) != 2 || ks[0].Version != 2 || ks[1].Version != 1 ||
		string(ks[0].Sealed) != "sealed two" || string(ks[1].Sealed) != "resealed one" ||
		!ks[1].CreatedAt.Equal(at.Truncate(time.Microsecond)) || !ks[0].CreatedAt.Equal(two.CreatedAt) {
		t.Errorf("ListDataKeys = %+v, want version 2 (sealed two), then 1 (resealed one, created %v)", ks, at)
	}
}

// testDataKeysResealInTx: a reseal rolled back with its transaction leaves
// the data key and the signing key as they were.
func testDataKeysResealInTx(t *testing.T, s storage.Store) {
	ctx := t.Context()
	sk := mkSigningKey(t, s, time.Time{})
	ok(t, "CreateDataKey", s.CreateDataKey(ctx, &storage.DataKey{Version: 1, Sealed: []byte("before")}))
	boom := errors.New("boom")
	err := s.InTx(ctx, func(ctx context.Context) error {
		if err := s.ResealSigningKey(ctx, sk.ID, []byte("after")); err != nil {
			return err
		}
		if err := s.ResealDataKey(ctx, 1, []byte("after")); err != nil {
			return err
		}
		return boom
	})
	is(t, "InTx", err, boom)
	wantSigningKeys(t, s, "after a rolled back reseal", sk)
	ks, err := s.ListDataKeys(ctx)
	ok(t, "ListDataKeys", err)
	if len(ks) != 1 || string(ks[0].Sealed) != "before" {
		t.Errorf("ListDataKeys after a rolled back reseal = %+v, want the key sealed before", ks)
	}
}
