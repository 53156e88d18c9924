package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/gaia-platform/iam/storage"
)

// Login protection: storage.Throttles and storage.Blocks.

const (
	throttleColumns = `key, failures, lockouts, window_start, locked_until, permanent, updated_at`
	blockColumns    = `id, prefix, reason, expires_at, created_at`
)

func throttleDest(t *storage.Throttle) []any {
	return []any{&t.Key, &t.Failures, &t.Lockouts, timeDest{&t.WindowStart}, timeDest{&t.LockedUntil}, &t.Permanent, timeDest{&t.UpdatedAt}}
}

// GetThrottles returns the stored throttles of keys, in one round trip.
func (s *Store) GetThrottles(ctx context.Context, keys ...string) (map[string]storage.Throttle, error) {
	out := make(map[string]storage.Throttle, len(keys))
	err := s.each(ctx, func(scan func(...any) error) error {
		var t storage.Throttle
		if err := scan(throttleDest(&t)...); err != nil {
			return err
		}
		out[t.Key] = t
		return nil
	}, s.d.SQL.GetThrottles, s.d.List(keys))
	if err != nil {
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
		// A row this statement inserted is locked until commit (on
		// PostgreSQL; SQLite's transaction holds the one write lock), and
		// passed to fn as the zero throttle it stands for.
		var inserted string
		err := s.row(ctx, `INSERT INTO login_throttles (key, updated_at) VALUES ($1, $2)
			ON CONFLICT (key) DO NOTHING RETURNING key`, []any{key, s.d.Time(storage.Now())}, &inserted)
		switch {
		case err == nil:
			t = storage.Throttle{Key: key}
		case errors.Is(err, storage.ErrNotFound):
			t = storage.Throttle{}
			err = s.row(ctx, `SELECT `+throttleColumns+` FROM login_throttles WHERE key = $1`+s.d.ForUpdate,
				[]any{key}, throttleDest(&t)...)
		}
		if err != nil {
			return fmt.Errorf("update throttle: %w", err)
		}
		if err := fn(&t); err != nil {
			return err // as is, per the contract
		}
		t = storage.PrepareThrottle(key, t, storage.Now())
		err = s.execOne(ctx, `UPDATE login_throttles SET failures = $2, lockouts = $3,
			window_start = $4, locked_until = $5, permanent = $6, updated_at = $7 WHERE key = $1`,
			key, t.Failures, t.Lockouts, s.nullTime(t.WindowStart), s.nullTime(t.LockedUntil), t.Permanent, s.d.Time(t.UpdatedAt))
		if err != nil {
			return fmt.Errorf("update throttle: %w", err)
		}
		return nil
	})
	return t, err
}

// DeleteThrottle forgets the throttle of key.
func (s *Store) DeleteThrottle(ctx context.Context, key string) (bool, error) {
	if err := checkText("throttle key", key); err != nil {
		return false, fmt.Errorf("delete throttle: %w", err)
	}
	n, err := s.exec(ctx, `DELETE FROM login_throttles WHERE key = $1`, key)
	if err != nil {
		return false, fmt.Errorf("delete throttle: %w", err)
	}
	return n > 0, nil
}

// PurgeThrottles deletes idle throttles and expired blocks. A throttle
// another server is counting on (locked, SkipLocked) is not idle.
func (s *Store) PurgeThrottles(ctx context.Context, before time.Time) (int64, error) {
	b := s.d.Time(before.UTC().Truncate(time.Microsecond)) // the precision stored
	total, err := s.execEach(ctx, b,
		`DELETE FROM login_throttles WHERE key IN (SELECT key FROM login_throttles
			WHERE updated_at < $1 AND NOT permanent`+s.d.SkipLocked+`)`,
		`DELETE FROM login_blocks WHERE expires_at < $1`)
	if err != nil {
		return 0, fmt.Errorf("purge throttles: %w", err)
	}
	return total, nil
}

// CreateBlock stores b.
func (s *Store) CreateBlock(ctx context.Context, b *storage.Block) error {
	p, err := storage.PrepareBlock(*b, storage.Now())
	if err != nil {
		return fmt.Errorf("create block: %w", err)
	}
	_, err = s.exec(ctx, `INSERT INTO login_blocks (`+blockColumns+`) VALUES ($1, $2, $3, $4, $5)`,
		p.ID, p.Prefix.String(), p.Reason, s.nullTime(p.ExpiresAt), s.d.Time(p.CreatedAt))
	if err != nil {
		return fmt.Errorf("create block %s: %w", p.Prefix, err)
	}
	*b = p
	return nil
}

// ListBlocks lists every block, by prefix text (bytes, whatever the
// database's collation).
func (s *Store) ListBlocks(ctx context.Context) ([]storage.Block, error) {
	bs, err := scanAll(s, ctx, func(scan func(...any) error) (storage.Block, error) {
		var (
			b      storage.Block
			prefix string
		)
		err := scan(&b.ID, &prefix, &b.Reason, timeDest{&b.ExpiresAt}, timeDest{&b.CreatedAt})
		if err == nil {
			b.Prefix, err = netip.ParsePrefix(prefix)
		}
		return b, err
	}, `SELECT `+blockColumns+` FROM login_blocks ORDER BY prefix`+s.d.Collate)
	if err != nil {
		return nil, fmt.Errorf("list blocks: %w", err)
	}
	return bs, nil
}

// DeleteBlock removes the block with id.
func (s *Store) DeleteBlock(ctx context.Context, id string) error {
	k, err := key("id", id, storage.ErrNotFound) // not a UUID: no such row
	if err == nil {
		err = s.execOne(ctx, `DELETE FROM login_blocks WHERE id = $1`, k)
	}
	if err != nil {
		return fmt.Errorf("delete block %q: %w", id, err)
	}
	return nil
}
