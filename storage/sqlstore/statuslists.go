package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gaia-platform/iam/storage"
)

// statusLock serializes the allocation of new status-list entries among
// every process on the database: finding the next free entry and taking it
// must not interleave. Raising the expiry of an owner's entry, what nearly
// every token issuance does, takes no lock.
const statusLock = "gaia.status_entries"

// maxStatusLists bounds list ids, so that list*listSize never overflows the
// schema's integers.
const maxStatusLists = 1 << 20

// statusOwner returns the owner's column and its key.
func statusOwner(o storage.StatusOwner) (column, value string, err error) {
	switch {
	case (o.FamilyID == "") == (o.ClientID == ""):
		return "", "", fmt.Errorf("%w: a status entry's owner is a family or a client", storage.ErrInvalid)
	case o.FamilyID != "":
		k, err := key("family id", o.FamilyID, fmt.Errorf("%w: family id is not a UUID", storage.ErrInvalid))
		return "family_id", k, err
	}
	if len(o.ClientID) > 255 {
		return "", "", fmt.Errorf("%w: client_id of %d bytes", storage.ErrInvalid, len(o.ClientID))
	}
	return "client_id", o.ClientID, storage.CheckText("client_id", o.ClientID)
}

const statusColumns = `list_id, idx, family_id, client_id, allocated_at, expires_at`

func scanStatusEntry(scan func(...any) error, e *storage.StatusEntry) error {
	var fam, client sql.NullString
	if err := scan(&e.List, &e.Index, &fam, &client, timeDest{&e.AllocatedAt}, timeDest{&e.ExpiresAt}); err != nil {
		return err
	}
	e.FamilyID, e.ClientID = fam.String, client.String
	return nil
}

// ownerEntry reads the entry of the owner whose column is value, and
// reports whether there is one.
func (s *Store) ownerEntry(ctx context.Context, column, value string) (storage.StatusEntry, bool, error) {
	var (
		e     storage.StatusEntry
		found bool
	)
	err := s.each(ctx, func(scan func(...any) error) error {
		found = true
		return scanStatusEntry(scan, &e)
	}, `SELECT `+statusColumns+` FROM status_entries WHERE `+column+` = $1`, value)
	return e, found, err
}

// AssignStatusEntry returns the owner's entry, raised to expiresAt, or
// allocates one.
func (s *Store) AssignStatusEntry(ctx context.Context, owner storage.StatusOwner, expiresAt, reuseBefore time.Time, listSize int) (storage.StatusEntry, error) {
	column, value, err := statusOwner(owner)
	if err == nil && listSize < 8 {
		err = fmt.Errorf("%w: status list size %d, want 8 or more", storage.ErrInvalid, listSize)
	}
	if err == nil && expiresAt.IsZero() {
		err = fmt.Errorf("%w: status entry without expiry", storage.ErrInvalid)
	}
	if err != nil {
		return storage.StatusEntry{}, fmt.Errorf("assign status entry: %w", err)
	}
	expiresAt = expiresAt.UTC().Truncate(time.Microsecond)
	e, err := s.raiseStatusEntry(ctx, column, value, expiresAt)
	if errors.Is(err, storage.ErrNotFound) {
		err = s.InTx(ctx, func(ctx context.Context) error {
			if err := s.Lock(ctx, statusLock); err != nil {
				return err
			}
			// Allocated by another while we waited for the lock?
			if e, err = s.raiseStatusEntry(ctx, column, value, expiresAt); !errors.Is(err, storage.ErrNotFound) {
				return err
			}
			e, err = s.allocateStatusEntry(ctx, column, value, expiresAt, reuseBefore, listSize)
			return err
		})
	}
	if err != nil {
		return storage.StatusEntry{}, fmt.Errorf("assign status entry of %s %q: %w", column, value, err)
	}
	return e, nil
}

// raiseStatusEntry returns the entry of the owner, its expiry raised to at
// least expiresAt; none is storage.ErrNotFound. It writes only when the
// expiry must rise.
func (s *Store) raiseStatusEntry(ctx context.Context, column, value string, expiresAt time.Time) (storage.StatusEntry, error) {
	e, found, err := s.ownerEntry(ctx, column, value)
	switch {
	case err != nil:
		return e, err
	case !found:
		return e, storage.ErrNotFound
	case !e.ExpiresAt.Before(expiresAt):
		return e, nil
	}
	// Only ever raised: of concurrent issuances the latest expiry stays.
	// An entry taken over by another owner meanwhile matches nothing.
	if _, err := s.exec(ctx, `UPDATE status_entries SET expires_at = $2 WHERE `+column+` = $1 AND expires_at < $2`,
		value, s.d.Time(expiresAt)); err != nil {
		return e, err
	}
	e, found, err = s.ownerEntry(ctx, column, value)
	if err == nil && !found {
		err = storage.ErrNotFound
	}
	return e, err
}

