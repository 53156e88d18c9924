package storagetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gaia-platform/iam/storage"
)

var txCases = []testCase{
	{"Commit", testTxCommit},
	{"Rollback", testTxRollback},
	{"Panic", testTxPanic},
	{"Nested", testTxNested},
	{"UpdateJoins", testTxUpdateJoins},
	{"Lock", testTxLock},
	{"BeginCommit", testTxBeginCommit},
	{"BeginRollback", testTxBeginRollback},
	{"BeginNested", testTxBeginNested},
	{"BeginEndTwice", testTxBeginEndTwice},
	{"BeginEndedContext", testTxBeginEndedContext},
	{"BeginRollbackAfterFailedCommit", testTxBeginRollbackAfterFailedCommit},
	{"Ping", testPing},
}

func testTxCommit(t *testing.T, s storage.Store) {
	ctx := t.Context()
	role := mkRole(t, s, "Viewer")
	var id string
	err := s.InTx(ctx, func(ctx context.Context) error {
		u := &storage.User{Username: "alice"}
		if err := s.CreateUser(ctx, u); err != nil {
			return err
		}
		id = u.ID
		// Reads in the transaction see its writes.
		if _, err := s.GetUserByUsername(ctx, "alice"); err != nil {
			return err
		}
		return s.AssignUserRole(ctx, u.ID, role.ID)
	})
	ok(t, "InTx", err)
	g, err := s.UserGrants(ctx, id)
	if err != nil || !slices.Equal(g.Roles, []string{"Viewer"}) {
		t.Errorf("UserGrants after InTx = %+v, %v, want [Viewer]", g, err)
	}
}

func testTxRollback(t *testing.T, s storage.Store) {
	ctx := t.Context()
	errStop := errors.New("stop")
	var id string
	err := s.InTx(ctx, func(ctx context.Context) error {
		u := &storage.User{Username: "alice"}
		if err := s.CreateUser(ctx, u); err != nil {
			return err
		}
		id = u.ID
		if err := s.CreateRole(ctx, &storage.Role{Name: "Viewer"}); err != nil {
			return err
		}
		return errStop
	})
	is(t, "InTx", err, errStop)
	_, err = s.GetUser(ctx, id)
	is(t, "GetUser after rollback", err, storage.ErrNotFound)
	_, err = s.GetRoleByName(ctx, "Viewer")
	is(t, "GetRoleByName after rollback", err, storage.ErrNotFound)
	mkUser(t, s, "alice") // the name is free
}

func testTxPanic(t *testing.T, s storage.Store) {
	ctx := t.Context()
	func() {
		defer func() {
			if p := recover(); p != "boom" {
				t.Errorf("InTx with fn panicking: recovered %v, want boom", p)
			}
		}()
		_ = s.InTx(ctx, func(ctx context.Context) error {
			if err := s.CreateUser(ctx, &storage.User{Username: "alice"}); err != nil {
				t.Errorf("CreateUser: %v", err)
			}
			panic("boom")
		})
	}()
	_, err := s.GetUserByUsername(ctx, "alice")
	is(t, "GetUserByUsername after panic", err, storage.ErrNotFound)
	// The store is still usable, in and out of transactions.
	mkUser(t, s, "alice")
	ok(t, "InTx after panic", s.InTx(ctx, func(ctx context.Context) error {
		return s.CreateUser(ctx, &storage.User{Username: "bob"})
	}))
}

func testTxNested(t *testing.T, s storage.Store) {
	ctx := t.Context()
	errStop := errors.New("stop")
	err := s.InTx(ctx, func(ctx context.Context) error {
		err := s.InTx(ctx, func(ctx context.Context) error {
			return s.CreateUser(ctx, &storage.User{Username: "alice"})
		})
		if err != nil {
			return err
		}
		if _, err := s.GetUserByUsername(ctx, "alice"); err != nil {
			return err
		}
		return errStop // the outer transaction rolls back the inner's work
	})
	is(t, "InTx", err, errStop)
	_, err = s.GetUserByUsername(ctx, "alice")
	is(t, "GetUserByUsername after the outer rollback", err, storage.ErrNotFound)

	// An error of the inner fn comes out of the outer InTx as is.
	err = s.InTx(ctx, func(ctx context.Context) error {
		return s.InTx(ctx, func(ctx context.Context) error { return errStop })
	})
	is(t, "InTx with the inner fn failing", err, errStop)
}

