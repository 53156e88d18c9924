package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Bounds of an AuditEvent that the schema enforces and AppendAudit checks
// first, in bytes.
const (
	MaxAuditFieldLen    = 255  // every string field but ClientIP and Details
	MaxAuditClientIPLen = 64   // ClientIP
	MaxAuditDetailsLen  = 4096 // Details, encoded as JSON
)

// AuditEvent is one entry of the append-only audit log: who did what to
// which target, when, from where, and how it ended. It never holds a
// password, secret or token. Storage checks only its bounds; package audit
// names the values of ActorType, Action, TargetType and Outcome.
type AuditEvent struct {
	ID         string    // UUIDv7, assigned by AppendAudit when empty (callers usually assign it when the event happens)
	Time       time.Time // stamped (storage.Stamp) when zero; microsecond precision UTC
	ActorType  string    // user | service | operator | system | anonymous
	ActorID    string    // user ID or client_id; may be empty
	ActorName  string    // username or client_id at the time
	Action     string    // dotted, e.g. user.create, auth.password
	TargetType string    // user | client | token_family | signing_key | ""
	TargetID   string
	Outcome    string // success | failure
	ClientIP   string
	ClientID   string            // the OAuth client involved, if any
	Details    map[string]string // small; stored as JSON; nil and empty both read back as nil
}

// AuditFilter selects events for ListAudit; zero fields select everything.
type AuditFilter struct {
	ActorID  string
	Action   string // exact match, or, when it ends in ".", a prefix match ("user." matches user.create)
	TargetID string
	Outcome  string
	Since    time.Time // inclusive
	Until    time.Time // exclusive
	Before   string    // keyset cursor: only events whose ID sorts before this one
	Limit    int       // 0 means DefaultListLimit; above MaxListLimit is an error
}

// Audit stores the audit log. Nothing updates or deletes its events: the
// schema refuses both.
type Audit interface {
	// AppendAudit stores events in one statement/transaction (joining the
	// one in ctx, like every Store method), assigning ID and Time in place
	// where empty. It never updates or deletes. An event that breaks a
	// bound (MaxAuditFieldLen and the others; Action, ActorType and Outcome
	// are required) is ErrInvalid, and then none is stored; so is an ID
	// that is not a UUID. An ID already stored is ErrConflict.
	AppendAudit(ctx context.Context, events []AuditEvent) error
	// ListAudit lists events matching f, newest first (by ID descending;
	// IDs are UUIDv7 so this is time order). None is an empty, non-nil
	// slice. A Limit out of range, or a Before that is not a UUID, is
	// ErrInvalid.
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error)
	// ExpiredAudit counts the events older than retention, by the
	// database's clock: those PurgeAudit would delete.
	ExpiredAudit(ctx context.Context, retention time.Duration) (int64, error)
	// PurgeAudit records retention as the log's retention and deletes up
	// to limit events older than it, by the database's clock, oldest
	// first, in the transaction ctx carries if any; it returns how many it
	// deleted. The schema refuses to delete an event younger than the
	// recorded retention, whatever the statement: so nothing younger is
	// ever deleted. A retention under MinAuditRetention, or a limit under
	// 1, is ErrInvalid.
	PurgeAudit(ctx context.Context, retention time.Duration, limit int) (int64, error)
	// ExportAudit calls fn with each event of f's time range (Since
	// inclusive, Until exclusive, zero for open; the other fields of f are
	// ignored), oldest first (by time, then ID), reading them in pages so
	// that memory stays bounded however many there are. An error from fn
	// stops it and is returned.
	ExportAudit(ctx context.Context, f AuditFilter, fn func(*AuditEvent) error) error
}

// MinAuditRetention is the least retention PurgeAudit takes, as the
// schema does: an entry lives at least a day.
const MinAuditRetention = 24 * time.Hour

