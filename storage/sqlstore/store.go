// Package sqlstore is the one implementation of storage.Store over
// database/sql, shared by the sqlite and postgres backends. Everything
// that is the same on both is here, once: the transaction carried in the
// context, row scanning, input checks, the compare-and-swap and revocation
// logic and the mapping of errors to the storage sentinels. A backend is a
// Dialect: the SQL that differs, the few behaviours that truly differ (one
// writer at a time on SQLite, advisory and row locks on PostgreSQL) and how
// it stores times and lists.
//
// SQL is written with $1, $2 … placeholders, which PostgreSQL and SQLite
// (through modernc.org/sqlite, which binds $N to the Nth argument) both
// read; a statement that only the dialect can write is a Dialect field.
// Adding a table is a Go method here and, where the SQL differs, one
// string in each backend's Dialect.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gaia-platform/iam/migrations"
	"github.com/gaia-platform/iam/storage"
)

// Dialect is what a backend tells the shared code: data, and the few
// behaviours that differ.
type Dialect struct {
	Name       string             // "sqlite" or "postgres", for log messages
	Migrations migrations.Dialect // the schema's migrations
	// Classify returns err, a driver error, wrapped in the storage sentinel
	// it means (a unique or foreign-key violation is storage.ErrConflict),
	// or as is. It never sees sql.ErrNoRows.
	Classify func(err error) error
	// SingleWriter reports whether the database takes one writer at a
	// time (SQLite): this process's writes then queue in Go for their turn,
	// first come first served, instead of polling the database's lock.
	SingleWriter bool
	// WriterWait bounds the wait for the write turn (SingleWriter only).
	WriterWait time.Duration
	// Time is a timestamp as the database stores it.
	Time func(time.Time) any
	// List is a list of strings as an argument; ScanList is the scan
	// destination that reads one into l (a non-nil slice).
	List     func(l []string) any
	ScanList func(l *[]string) any

	// SQL fragments appended where the dialect needs them; empty where not.
	Collate    string // after a text expression compared or sorted byte-wise, e.g. ` COLLATE "C"`
	ForUpdate  string // after a SELECT of a row the transaction will update
	SkipLocked string // after a SELECT of rows to delete, skipping those others lock
	UUIDParam  string // after a placeholder whose type the database cannot infer

	SQL Queries
}

// Queries are the statements each dialect writes its own way. Templates
// (the fields that say so) are fmt formats filled with table and column
// names, never input. Every field is required.
type Queries struct {
	// Lock takes an exclusive lock named $1 until the transaction ends.
	// "-" means none is needed: every transaction already holds the
	// database's one write lock.
	Lock string
	// Grants selects, for the subject whose key is $1, one row: a list
	// (ScanList) of its role names, and one of their permission names,
	// each sorted byte-wise and free of duplicates; no row for no subject.
	// Template: %[1]s the assignment table, %[2]s its subject column,
	// %[3]s the subject table, %[4]s that table's key column.
	Grants string
	// RemovePairs deletes the rows of a mapping table whose owner is $1
	// and whose member is not in the list $2 (List). AddPairs inserts the
	// missing ones. Templates: %[1]s the table, %[2]s the owner column,
	// %[3]s the member column.
	RemovePairs, AddPairs string
	// InsertRefreshToken inserts a token ($1 signature, $2 expires, $3
	// created, $4 request) in the family $5 when it belongs to client $6
	// and subject $7 and is live, locking the family against revocation.
	InsertRefreshToken string
	// DeactivateRefreshToken sets the token $1 inactive, rotated at $2, if
	// it is active: the compare-and-swap of rotation. It takes the family's
	// lock before the token's, if it takes locks.
	DeactivateRefreshToken string
	// GetThrottles selects the login_throttles columns key, failures,
	// lockouts, window_start, locked_until, permanent and updated_at of the
	// rows whose key is in the list $1 (List).
	GetThrottles string
	// AuditCutoff is an expression of the time before which audit events
	// are older than $1 seconds, by the database's clock, comparable with
	// occurred_at exactly as the schema's DELETE trigger computes it.
	AuditCutoff string
}

// Store is a storage.Store over a database/sql database. It is safe for
// concurrent use.
type Store struct {
	db  *sql.DB
	d   *Dialect
	log *slog.Logger
	// writer holds a token while a write runs in this process (SingleWriter
	// only): a transaction from BEGIN to its end, or a write statement
	// outside one.
	writer chan struct{}
	built  built
}

// built holds the statements New fills in from the dialect's templates.
type built struct {
	userGrants, clientGrants   string
	rolePermissions, deptRoles pairs
}

// pairs are the statements of setPairs for one mapping table.
type pairs struct{ lock, remove, add string }

var _ storage.Store = (*Store)(nil)

