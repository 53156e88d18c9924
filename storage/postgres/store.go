// Package postgres is the storage backend for PostgreSQL, through a pgx
// connection pool. Several processes may share one database: updates lock
// the rows they rewrite, and Lock is a transaction-scoped advisory lock.
//
// As in any PostgreSQL transaction, a statement that fails inside InTx (or
// between Begin and Commit) aborts the transaction: every later statement
// in it fails too, so fn should return the error rather than carry on.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/gaia-platform/iam/migrations"
	"github.com/gaia-platform/iam/storage"
)

// Store is a storage.Store kept in a PostgreSQL database. It is safe for
// concurrent use.
type Store struct {
	pool *pgxpool.Pool
	log  *slog.Logger
}

var _ storage.Store = (*Store)(nil)

// Open connects to the database at url (a postgres:// URL or a key=value
// connection string, as pgx reads them) and checks that it answers. It does
// not migrate: call Migrate.
func Open(ctx context.Context, url string, log *slog.Logger) (*Store, error) {
	if log == nil {
		return nil, errors.New("open postgres: nil logger")
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres %s: %w", cfg.ConnConfig.Host, err)
	}
	log.LogAttrs(ctx, slog.LevelDebug, "postgres database open",
		slog.String("host", cfg.ConnConfig.Host), slog.String("database", cfg.ConnConfig.Database))
	return &Store{pool: pool, log: log}, nil
}

// Migrate brings the schema to the newest version. It holds an advisory
// lock while it does, so concurrent callers, in this process or another,
// wait and then find nothing left to do.
func (s *Store) Migrate(ctx context.Context) (migrations.Result, error) {
	db := stdlib.OpenDBFromPool(s.pool) // closing db leaves the pool open
	defer db.Close()
	return migrations.Up(ctx, db, migrations.Postgres, s.log)
}

// PendingMigrations reports whether the schema lacks migrations that
// Migrate would apply.
func (s *Store) PendingMigrations(ctx context.Context) (bool, error) {
	db := stdlib.OpenDBFromPool(s.pool)
	defer db.Close()
	return migrations.Pending(ctx, db, migrations.Postgres, s.log)
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping postgres: %w", err)
	}
	return nil
}

// Close closes every connection of the pool. It always returns nil.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
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
	tx pgx.Tx // never nil
	// owner reports whether this Begin started tx; a joined Begin's state
	// shares tx but ends nothing.
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
func (s *Store) tx(ctx context.Context) (pgx.Tx, error) {
	st := s.state(ctx)
	switch {
	case st == nil:
		return nil, nil
	case !st.usable():
		return nil, errTxEnded
	}
	return st.tx, nil
}

// querier is what *pgxpool.Pool and pgx.Tx have in common.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// errQuerier fails every statement with err.
type errQuerier struct{ err error }

func (q errQuerier) Exec(context.Context, string, ...any) (pgconn.CommandTag, error) {
	return pgconn.CommandTag{}, q.err
}

func (q errQuerier) Query(context.Context, string, ...any) (pgx.Rows, error) { return nil, q.err }

func (q errQuerier) QueryRow(context.Context, string, ...any) pgx.Row { return errRow(q) }

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// q returns what to run statements on: the transaction in ctx, or the pool.
// When the transaction in ctx has ended, every statement fails.
func (s *Store) q(ctx context.Context) querier {
	tx, err := s.tx(ctx)
	switch {
	case err != nil:
		return errQuerier{err}
	case tx != nil:
		return tx
	}
	return s.pool
}

// Begin starts a transaction (READ COMMITTED), or joins the one ctx
// carries.
func (s *Store) Begin(ctx context.Context) (context.Context, error) {
	if parent := s.state(ctx); parent != nil {
		if !parent.usable() {
			return ctx, fmt.Errorf("begin transaction: %w", errTxEnded)
		}
		return context.WithValue(ctx, txKey{s}, &txState{tx: parent.tx, root: parent.root}), nil
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return ctx, fmt.Errorf("begin transaction: %w", err)
	}
	st := &txState{tx: tx, owner: true}
	st.root = st
	return context.WithValue(ctx, txKey{s}, st), nil
}

// Commit commits the transaction Begin started in ctx; for a joined
// transaction it does nothing.
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
	// pgx ends the transaction, and returns the connection, whatever the
	// outcome; a transaction aborted by a failed statement rolls back and
	// fails with pgx.ErrTxCommitRollback.
	if err := st.tx.Commit(ctx); err != nil {
		st.end.Store(txCommitFailed)
		return fmt.Errorf("commit: %w", mapErr(err))
	}
	return nil
}

// Rollback rolls back the transaction Begin started in ctx, even when ctx
// has ended; for a joined transaction it does nothing. After a failed Commit
// it returns nil.
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
	// Roll back even when ctx has ended, so the connection goes back to
	// the pool clean; pgx closes it if that fails.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := st.tx.Rollback(ctx); err != nil && !errors.Is(err, pgx.ErrTxClosed) {
		return fmt.Errorf("rollback: %w", err)
	}
	return nil
}

// InTx runs fn in a transaction (READ COMMITTED), or in the one ctx
// already carries.
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
		s.log.LogAttrs(ctx, slog.LevelWarn, "postgres rollback failed", slog.Any("error", err))
	}
}

// Lock takes a transaction-scoped advisory lock on the 64-bit hash of name:
// it waits for any other transaction holding it, and is released when the
// transaction in ctx ends.
func (s *Store) Lock(ctx context.Context, name string) error {
	tx, err := s.tx(ctx)
	if err != nil {
		return fmt.Errorf("lock %q: %w", name, err)
	}
	if tx == nil {
		return fmt.Errorf("lock %q: no transaction in context", name)
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, name); err != nil {
		return fmt.Errorf("lock %q: %w", name, err)
	}
	return nil
}

// SQLSTATE codes mapped to storage errors.
const (
	foreignKeyViolation = "23503"
	uniqueViolation     = "23505"
)

// mapErr turns the driver's errors into the storage sentinels, keeping the
// driver's error in the chain for its message.
func mapErr(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.ErrNotFound
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && (pe.Code == uniqueViolation || pe.Code == foreignKeyViolation) {
		return fmt.Errorf("%w: %w", storage.ErrConflict, err)
	}
	return err
}

// affected returns ErrNotFound when a write matched no row.
func affected(tag pgconn.CommandTag) error {
	if tag.RowsAffected() == 0 {
		return storage.ErrNotFound
	}
	return nil
}
