// Package sqlite is the embedded storage backend: one SQLite file, opened
// with the pure-Go driver modernc.org/sqlite, so the binary needs no cgo.
//
// The database runs in WAL mode, so readers never wait for the writer. Every
// transaction begins IMMEDIATE: it takes SQLite's single write lock at BEGIN,
// instead of upgrading a read lock on its first write, which fails at once
// with SQLITE_BUSY when another connection wrote in between (busy_timeout
// does not retry an upgrade). Within one process, writers also queue in Go
// for their turn, first come, first served, rather than poll SQLite's lock;
// busy_timeout covers the writers of other processes.
//
// Values are stored as the schema in migrations/sqlite describes: UUIDs as
// canonical text, timestamps as RFC 3339 text in UTC with a fixed-width
// fraction (so that they sort as text), booleans as 0 and 1, string lists as
// JSON arrays.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/gaia-platform/iam/migrations"
	"github.com/gaia-platform/iam/storage"
)

const (
	// busyTimeout is how long SQLite waits for a lock held by another
	// process before it fails with SQLITE_BUSY.
	busyTimeout = 5 * time.Second
	// writerWait bounds the wait for this process's write turn. It is only
	// reached when the turn is never released, typically because a method
	// was called, inside a transaction, with a context other than the one
	// fn got or Begin returned, or a Begin was never followed by Commit or
	// Rollback.
	writerWait = 30 * time.Second
)

// Store is a storage.Store kept in one SQLite file. It is safe for
// concurrent use.
type Store struct {
	db  *sql.DB
	log *slog.Logger
	// writer holds a token while a write runs in this process: a transaction
	// from BEGIN to its end, or a write statement outside one.
	writer chan struct{}
}

var _ storage.Store = (*Store)(nil)

// Open opens the SQLite database at path, creating the file and its parent
// directory (mode 0700) when missing. It does not migrate: call Migrate.
func Open(ctx context.Context, path string, log *slog.Logger) (*Store, error) {
	if log == nil {
		return nil, errors.New("open sqlite: nil logger")
	}
	// The driver reads everything after '?' as parameters, and takes
	// "file:" names and ":memory:" as something other than a file path.
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") || strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("open sqlite: %q is not a file path", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	// The file holds password hashes: create it readable by its owner only.
	// SQLite gives its -wal and -shm files the same mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	f.Close()
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	// The driver runs SQLite on the calling goroutine, so connections beyond
	// a few per CPU add memory, not speed. Idle ones are kept: a new one
	// reruns the pragmas and starts with a cold page cache.
	conns := max(4, 2*runtime.GOMAXPROCS(0))
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	log.LogAttrs(ctx, slog.LevelDebug, "sqlite database open", slog.String("path", path))
	return &Store{db: db, log: log, writer: make(chan struct{}, 1)}, nil
}

// Migrate brings the schema to the newest version.
func (s *Store) Migrate(ctx context.Context) (migrations.Result, error) {
	return migrations.Up(ctx, s.db, migrations.SQLite, s.log)
}

// PendingMigrations reports whether the schema lacks migrations that
// Migrate would apply.
func (s *Store) PendingMigrations(ctx context.Context) (bool, error) {
	return migrations.Pending(ctx, s.db, migrations.SQLite, s.log)
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping sqlite: %w", err)
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error {
	return s.db.Close()
}

// txKey is the context key of a transaction of the Store it names, so that
// a transaction of one store is never used by another. Its value is a
// *txState.
type txKey struct{ s *Store }

// errTxEnded is returned when a context's transaction has been committed or
// rolled back: its statements must not run outside any transaction.
var errTxEnded = errors.New("transaction already ended")

// How a txState ended.
const (
	txOpen int32 = iota
	txCommitted
	txRolledBack
	txCommitFailed
)

// txState is what a context carries between Begin and Commit or Rollback.
type txState struct {
	tx *sql.Tx // never nil
	// owner reports whether this Begin started tx (and holds the write
	// turn); a joined Begin's state shares tx but ends nothing.
	owner bool
	root  *txState     // the owner's state; itself for the owner; never nil
	end   atomic.Int32 // txOpen until Commit or Rollback claims it
}

// usable reports whether statements may run in st's transaction: neither
// st nor the owner's state has ended.
func (st *txState) usable() bool {
	return st.end.Load() == txOpen && st.root.end.Load() == txOpen
}

// state returns the transaction state of s that ctx carries, or nil.
func (s *Store) state(ctx context.Context) *txState {
	st, _ := ctx.Value(txKey{s}).(*txState)
	return st
}

// tx returns the transaction of s that ctx carries, or nil when it carries
// none. It returns errTxEnded when that transaction has ended.
func (s *Store) tx(ctx context.Context) (*sql.Tx, error) {
	st := s.state(ctx)
	switch {
	case st == nil:
		return nil, nil
	case !st.usable():
		return nil, errTxEnded
	}
	return st.tx, nil
}

// querier is what *sql.DB and *sql.Tx have in common, with QueryRowContext
// returning a scanner so that an ended transaction can answer with an error.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) scanner
}

type dbQuerier struct{ *sql.DB }

func (q dbQuerier) QueryRowContext(ctx context.Context, query string, args ...any) scanner {
	return q.DB.QueryRowContext(ctx, query, args...)
}

type txQuerier struct{ *sql.Tx }

func (q txQuerier) QueryRowContext(ctx context.Context, query string, args ...any) scanner {
	return q.Tx.QueryRowContext(ctx, query, args...)
}

// errQuerier fails every statement with err.
type errQuerier struct{ err error }

func (q errQuerier) ExecContext(context.Context, string, ...any) (sql.Result, error) {
	return nil, q.err
}