// PrepareAudit returns e as AppendAudit stores it, with its ID assigned or
// put in canonical form and its Time stamped (now when zero), and its
// Details encoded as JSON, nil when it has none. An event that breaks a
// bound is ErrInvalid. Backends call it on every event before writing any.
func PrepareAudit(e AuditEvent, now time.Time) (AuditEvent, []byte, error) {
	var err error
	if e.ID, err = NewID(e.ID); err != nil {
		return e, nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	e.Time = Stamp(e.Time, now)
	if y := e.Time.Year(); y < 1 || y > 9999 { // beyond that, SQLite's text times would not sort
		return e, nil, fmt.Errorf("%w: time %v, want years 1 to 9999", ErrInvalid, e.Time)
	}
	for _, f := range []struct {
		name     string
		s        string
		required bool
		max      int
	}{
		{"actor type", e.ActorType, true, MaxAuditFieldLen},
		{"actor id", e.ActorID, false, MaxAuditFieldLen},
		{"actor name", e.ActorName, false, MaxAuditFieldLen},
		{"action", e.Action, true, MaxAuditFieldLen},
		{"target type", e.TargetType, false, MaxAuditFieldLen},
		{"target id", e.TargetID, false, MaxAuditFieldLen},
		{"outcome", e.Outcome, true, MaxAuditFieldLen},
		{"client ip", e.ClientIP, false, MaxAuditClientIPLen},
		{"client id", e.ClientID, false, MaxAuditFieldLen},
	} {
		switch {
		case f.required && f.s == "":
			return e, nil, fmt.Errorf("%w: no %s", ErrInvalid, f.name)
		case len(f.s) > f.max:
			return e, nil, fmt.Errorf("%w: %s of %d bytes, want at most %d", ErrInvalid, f.name, len(f.s), f.max)
		}
		if err := CheckText(f.name, f.s); err != nil {
			return e, nil, err
		}
	}
	if len(e.Details) == 0 {
		e.Details = nil
		return e, nil, nil
	}
	for k, v := range e.Details {
		// encoding/json would store invalid UTF-8 as U+FFFD: refuse it
		// rather than read back something else.
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return e, nil, fmt.Errorf("%w: details %q is not UTF-8", ErrInvalid, k)
		}
	}
	details, _ := json.Marshal(e.Details) // a map[string]string always marshals
	if len(details) > MaxAuditDetailsLen {
		return e, nil, fmt.Errorf("%w: details of %d bytes as JSON, want at most %d", ErrInvalid, len(details), MaxAuditDetailsLen)
	}
	return e, details, nil
}

// DecodeAuditDetails decodes Details as PrepareAudit encoded them; nil or
// an empty object is nil.
func DecodeAuditDetails(b []byte) (map[string]string, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var d map[string]string
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("stored audit details: %w", err)
	}
	if len(d) == 0 {
		return nil, nil
	}
	return d, nil
}

// Check returns f as a backend runs it: Limit resolved (DefaultListLimit
// for 0), Before in canonical form, Since and Until rounded up to the
// microsecond (which selects the same stored times) in UTC. A Limit out of
// range, a Before that is not a UUID, or a string that is not valid UTF-8
// or holds a NUL byte, is ErrInvalid.
func (f AuditFilter) Check() (AuditFilter, error) {
	var err error
	if f.Limit, err = listLimit(f.Limit); err != nil {
		return f, err
	}
	if f.Before != "" {
		c, ok := CanonicalID(f.Before)
		if !ok {
			return f, fmt.Errorf("%w: cursor %q is not a UUID", ErrInvalid, f.Before)
		}
		f.Before = c
	}
	for _, v := range []struct{ name, s string }{
		{"actor id", f.ActorID},
		{"action", f.Action},
		{"target id", f.TargetID},
		{"outcome", f.Outcome},
	} {
		if err := CheckText(v.name, v.s); err != nil {
			return f, err
		}
	}
	f.Since, f.Until = ceilMicro(f.Since), ceilMicro(f.Until)
	return f, nil
}

// ActionPrefix reports whether f.Action selects by prefix: it ends in ".".
func (f AuditFilter) ActionPrefix() bool { return strings.HasSuffix(f.Action, ".") }

// ceilMicro rounds t up to the microsecond, in UTC; zero stays zero. For a
// time s kept to the microsecond, s >= t exactly when s >= ceilMicro(t),
// and likewise for <.
func ceilMicro(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	c := t.UTC().Truncate(time.Microsecond)
	if c.Before(t) {
		c = c.Add(time.Microsecond)
	}
	return c
}
