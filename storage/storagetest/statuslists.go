package storagetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gaia-platform/iam/storage"
)

var statusListsCases = []testCase{
	{"AssignKeepsOwnerEntry", testStatusAssignKeeps},
	{"AssignInvalid", testStatusAssignInvalid},
	{"NewListWhenFull", testStatusNewList},
	{"ReuseOnlyExpired", testStatusReuse},
	{"AssignConcurrently", testStatusAssignConcurrently},
	{"States", testStatusStates},
}

const statusListSize = 16

func assignStatus(t *testing.T, s storage.Store, o storage.StatusOwner, exp, reuseBefore time.Time) storage.StatusEntry {
	t.Helper()
	e, err := s.AssignStatusEntry(t.Context(), o, exp, reuseBefore, statusListSize)
	ok(t, fmt.Sprintf("AssignStatusEntry(%+v)", o), err)
	if e.FamilyID != o.FamilyID || e.ClientID != o.ClientID {
		t.Errorf("AssignStatusEntry(%+v) owner = %+v", o, e.StatusOwner)
	}
	return e
}

func testStatusAssignKeeps(t *testing.T, s storage.Store) {
	fam := storage.StatusOwner{FamilyID: uuid.NewString()}
	svc := storage.StatusOwner{ClientID: "inventory-service"}
	e1 := assignStatus(t, s, fam, tokenTime, time.Time{})
	e2 := assignStatus(t, s, svc, tokenTime, time.Time{})
	if e1.List != 0 || e1.Index != 0 || e2.List != 0 || e2.Index != 1 {
		t.Errorf("first entries = (%d,%d) (%d,%d), want (0,0) (0,1)", e1.List, e1.Index, e2.List, e2.Index)
	}
	later := tokenTime.Add(time.Hour)
	again := assignStatus(t, s, fam, later, time.Time{})
	if again.List != e1.List || again.Index != e1.Index || !again.ExpiresAt.Equal(later.Truncate(time.Microsecond)) {
		t.Errorf("AssignStatusEntry again = %+v, want entry (0,0) expiring %v", again, later)
	}
	// Never lowered.
	back := assignStatus(t, s, fam, tokenTime, time.Time{})
	if !back.ExpiresAt.Equal(later.Truncate(time.Microsecond)) {
		t.Errorf("expiry lowered to %v", back.ExpiresAt)
	}
}

func testStatusAssignInvalid(t *testing.T, s storage.Store) {
	ctx := t.Context()
	for name, o := range map[string]storage.StatusOwner{
		"neither":     {},
		"both":        {FamilyID: uuid.NewString(), ClientID: "c"},
		"not a uuid":  {FamilyID: "family"},
		"nul":         {ClientID: "a\x00b"},
		"long client": {ClientID: string(make([]byte, 300))},
	} {
		_, err := s.AssignStatusEntry(ctx, o, tokenTime, time.Time{}, statusListSize)
		is(t, "AssignStatusEntry("+name+")", err, storage.ErrInvalid)
	}
	_, err := s.AssignStatusEntry(ctx, storage.StatusOwner{ClientID: "c"}, tokenTime, time.Time{}, 4)
	is(t, "AssignStatusEntry(list size 4)", err, storage.ErrInvalid)
	if st, err := s.StatusListStates(ctx, 0); err != nil || len(st) != 0 {
		t.Errorf("StatusListStates after refusals = %v, %v, want none", st, err)
	}
}

func testStatusNewList(t *testing.T, s storage.Store) {
	for i := range statusListSize + 2 {
		e := assignStatus(t, s, storage.StatusOwner{FamilyID: uuid.NewString()}, tokenTime, time.Time{})
		if want := (storage.StatusEntry{List: i / statusListSize, Index: i % statusListSize}); e.List != want.List || e.Index != want.Index {
			t.Fatalf("entry %d = (%d,%d), want (%d,%d)", i, e.List, e.Index, want.List, want.Index)
		}
	}
	for list, want := range []int{statusListSize, 2, 0} {
		if st, err := s.StatusListStates(t.Context(), list); err != nil || len(st) != want {
			t.Errorf("StatusListStates(%d) = %d entries, %v, want %d", list, len(st), err, want)
		}
	}
}

func testStatusReuse(t *testing.T, s storage.Store) {
	old := storage.StatusOwner{FamilyID: uuid.NewString()}
	live := storage.StatusOwner{ClientID: "svc"}
	assignStatus(t, s, old, tokenTime, time.Time{})
	assignStatus(t, s, live, tokenTime.Add(time.Hour), time.Time{})

	// Not expired before reuseBefore: a new entry.
	e := assignStatus(t, s, storage.StatusOwner{FamilyID: uuid.NewString()}, tokenTime, tokenTime)
	if e.Index != 2 {
		t.Errorf("entry with none expired = %d, want 2", e.Index)
	}
	// Expired: the lowest is taken over, and its old owner has none.
	newcomer := storage.StatusOwner{FamilyID: uuid.NewString()}
	e = assignStatus(t, s, newcomer, tokenTime.Add(2*time.Hour), tokenTime.Add(time.Second))
	if e.List != 0 || e.Index != 0 {
		t.Errorf("reused entry = (%d,%d), want (0,0)", e.List, e.Index)
	}
	// The old owner comes back (a refresh after a long pause): a new entry,
	// never its old one.
	e = assignStatus(t, s, old, tokenTime.Add(2*time.Hour), tokenTime.Add(time.Second))
	if e.Index == 0 || e.Index == 1 {
		t.Errorf("old owner got entry %d, held by another", e.Index)
	}
	st, err := s.StatusListStates(t.Context(), 0)
	ok(t, "StatusListStates", err)
	owners := map[string]int{}
	for _, x := range st {
		owners[x.FamilyID+x.ClientID]++
	}
	for o, n := range owners {
		if n != 1 {
			t.Errorf("owner %s has %d entries", o, n)
		}
	}
}

