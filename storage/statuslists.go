package storage

import (
	"context"
	"time"
)

// StatusOwner is what one status-list entry stands for: a user login (its
// token family) or a service client. Exactly one field is set.
type StatusOwner struct {
	FamilyID string // a token family's ID (UUID)
	ClientID string // a service client's OAuth client_id
}

// StatusEntry is one bit of a token status list: the index every access
// token of its owner carries.
type StatusEntry struct {
	List, Index int
	StatusOwner
	// AllocatedAt is when the owner got the entry; ExpiresAt is the latest
	// expiry of an access token issued with it.
	AllocatedAt, ExpiresAt time.Time
}

// StatusState is an entry with the stored state that decides its bit: the
// state the liveness rule reads.
type StatusState struct {
	StatusEntry
	// Family is the entry's token family; nil for a client's entry, and
	// for a family never stored (a login whose refresh token was not
	// written yet, or failed) or purged.
	Family *TokenFamily
	// UserActive reports whether the family's user exists and is active.
	UserActive bool
	// ClientActive reports whether the client (the family's, or the
	// entry's own) exists and is active.
	ClientActive bool
}

// StatusLists allocates the entries of token status lists and reads their
// state.
type StatusLists interface {
	// AssignStatusEntry returns the entry of owner with its ExpiresAt
	// raised to expiresAt (never lowered). An owner with none gets one:
	// the first entry, by list and index, whose ExpiresAt is before
	// reuseBefore, taken over; else a new entry after the last one, a new
	// list starting every listSize entries. Concurrent calls, in this
	// process or another, never give one entry to two owners. An owner
	// with both or neither field set, or listSize below 8, is ErrInvalid.
	AssignStatusEntry(ctx context.Context, owner StatusOwner, expiresAt, reuseBefore time.Time, listSize int) (StatusEntry, error)
	// StatusListStates returns the entries of list, sorted by index, with
	// their state. An unknown list has no entries (an empty, non-nil
	// slice).
	StatusListStates(ctx context.Context, list int) ([]StatusState, error)
}
