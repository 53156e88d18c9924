package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/gaia-platform/iam/migrations"
	"github.com/gaia-platform/iam/storage"
	"github.com/gaia-platform/iam/storage/postgres"
	"github.com/gaia-platform/iam/storage/sqlite"
)

// backend is a store together with its schema.
type backend interface {
	storage.Store
	Migrate(ctx context.Context) (migrations.Result, error)
	PendingMigrations(ctx context.Context) (bool, error)
}

// openStore opens the backend GAIA_DATABASE_URL names: sqlite:PATH or a
// postgres:// (postgresql://) URL.
func openStore(ctx context.Context, databaseURL string, log *slog.Logger) (backend, error) {
	switch {
	case strings.HasPrefix(databaseURL, "sqlite:"):
		path := strings.TrimPrefix(databaseURL, "sqlite:")
		if path == "" {
			return nil, fmt.Errorf("database URL %q names no file", databaseURL)
		}
		return sqlite.Open(ctx, path, log)
	case strings.HasPrefix(databaseURL, "postgres://"), strings.HasPrefix(databaseURL, "postgresql://"):
		return postgres.Open(ctx, databaseURL, log)
	default:
		// The URL may hold a password: name only its scheme.
		scheme, _, _ := strings.Cut(databaseURL, ":")
		return nil, fmt.Errorf("database URL scheme %q is not supported: use sqlite:PATH or postgres://…", scheme)
	}
}

// migrateLogged brings the schema up to date and says what it did.
func migrateLogged(ctx context.Context, b backend, log *slog.Logger) (migrations.Result, error) {
	res, err := b.Migrate(ctx)
	if err != nil {
		return res, err
	}
	if res.Applied > 0 {
		log.InfoContext(ctx, "database schema migrated", "from_version", res.From, "to_version", res.To, "applied", res.Applied)
	}
	return res, nil
}

// openMigrated opens the store and brings its schema up to date; or, for a
// command that writes nothing (seed --dry-run, keys list), opens only a
// database that exists with its schema up to date, creating no file,
// directory or table.
func openMigrated(ctx context.Context, databaseURL string, log *slog.Logger, writeNothing bool) (backend, error) {
	if path, ok := strings.CutPrefix(databaseURL, "sqlite:"); ok && writeNothing {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("no database to read: run 'gaia-iam migrate' first (this command writes nothing): %w", err)
		}
	}
	store, err := openStore(ctx, databaseURL, log)
	if err != nil {
		return nil, err
	}
	if writeNothing {
		pending, err := store.PendingMigrations(ctx)
		if err == nil && pending {
			err = errors.New("the database schema is not up to date: run 'gaia-iam migrate' first (this command writes nothing)")
		}
		if err != nil {
			store.Close()
			return nil, err
		}
		return store, nil
	}
	if _, err := migrateLogged(ctx, store, log); err != nil {
		store.Close()
		return nil, err
	}
	return store, nil
}
