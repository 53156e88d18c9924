// Package postgres is the storage backend for PostgreSQL, through pgx's
// database/sql driver. Several processes may share one database: updates
// lock the rows they rewrite, and Lock is a transaction-scoped advisory
// lock.
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
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/gaia-platform/iam/migrations"
	"github.com/gaia-platform/iam/storage"
	"github.com/gaia-platform/iam/storage/sqlstore"
)

// Store is a storage.Store kept in a PostgreSQL database. It is safe for
// concurrent use.
type Store struct{ *sqlstore.Store }

var _ storage.Store = (*Store)(nil)

// Open connects to the database at url (a postgres:// URL or a key=value
// connection string, as pgx reads them, pool_max_conns included) and checks
// that it answers. It does not migrate: call Migrate.
func Open(ctx context.Context, url string, log *slog.Logger) (*Store, error) {
	if log == nil {
		return nil, errors.New("open postgres: nil logger")
	}
	// pgxpool's parser, for its pool_* settings and defaults (at most
	// max(4, CPUs) connections), which database/sql's pool then applies.
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	db := stdlib.OpenDB(*cfg.ConnConfig)
	db.SetMaxOpenConns(int(cfg.MaxConns))
	db.SetMaxIdleConns(int(cfg.MaxConns))
	db.SetConnMaxLifetime(cfg.MaxConnLifetime)
	db.SetConnMaxIdleTime(cfg.MaxConnIdleTime)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open postgres %s: %w", cfg.ConnConfig.Host, err)
	}
	s, err := sqlstore.New(db, newDialect(), log)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	log.LogAttrs(ctx, slog.LevelDebug, "postgres database open",
		slog.String("host", cfg.ConnConfig.Host), slog.String("database", cfg.ConnConfig.Database))
	return &Store{s}, nil
}

// newDialect returns PostgreSQL's part of the shared store: READ COMMITTED
// transactions with row locks where a row is read to be rewritten (FOR NO
// KEY UPDATE: it excludes other updates of the row but, unlike FOR UPDATE,
// not the inserts of rows that reference it), advisory locks for Lock,
// arrays for lists, and COLLATE "C" so that text sorts byte by byte, as Go
// and SQLite compare strings, whatever the database's collation.
func newDialect() *sqlstore.Dialect {
	// pgtype.Maps decode arrays but are not safe for concurrent use.
	maps := &sync.Pool{New: func() any { return pgtype.NewMap() }}
	return &sqlstore.Dialect{
		Name:       "postgres",
		Migrations: migrations.Postgres,
		Classify:   classify,
		Time:       func(t time.Time) any { return t },
		List:       list,
		ScanList:   func(l *[]string) any { return arrayDest{l, maps} },
		Collate:    ` COLLATE "C"`,
		ForUpdate:  ` FOR NO KEY UPDATE`,
		SkipLocked: ` FOR UPDATE SKIP LOCKED`,
		UUIDParam:  `::uuid`,
		SQL: sqlstore.Queries{
			// The 64-bit hash of the name.
			Lock: `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`,
			Grants: `SELECT
				ARRAY(SELECT r.name FROM %[1]s x JOIN roles r ON r.id = x.role_id
				      WHERE x.%[2]s = s.id ORDER BY r.name COLLATE "C"),
				ARRAY(SELECT DISTINCT p.name COLLATE "C"
				      FROM %[1]s x
				      JOIN role_permissions rp ON rp.role_id = x.role_id
				      JOIN permissions p ON p.id = rp.permission_id
				      WHERE x.%[2]s = s.id ORDER BY 1)
				FROM %[3]s s WHERE s.%[4]s = $1`,
			RemovePairs: `DELETE FROM %[1]s WHERE %[2]s = $1 AND %[3]s <> ALL($2::uuid[])`,
			AddPairs:    `INSERT INTO %[1]s (%[2]s, %[3]s) SELECT $1::uuid, unnest($2::uuid[]) ON CONFLICT DO NOTHING`,
			// FOR SHARE: the family before the token; see sqlstore's tokens.go.
			InsertRefreshToken: `INSERT INTO refresh_tokens (signature, family_id, active, expires_at, created_at, request)
				SELECT $1::text, id, true, $2::timestamptz, $3::timestamptz, $4::bytea FROM token_families
				WHERE id = $5 AND client_id = $6 AND subject = $7 AND revoked_at IS NULL
				FOR SHARE`,
			// The subquery locks the family before the UPDATE locks the token.
			DeactivateRefreshToken: `UPDATE refresh_tokens SET active = false, rotated_at = $2::timestamptz
				WHERE signature = $1 AND active AND family_id = (
					SELECT id FROM token_families
					WHERE id = (SELECT family_id FROM refresh_tokens WHERE signature = $1)
					FOR SHARE)`,
			GetThrottles: `SELECT key, failures, lockouts, window_start, locked_until, permanent, updated_at
				FROM login_throttles WHERE key = ANY($1::text[])`,
			AuditCutoff: `(now() - $1::bigint * interval '1 second')`,
		},
	}
}

// SQLSTATE codes mapped to storage errors.
const (
	foreignKeyViolation      = "23503"
	uniqueViolation          = "23505"
	characterNotInRepertoire = "22021" // invalid UTF-8, or a NUL, in text
	untranslatableCharacter  = "22P05"
)

// classify maps PostgreSQL's errors to the storage sentinels. The shared
// store refuses text that is not UTF-8 before it gets here; the encoding
// codes are what is left if one slips through.
func classify(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case uniqueViolation, foreignKeyViolation:
			return fmt.Errorf("%w: %w", storage.ErrConflict, err)
		case characterNotInRepertoire, untranslatableCharacter:
			return fmt.Errorf("%w: %w", storage.ErrInvalid, err)
		}
	}
	return err
}

// list returns l, or a non-nil empty slice for nil: the columns are NOT
// NULL, and pgx sends a nil slice as NULL.
func list(l []string) any {
	if l == nil {
		return []string{}
	}
	return l
}

// arrayDest scans a text[] (database/sql gets it as text) into l, with a
// pgtype.Map from maps.
type arrayDest struct {
	l    *[]string
	maps *sync.Pool
}

func (a arrayDest) Scan(v any) error {
	m := a.maps.Get().(*pgtype.Map)
	defer a.maps.Put(m)
	if err := m.SQLScanner(a.l).Scan(v); err != nil {
		return fmt.Errorf("stored list: %w", err)
	}
	if *a.l == nil {
		*a.l = []string{}
	}
	return nil
}
