// Package postgres is the storage backend for PostgreSQL, through a pgx
// connection pool. Several processes may share one database: updates lock
// the rows they rewrite, and Lock is a transaction-scoped advisory lock.
//
// As in any PostgreSQL transaction, a statement that fails inside InTx
// aborts the transaction: every later statement in it fails too, so fn
// should return the error rather than carry on.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
// a transaction of one store is never used by another.
type txKey struct{ s *Store }

// tx returns the transaction of s that ctx carries, or nil.
func (s *Store) tx(ctx context.Context) pgx.Tx {
	tx, _ := ctx.Value(txKey{s}).(pgx.Tx)
	return tx
}

// querier is what *pgxpool.Pool and pgx.Tx have in common.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// q returns what to run statements on: the transaction in ctx, or the pool.
func (s *Store) q(ctx context.Context) querier {
	if tx := s.tx(ctx); tx != nil {
		return tx
	}
	return s.pool
}

// InTx runs fn in a transaction (READ COMMITTED), or in the one ctx
// already carries.
func (s *Store) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if s.tx(ctx) != nil {
		return fn(ctx)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	done := false
	defer func() {
		if !done { // fn panicked or called runtime.Goexit; the panic goes on
			s.rollback(ctx, tx)
		}
	}()
	err = fn(context.WithValue(ctx, txKey{s}, tx))
	done = true
	if err != nil {
		s.rollback(ctx, tx)
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", mapErr(err))
	}
	return nil
}

func (s *Store) rollback(ctx context.Context, tx pgx.Tx) {
	// Roll back even when ctx has ended, so the connection goes back to
	// the pool clean; pgx closes it if that fails.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := tx.Rollback(ctx); err != nil && !errors.Is(err, pgx.ErrTxClosed) {
		s.log.LogAttrs(ctx, slog.LevelWarn, "postgres rollback failed", slog.Any("error", err))
	}
}

// Lock takes a transaction-scoped advisory lock on the 64-bit hash of name:
// it waits for any other transaction holding it, and is released when the
// transaction in ctx ends.
func (s *Store) Lock(ctx context.Context, name string) error {
	tx := s.tx(ctx)
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
