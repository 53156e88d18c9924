package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gaia-platform/iam/storage"
)

// Login protection: the SQL of storage.Throttles and storage.Blocks.

const (
	throttleColumns = `key, failures, lockouts, window_start, locked_until, permanent, updated_at`
	blockColumns    = `id, prefix, reason, expires_at, created_at`
)

// GetThrottles returns the stored throttles of keys, in one round trip.
func (s *Store) GetThrottles(ctx context.Context, keys ...string) (map[string]storage.Throttle, error) {
	out := make(map[string]storage.Throttle, len(keys))
	rows, err := s.q(ctx).Query(ctx, `SELECT `+throttleColumns+` FROM login_throttles WHERE key = ANY($1)`, keys)
	if err != nil {
		return nil, fmt.Errorf("get throttles: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		t, err := scanThrottle(rows)
		if err != nil {
			return nil, fmt.Errorf("get throttles: %w", err)
		}
		out[t.Key] = t
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("get throttles: %w", err)
	}
	return out, nil
}

// UpdateThrottle runs fn on the throttle of key, its row locked: the row
// is made first if missing, so that two servers counting the first failure
// of a key serialize on it too.
func (s *Store) UpdateThrottle(ctx context.Context, key string, fn func(*storage.Throttle) error) (storage.Throttle, error) {
	if err := storage.CheckThrottleKey(key); err != nil {
		return storage.Throttle{}, fmt.Errorf("update throttle: %w", err)
	}
	var t storage.Throttle
	err := s.InTx(ctx, func(ctx context.Context) error {
		// A row this statement inserted is locked until commit, and
		// passed to fn as the zero throttle it stands for.
		var inserted string
		err := s.q(ctx).QueryRow(ctx, `INSERT INTO login_throttles (key, updated_at) VALUES ($1, $2)
			ON CONFLICT (key) DO NOTHING RETURNING key`, key, storage.Now()).Scan(&inserted)
		switch {
		case err == nil:
			t = storage.Throttle{Key: key}
		case errors.Is(err, pgx.ErrNoRows):
			t, err = scanThrottle(s.q(ctx).QueryRow(ctx,
				`SELECT `+throttleColumns+` FROM login_throttles WHERE key = $1 FOR UPDATE`, key))
		}
		if err != nil {
			return fmt.Errorf("update throttle: %w", mapErr(err))
		}
		if err := fn(&t); err != nil {
			return err // as is, per the contract
		}
		t = storage.PrepareThrottle(key, t, storage.Now())
		_, err = s.q(ctx).Exec(ctx, `UPDATE login_throttles SET failures = $2, lockouts = $3,
			window_start = $4, locked_until = $5, permanent = $6, updated_at = $7 WHERE key = $1`,
			key, t.Failures, t.Lockouts, nullTime(t.WindowStart), nullTime(t.LockedUntil), t.Permanent, t.UpdatedAt)
		if err != nil {
			return fmt.Errorf("update throttle: %w", mapErr(err))
		}
		return nil
	})
	return t, err
}

// DeleteThrottle forgets the throttle of key.
func (s *Store) DeleteThrottle(ctx context.Context, key string) (bool, error) {
	tag, err := s.q(ctx).Exec(ctx, `DELETE FROM login_throttles WHERE key = $1`, key)
	if err != nil {
		return false, fmt.Errorf("delete throttle: %w", mapErr(err))
	}
	return tag.RowsAffected() > 0, nil
}

// PurgeThrottles deletes idle throttles and expired blocks. SKIP LOCKED:
// a row another server is counting on is not idle.
func (s *Store) PurgeThrottles(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.InTx(ctx, func(ctx context.Context) error {
		for _, q := range []string{
			`DELETE FROM login_throttles WHERE key IN (SELECT key FROM login_throttles
				WHERE updated_at < $1 AND NOT permanent FOR UPDATE SKIP LOCKED)`,
			`DELETE FROM login_blocks WHERE expires_at < $1`,
		} {
			tag, err := s.q(ctx).Exec(ctx, q, before)
			if err != nil {
				return err
			}
			n += tag.RowsAffected()
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("purge throttles: %w", err)
	}
	return n, nil
}

// CreateBlock stores b.
func (s *Store) CreateBlock(ctx context.Context, b *storage.Block) error {
	p, err := storage.PrepareBlock(*b, storage.Now())
	if err != nil {
		return fmt.Errorf("create block: %w", err)
	}
	_, err = s.q(ctx).Exec(ctx, `INSERT INTO login_blocks (`+blockColumns+`) VALUES ($1, $2, $3, $4, $5)`,
		p.ID, p.Prefix.String(), p.Reason, nullTime(p.ExpiresAt), p.CreatedAt)
	if err != nil {
		return fmt.Errorf("create block %s: %w", p.Prefix, mapErr(err))
	}
	*b = p
	return nil
}

// ListBlocks lists every block, by prefix text (bytes, whatever the
// database's collation).
func (s *Store) ListBlocks(ctx context.Context) ([]storage.Block, error) {
	rows, err := s.q(ctx).Query(ctx, `SELECT `+blockColumns+` FROM login_blocks ORDER BY prefix COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("list blocks: %w", err)
	}
	defer rows.Close()
	bs := []storage.Block{}
	for rows.Next() {
		var (
			b       storage.Block
			prefix  string
			expires *time.Time
		)
		err := rows.Scan(&b.ID, &prefix, &b.Reason, &expires, &b.CreatedAt)
		if err == nil {
			b.Prefix, err = netip.ParsePrefix(prefix)
		}
		if err != nil {
			return nil, fmt.Errorf("list blocks: %w", err)
		}
		b.CreatedAt = b.CreatedAt.UTC()
		if expires != nil {
			b.ExpiresAt = expires.UTC()
		}
		bs = append(bs, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list blocks: %w", err)
	}
	return bs, nil
}

// DeleteBlock removes the block with id.
func (s *Store) DeleteBlock(ctx context.Context, id string) error {
	if _, ok := storage.CanonicalID(id); !ok {
		return fmt.Errorf("delete block %q: %w", id, storage.ErrNotFound) // not a uuid: no such row
	}
	tag, err := s.q(ctx).Exec(ctx, `DELETE FROM login_blocks WHERE id = $1`, id)
	if err == nil {
		err = affected(tag)
	}
	if err != nil {
		return fmt.Errorf("delete block %q: %w", id, mapErr(err))
	}
	return nil
}

func scanThrottle(row pgx.Row) (storage.Throttle, error) {
	var (
		t              storage.Throttle
		window, locked *time.Time
	)
	if err := row.Scan(&t.Key, &t.Failures, &t.Lockouts, &window, &locked, &t.Permanent, &t.UpdatedAt); err != nil {
		return t, err
	}
	if window != nil {
		t.WindowStart = window.UTC()
	}
	if locked != nil {
		t.LockedUntil = locked.UTC()
	}
	t.UpdatedAt = t.UpdatedAt.UTC()
	return t, nil
}
