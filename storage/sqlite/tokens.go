package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gaia-platform/iam/storage"
)

// Every write here runs in this backend's one write turn (see Store), a
// transaction from BEGIN to its end, so the token methods need no row locks:
// of concurrent deactivations of one token the first to get the turn wins,
// and a revocation runs wholly before or after a rotation done in InTx.
//
// Errors name a token by its family, never by its signature.

// errFamilyClosed is why CreateRefreshToken refuses a family.
var errFamilyClosed = errors.New("family revoked, or of another client or subject")

// CreateRefreshToken stores rt, and f when it is a new family.
func (s *Store) CreateRefreshToken(ctx context.Context, f *storage.TokenFamily, rt *storage.RefreshToken) error {
	familyID, err := checkRefreshToken(f, rt)
	if err != nil {
		return fmt.Errorf("create refresh token: %w", err)
	}
	now := storage.Now()
	started, created := storage.Stamp(f.StartedAt, now), storage.Stamp(rt.CreatedAt, now)
	expires := storage.Stamp(rt.ExpiresAt, now) // not zero: checked
	request := rt.Request
	if request == nil {
		request = []byte{} // NULL otherwise
	}
	var newFamily bool
	err = s.InTx(ctx, func(ctx context.Context) error {
		res, err := s.exec(ctx, `INSERT INTO token_families (id, client_id, subject, started_at)
			VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			familyID, f.ClientID, f.Subject, formatTime(started))
		if err != nil {
			return mapErr(err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		newFamily = n == 1
		res, err = s.exec(ctx, `INSERT INTO refresh_tokens (signature, family_id, active, expires_at, created_at, request)
			SELECT ?, id, 1, ?, ?, ? FROM token_families
			WHERE id = ? AND client_id = ? AND subject = ? AND revoked_at IS NULL`,
			rt.Signature, formatTime(expires), formatTime(created), request, familyID, f.ClientID, f.Subject)
		if err != nil {
			return mapErr(err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("%w: %w", storage.ErrConflict, errFamilyClosed)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create refresh token in family %q: %w", familyID, err)
	}
	if newFamily {
		f.StartedAt, f.RevokedAt = started, time.Time{}
	}
	f.ID = familyID
	rt.FamilyID, rt.Active, rt.ExpiresAt, rt.CreatedAt = familyID, true, expires, created
	return nil
}

// checkRefreshToken checks the arguments of CreateRefreshToken and returns
// the family's key.
func checkRefreshToken(f *storage.TokenFamily, rt *storage.RefreshToken) (string, error) {
	if f == nil || rt == nil {
		return "", errors.New("nil family or token")
	}
	id, err := storage.NewID(f.ID)
	if err != nil {
		return "", fmt.Errorf("family: %w", err)
	}
	if rt.FamilyID != "" {
		if key, ok := storage.CanonicalID(rt.FamilyID); !ok || key != id {
			return "", fmt.Errorf("token of family %q given family %q", rt.FamilyID, id)
		}
	}
	switch {
	case rt.Signature == "" || len(rt.Signature) > storage.MaxTokenKeyLen:
		return "", fmt.Errorf("signature of %d bytes, want 1 to %d", len(rt.Signature), storage.MaxTokenKeyLen)
	case len(rt.Request) > storage.MaxTokenRequestLen:
		return "", fmt.Errorf("request of %d bytes, want at most %d", len(rt.Request), storage.MaxTokenRequestLen)
	case rt.ExpiresAt.IsZero():
		return "", errors.New("no expiry")
	}
	return id, nil
}

// GetRefreshToken returns the token with this signature and its family.
func (s *Store) GetRefreshToken(ctx context.Context, signature string) (*storage.RefreshToken, *storage.TokenFamily, error) {
	var (
		rt                        storage.RefreshToken
		f                         storage.TokenFamily
		expires, created, started string
		revoked                   sql.NullString
	)
	err := s.q(ctx).QueryRowContext(ctx, `
		SELECT t.signature, t.family_id, t.active, t.expires_at, t.created_at, t.request,
			f.client_id, f.subject, f.started_at, f.revoked_at
		FROM refresh_tokens t JOIN token_families f ON f.id = t.family_id
		WHERE t.signature = ?`, signature).
		Scan(&rt.Signature, &rt.FamilyID, &rt.Active, &expires, &created, &rt.Request,
			&f.ClientID, &f.Subject, &started, &revoked)
	if err != nil {
		return nil, nil, fmt.Errorf("get refresh token: %w", mapErr(err))
	}
	f.ID = rt.FamilyID
	if rt.ExpiresAt, err = parseTime(expires); err == nil {
		if rt.CreatedAt, err = parseTime(created); err == nil {
			f.StartedAt, err = parseTime(started)
		}
	}
	if err == nil && revoked.Valid {
		f.RevokedAt, err = parseTime(revoked.String)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("get refresh token of family %q: %w", f.ID, err)
	}
	return &rt, &f, nil
}

// DeactivateRefreshToken marks an active token inactive: the
// compare-and-swap of rotation.
func (s *Store) DeactivateRefreshToken(ctx context.Context, signature string) error {
	res, err := s.exec(ctx, `UPDATE refresh_tokens SET active = 0 WHERE signature = ? AND active = 1`, signature)
	if err != nil {
		return fmt.Errorf("deactivate refresh token: %w", mapErr(err))
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("deactivate refresh token: %w", err)
	} else if n == 1 {
		return nil
	}
	// Lost: tell a used token from none, off the hot path.
	var familyID string
	err = s.q(ctx).QueryRowContext(ctx, `SELECT family_id FROM refresh_tokens WHERE signature = ?`, signature).Scan(&familyID)
	if err != nil {
		return fmt.Errorf("deactivate refresh token: %w", mapErr(err))
	}
	return fmt.Errorf("deactivate refresh token of family %q: already inactive: %w", familyID, storage.ErrConflict)
}

// GetTokenFamily finds a family by ID.
func (s *Store) GetTokenFamily(ctx context.Context, id string) (*storage.TokenFamily, error) {
	key, ok := storage.CanonicalID(id)
	if !ok {
		return nil, fmt.Errorf("get token family %q: %w", id, storage.ErrNotFound)
	}
	var (
		f       storage.TokenFamily
		started string
		revoked sql.NullString
	)
	err := s.q(ctx).QueryRowContext(ctx, `SELECT id, client_id, subject, started_at, revoked_at
		FROM token_families WHERE id = ?`, key).Scan(&f.ID, &f.ClientID, &f.Subject, &started, &revoked)
	if err == nil {
		f.StartedAt, err = parseTime(started)
	}
	if err == nil && revoked.Valid {
		f.RevokedAt, err = parseTime(revoked.String)
	}
	if err != nil {
		return nil, fmt.Errorf("get token family %q: %w", id, mapErr(err))
	}
	return &f, nil
}

// RevokeTokenFamily revokes the family and deactivates its tokens.
func (s *Store) RevokeTokenFamily(ctx context.Context, id string, at time.Time) error {
	key, ok := storage.CanonicalID(id)
	if !ok {
		return fmt.Errorf("revoke token family %q: %w", id, storage.ErrNotFound)
	}
	at = storage.Stamp(at, storage.Now())
	err := s.InTx(ctx, func(ctx context.Context) error {
		// coalesce keeps the time of the first revocation.
		res, err := s.exec(ctx, `UPDATE token_families SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?`,
			formatTime(at), key)
		if err == nil {
			err = affected(res)
		}
		if err == nil {
			_, err = s.exec(ctx, `UPDATE refresh_tokens SET active = 0 WHERE family_id = ? AND active = 1`, key)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("revoke token family %q: %w", id, mapErr(err))
	}
	return nil
}

// RevokeSubjectTokens revokes every live family of subject.
func (s *Store) RevokeSubjectTokens(ctx context.Context, subject string, at time.Time) (int, error) {
	n, err := s.revokeFamilies(ctx, "subject", subject, at)
	if err != nil {
		return 0, fmt.Errorf("revoke tokens of subject %q: %w", subject, err)
	}
	return n, nil
}

// RevokeClientTokens revokes every live family of the client.
func (s *Store) RevokeClientTokens(ctx context.Context, clientID string, at time.Time) (int, error) {
	n, err := s.revokeFamilies(ctx, "client_id", clientID, at)
	if err != nil {
		return 0, fmt.Errorf("revoke tokens of client %q: %w", clientID, err)
	}
	return n, nil
}

// revokeFamilies revokes the live families whose column (subject or
// client_id, never input) is value, and deactivates the refresh tokens of
// every revoked family it selects, and returns how many it revoked.
func (s *Store) revokeFamilies(ctx context.Context, column, value string, at time.Time) (int, error) {
	at = storage.Stamp(at, storage.Now())
	var n int64
	err := s.InTx(ctx, func(ctx context.Context) error {
		res, err := s.exec(ctx, `UPDATE token_families SET revoked_at = ? WHERE `+column+` = ? AND revoked_at IS NULL`,
			formatTime(at), value)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		_, err = s.exec(ctx, `UPDATE refresh_tokens SET active = 0
			WHERE active = 1 AND family_id IN (SELECT id FROM token_families WHERE `+column+` = ? AND revoked_at IS NOT NULL)`,
			value)
		return err
	})
	if err != nil {
		return 0, mapErr(err)
	}
	return int(n), nil
}

// RevokeAccessToken records a revoked jti until expiresAt.
func (s *Store) RevokeAccessToken(ctx context.Context, jti string, expiresAt time.Time) error {
	if err := checkJTI(jti, expiresAt); err != nil {
		return fmt.Errorf("revoke access token %q: %w", jti, err)
	}
	_, err := s.exec(ctx, `INSERT INTO revoked_access_tokens (jti, expires_at) VALUES (?, ?)
		ON CONFLICT (jti) DO NOTHING`, jti, formatTime(expiresAt.Truncate(time.Microsecond)))
	if err != nil {
		return fmt.Errorf("revoke access token %q: %w", jti, mapErr(err))
	}
	return nil
}

// checkJTI checks the arguments of RevokeAccessToken.
func checkJTI(jti string, expiresAt time.Time) error {
	if jti == "" || len(jti) > storage.MaxTokenKeyLen {
		return fmt.Errorf("jti of %d bytes, want 1 to %d", len(jti), storage.MaxTokenKeyLen)
	}
	if expiresAt.IsZero() {
		return errors.New("no expiry")
	}
	return nil
}

// AccessTokenRevoked reports whether jti was revoked.
func (s *Store) AccessTokenRevoked(ctx context.Context, jti string) (bool, error) {
	var revoked bool
	err := s.q(ctx).QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM revoked_access_tokens WHERE jti = ?)`, jti).
		Scan(&revoked)
	if err != nil {
		return false, fmt.Errorf("check access token %q: %w", jti, err)
	}
	return revoked, nil
}

// PurgeTokens deletes expired tokens and revocations, then empty families.
func (s *Store) PurgeTokens(ctx context.Context, before time.Time) (int, error) {
	b := formatTime(before.Truncate(time.Microsecond)) // the precision stored
	var total int64
	err := s.InTx(ctx, func(ctx context.Context) error {
		del := func(query string, args ...any) error {
			res, err := s.exec(ctx, query, args...)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			total += n
			return err
		}
		if err := del(`DELETE FROM refresh_tokens WHERE expires_at < ?`, b); err != nil {
			return err
		}
		if err := del(`DELETE FROM revoked_access_tokens WHERE expires_at < ?`, b); err != nil {
			return err
		}
		return del(`DELETE FROM token_families
			WHERE NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.family_id = token_families.id)`)
	})
	if err != nil {
		return 0, fmt.Errorf("purge tokens: %w", err)
	}
	return int(total), nil
}
