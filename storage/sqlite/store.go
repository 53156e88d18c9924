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
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/gaia-platform/iam/migrations"
	"github.com/gaia-platform/iam/storage"
	"github.com/gaia-platform/iam/storage/sqlstore"
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
type Store struct{ *sqlstore.Store }

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
	s, err := sqlstore.New(db, newDialect(), log)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	return &Store{s}, nil
}

// newDialect returns SQLite's part of the shared store. Every transaction holds
// SQLite's one write lock from BEGIN IMMEDIATE to its end, which already
// excludes every other writer, in this process or another: so no row
// locks, and Lock takes no further lock. Text sorts byte-wise (BINARY,
// SQLite's default collation, compares bytes).
func newDialect() *sqlstore.Dialect {
	return &sqlstore.Dialect{
		Name:         "sqlite",
		Migrations:   migrations.SQLite,
		Classify:     classify,
		SingleWriter: true,
		WriterWait:   writerWait,
		Time:         func(t time.Time) any { return t.UTC().Format(timeFormat) },
		List:         func(l []string) any { return encodeList(l) },
		ScanList:     func(l *[]string) any { return jsonList{l} },
		SQL: sqlstore.Queries{
			Lock: "-",
			Grants: `SELECT
				(SELECT json_group_array(r.name ORDER BY r.name)
				 FROM %[1]s x JOIN roles r ON r.id = x.role_id
				 WHERE x.%[2]s = s.id),
				(SELECT json_group_array(DISTINCT p.name ORDER BY p.name)
				 FROM %[1]s x
				 JOIN role_permissions rp ON rp.role_id = x.role_id
				 JOIN permissions p ON p.id = rp.permission_id
				 WHERE x.%[2]s = s.id)
				FROM %[3]s s WHERE s.%[4]s = $1`,
			RemovePairs: `DELETE FROM %[1]s WHERE %[2]s = $1 AND %[3]s NOT IN (SELECT value FROM json_each($2))`,
			// WHERE true: without it SQLite would read ON CONFLICT as a join's ON.
			AddPairs: `INSERT INTO %[1]s (%[2]s, %[3]s) SELECT $1, value FROM json_each($2) WHERE true ON CONFLICT DO NOTHING`,
			InsertRefreshToken: `INSERT INTO refresh_tokens (signature, family_id, active, expires_at, created_at, request)
				SELECT $1, id, 1, $2, $3, $4 FROM token_families
				WHERE id = $5 AND client_id = $6 AND subject = $7 AND revoked_at IS NULL`,
			DeactivateRefreshToken: `UPDATE refresh_tokens SET active = 0, rotated_at = $2 WHERE signature = $1 AND active = 1`,
			GetThrottles: `SELECT key, failures, lockouts, window_start, locked_until, permanent, updated_at
				FROM login_throttles WHERE key IN (SELECT value FROM json_each($1))`,
			AuditCutoff: `(strftime('%Y-%m-%dT%H:%M:%f', 'now', '-' || $1 || ' seconds') || '000000Z')`,
		},
	}
}

// classify maps SQLite's constraint errors to storage.ErrConflict. A
// trigger's refusal is one too: the one an INSERT can fire,
// audit_events_no_replace, means that the ID is taken (it fires before the
// primary key would).
func classify(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE,
			sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY,
			sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY,
			sqlite3.SQLITE_CONSTRAINT_TRIGGER:
			return fmt.Errorf("%w: %w", storage.ErrConflict, err)
		}
	}
	return err
}

// timeFormat is how timestamps are stored: RFC 3339 in UTC with a
// fixed-width fraction, so that text order is time order.
const timeFormat = "2006-01-02T15:04:05.000000000Z"

// encodeList returns the JSON array of l; nil is the empty array.
func encodeList(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(l) // a []string always marshals
	return string(b)
}

// jsonList scans a stored JSON array of strings into l.
type jsonList struct{ l *[]string }

func (j jsonList) Scan(v any) error {
	var b []byte
	switch v := v.(type) {
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("stored list: unexpected %T", v)
	}
	if err := json.Unmarshal(b, j.l); err != nil {
		return fmt.Errorf("stored list: %w", err)
	}
	return nil
}
