// Package migrations holds the versioned schema of each SQL dialect, embedded
// in the binary, and applies it with goose.
//
// goose was chosen over golang-migrate because its Provider API takes an
// fs.FS and a *sql.DB without globals, runs each migration in a transaction,
// and has a PostgreSQL session locker (an advisory lock) so that two
// processes starting at once do not both migrate.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// Dialect names a schema set.
type Dialect string

// The dialects with a schema.
const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// Result says what Up did.
type Result struct {
	From, To int64 // schema versions before and after
	Applied  int   // migrations applied by this call
}

// Up brings the schema of db to the newest version. On PostgreSQL it holds
// an advisory lock while it checks and migrates, so concurrent callers wait
// and then find nothing left to do.
func Up(ctx context.Context, db *sql.DB, d Dialect, log *slog.Logger) (Result, error) {
	p, err := newProvider(db, d, log)
	if err != nil {
		return Result{}, err
	}
	from, err := p.GetDBVersion(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("read schema version: %w", err)
	}
	applied, err := p.Up(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("migrate %s schema: %w", d, err)
	}
	to, err := p.GetDBVersion(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("read schema version: %w", err)
	}
	return Result{From: from, To: to, Applied: len(applied)}, nil
}

func newProvider(db *sql.DB, d Dialect, log *slog.Logger) (*goose.Provider, error) {
	sub, err := fs.Sub(files, string(d))
	if err != nil {
		return nil, fmt.Errorf("migrations for %s: %w", d, err)
	}
	opts := []goose.ProviderOption{goose.WithSlog(log), goose.WithGoMigrations(usernameSkeleton(d))}
	var gd goose.Dialect
	switch d {
	case Postgres:
		gd = goose.DialectPostgres
		// Retry every second (goose's default is every 5s) for up to 5 minutes.
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
		if err != nil {
			return nil, fmt.Errorf("migration lock: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	case SQLite:
		gd = goose.DialectSQLite3
	default:
		return nil, fmt.Errorf("no migrations for dialect %q", d)
	}
	p, err := goose.NewProvider(gd, db, sub, opts...)
	if err != nil {
		return nil, fmt.Errorf("migrations for %s: %w", d, err)
	}
	return p, nil
}

// Pending reports whether db lacks migrations that Up would apply.
func Pending(ctx context.Context, db *sql.DB, d Dialect, log *slog.Logger) (bool, error) {
	p, err := newProvider(db, d, log)
	if err != nil {
		return false, err
	}
	pending, err := p.HasPending(ctx)
	if err != nil {
		return false, fmt.Errorf("check %s schema version: %w", d, err)
	}
	return pending, nil
}
