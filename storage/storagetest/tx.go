package storagetest

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/gaia-platform/iam/storage"
)

var txCases = []testCase{
	{"Commit", testTxCommit},
	{"Rollback", testTxRollback},
	{"Panic", testTxPanic},
	{"Nested", testTxNested},
	{"UpdateJoins", testTxUpdateJoins},
	{"Lock", testTxLock},
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

func testPing(t *testing.T, s storage.Store) {
	ok(t, "Ping", s.Ping(t.Context()))
}