// New returns a store on db, which it closes on Close.
func New(db *sql.DB, d *Dialect, log *slog.Logger) (*Store, error) {
	if db == nil || d == nil || log == nil || d.Classify == nil || d.Time == nil || d.List == nil || d.ScanList == nil {
		return nil, errors.New("sqlstore: nil database, dialect or logger")
	}
	q := reflect.ValueOf(d.SQL)
	for i := range q.NumField() {
		if q.Field(i).String() == "" {
			return nil, fmt.Errorf("sqlstore: dialect %s has no %s", d.Name, q.Type().Field(i).Name)
		}
	}
	mk := func(owner, table, ownerCol, memberCol string) pairs {
		return pairs{
			lock:   `SELECT 1 FROM ` + owner + ` WHERE id = $1` + d.ForUpdate,
			remove: fmt.Sprintf(d.SQL.RemovePairs, table, ownerCol, memberCol),
			add:    fmt.Sprintf(d.SQL.AddPairs, table, ownerCol, memberCol),
		}
	}
	return &Store{db: db, d: d, log: log, writer: make(chan struct{}, 1), built: built{
		userGrants:      fmt.Sprintf(d.SQL.Grants, "user_roles", "user_id", "users", "id"),
		clientGrants:    fmt.Sprintf(d.SQL.Grants, "client_roles", "client_id", "clients", "client_id"),
		rolePermissions: mk("roles", "role_permissions", "role_id", "permission_id"),
		deptRoles:       mk("departments", "department_allowed_roles", "department_id", "role_id"),
	}}, nil
}

// Migrate brings the schema to the newest version. Concurrent callers, in
// this process or another, wait for one another (goose locks the database)
// and then find nothing left to do.
func (s *Store) Migrate(ctx context.Context) (migrations.Result, error) {
	return migrations.Up(ctx, s.db, s.d.Migrations, s.log)
}

// PendingMigrations reports whether the schema lacks migrations that
// Migrate would apply.
func (s *Store) PendingMigrations(ctx context.Context) (bool, error) {
	return migrations.Pending(ctx, s.db, s.d.Migrations, s.log)
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping %s: %w", s.d.Name, err)
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Stats reports the connection pool's use, for metrics.
func (s *Store) Stats() sql.DBStats { return s.db.Stats() }

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

// query runs a statement that returns rows, in the transaction in ctx or
// on its own.
func (s *Store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	tx, err := s.tx(ctx)
	switch {
	case err != nil:
		return nil, err
	case tx != nil:
		return tx.QueryContext(ctx, query, args...)
	}
	return s.db.QueryContext(ctx, query, args...)
}

// row runs a statement that returns one row and scans it into dest; no row
// is storage.ErrNotFound.
func (s *Store) row(ctx context.Context, query string, args []any, dest ...any) error {
	tx, err := s.tx(ctx)
	if err != nil {
		return err
	}
	var r *sql.Row
	if tx != nil {
		r = tx.QueryRowContext(ctx, query, args...)
	} else {
		r = s.db.QueryRowContext(ctx, query, args...)
	}
	return s.classify(r.Scan(dest...))
}

// exec runs a write statement in the transaction in ctx or, when there is
// none, on its own (in this process's write turn, for a SingleWriter), and
// returns how many rows it changed.
func (s *Store) exec(ctx context.Context, query string, args ...any) (int64, error) {
	tx, err := s.tx(ctx)
	if err != nil {
		return 0, err
	}
	var res sql.Result
	if tx != nil {
		res, err = tx.ExecContext(ctx, query, args...)
	} else {
		if err := s.acquire(ctx); err != nil {
			return 0, err
		}
		res, err = s.db.ExecContext(ctx, query, args...)
		s.release()
	}
	if err != nil {
		return 0, s.classify(err)
	}
	return res.RowsAffected()
}

// execOne is exec for a statement that must change a row: none is
// storage.ErrNotFound.
func (s *Store) execOne(ctx context.Context, query string, args ...any) error {
	n, err := s.exec(ctx, query, args...)
	if err == nil && n == 0 {
		err = storage.ErrNotFound
	}
	return err
}

// execEach runs each statement with the one argument arg, in one
// transaction (or the one ctx carries), and returns how many rows they
// changed together: the shape of the purges.
func (s *Store) execEach(ctx context.Context, arg any, queries ...string) (int64, error) {
	var total int64
	err := s.InTx(ctx, func(ctx context.Context) error {
		for _, q := range queries {
			n, err := s.exec(ctx, q, arg)
			if err != nil {
				return err
			}
			total += n
		}
		return nil
	})
	return total, err
}

// classify turns the driver's errors into the storage sentinels, keeping the
// driver's error in the chain for its message.
func (s *Store) classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return storage.ErrNotFound
	}
	return s.d.Classify(err)
}

