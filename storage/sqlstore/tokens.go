package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gaia-platform/iam/storage"
)

// Concurrency of the token methods. On SQLite every write runs in the one
// write turn, so none needs a row lock: of concurrent deactivations of one
// token the first to get the turn wins, and a revocation runs wholly before
// or after a rotation done in InTx. On PostgreSQL (READ COMMITTED) a
// family's row lock orders everything done to its tokens:
//
//   - Rotation (DeactivateRefreshToken, then CreateRefreshToken) holds the
//     family FOR SHARE, taken before the token's own lock. Concurrent
//     deactivations of one token share the family; the first takes the
//     token's row lock, and the others wait for it to commit, re-check the
//     row, find it inactive and update nothing.
//   - Revocation updates the family first, which waits for every rotation
//     in progress to commit, and then, in a statement of its own (a fresh
//     snapshot), deactivates the tokens, the ones those rotations created
//     included. A rotation that starts later waits for the revocation and
//     then finds its token inactive, or its family revoked.
//
// Taking the family before the token, always, is also what keeps a
// revocation and a rotation from deadlocking.
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
		var loginSession any // NULL: the password grant
		if f.LoginSessionID != "" {
			loginSession = f.LoginSessionID
		}
		n, err := s.exec(ctx, `INSERT INTO token_families (id, client_id, subject, started_at, login_session_id)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING`,
			familyID, f.ClientID, f.Subject, s.d.Time(started), loginSession)
		if err != nil {
			return err
		}
		newFamily = n == 1
		n, err = s.exec(ctx, s.d.SQL.InsertRefreshToken, rt.Signature, s.d.Time(expires), s.d.Time(created), request,
			familyID, f.ClientID, f.Subject)
		if err == nil && n == 0 {
			err = fmt.Errorf("%w: %w", storage.ErrConflict, errFamilyClosed)
		}
		return err
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
	if err := checkText("family id", f.ID, "client_id", f.ClientID, "subject", f.Subject,
		"signature", rt.Signature, "token's family id", rt.FamilyID, "login session id", f.LoginSessionID); err != nil {
		return "", err
	}
	if _, ok := storage.CanonicalID(f.LoginSessionID); f.LoginSessionID != "" && !ok {
		return "", fmt.Errorf("%w: login session id is not a UUID", storage.ErrInvalid)
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
		rt storage.RefreshToken
		f  storage.TokenFamily
	)
	err := storage.CheckText("signature", signature)
	if err == nil {
		err = s.row(ctx, `
			SELECT t.signature, t.family_id, t.active, t.expires_at, t.created_at, t.rotated_at, t.request,
				f.client_id, f.subject, f.started_at, f.revoked_at
			FROM refresh_tokens t JOIN token_families f ON f.id = t.family_id
			WHERE t.signature = $1`, []any{signature},
			&rt.Signature, &rt.FamilyID, &rt.Active, timeDest{&rt.ExpiresAt}, timeDest{&rt.CreatedAt}, timeDest{&rt.RotatedAt}, &rt.Request,
			&f.ClientID, &f.Subject, timeDest{&f.StartedAt}, timeDest{&f.RevokedAt})
	}
	if err != nil {
		return nil, nil, fmt.Errorf("get refresh token: %w", err)
	}
	f.ID = rt.FamilyID
	return &rt, &f, nil
}

// DeactivateRefreshToken marks an active token inactive, rotated at at:
// the compare-and-swap of rotation.
func (s *Store) DeactivateRefreshToken(ctx context.Context, signature string, at time.Time) error {
	if err := storage.CheckText("signature", signature); err != nil {
		return fmt.Errorf("deactivate refresh token: %w", err)
	}
	at = storage.Stamp(at, storage.Now())
	if err := s.execOne(ctx, s.d.SQL.DeactivateRefreshToken, signature, s.d.Time(at)); !errors.Is(err, storage.ErrNotFound) {
		if err != nil {
			return fmt.Errorf("deactivate refresh token: %w", err)
		}
		return nil
	}
	// Lost: tell a used token from none, off the hot path.
	var familyID string
	if err := s.row(ctx, `SELECT family_id FROM refresh_tokens WHERE signature = $1`, []any{signature}, &familyID); err != nil {
		return fmt.Errorf("deactivate refresh token: %w", err)
	}
	return fmt.Errorf("deactivate refresh token of family %q: already inactive: %w", familyID, storage.ErrConflict)
}