func (q errQuerier) QueryContext(context.Context, string, ...any) (*sql.Rows, error) {
	return nil, q.err
}

func (q errQuerier) QueryRowContext(context.Context, string, ...any) scanner { return errRow(q) }

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// q returns what to read with: the transaction in ctx, or the database. When
// the transaction in ctx has ended, every statement fails.
func (s *Store) q(ctx context.Context) querier {
	tx, err := s.tx(ctx)
	switch {
	case err != nil:
		return errQuerier{err}
	case tx != nil:
		return txQuerier{tx}
	}
	return dbQuerier{s.db}
}

// exec runs a write statement in the transaction in ctx or, when there is
// none, on its own in this process's write turn.
func (s *Store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	tx, err := s.tx(ctx)
	if err != nil {
		return nil, err
	}
	if tx != nil {
		return tx.ExecContext(ctx, query, args...)
	}
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.release()
	return s.db.ExecContext(ctx, query, args...)
}

// acquire waits for this process's write turn; release ends it. Go wakes
// blocked senders in order, so writers are served first come, first served.
func (s *Store) acquire(ctx context.Context) error {
	select {
	case s.writer <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(writerWait)
	defer t.Stop()
	select {
	case s.writer <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for write lock: %w", ctx.Err())
	case <-t.C:
		return fmt.Errorf("wait for write lock: still held after %v", writerWait)
	}
}

func (s *Store) release() { <-s.writer }

// Begin starts a transaction, IMMEDIATE, in this process's write turn, which
// it holds until Commit or Rollback; or it joins the transaction ctx carries.
func (s *Store) Begin(ctx context.Context) (context.Context, error) {
	if parent := s.state(ctx); parent != nil {
		if !parent.usable() {
			return ctx, fmt.Errorf("begin transaction: %w", errTxEnded)
		}
		return context.WithValue(ctx, txKey{s}, &txState{tx: parent.tx, root: parent.root}), nil
	}
	if err := s.acquire(ctx); err != nil {
		return ctx, fmt.Errorf("begin transaction: %w", err)
	}
	tx, err := s.db.BeginTx(ctx, nil) // BEGIN IMMEDIATE, from _txlock
	if err != nil {
		s.release()
		return ctx, fmt.Errorf("begin transaction: %w", err)
	}
	st := &txState{tx: tx, owner: true}
	st.root = st
	return context.WithValue(ctx, txKey{s}, st), nil
}

// Commit commits the transaction Begin started in ctx and ends the write
// turn; for a joined transaction it does nothing.
func (s *Store) Commit(ctx context.Context) error {
	st := s.state(ctx)
	if st == nil {
		return errors.New("commit: no transaction in context")
	}
	if !st.end.CompareAndSwap(txOpen, txCommitted) {
		return fmt.Errorf("commit: %w", errTxEnded)
	}
	if !st.owner {
		if st.root.end.Load() != txOpen {
			return fmt.Errorf("commit: %w", errTxEnded)
		}
		return nil
	}
	defer s.release()
	if err := st.tx.Commit(); err != nil {
		st.end.Store(txCommitFailed)
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Rollback rolls back the transaction Begin started in ctx and ends the
// write turn; for a joined transaction it does nothing. After a failed
// Commit it returns nil.
func (s *Store) Rollback(ctx context.Context) error {
	st := s.state(ctx)
	if st == nil {
		return errors.New("rollback: no transaction in context")
	}
	if !st.end.CompareAndSwap(txOpen, txRolledBack) {
		if st.end.Load() == txCommitFailed {
			return nil
		}
		return fmt.Errorf("rollback: %w", errTxEnded)
	}
	if !st.owner {
		return nil
	}
	defer s.release()
	// ErrTxDone: database/sql already rolled back when ctx ended.
	if err := st.tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		return fmt.Errorf("rollback: %w", err)
	}
	return nil
}

// InTx runs fn in a transaction, or in the one ctx already carries.
func (s *Store) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	txCtx, err := s.Begin(ctx)
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done { // fn panicked or called runtime.Goexit; the panic goes on
			s.rollback(txCtx)
		}
	}()
	err = fn(txCtx)
	done = true
	if err != nil {
		s.rollback(txCtx)
		return err
	}
	return s.Commit(txCtx)
}

// rollback rolls back for InTx, which returns fn's error: a failure to roll
// back is only logged.
func (s *Store) rollback(ctx context.Context) {
	if err := s.Rollback(ctx); err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "sqlite rollback failed", slog.Any("error", err))
	}
}

// Lock requires a transaction in ctx and takes no further lock: every
// transaction of this backend begins IMMEDIATE and so holds SQLite's one
// write lock until it ends, which already excludes every other transaction,
// in this process or another, whatever name it locks.
func (s *Store) Lock(ctx context.Context, name string) error {
	tx, err := s.tx(ctx)
	if err != nil {
		return fmt.Errorf("lock %q: %w", name, err)
	}
	if tx == nil {
		return fmt.Errorf("lock %q: no transaction in context", name)
	}
	return nil
}

// mapErr turns the driver's errors into the storage sentinels, keeping the
// driver's error in the chain for its message.
func mapErr(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return storage.ErrNotFound
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE,
			sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY,
			sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%w: %w", storage.ErrConflict, err)
		}
	}
	return err
}

// affected returns ErrNotFound when a write matched no row.
func affected(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return storage.ErrNotFound
	}
	return nil
}

// timeFormat is how timestamps are stored: RFC 3339 in UTC with a
// fixed-width fraction, so that text order is time order.
const timeFormat = "2006-01-02T15:04:05.000000000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeFormat) }

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("stored timestamp: %w", err)
	}
	return t.UTC(), nil
}
