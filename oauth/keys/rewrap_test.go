package keys

import (
	"bytes"
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"

	"github.com/gaia-platform/iam/storage"
	"github.com/gaia-platform/iam/storage/storagetest"
)

// eachStore runs test against a fresh store of every backend.
func eachStore(t *testing.T, test func(t *testing.T, store storage.Store)) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			storagetest.PanicAfter(t, testTimeout)
			test(t, b.Open(t))
		})
	}
}

// derived returns what dk derives for purpose, or fails t.
func derived(t *testing.T, dk DataKey, err error) []byte {
	t.Helper()
	if err != nil {
		t.Fatalf("OpenDataKey: %v", err)
	}
	k, err := dk.Derive("test purpose")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// legacyDerived is the key derived from the key-encryption key itself, as
// servers did before data keys.
func legacyDerived(t *testing.T, kek []byte) []byte {
	k, err := hkdf.Key(sha256.New, kek, nil, "test purpose", 32)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestOpenDataKey(t *testing.T) {
	eachStore(t, func(t *testing.T, store storage.Store) {
		ctx := t.Context()
		kek := newKEK()
		// A command that writes nothing stores nothing.
		if _, err := OpenDataKey(ctx, store, kek, WriteNothing); err != nil {
			t.Fatal(err)
		}
		if ks, _ := store.ListDataKeys(ctx); len(ks) != 0 {
			t.Fatalf("OpenDataKey(WriteNothing) stored %d data keys", len(ks))
		}
		// A fresh store: a random data key, stored once and found again.
		dk, err := OpenDataKey(ctx, store, kek, StoreDataKey)
		first := derived(t, dk, err)
		if dk.Version != 1 || bytes.Equal(first, legacyDerived(t, kek)) {
			t.Errorf("fresh data key = v%d, legacy %v; want v1, random", dk.Version, bytes.Equal(first, legacyDerived(t, kek)))
		}
		again, err := OpenDataKey(ctx, store, kek, StoreDataKey)
		if !bytes.Equal(derived(t, again, err), first) {
			t.Error("a second OpenDataKey derives other keys")
		}
		if ks, _ := store.ListDataKeys(ctx); len(ks) != 1 || bytes.Contains(ks[0].Sealed, first) {
			t.Errorf("stored data keys = %d, want 1, sealed", len(ks))
		}
		if _, err := OpenDataKey(ctx, store, newKEK(), StoreDataKey); !errors.Is(err, ErrWrongKEK) {
			t.Errorf("OpenDataKey with another KEK = %v, want ErrWrongKEK", err)
		}
		if s := fmt.Sprintf("%v %+v %#v %s", dk, dk, dk, dk.LogValue()); s != "data key v1 data key v1 data key v1 data key v1" {
			t.Errorf("a data key shows as %q", s)
		}
	})
}

// TestOpenDataKeyLegacy: a store that predates data keys (it holds signing
// keys) gets the key-encryption key itself as data key v1, so that what it
// derived from it (refresh tokens, client secrets) stays valid.
func TestOpenDataKeyLegacy(t *testing.T) {
	eachStore(t, func(t *testing.T, store storage.Store) {
		generate, _ := generator(t)
		kek := newKEK()
		mustNew(t, testConfig(newClock(), generate), store, kek)
		dk, err := OpenDataKey(t.Context(), store, kek, StoreDataKey)
		if !bytes.Equal(derived(t, dk, err), legacyDerived(t, kek)) {
			t.Error("the data key of a store with signing keys is not the key-encryption key")
		}
	})
}

// sealedState is every sealed byte in store, to compare before and after.
func sealedState(t *testing.T, store storage.Store) [][]byte {
	t.Helper()
	var out [][]byte
	for _, k := range rows(t, store) {
		out = append(out, k.PrivateKey)
	}
	ds, err := store.ListDataKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		out = append(out, d.Sealed)
	}
	return out
}

func sameState(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func TestRewrap(t *testing.T) {
	eachStore(t, func(t *testing.T, store storage.Store) {
		ctx := t.Context()
		generate, _ := generator(t)
		c := newClock()
		oldKEK, newKEK := newKEK(), newKEK()
		r := mustNew(t, testConfig(c, generate), store, oldKEK)
		if _, _, err := r.Rotate(ctx); err != nil {
			t.Fatal(err)
		}
		signing := r.Current()
		dk, err := OpenDataKey(ctx, store, oldKEK, StoreDataKey)
		want := derived(t, dk, err)
		before := sealedState(t, store)

		// Refusals change nothing: a wrong old key, the same key, a
		// failure after every key was re-sealed (then's error).
		if _, err := Rewrap(ctx, store, newKEK, oldKEK, nil); !errors.Is(err, ErrWrongKEK) {
			t.Errorf("Rewrap from a wrong key = %v, want ErrWrongKEK", err)
		}
		if _, err := Rewrap(ctx, store, oldKEK, oldKEK, nil); !errors.Is(err, ErrSameKEK) {
			t.Errorf("Rewrap to the same key = %v, want ErrSameKEK", err)
		}
		boom := errors.New("audit failed")
		var seen Rewrapped
		_, err = Rewrap(ctx, store, oldKEK, newKEK, func(ctx context.Context, r Rewrapped) error {
			seen = r
			return boom
		})
		if !errors.Is(err, boom) || seen.SigningKeys != 2 || seen.DataKeys != 1 {
			t.Errorf("Rewrap with then failing = %v after %+v, want %v after 2 signing and 1 data key", err, seen, boom)
		}
		if !sameState(sealedState(t, store), before) {
			t.Fatal("a refused or failed rewrap changed the stored keys")
		}
		if err := CheckKEK(ctx, store, oldKEK); err != nil {
			t.Fatalf("after failed rewraps, the old key: %v", err)
		}

		res, err := Rewrap(ctx, store, oldKEK, newKEK, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.SigningKeys != 2 || res.DataKeys != 1 || res.OldKEK != Fingerprint(oldKEK) || res.NewKEK != Fingerprint(newKEK) || res.OldKEK == res.NewKEK {
			t.Errorf("Rewrap = %+v, want 2 signing keys, 1 data key and the fingerprints", res)
		}
		if err := CheckKEK(ctx, store, newKEK); err != nil {
			t.Errorf("CheckKEK(new) after rewrap: %v", err)
		}
		if err := CheckKEK(ctx, store, oldKEK); !errors.Is(err, ErrWrongKEK) {
			t.Errorf("CheckKEK(old) after rewrap = %v, want ErrWrongKEK", err)
		}
		if _, err := OpenDataKey(ctx, store, oldKEK, StoreDataKey); !errors.Is(err, ErrWrongKEK) {
			t.Errorf("OpenDataKey(old) after rewrap = %v, want ErrWrongKEK", err)
		}
		dk, err = OpenDataKey(ctx, store, newKEK, StoreDataKey)
		if !bytes.Equal(derived(t, dk, err), want) {
			t.Error("the keys derived after rewrap differ from before")
		}
		// A process started with the new key signs with the same key.
		fresh := mustNew(t, testConfig(c, generate), store, newKEK)
		if got := fresh.Current(); got.ID != signing.ID || !got.Private.Equal(signing.Private) {
			t.Errorf("a ring with the new key signs with %s, want %s", got.ID, signing.ID)
		}
		// A process still running with the old key keeps the keys it
		// opened, and still sees what changes: here a revocation made by a
		// process with the new key.
		retired := ""
		for _, k := range rows(t, store) {
			if k.ID != signing.ID {
				retired = k.ID
			}
		}
		if _, ok := r.PublicKey(retired); !ok {
			t.Fatalf("the retired key %s is not published before the revocation", retired)
		}
		if _, err := fresh.Revoke(ctx, retired); err != nil {
			t.Fatal(err)
		}
		if err := r.Refresh(ctx); err != nil || r.Current().ID != signing.ID {
			t.Errorf("a running ring after rewrap: Refresh = %v, current %s; want nil, %s", err, r.Current().ID, signing.ID)
		}
		if _, ok := r.PublicKey(retired); ok {
			t.Error("a ring with the old key missed a revocation made after the rewrap")
		}
		if _, err := New(ctx, testConfig(c, generate), store, oldKEK, storagetest.Logger(t)); err == nil {
			t.Error("a ring with the old key started after rewrap")
		}
	})
}

// TestRewrapLegacy: a store that predates data keys gets data key v1, the
// old key-encryption key, sealed under the new one, so that what was
// derived from the old key stays valid.
func TestRewrapLegacy(t *testing.T) {
	eachStore(t, func(t *testing.T, store storage.Store) {
		generate, _ := generator(t)
		oldKEK, newKEK := newKEK(), newKEK()
		mustNew(t, testConfig(newClock(), generate), store, oldKEK)
		res, err := Rewrap(t.Context(), store, oldKEK, newKEK, nil)
		if err != nil || res.SigningKeys != 1 || res.DataKeys != 1 {
			t.Fatalf("Rewrap = %+v, %v; want 1 signing key, 1 data key made", res, err)
		}
		dk, err := OpenDataKey(t.Context(), store, newKEK, WriteNothing)
		if !bytes.Equal(derived(t, dk, err), legacyDerived(t, oldKEK)) {
			t.Error("after rewrap, a legacy store derives other keys than from its old key-encryption key")
		}
	})
}
