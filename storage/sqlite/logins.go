package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/gaia-platform/iam/storage"
)

// Login protection: the SQL of storage.Throttles and storage.Blocks.

const (
	throttleColumns = `key, failures, lockouts, window_start, locked_until, permanent, updated_at`
	blockColumns    = `id, prefix, reason, expires_at, created_at`
)

// GetThrottles returns the stored throttles of keys.
func (s *Store) GetThrottles(ctx context.Context, keys ...string) (map[string]storage.Throttle, error) {
	out := make(map[string]storage.Throttle, len(keys))
	for _, k := range keys {
		t, err := scanThrottle(s.q(ctx).QueryRowContext(ctx, `SELECT `+throttleColumns+` FROM login_throttles WHERE key = ?`, k))
		if err == nil {
			out[k] = t
			continue
		}
		if err = mapErr(err); !errors.Is(err, storage.ErrNotFound) {
			return nil, fmt.Errorf("get throttle: %w", err)
		}
	}
	return out, nil
}

// UpdateThrottle runs fn on the throttle of key in a write transaction.
func (s *Store) UpdateThrottle(ctx context.Context, key string, fn func(*storage.Throttle) error) (storage.Throttle, error) {
	if err := storage.CheckThrottleKey(key); err != nil {
		return storage.Throttle{}, fmt.Errorf("update throttle: %w", err)
	}
	var t storage.Throttle
	err := s.InTx(ctx, func(ctx context.Context) error {
		var err error
		t, err = scanThrottle(s.q(ctx).QueryRowContext(ctx, `SELECT `+throttleColumns+` FROM login_throttles WHERE key = ?`, key))
		if err = mapErr(err); errors.Is(err, storage.ErrNotFound) {
			t, err = storage.Throttle{Key: key}, nil
		}
		if err != nil {
			return fmt.Errorf("update throttle: %w", err)
		}
		if err := fn(&t); err != nil {
			return err // as is, per the contract
		}
		t = storage.PrepareThrottle(key, t, storage.Now())
		_, err = s.exec(ctx, `INSERT INTO login_throttles (`+throttleColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, lockouts = excluded.lockouts,
				window_start = excluded.window_start, locked_until = excluded.locked_until,
				permanent = excluded.permanent, updated_at = excluded.updated_at`,
			key, t.Failures, t.Lockouts, nullTime(t.WindowStart), nullTime(t.LockedUntil), t.Permanent, formatTime(t.UpdatedAt))
		if err != nil {
			return fmt.Errorf("update throttle: %w", mapErr(err))
		}
		return nil
	})
	return t, err
}

// DeleteThrottle forgets the throttle of key.
func (s *Store) DeleteThrottle(ctx context.Context, key string) (bool, error) {
	res, err := s.exec(ctx, `DELETE FROM login_throttles WHERE key = ?`, key)
	if err == nil {
		err = affected(res)
	}
	switch err = mapErr(err); {
	case err == nil:
		return true, nil
	case errors.Is(err, storage.ErrNotFound):
		return false, nil
	}
	return false, fmt.Errorf("delete throttle: %w", err)
}

// PurgeThrottles deletes idle throttles and expired blocks.
func (s *Store) PurgeThrottles(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.InTx(ctx, func(ctx context.Context) error {
		for _, q := range []string{
			`DELETE FROM login_throttles WHERE updated_at < ? AND permanent = 0`,
			`DELETE FROM login_blocks WHERE expires_at < ?`,
		} {
			res, err := s.exec(ctx, q, formatTime(before))
			if err != nil {
				return err
			}
			m, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n += m
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
	_, err = s.exec(ctx, `INSERT INTO login_blocks (`+blockColumns+`) VALUES (?, ?, ?, ?, ?)`,
		p.ID, p.Prefix.String(), p.Reason, nullTime(p.ExpiresAt), formatTime(p.CreatedAt))
	if err != nil {
		return fmt.Errorf("create block %s: %w", p.Prefix, mapErr(err))
	}
	*b = p
	return nil
}

// ListBlocks lists every block, by prefix text.
func (s *Store) ListBlocks(ctx context.Context) ([]storage.Block, error) {
	rows, err := s.q(ctx).QueryContext(ctx, `SELECT `+blockColumns+` FROM login_blocks ORDER BY prefix`)
	if err != nil {
		return nil, fmt.Errorf("list blocks: %w", err)
	}
	defer rows.Close()
	bs := []storage.Block{}
	for rows.Next() {
		var (
			b               storage.Block
			prefix, created string
			expires         sql.NullString
		)
		err := rows.Scan(&b.ID, &prefix, &b.Reason, &expires, &created)
		if err == nil {
			b.Prefix, err = netip.ParsePrefix(prefix)
		}
		if err == nil {
			b.CreatedAt, err = parseTime(created)
		}
		if err == nil {
			b.ExpiresAt, err = parseNullTime(expires)
		}
		if err != nil {
			return nil, fmt.Errorf("list blocks: %w", err)
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
	res, err := s.exec(ctx, `DELETE FROM login_blocks WHERE id = ?`, id)
	if err == nil {
		err = affected(res)
	}
	if err != nil {
		return fmt.Errorf("delete block %q: %w", id, mapErr(err))
	}
	return nil
}

func scanThrottle(row scanner) (storage.Throttle, error) {
	var (
		t              storage.Throttle
		window, locked sql.NullString
		updated        string
	)
	err := row.Scan(&t.Key, &t.Failures, &t.Lockouts, &window, &locked, &t.Permanent, &updated)
	if err != nil {
		return t, err
	}
	if t.WindowStart, err = parseNullTime(window); err == nil {
		if t.LockedUntil, err = parseNullTime(locked); err == nil {
			t.UpdatedAt, err = parseTime(updated)
		}
	}
	return t, err
}

func parseNullTime(s sql.NullString) (time.Time, error) {
	if !s.Valid {
		return time.Time{}, nil
	}
	return parseTime(s.String)
}
