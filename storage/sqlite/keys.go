package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/gaia-platform/iam/storage"
)

const signingKeyColumns = `id, algorithm, private_key, public_key, created_at, retired_at`

func scanSigningKey(row scanner) (storage.SigningKey, error) {
	var (
		k       storage.SigningKey
		created string
		retired sql.NullString
	)
	if err := row.Scan(&k.ID, &k.Algorithm, &k.PrivateKey, &k.PublicKey, &created, &retired); err != nil {
		return storage.SigningKey{}, mapErr(err)
	}
	var err error
	if k.CreatedAt, err = parseTime(created); err != nil {
		return storage.SigningKey{}, err
	}
	if retired.Valid {
		if k.RetiredAt, err = parseTime(retired.String); err != nil {
			return storage.SigningKey{}, err
		}
	}
	return k, nil
}

// nullTime is t as stored, or NULL for the zero time.
func nullTime(t time.Time) sql.NullString {
	if t.IsZero() {
		return sql.NullString{}
	}
	return sql.NullString{String: formatTime(t), Valid: true}
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
	_, err = s.exec(ctx, `INSERT INTO signing_keys (`+signingKeyColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
		id, k.Algorithm, k.PrivateKey, k.PublicKey, formatTime(created), nullTime(retired))
	if err != nil {
		return fmt.Errorf("create signing key %q: %w", id, mapErr(err))
	}
	k.ID, k.CreatedAt, k.RetiredAt = id, created, retired
	return nil
}

// ListSigningKeys lists every key, newest first.
func (s *Store) ListSigningKeys(ctx context.Context) ([]storage.SigningKey, error) {
	rows, err := s.q(ctx).QueryContext(ctx, `SELECT `+signingKeyColumns+` FROM signing_keys
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
	except, _ := storage.CanonicalID(exceptID) // "" when not a UUID: no row has it
	_, err := s.exec(ctx, `UPDATE signing_keys SET retired_at = ? WHERE retired_at IS NULL AND id <> ?`,
		formatTime(storage.Stamp(at, storage.Now())), except)
	if err != nil {
		return fmt.Errorf("retire signing keys but %q: %w", exceptID, mapErr(err))
	}
	return nil
}

// DeleteSigningKeys deletes the keys retired before retiredBefore.
func (s *Store) DeleteSigningKeys(ctx context.Context, retiredBefore time.Time) (int, error) {
	// Compared at the microsecond precision timestamps are stored with, as
	// on PostgreSQL. Stored timestamps have a fixed width, so text order is
	// time order; NULL (not retired) is never less than anything.
	before := retiredBefore.UTC().Truncate(time.Microsecond)
	res, err := s.exec(ctx, `DELETE FROM signing_keys WHERE retired_at < ?`, formatTime(before))
	if err != nil {
		return 0, fmt.Errorf("delete signing keys retired before %v: %w", retiredBefore, mapErr(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete signing keys retired before %v: %w", retiredBefore, err)
	}
	return int(n), nil
}
