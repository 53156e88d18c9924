package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/gaia-platform/iam/storage"
)

const signingKeyColumns = `id, algorithm, private_key, public_key, created_at, retired_at, activates_at, revoked_at`

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
	activates := storage.Stamp(k.ActivatesAt, created)
	retired, revoked := stampOrZero(k.RetiredAt), stampOrZero(k.RevokedAt)
	_, err = s.exec(ctx, `INSERT INTO signing_keys (`+signingKeyColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		id, k.Algorithm, k.PrivateKey, k.PublicKey, s.d.Time(created), s.nullTime(retired), s.d.Time(activates), s.nullTime(revoked))
	if err != nil {
		return fmt.Errorf("create signing key %q: %w", id, err)
	}
	k.ID, k.CreatedAt, k.ActivatesAt, k.RetiredAt, k.RevokedAt = id, created, activates, retired, revoked
	return nil
}

// ListSigningKeys lists every key, newest first.
func (s *Store) ListSigningKeys(ctx context.Context) ([]storage.SigningKey, error) {
	ks, err := scanAll(s, ctx, func(scan func(...any) error) (storage.SigningKey, error) {
		var k storage.SigningKey
		err := scan(&k.ID, &k.Algorithm, &k.PrivateKey, &k.PublicKey, timeDest{&k.CreatedAt}, timeDest{&k.RetiredAt},
			timeDest{&k.ActivatesAt}, timeDest{&k.RevokedAt})
		if k.ActivatesAt.IsZero() { // a key stored before activation times: it signed when made
			k.ActivatesAt = k.CreatedAt
		}
		return k, err
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
			WHERE (retired_at IS NULL OR retired_at > $2) AND id IS DISTINCT FROM $1`+s.d.UUIDParam,
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

// RevokeSigningKey revokes the key id at at, retiring it then unless it
// retired earlier; a key revoked already is left as it is.
func (s *Store) RevokeSigningKey(ctx context.Context, id string, at time.Time) (bool, error) {
	k, err := key("id", id, storage.ErrNotFound)
	if err != nil {
		return false, fmt.Errorf("revoke signing key: %w", err)
	}
	t := s.d.Time(storage.Stamp(at, storage.Now()))
	n, err := s.exec(ctx, `UPDATE signing_keys SET revoked_at = $2,
			retired_at = CASE WHEN retired_at IS NULL OR retired_at > $2 THEN $2 ELSE retired_at END
		WHERE id = $1 AND revoked_at IS NULL`, k, t)
	if err == nil && n == 0 {
		// Revoked already, or no such key: only the second is an error.
		_, err = s.SigningKeyRevoked(ctx, k)
	}
	if err != nil {
		return false, fmt.Errorf("revoke signing key %q: %w", id, err)
	}
	return n > 0, nil
}

// SigningKeyRevoked reports whether the key id is revoked.
func (s *Store) SigningKeyRevoked(ctx context.Context, id string) (bool, error) {
	k, err := key("id", id, storage.ErrNotFound)
	if err != nil {
		return false, fmt.Errorf("signing key revoked: %w", err)
	}
	var revoked bool
	if err := s.row(ctx, `SELECT revoked_at IS NOT NULL FROM signing_keys WHERE id = $1`, []any{k}, &revoked); err != nil {
		return false, fmt.Errorf("signing key %q revoked: %w", id, err)
	}
	return revoked, nil
}

// stampOrZero is t normalized as storage.Stamp does, or zero.
func stampOrZero(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return storage.Stamp(t, t)
}

// ResealSigningKey replaces the sealed private key of the key id.
func (s *Store) ResealSigningKey(ctx context.Context, id string, sealed []byte) error {
	k, err := key("id", id, storage.ErrNotFound)
	if err == nil && len(sealed) == 0 {
		err = fmt.Errorf("empty sealed key: %w", storage.ErrInvalid)
	}
	if err == nil {
		err = s.execOne(ctx, `UPDATE signing_keys SET private_key = $2 WHERE id = $1`, k, sealed)
	}
	if err != nil {
		return fmt.Errorf("reseal signing key %q: %w", id, err)
	}
	return nil
}

// CreateDataKey inserts k, assigning CreatedAt when zero.
func (s *Store) CreateDataKey(ctx context.Context, k *storage.DataKey) error {
	if k.Version < 1 || len(k.Sealed) == 0 {
		return fmt.Errorf("create data key %d: version below 1 or empty key: %w", k.Version, storage.ErrInvalid)
	}
	created := storage.Stamp(k.CreatedAt, storage.Now())
	if _, err := s.exec(ctx, `INSERT INTO data_keys (version, sealed, created_at) VALUES ($1, $2, $3)`,
		k.Version, k.Sealed, s.d.Time(created)); err != nil {
		return fmt.Errorf("create data key %d: %w", k.Version, err)
	}
	k.CreatedAt = created
	return nil
}

// ListDataKeys lists every data key, newest version first.
func (s *Store) ListDataKeys(ctx context.Context) ([]storage.DataKey, error) {
	ks, err := scanAll(s, ctx, func(scan func(...any) error) (storage.DataKey, error) {
		var k storage.DataKey
		err := scan(&k.Version, &k.Sealed, timeDest{&k.CreatedAt})
		return k, err
	}, `SELECT version, sealed, created_at FROM data_keys ORDER BY version DESC`)
	if err != nil {
		return nil, fmt.Errorf("list data keys: %w", err)
	}
	return ks, nil
}

// ResealDataKey replaces the sealed key of version.
func (s *Store) ResealDataKey(ctx context.Context, version int, sealed []byte) error {
	err := error(nil)
	if len(sealed) == 0 {
		err = fmt.Errorf("empty sealed key: %w", storage.ErrInvalid)
	} else {
		err = s.execOne(ctx, `UPDATE data_keys SET sealed = $2 WHERE version = $1`, version, sealed)
	}
	if err != nil {
		return fmt.Errorf("reseal data key %d: %w", version, err)
	}
	return nil
}
