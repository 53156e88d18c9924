// Package outage tells a database that failed from a request that was
// refused. Backends map the outcomes a caller acts on (not found,
// conflict, invalid) to storage's sentinels and pass every other driver
// error through; among those, Is picks the ones that mean the database
// could not be reached or could not serve — the answer to those is "503,
// try again later", never "your credentials are wrong", and never the
// driver's text.
//
// It recognises the drivers' errors by the methods they document (pgconn's
// SQLState, modernc sqlite's Code) so that the HTTP layers need not import
// a backend.
package outage

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"net"
	"strings"
)

// RetryAfter is the Retry-After, in seconds, of an answer to an outage:
// long enough not to hammer a database that is coming back, short enough
// for a client to wait through.
const RetryAfter = 5

// Is reports whether err, or an error it wraps, says that the database was
// unreachable, timed out, was shut down or overloaded, or has lost the
// schema: a failure of the server's, not of the request.
func Is(err error) bool {
	if err == nil {
		return false
	}
	var (
		netErr net.Error
		pg     interface{ SQLState() string }
		lite   interface{ Code() int }
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded), // connect or statement timeout
		errors.Is(err, sql.ErrConnDone),
		errors.Is(err, io.ErrUnexpectedEOF), // the server closed the connection mid-answer
		errors.As(err, &netErr):
		return true
	case errors.As(err, &pg):
		return postgresOutage(pg.SQLState())
	case errors.As(err, &lite):
		return sqliteOutage(lite.Code())
	}
	return false
}

// postgresOutage reports whether a SQLSTATE is the server's failure. Data
// errors (class 22), constraint violations (23) and syntax errors (42,
// but for a missing table) are not: they are bugs or bad input, and must
// stay visible as such.
func postgresOutage(state string) bool {
	switch state {
	case "40001", "40P01", // serialization failure, deadlock: retry
		"55P03",          // lock not available
		"42P01", "3F000", // undefined table or schema: the schema is gone
		"3D000": // the database does not exist
		return true
	}
	switch {
	case strings.HasPrefix(state, "08"), // connection exception
		strings.HasPrefix(state, "28"), // authorization (a changed password)
		strings.HasPrefix(state, "53"), // insufficient resources: too many connections, disk full
		strings.HasPrefix(state, "57"), // operator intervention: shutdown, query canceled (statement_timeout)
		strings.HasPrefix(state, "58"), // system error: I/O
		strings.HasPrefix(state, "XX"): // internal error
		return true
	}
	return false
}

// SQLite primary result codes (https://sqlite.org/rescode.html); an
// extended code carries its primary one in its low byte.
const (
	sqliteBusy     = 5
	sqliteLocked   = 6
	sqliteNoMem    = 7
	sqliteReadOnly = 8
	sqliteIOErr    = 10
	sqliteCorrupt  = 11
	sqliteFull     = 13
	sqliteCantOpen = 14
	sqliteProtocol = 15
	sqliteNotADB   = 26
)

func sqliteOutage(code int) bool {
	switch code & 0xff {
	case sqliteBusy, sqliteLocked, sqliteNoMem, sqliteReadOnly, sqliteIOErr,
		sqliteCorrupt, sqliteFull, sqliteCantOpen, sqliteProtocol, sqliteNotADB:
		return true
	}
	return false
}
