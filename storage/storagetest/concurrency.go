package storagetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gaia-platform/iam/storage"
)

var concurrencyCases = []testCase{
	{"UpdateUserNoLostWrites", testConcurrentUpdateUser},
	{"UpdateClientNoLostWrites", testConcurrentUpdateClient},
	{"LockSerializes", testConcurrentLock},
	{"MixedWriters", testConcurrentMixedWriters},
	{"CreateConfusableUsers", testConcurrentConfusableUsers},
}

// testConcurrentUpdateUser has 20 goroutines each append a token to one
// user's email at once: every token must survive.
func testConcurrentUpdateUser(t *testing.T, s storage.Store) {
	ctx := t.Context()
	u := mkUser(t, s, "alice")
	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, err := s.UpdateUser(ctx, u.ID, func(x *storage.User) error {
				x.Email += fmt.Sprintf("<%d>", i)
				return nil
			})
			if err != nil {
				t.Errorf("UpdateUser #%d: %v", i, err)
			}
		})
	}
	wg.Wait()
	got, err := s.GetUser(ctx, u.ID)
	ok(t, "GetUser", err)
	for i := range n {
		if tok := fmt.Sprintf("<%d>", i); !strings.Contains(got.Email, tok) {
			t.Errorf("Email = %q, want it to contain %s (lost write)", got.Email, tok)
		}
	}
}

// testConcurrentUpdateClient is testConcurrentUpdateUser for clients.
func testConcurrentUpdateClient(t *testing.T, s storage.Store) {
	ctx := t.Context()
	c := mkClient(t, s, "svc")
	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, err := s.UpdateClient(ctx, c.ClientID, func(x *storage.Client) error {
				x.Scopes = append(x.Scopes, fmt.Sprint(i))
				return nil
			})
			if err != nil {
				t.Errorf("UpdateClient #%d: %v", i, err)
			}
		})
	}
	wg.Wait()
	got, err := s.GetClient(ctx, c.ClientID)
	ok(t, "GetClient", err)
	if len(got.Scopes) != n+1 {
		t.Errorf("Scopes = %v, want openid and %d more (lost write)", got.Scopes, n)
	}
}

// testConcurrentLock has goroutines take the same named lock in their
// transactions: the critical sections must never overlap.
func testConcurrentLock(t *testing.T, s storage.Store) {
	ctx := t.Context()
	var inside, overlaps atomic.Int32
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Go(func() {
			for i := range 3 {
				err := s.InTx(ctx, func(ctx context.Context) error {
					if err := s.Lock(ctx, "x"); err != nil {
						return err
					}
					if inside.Add(1) != 1 {
						overlaps.Add(1)
					}
					time.Sleep(20 * time.Millisecond)
					inside.Add(-1)
					return nil
				})
				if err != nil {
					t.Errorf("goroutine %d, round %d: %v", g, i, err)
				}
			}
		})
	}
	wg.Wait()
	if n := overlaps.Load(); n != 0 {
		t.Errorf("critical sections under Lock(x) overlapped %d times, want 0", n)
	}
}

// testConcurrentMixedWriters has 16 goroutines write at once, in and out of
// transactions, while others read: none may fail (no "database is locked").
func testConcurrentMixedWriters(t *testing.T, s storage.Store) {
	ctx := t.Context()
	perm := mkPermission(t, s, "inventory.read")
	roles := []*storage.Role{mkRole(t, s, "A", perm), mkRole(t, s, "B", perm), mkRole(t, s, "C")}
	dept := mkDepartment(t, s, "INVENTORY", roles...)
	const goroutines, rounds = 16, 5
	users := make([]*storage.User, goroutines)
	for i := range users {
		users[i] = mkUser(t, s, fmt.Sprintf("user%d", i))
		ok(t, "AddUserDepartment", s.AddUserDepartment(ctx, users[i].ID, dept.ID))
	}
	shared := users[0] // updated by a quarter of the goroutines
	var wg sync.WaitGroup
	for g := range goroutines {
		own := users[g]
		wg.Go(func() {
			for i := range rounds {
				var err error
				switch g % 4 {
				case 0:
					_, err = s.UpdateUser(ctx, shared.ID, func(x *storage.User) error { x.Email += "."; return nil })
				case 1:
					r := roles[i%len(roles)]
					if err = s.AssignUserRole(ctx, own.ID, r.ID); err == nil {
						err = s.UnassignUserRole(ctx, own.ID, r.ID)
					}
				case 2:
					err = s.InTx(ctx, func(ctx context.Context) error {
						if err := s.SetRolePermissions(ctx, roles[2].ID, permIDs(perm)); err != nil {
							return err
						}
						r := roles[i%len(roles)]
						if err := s.AssignUserRole(ctx, own.ID, r.ID); err != nil {
							return err
						}
						if _, err := s.UserGrants(ctx, own.ID); err != nil {
							return err
						}
						return s.UnassignUserRole(ctx, own.ID, r.ID)
					})
				case 3:
					_, err = s.UserGrants(ctx, shared.ID)
					if err == nil {
						_, err = s.ListRoles(ctx)
					}
				}
				if err != nil {
					t.Errorf("goroutine %d, round %d: %v", g, i, err)
				}
			}
		})
	}
	wg.Wait()
	got, err := s.GetUser(ctx, shared.ID)
	ok(t, "GetUser", err)
	if want := shared.Email + strings.Repeat(".", goroutines/4*rounds); got.Email != want {
		t.Errorf("Email = %q, want %q", got.Email, want)
	}
}

// testConcurrentConfusableUsers has 16 goroutines create 16 look-alike
// usernames at once (each of a, c, e, o Latin or Cyrillic): the skeleton
// is unique, so exactly one may be stored, and the others are told why.
func testConcurrentConfusableUsers(t *testing.T, s storage.Store) {
	PanicAfter(t, 30*time.Second)
	ctx := t.Context()
	latin, cyrillic := []rune("aceo"), []rune("асео")
	const n = 16
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		name := make([]rune, len(latin))
		for j := range name {
			name[j] = latin[j]
			if i&(1<<j) != 0 {
				name[j] = cyrillic[j]
			}
		}
		wg.Go(func() {
			<-start
			errs[i] = s.CreateUser(ctx, &storage.User{Username: string(name)})
		})
	}
	close(start)
	wg.Wait()
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, storage.ErrConfusable):
			t.Errorf("CreateUser #%d = %v, want nil or ErrConfusable", i, err)
		}
	}
	if wins != 1 {
		t.Errorf("%d of %d concurrent look-alike usernames were stored, want 1", wins, n)
	}
}