// GetTokenFamily finds a family by ID.
func (s *Store) GetTokenFamily(ctx context.Context, id string) (*storage.TokenFamily, error) {
	var f storage.TokenFamily
	k, err := key("family id", id, storage.ErrNotFound)
	if err == nil {
		var loginSession *string
		err = s.row(ctx, `SELECT id, client_id, subject, started_at, revoked_at, login_session_id FROM token_families WHERE id = $1`,
			[]any{k}, &f.ID, &f.ClientID, &f.Subject, timeDest{&f.StartedAt}, timeDest{&f.RevokedAt}, &loginSession)
		if loginSession != nil {
			f.LoginSessionID = *loginSession
		}
	}
	if err != nil {
		return nil, fmt.Errorf("get token family %q: %w", id, err)
	}
	return &f, nil
}

// RevokeTokenFamily revokes the family and deactivates its tokens.
func (s *Store) RevokeTokenFamily(ctx context.Context, id string, at time.Time) error {
	k, err := key("family id", id, storage.ErrNotFound)
	if err == nil {
		at = storage.Stamp(at, storage.Now())
		err = s.InTx(ctx, func(ctx context.Context) error {
			// Family first: see the top of this file. coalesce keeps the
			// time of the first revocation.
			err := s.execOne(ctx, `UPDATE token_families SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1`,
				k, s.d.Time(at))
			if err == nil {
				_, err = s.exec(ctx, `UPDATE refresh_tokens SET active = false WHERE family_id = $1 AND active`, k)
			}
			return err
		})
	}
	if err != nil {
		return fmt.Errorf("revoke token family %q: %w", id, err)
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
	if err := storage.CheckText(column, value); err != nil {
		return 0, err
	}
	at = storage.Stamp(at, storage.Now())
	var n int64
	err := s.InTx(ctx, func(ctx context.Context) error {
		var err error
		n, err = s.exec(ctx, `UPDATE token_families SET revoked_at = $2 WHERE `+column+` = $1 AND revoked_at IS NULL`,
			value, s.d.Time(at))
		if err != nil {
			return err
		}
		// The tokens of every revoked family selected: those just revoked,
		// and none of a family live again since (a login after this logout).
		_, err = s.exec(ctx, `UPDATE refresh_tokens SET active = false
			WHERE active AND family_id IN (SELECT id FROM token_families WHERE `+column+` = $1 AND revoked_at IS NOT NULL)`,
			value)
		return err
	})
	return int(n), err
}

// RevokeAccessToken records a revoked jti until expiresAt.
func (s *Store) RevokeAccessToken(ctx context.Context, jti string, expiresAt time.Time) error {
	err := storage.CheckText("jti", jti)
	switch {
	case err != nil:
	case jti == "" || len(jti) > storage.MaxTokenKeyLen:
		err = fmt.Errorf("jti of %d bytes, want 1 to %d", len(jti), storage.MaxTokenKeyLen)
	case expiresAt.IsZero():
		err = errors.New("no expiry")
	default:
		_, err = s.exec(ctx, `INSERT INTO revoked_access_tokens (jti, expires_at) VALUES ($1, $2)
			ON CONFLICT (jti) DO NOTHING`, jti, s.d.Time(expiresAt.Truncate(time.Microsecond)))
	}
	if err != nil {
		return fmt.Errorf("revoke access token %q: %w", jti, err)
	}
	return nil
}

// AccessTokenRevoked reports whether jti was revoked.
func (s *Store) AccessTokenRevoked(ctx context.Context, jti string) (bool, error) {
	var revoked bool
	err := storage.CheckText("jti", jti)
	if err == nil {
		err = s.row(ctx, `SELECT EXISTS (SELECT 1 FROM revoked_access_tokens WHERE jti = $1)`, []any{jti}, &revoked)
	}
	if err != nil {
		return false, fmt.Errorf("check access token %q: %w", jti, err)
	}
	return revoked, nil
}

// PurgeTokens deletes expired tokens and revocations, then empty families.
func (s *Store) PurgeTokens(ctx context.Context, before time.Time) (int, error) {
	b := s.d.Time(before.Truncate(time.Microsecond)) // the precision stored
	var total int64
	err := s.InTx(ctx, func(ctx context.Context) error {
		var err error
		total, err = s.execEach(ctx, b,
			`DELETE FROM refresh_tokens WHERE expires_at < $1`,
			`DELETE FROM revoked_access_tokens WHERE expires_at < $1`)
		if err != nil {
			return err
		}
		// A family locked by a rotation or revocation in progress is
		// skipped (SkipLocked), not waited for (which could deadlock): the
		// next purge takes it.
		n, err := s.exec(ctx, `DELETE FROM token_families WHERE id IN (
			SELECT id FROM token_families f
			WHERE NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.family_id = f.id)`+s.d.SkipLocked+`)`)
		total += n
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("purge tokens: %w", err)
	}
	return int(total), nil
}