func testTxUpdateJoins(t *testing.T, s storage.Store) {
	ctx := t.Context()
	u := mkUser(t, s, "alice")
	errStop := errors.New("stop")
	err := s.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.UpdateUser(ctx, u.ID, func(x *storage.User) error { x.Email = "changed"; return nil }); err != nil {
			return err
		}
		if _, err := s.UpdateUser(ctx, u.ID, func(x *storage.User) error { x.Active = false; return nil }); err != nil {
			return err
		}
		return errStop
	})
	is(t, "InTx", err, errStop)
	stored, err := s.GetUser(ctx, u.ID)
	ok(t, "GetUser", err)
	if !sameUser(stored, u) {
		t.Errorf("GetUser after rolled-back updates = %+v, want %+v", stored, u)
	}
}

func testTxLock(t *testing.T, s storage.Store) {
	ctx := t.Context()
	if err := s.Lock(ctx, "seed"); err == nil {
		t.Errorf("Lock outside a transaction = nil, want an error")
	}
	ok(t, "InTx", s.InTx(ctx, func(ctx context.Context) error {
		if err := s.Lock(ctx, "seed"); err != nil {
			return err
		}
		if err := s.Lock(ctx, "seed"); err != nil { // again, in the same transaction
			return err
		}
		return s.Lock(ctx, "keys")
	}))
}

func testTxBeginCommit(t *testing.T, s storage.Store) {
	ctx := t.Context()
	role := mkRole(t, s, "Viewer")
	txCtx, err := s.Begin(ctx)
	ok(t, "Begin", err)
	u := &storage.User{Username: "alice"}
	ok(t, "CreateUser in the transaction", s.CreateUser(txCtx, u))
	// Reads in the transaction see its writes; reads outside do not, yet.
	_, err = s.GetUserByUsername(txCtx, "alice")
	ok(t, "GetUserByUsername in the transaction", err)
	_, err = s.GetUser(ctx, u.ID)
	is(t, "GetUser outside the transaction before Commit", err, storage.ErrNotFound)
	ok(t, "AssignUserRole in the transaction", s.AssignUserRole(txCtx, u.ID, role.ID))
	ok(t, "Commit", s.Commit(txCtx))
	g, err := s.UserGrants(ctx, u.ID)
	if err != nil || !slices.Equal(g.Roles, []string{"Viewer"}) {
		t.Errorf("UserGrants after Commit = %+v, %v, want [Viewer]", g, err)
	}
}

func testTxBeginRollback(t *testing.T, s storage.Store) {
	ctx := t.Context()
	txCtx, err := s.Begin(ctx)
	ok(t, "Begin", err)
	u := &storage.User{Username: "alice"}
	ok(t, "CreateUser in the transaction", s.CreateUser(txCtx, u))
	ok(t, "CreateRole in the transaction", s.CreateRole(txCtx, &storage.Role{Name: "Viewer"}))
	ok(t, "Rollback", s.Rollback(txCtx))
	_, err = s.GetUser(ctx, u.ID)
	is(t, "GetUser after Rollback", err, storage.ErrNotFound)
	_, err = s.GetRoleByName(ctx, "Viewer")
	is(t, "GetRoleByName after Rollback", err, storage.ErrNotFound)
	mkUser(t, s, "alice") // the name is free
}