// allocateStatusEntry gives the owner an entry. It runs under statusLock.
func (s *Store) allocateStatusEntry(ctx context.Context, column, value string, expiresAt, reuseBefore time.Time, listSize int) (storage.StatusEntry, error) {
	now := storage.Now()
	e := storage.StatusEntry{AllocatedAt: now, ExpiresAt: expiresAt}
	if column == "family_id" {
		e.FamilyID = value
	} else {
		e.ClientID = value
	}
	var family, client any
	if e.FamilyID != "" {
		family = e.FamilyID
	} else {
		client = e.ClientID
	}
	// The lowest expired entry: lists stay as short as the logins live
	// at once. The expiry is checked again by the update, so an entry its
	// owner raised meanwhile (without the lock) is not taken.
	before := s.d.Time(reuseBefore.UTC().Truncate(time.Microsecond))
	for range 3 {
		var free struct{ list, idx int }
		err := s.row(ctx, `SELECT list_id, idx FROM status_entries WHERE expires_at < $1 ORDER BY list_id, idx LIMIT 1`,
			[]any{before}, &free.list, &free.idx)
		if errors.Is(err, storage.ErrNotFound) {
			break
		}
		if err != nil {
			return e, err
		}
		n, err := s.exec(ctx, `UPDATE status_entries SET family_id = $3, client_id = $4, allocated_at = $5, expires_at = $6
			WHERE list_id = $1 AND idx = $2 AND expires_at < $7`,
			free.list, free.idx, family, client, s.d.Time(now), s.d.Time(expiresAt), before)
		if err != nil {
			return e, err
		}
		if n == 1 {
			e.List, e.Index = free.list, free.idx
			return e, nil
		}
	}
	// None free: the one after the last.
	var last struct{ list, idx int }
	err := s.row(ctx, `SELECT list_id, idx FROM status_entries ORDER BY list_id DESC, idx DESC LIMIT 1`, nil, &last.list, &last.idx)
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		return e, err
	case last.idx+1 < listSize:
		e.List, e.Index = last.list, last.idx+1
	default:
		e.List = last.list + 1
	}
	if e.List >= maxStatusLists {
		return e, fmt.Errorf("%w: status lists full", storage.ErrConflict)
	}
	_, err = s.exec(ctx, `INSERT INTO status_entries (`+statusColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		e.List, e.Index, family, client, s.d.Time(now), s.d.Time(expiresAt))
	return e, err
}

// StatusListStates returns the entries of list with their state.
func (s *Store) StatusListStates(ctx context.Context, list int) ([]storage.StatusState, error) {
	if list < 0 || list >= maxStatusLists {
		return []storage.StatusState{}, nil
	}
	out, err := scanAll(s, ctx, func(scan func(...any) error) (storage.StatusState, error) {
		var (
			st               storage.StatusState
			famID, famClient sql.NullString
			famSubject       sql.NullString
			started, revoked time.Time
			fam, client      sql.NullString
		)
		err := scan(&st.List, &st.Index, &fam, &client, timeDest{&st.AllocatedAt}, timeDest{&st.ExpiresAt},
			&famID, &famClient, &famSubject, timeDest{&started}, timeDest{&revoked}, &st.UserActive, &st.ClientActive)
		st.FamilyID, st.ClientID = fam.String, client.String
		if famID.Valid {
			st.Family = &storage.TokenFamily{ID: famID.String, ClientID: famClient.String, Subject: famSubject.String,
				StartedAt: started, RevokedAt: revoked}
		}
		return st, err
	}, `SELECT e.list_id, e.idx, e.family_id, e.client_id, e.allocated_at, e.expires_at,
			f.id, f.client_id, f.subject, f.started_at, f.revoked_at,
			coalesce(u.active, false), coalesce(c.active, false)
		FROM status_entries e
		LEFT JOIN token_families f ON f.id = e.family_id
		LEFT JOIN users u ON CAST(u.id AS TEXT) = f.subject
		LEFT JOIN clients c ON c.client_id = coalesce(f.client_id, e.client_id)
		WHERE e.list_id = $1
		ORDER BY e.idx`, list)
	if err != nil {
		return nil, fmt.Errorf("status list %d: %w", list, err)
	}
	return out, nil
}
