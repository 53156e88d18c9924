package storage

import (
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Backends share these so that a record reads back the same from either:
// keys in canonical UUID form, timestamps in UTC at the microsecond
// precision PostgreSQL keeps.

// Now is the time to stamp on a record.
func Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// Stamp returns the timestamp to store for a new record: t, or now when t
// is zero, in UTC at microsecond precision.
func Stamp(t, now time.Time) time.Time {
	if t.IsZero() {
		return now
	}
	return t.UTC().Truncate(time.Microsecond)
}

// NewID returns the key for a new record: id in canonical form, or a fresh
// UUIDv7 (time-ordered, so index inserts stay local) when id is empty.
func NewID(id string) (string, error) {
	if id == "" {
		u, err := uuid.NewV7()
		if err != nil {
			return "", fmt.Errorf("new id: %w", err)
		}
		return u.String(), nil
	}
	if c, ok := CanonicalID(id); ok {
		return c, nil
	}
	return "", fmt.Errorf("id %q is not a UUID", id)
}

// CanonicalID returns id in canonical form (lower case, hyphens), and false
// when id is not a UUID, which no row can have. Backends check keys with it
// before querying: PostgreSQL would otherwise fail the statement, and with
// it the whole transaction, on a malformed uuid.
func CanonicalID(id string) (string, bool) {
	u, err := uuid.Parse(id)
	if err != nil {
		return "", false
	}
	if len(id) == 36 && strings.ToLower(id) == id { // already canonical, spare the allocation
		return id, true
	}
	return u.String(), true
}