func testTxBeginNested(t *testing.T, s storage.Store) {
	ctx := t.Context()

	// The inner Commit does nothing: rolling back the outer discards the
	// inner's writes.
	outer, err := s.Begin(ctx)
	ok(t, "Begin (outer)", err)
	inner, err := s.Begin(outer)
	ok(t, "Begin (inner)", err)
	ok(t, "CreateUser in the inner transaction", s.CreateUser(inner, &storage.User{Username: "alice"}))
	ok(t, "Commit (inner)", s.Commit(inner))
	if _, err := s.GetUserByUsername(inner, "alice"); err == nil {
		t.Errorf("GetUserByUsername with the inner context after its Commit = nil error, want an error")
	}
	_, err = s.GetUserByUsername(outer, "alice")
	ok(t, "GetUserByUsername in the outer transaction after the inner Commit", err)
	_, err = s.GetUserByUsername(ctx, "alice")
	is(t, "GetUserByUsername outside after the inner Commit", err, storage.ErrNotFound)
	ok(t, "Rollback (outer)", s.Rollback(outer))
	_, err = s.GetUserByUsername(ctx, "alice")
	is(t, "GetUserByUsername after the outer Rollback", err, storage.ErrNotFound)

	// The inner Rollback does nothing either: the outer commits the
	// inner's writes.
	outer, err = s.Begin(ctx)
	ok(t, "Begin (outer)", err)
	inner, err = s.Begin(outer)
	ok(t, "Begin (inner)", err)
	ok(t, "CreateUser in the inner transaction", s.CreateUser(inner, &storage.User{Username: "bob"}))
	ok(t, "Rollback (inner)", s.Rollback(inner))
	ok(t, "Commit (outer)", s.Commit(outer))
	_, err = s.GetUserByUsername(ctx, "bob")
	ok(t, "GetUserByUsername after the outer Commit", err)

	// An inner transaction cannot commit once the outer has ended.
	outer, err = s.Begin(ctx)
	ok(t, "Begin (outer)", err)
	inner, err = s.Begin(outer)
	ok(t, "Begin (inner)", err)
	ok(t, "Rollback (outer)", s.Rollback(outer))
	if err := s.Commit(inner); err == nil {
		t.Errorf("Commit (inner) after the outer Rollback = nil, want an error")
	}
	if err := s.CreateUser(inner, &storage.User{Username: "carol"}); err == nil {
		t.Errorf("CreateUser with the inner context after the outer Rollback = nil, want an error")
	}
	_, err = s.GetUserByUsername(ctx, "carol")
	is(t, "GetUserByUsername(carol)", err, storage.ErrNotFound)
}

// testTxBeginEndTwice ends transactions twice over, and then checks that the
// store still begins one at once: on SQLite, a write turn released twice or
// never would hang or time out.
func testTxBeginEndTwice(t *testing.T, s storage.Store) {
	ctx := t.Context()
	err := within(10*time.Second, func() error {
		for i := range 10 {
			txCtx, err := s.Begin(ctx)
			if err != nil {
				return fmt.Errorf("begin #%d: %w", i, err)
			}
			if err := s.CreateUser(txCtx, &storage.User{Username: fmt.Sprintf("user%d", i)}); err != nil {
				return fmt.Errorf("create user #%d: %w", i, err)
			}
			if err := s.Commit(txCtx); err != nil {
				return fmt.Errorf("commit #%d: %w", i, err)
			}
			if err := s.Commit(txCtx); err == nil {
				return fmt.Errorf("commit #%d again = nil, want an error", i)
			}
			if err := s.Rollback(txCtx); err == nil {
				return fmt.Errorf("rollback #%d after Commit = nil, want an error", i)
			}

			txCtx, err = s.Begin(ctx)
			if err != nil {
				return fmt.Errorf("begin #%d: %w", i, err)
			}
			if err := s.CreateUser(txCtx, &storage.User{Username: fmt.Sprintf("gone%d", i)}); err != nil {
				return fmt.Errorf("create user #%d: %w", i, err)
			}
			if err := s.Rollback(txCtx); err != nil {
				return fmt.Errorf("rollback #%d: %w", i, err)
			}
			if err := s.Rollback(txCtx); err == nil {
				return fmt.Errorf("rollback #%d again = nil, want an error", i)
			}
			if err := s.Commit(txCtx); err == nil {
				return fmt.Errorf("commit #%d after Rollback = nil, want an error", i)
			}
		}
		shortCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		return s.InTx(shortCtx, func(ctx context.Context) error {
			return s.CreateUser(ctx, &storage.User{Username: "last"})
		})
	})
	ok(t, "Begin, Commit and Rollback twice, then InTx", err)
	for i := range 10 {
		_, err := s.GetUserByUsername(ctx, fmt.Sprintf("user%d", i))
		ok(t, fmt.Sprintf("GetUserByUsername(user%d)", i), err)
		_, err = s.GetUserByUsername(ctx, fmt.Sprintf("gone%d", i))
		is(t, fmt.Sprintf("GetUserByUsername(gone%d)", i), err, storage.ErrNotFound)
	}
}

