package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/gaia-platform/iam/storage"
)

const signingKeyColumns = `id, algorithm, private_key, public_key, created_at, retired_at`

// CreateSigningKey inserts k, assigning ID and CreatedAt when they are zero.
func (s *Store) CreateSigningKey(ctx context.Context, k *storage.SigningKey) error {
	id, err := storage.NewID(k.ID)
	if err == nil {
		err = storage.CheckText("algorithm", k.Algorithm)
	}
	if err != nil {
		return fmt.Errorf("create signing key: %w", err)
	}
	created := storage.Stamp(k.CreatedAt, storage.Now())
	retired := k.RetiredAt
	if !retired.IsZero() {
		retired = storage.Stamp(retired, created) // only normalized: it is not zero
	}
	_, err = s.exec(ctx, `INSERT INTO signing_keys (`+signingKeyColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		id, k.Algorithm, k.PrivateKey, k.PublicKey, s.d.Time(created), s.nullTime(retired))
	if err != nil {
		return fmt.Errorf("create signing key %q: %w", id, err)
	}
	k.ID, k.CreatedAt, k.RetiredAt = id, created, retired
	return nil
}

// ListSigningKeys lists every key, newest first.
func (s *Store) ListSigningKeys(ctx context.Context) ([]storage.SigningKey, error) {
	ks, err := scanAll(s, ctx, func(scan func(...any) error) (storage.SigningKey, error) {
		var k storage.SigningKey
		return k, scan(&k.ID, &k.Algorithm, &k.PrivateKey, &k.PublicKey, timeDest{&k.CreatedAt}, timeDest{&k.RetiredAt})
	}, `SELECT `+signingKeyColumns+` FROM signing_keys ORDER BY created_at DESC, id DESC`)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	return ks, nil
}

// RetireSigningKeys retires, at at, every key not yet retired but exceptID.
func (s *Store) RetireSigningKeys(ctx context.Context, exceptID string, at time.Time) error {
	// A NULL except, for an exceptID that is not a UUID, spares no row; a
	// malformed uuid would fail the statement on PostgreSQL, and the
	// transaction with it.
	var except any
	k, err := key("except id", exceptID, nil)
	if err == nil && k != "" {
		except = k
	}
	if err == nil {
		_, err = s.exec(ctx, `UPDATE signing_keys SET retired_at = $2
			WHERE retired_at IS NULL AND id IS DISTINCT FROM $1`+s.d.UUIDParam,
			except, s.d.Time(storage.Stamp(at, storage.Now())))
	}
	if err != nil {
		return fmt.Errorf("retire signing keys but %q: %w", exceptID, err)
	}
	return nil
}

// DeleteSigningKeys deletes the keys retired before retiredBefore,
// compared at the microsecond precision timestamps are stored with. NULL
// (not retired) is never less than anything.
func (s *Store) DeleteSigningKeys(ctx context.Context, retiredBefore time.Time) (int, error) {
	before := retiredBefore.UTC().Truncate(time.Microsecond)
	n, err := s.exec(ctx, `DELETE FROM signing_keys WHERE retired_at < $1`, s.d.Time(before))
	if err != nil {
		return 0, fmt.Errorf("delete signing keys retired before %v: %w", retiredBefore, err)
	}
	return int(n), nil
}