func testStatusAssignConcurrently(t *testing.T, s storage.Store) {
	const n = 12
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seen = map[[2]int]bool{}
	)
	shared := storage.StatusOwner{ClientID: "shared"}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := storage.StatusOwner{FamilyID: uuid.NewString()}
			if i%3 == 0 {
				o = shared
			}
			e, err := s.AssignStatusEntry(t.Context(), o, tokenTime.Add(time.Duration(i)*time.Second), time.Time{}, statusListSize)
			if err != nil {
				t.Errorf("AssignStatusEntry: %v", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if o != shared && seen[[2]int{e.List, e.Index}] {
				t.Errorf("entry (%d,%d) given twice", e.List, e.Index)
			}
			seen[[2]int{e.List, e.Index}] = true
		}()
	}
	wg.Wait()
	if want := n - n/3 + 1; len(seen) != want {
		t.Errorf("%d entries given, want %d", len(seen), want)
	}
	e := assignStatus(t, s, shared, tokenTime, time.Time{})
	if want := tokenTime.Add(9 * time.Second).Truncate(time.Microsecond); !e.ExpiresAt.Equal(want) {
		t.Errorf("shared entry expires %v, want the latest, %v", e.ExpiresAt, want)
	}
}

func testStatusStates(t *testing.T, s storage.Store) {
	ctx := t.Context()
	u := mkUser(t, s, "stella")
	mkClient(t, s, "gaia-web")
	svc := mkClient(t, s, "svc")
	live := newFamily("gaia-web", u.ID)
	mkRefreshToken(t, s, live, "live", tokenTime)
	revoked := newFamily("gaia-web", u.ID)
	mkRefreshToken(t, s, revoked, "revoked", tokenTime)
	ok(t, "RevokeTokenFamily", s.RevokeTokenFamily(ctx, revoked.ID, tokenTime))
	missing := uuid.NewString()
	for _, o := range []storage.StatusOwner{{FamilyID: live.ID}, {FamilyID: revoked.ID}, {FamilyID: missing}, {ClientID: svc.ClientID}, {ClientID: "gone"}} {
		assignStatus(t, s, o, tokenTime, time.Time{})
	}
	st, err := s.StatusListStates(ctx, 0)
	ok(t, "StatusListStates", err)
	if len(st) != 5 {
		t.Fatalf("StatusListStates = %d entries, want 5", len(st))
	}
	type view struct {
		family, revoked, user, client bool
	}
	want := []view{{true, false, true, true}, {true, true, true, true}, {false, false, false, false}, {false, false, false, true}, {false, false, false, false}}
	for i, x := range st {
		got := view{x.Family != nil, x.Family != nil && !x.Family.RevokedAt.IsZero(), x.UserActive, x.ClientActive}
		if x.Index != i || got != want[i] {
			t.Errorf("entry %d = index %d %+v, want %+v", i, x.Index, got, want[i])
		}
	}
	if st[0].Family.Subject != u.ID || st[0].Family.ClientID != "gaia-web" {
		t.Errorf("family of entry 0 = %+v", st[0].Family)
	}

	// A disabled user, a disabled client.
	_, err = s.UpdateUser(ctx, u.ID, func(u *storage.User) error { u.Active = false; return nil })
	ok(t, "UpdateUser", err)
	_, err = s.UpdateClient(ctx, svc.ClientID, func(c *storage.Client) error { c.Active = false; return nil })
	ok(t, "UpdateClient", err)
	st, err = s.StatusListStates(ctx, 0)
	ok(t, "StatusListStates", err)
	if st[0].UserActive || st[3].ClientActive {
		t.Errorf("after disabling: user active %v, client active %v", st[0].UserActive, st[3].ClientActive)
	}
	ok(t, "DeleteUser", s.DeleteUser(ctx, u.ID))
	st, err = s.StatusListStates(ctx, 0)
	ok(t, "StatusListStates", err)
	if st[0].UserActive || st[0].Family == nil {
		t.Errorf("after deleting the user: %+v", st[0])
	}
	if st, err := s.StatusListStates(ctx, 7); err != nil || st == nil || len(st) != 0 {
		t.Errorf("StatusListStates(unknown) = %v, %v, want empty", st, err)
	}
}