// testTxBeginEndedContext uses a context after its transaction ended: every
// method fails rather than run outside any transaction.
func testTxBeginEndedContext(t *testing.T, s storage.Store) {
	ctx := t.Context()
	alice := mkUser(t, s, "alice")
	for _, end := range []struct {
		name string
		fn   func(context.Context) error
	}{
		{"Commit", s.Commit},
		{"Rollback", s.Rollback},
	} {
		txCtx, err := s.Begin(ctx)
		ok(t, "Begin", err)
		ok(t, end.name, end.fn(txCtx))
		if _, err := s.GetUser(txCtx, alice.ID); err == nil || errors.Is(err, storage.ErrNotFound) {
			t.Errorf("GetUser after %s = %v, want an error other than ErrNotFound", end.name, err)
		}
		if _, err := s.ListRoles(txCtx); err == nil {
			t.Errorf("ListRoles after %s = nil error, want an error", end.name)
		}
		if err := s.CreateUser(txCtx, &storage.User{Username: "carol"}); err == nil {
			t.Errorf("CreateUser after %s = nil, want an error", end.name)
		}
		if _, err := s.UpdateUser(txCtx, alice.ID, func(u *storage.User) error { u.Email = "changed"; return nil }); err == nil {
			t.Errorf("UpdateUser after %s = nil error, want an error", end.name)
		}
		called := false
		if err := s.InTx(txCtx, func(context.Context) error { called = true; return nil }); err == nil || called {
			t.Errorf("InTx after %s = %v, fn called %v; want an error, fn not called", end.name, err, called)
		}
		if err := s.Lock(txCtx, "seed"); err == nil {
			t.Errorf("Lock after %s = nil, want an error", end.name)
		}
		if _, err := s.Begin(txCtx); err == nil {
			t.Errorf("Begin after %s = nil error, want an error", end.name)
		}
	}
	_, err := s.GetUserByUsername(ctx, "carol")
	is(t, "GetUserByUsername(carol)", err, storage.ErrNotFound)
	got, err := s.GetUser(ctx, alice.ID)
	ok(t, "GetUser", err)
	if !sameUser(got, alice) {
		t.Errorf("GetUser = %+v, want %+v", got, alice)
	}
}

// testTxBeginRollbackAfterFailedCommit makes Commit fail, by ending the
// context first, and then rolls back, as fosite does after an error.
func testTxBeginRollbackAfterFailedCommit(t *testing.T, s storage.Store) {
	ctx := t.Context()
	err := within(10*time.Second, func() error {
		reqCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		txCtx, err := s.Begin(reqCtx)
		if err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		if err := s.CreateUser(txCtx, &storage.User{Username: "alice"}); err != nil {
			return fmt.Errorf("create user: %w", err)
		}
		cancel()
		if err := s.Commit(txCtx); err == nil {
			return errors.New("commit with the context ended = nil, want an error")
		}
		if err := s.Rollback(txCtx); err != nil {
			return fmt.Errorf("rollback after a failed Commit = %w, want nil", err)
		}
		shortCtx, cancelShort := context.WithTimeout(ctx, 2*time.Second)
		defer cancelShort()
		return s.InTx(shortCtx, func(ctx context.Context) error {
			return s.CreateUser(ctx, &storage.User{Username: "bob"})
		})
	})
	ok(t, "Begin, failed Commit, Rollback, then InTx", err)
	_, err = s.GetUserByUsername(ctx, "alice")
	is(t, "GetUserByUsername(alice)", err, storage.ErrNotFound)
	_, err = s.GetUserByUsername(ctx, "bob")
	ok(t, "GetUserByUsername(bob)", err)
}

// within runs fn and returns its error, or an error once d has passed: a
// test then fails rather than hangs on a stuck write turn.
func within(d time.Duration, fn func() error) error {
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		return fmt.Errorf("still running after %v", d)
	}
}

func testPing(t *testing.T, s storage.Store) {
	ok(t, "Ping", s.Ping(t.Context()))
}
