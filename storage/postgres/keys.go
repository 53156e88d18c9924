package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gaia-platform/iam/storage"
)

const signingKeyColumns = `id, algorithm, private_key, public_key, created_at, retired_at`

func scanSigningKey(row pgx.Row) (storage.SigningKey, error) {
	var (
		k       storage.SigningKey
		retired *time.Time
	)
	if err := row.Scan(&k.ID, &k.Algorithm, &k.PrivateKey, &k.PublicKey, &k.CreatedAt, &retired); err != nil {
		return storage.SigningKey{}, mapErr(err)
	}
	k.CreatedAt = k.CreatedAt.UTC()
	if retired != nil {
		k.RetiredAt = retired.UTC()
	}
	return k, nil
}

// nullTime is t, or nil (NULL) for the zero time.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// CreateSigningKey inserts k, assigning ID and CreatedAt when they are zero.
func (s *Store) CreateSigningKey(ctx context.Context, k *storage.SigningKey) error {
	id, err := storage.NewID(k.ID)
	if err != nil {
		return fmt.Errorf("create signing key: %w", err)
	}
	created := storage.Stamp(k.CreatedAt, storage.Now())
	retired := k.RetiredAt
	if !retired.IsZero() {
		retired = storage.Stamp(retired, created) // only normalized: it is not zero
	}
	_, err = s.q(ctx).Exec(ctx, `INSERT INTO signing_keys (`+signingKeyColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		id, k.Algorithm, k.PrivateKey, k.PublicKey, created, nullTime(retired))
	if err != nil {
		return fmt.Errorf("create signing key %q: %w", id, mapErr(err))
	}
	k.ID, k.CreatedAt, k.RetiredAt = id, created, retired
	return nil
}

// ListSigningKeys lists every key, newest first.
func (s *Store) ListSigningKeys(ctx context.Context) ([]storage.SigningKey, error) {
	rows, err := s.q(ctx).Query(ctx, `SELECT `+signingKeyColumns+` FROM signing_keys
		ORDER BY created_at DESC, id DESC`)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	defer rows.Close()
	ks := []storage.SigningKey{}
	for rows.Next() {
		k, err := scanSigningKey(rows)
		if err != nil {
			return nil, fmt.Errorf("list signing keys: %w", err)
		}
		ks = append(ks, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	return ks, nil
}

// RetireSigningKeys retires, at at, every key not yet retired but exceptID.
func (s *Store) RetireSigningKeys(ctx context.Context, exceptID string, at time.Time) error {
	// A NULL except, for an exceptID that is not a UUID, spares no row; a
	// malformed uuid would fail the statement, and the transaction with it.
	var except *string
	if id, ok := storage.CanonicalID(exceptID); ok {
		except = &id
	}
	_, err := s.q(ctx).Exec(ctx, `UPDATE signing_keys SET retired_at = $2
		WHERE retired_at IS NULL AND id IS DISTINCT FROM $1::uuid`,
		except, storage.Stamp(at, storage.Now()))
	if err != nil {
		return fmt.Errorf("retire signing keys but %q: %w", exceptID, mapErr(err))
	}
	return nil
}

// DeleteSigningKeys deletes the keys retired before retiredBefore.
func (s *Store) DeleteSigningKeys(ctx context.Context, retiredBefore time.Time) (int, error) {
	before := retiredBefore.UTC().Truncate(time.Microsecond) // the precision of timestamptz
	tag, err := s.q(ctx).Exec(ctx, `DELETE FROM signing_keys WHERE retired_at < $1`, before)
	if err != nil {
		return 0, fmt.Errorf("delete signing keys retired before %v: %w", retiredBefore, mapErr(err))
	}
	return int(tag.RowsAffected()), nil
}