// acquire waits for this process's write turn, when the dialect has one;
// release ends it. Go wakes blocked senders in order, so writers are served
// first come, first served.
func (s *Store) acquire(ctx context.Context) error {
	if !s.d.SingleWriter {
		return nil
	}
	select {
	case s.writer <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(s.d.WriterWait)
	defer t.Stop()
	select {
	case s.writer <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for write lock: %w", ctx.Err())
	case <-t.C:
		return fmt.Errorf("wait for write lock: still held after %v", s.d.WriterWait)
	}
}

func (s *Store) release() {
	if s.d.SingleWriter {
		<-s.writer
	}
}

// Begin starts a transaction, or joins the one ctx carries. A SingleWriter
// holds its write turn from here until Commit or Rollback.
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
	tx, err := s.db.BeginTx(ctx, nil)
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
	// The transaction ends whatever the outcome; on PostgreSQL, one aborted
	// by a failed statement rolls back and fails.
	if err := st.tx.Commit(); err != nil {
		st.end.Store(txCommitFailed)
		return fmt.Errorf("commit: %w", s.classify(err))
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
		s.log.LogAttrs(ctx, slog.LevelWarn, s.d.Name+" rollback failed", slog.Any("error", err))
	}
}

// Lock takes the dialect's lock named name until the transaction in ctx
// ends; it requires one.
func (s *Store) Lock(ctx context.Context, name string) error {
	tx, err := s.tx(ctx)
	if err == nil && tx == nil {
		err = errors.New("no transaction in context")
	}
	if err == nil && s.d.SQL.Lock != "-" {
		_, err = tx.ExecContext(ctx, s.d.SQL.Lock, name)
	}
	if err != nil {
		return fmt.Errorf("lock %q: %w", name, err)
	}
	return nil
}

// key returns the canonical form of the UUID id, which names a row; text
// that is not UTF-8 or holds a NUL is storage.ErrInvalid, and any other
// string that is not a UUID is notUUID (which no row has).
func key(what, id string, notUUID error) (string, error) {
	if err := storage.CheckText(what, id); err != nil {
		return "", err
	}
	k, ok := storage.CanonicalID(id)
	if !ok {
		return "", notUUID
	}
	return k, nil
}

// checkText checks strings given by a caller, in pairs of name and value,
// with storage.CheckText.
func checkText(nameValues ...string) error {
	for i := 0; i+1 < len(nameValues); i += 2 {
		if err := storage.CheckText(nameValues[i], nameValues[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// nullTime is t as the dialect stores it, or NULL for the zero time.
func (s *Store) nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return s.d.Time(t)
}

// timeDest scans a timestamp, as time.Time (PostgreSQL) or as RFC 3339 text
// (SQLite), into t in UTC; NULL is the zero time.
type timeDest struct{ t *time.Time }

func (d timeDest) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*d.t = time.Time{}
	case time.Time:
		*d.t = v.UTC()
	case string:
		return d.parse(v)
	case []byte:
		return d.parse(string(v))
	default:
		return fmt.Errorf("stored timestamp: unexpected %T", v)
	}
	return nil
}

func (d timeDest) parse(s string) error {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("stored timestamp: %w", err)
	}
	*d.t = t.UTC()
	return nil
}

// conds builds the WHERE clause of a query with optional conditions, and
// its arguments: only the conditions set are in the SQL, so that the
// planner sees what it can use an index for.
type conds struct {
	where []string
	args  []any
}

// arg adds v to the arguments and returns its placeholder.
func (c *conds) arg(v any) string {
	c.args = append(c.args, v)
	return "$" + strconv.Itoa(len(c.args))
}

// add adds a condition.
func (c *conds) add(cond string) { c.where = append(c.where, cond) }

// clause returns the WHERE clause with a leading space; no conditions is no
// clause.
func (c *conds) clause() string {
	if len(c.where) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(c.where, " AND ")
}

// each runs query and calls fn with the scanner of each row.
func (s *Store) each(ctx context.Context, fn func(scan func(...any) error) error, query string, args ...any) error {
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return s.classify(err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows.Scan); err != nil {
			return err
		}
	}
	return s.classify(rows.Err())
}

// scanAll runs query and scans each row with scan; no row is an empty,
// non-nil slice.
func scanAll[T any](s *Store, ctx context.Context, scan func(func(...any) error) (T, error), query string, args ...any) ([]T, error) {
	out := []T{}
	err := s.each(ctx, func(sc func(...any) error) error {
		v, err := scan(sc)
		out = append(out, v)
		return err
	}, query, args...)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// errIDChanged is returned when an update function changes the record's ID.
var errIDChanged = errors.New("the id cannot change")
