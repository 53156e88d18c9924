package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gaia-platform/iam/storage"
)

// Login sessions and authorization codes (issue 12). Errors name a code
// by its request ID and a session by its ID, never by a signature or the
// hash of a cookie.

const loginSessionColumns = `id, token_hash, user_id, auth_time, expires_at, created_at, revoked_at`

func loginSessionDest(ls *storage.LoginSession) []any {
	return []any{&ls.ID, &ls.TokenHash, &ls.UserID, timeDest{&ls.AuthTime}, timeDest{&ls.ExpiresAt},
		timeDest{&ls.CreatedAt}, timeDest{&ls.RevokedAt}}
}

// CreateLoginSession stores ls.
func (s *Store) CreateLoginSession(ctx context.Context, ls *storage.LoginSession) error {
	id, err := storage.NewID(ls.ID)
	if err == nil {
		err = checkText("token hash", ls.TokenHash, "user id", ls.UserID)
	}
	switch {
	case err != nil:
	case ls.TokenHash == "" || len(ls.TokenHash) > 128 || ls.UserID == "" || len(ls.UserID) > 64:
		err = fmt.Errorf("%w: token hash or user id empty or too long", storage.ErrInvalid)
	case ls.ExpiresAt.IsZero() || ls.AuthTime.IsZero():
		err = fmt.Errorf("%w: no expiry or auth time", storage.ErrInvalid)
	}
	now := storage.Now()
	created := storage.Stamp(ls.CreatedAt, now)
	if err == nil {
		_, err = s.exec(ctx, `INSERT INTO login_sessions (id, token_hash, user_id, auth_time, expires_at, created_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, id, ls.TokenHash, ls.UserID,
			s.d.Time(ls.AuthTime.UTC().Truncate(time.Microsecond)), s.d.Time(ls.ExpiresAt.UTC().Truncate(time.Microsecond)), s.d.Time(created))
	}
	if err != nil {
		return fmt.Errorf("create login session: %w", err)
	}
	ls.ID, ls.CreatedAt, ls.RevokedAt = id, created, time.Time{}
	ls.AuthTime, ls.ExpiresAt = ls.AuthTime.UTC().Truncate(time.Microsecond), ls.ExpiresAt.UTC().Truncate(time.Microsecond)
	return nil
}

// GetLoginSession finds a session by ID.
func (s *Store) GetLoginSession(ctx context.Context, id string) (*storage.LoginSession, error) {
	var ls storage.LoginSession
	k, err := key("login session id", id, storage.ErrNotFound)
	if err == nil {
		err = s.row(ctx, `SELECT `+loginSessionColumns+` FROM login_sessions WHERE id = $1`, []any{k}, loginSessionDest(&ls)...)
	}
	if err != nil {
		return nil, fmt.Errorf("get login session %q: %w", id, err)
	}
	return &ls, nil
}

// GetLoginSessionByToken finds a session by the hash of its secret.
func (s *Store) GetLoginSessionByToken(ctx context.Context, tokenHash string) (*storage.LoginSession, error) {
	var ls storage.LoginSession
	err := storage.CheckText("token hash", tokenHash)
	if err == nil {
		err = s.row(ctx, `SELECT `+loginSessionColumns+` FROM login_sessions WHERE token_hash = $1`, []any{tokenHash}, loginSessionDest(&ls)...)
	}
	if err != nil {
		return nil, fmt.Errorf("get login session by token: %w", err)
	}
	return &ls, nil
}

// RevokeLoginSession ends the session and revokes its token families.
func (s *Store) RevokeLoginSession(ctx context.Context, id string, at time.Time) (int, error) {
	k, err := key("login session id", id, storage.ErrNotFound)
	var n int
	if err == nil {
		at = storage.Stamp(at, storage.Now())
		err = s.InTx(ctx, func(ctx context.Context) error {
			if err := s.execOne(ctx, `UPDATE login_sessions SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1`,
				k, s.d.Time(at)); err != nil {
				return err
			}
			var err error
			n, err = s.revokeFamilies(ctx, "login_session_id", k, at)
			return err
		})
	}
	if err != nil {
		return 0, fmt.Errorf("revoke login session %q: %w", id, err)
	}
	return n, nil
}

const codeColumns = `signature, request_id, client_id, login_session_id, active, code_challenge, code_challenge_method,
	expires_at, created_at, request`

// CreateAuthorizationCode stores c as active.
func (s *Store) CreateAuthorizationCode(ctx context.Context, c *storage.AuthorizationCode) error {
	err := checkText("signature", c.Signature, "request id", c.RequestID, "client_id", c.ClientID,
		"login session id", c.LoginSessionID, "code challenge", c.CodeChallenge, "code challenge method", c.CodeChallengeMethod)
	switch {
	case err != nil:
	case c.Signature == "" || len(c.Signature) > storage.MaxTokenKeyLen:
		err = fmt.Errorf("%w: signature of %d bytes", storage.ErrInvalid, len(c.Signature))
	case len(c.Request) > storage.MaxTokenRequestLen:
		err = fmt.Errorf("%w: request of %d bytes", storage.ErrInvalid, len(c.Request))
	case c.ExpiresAt.IsZero():
		err = fmt.Errorf("%w: no expiry", storage.ErrInvalid)
	}
	created := storage.Stamp(c.CreatedAt, storage.Now())
	request := c.Request
	if request == nil {
		request = []byte{}
	}
	if err == nil {
		_, err = s.exec(ctx, `INSERT INTO authorization_codes (`+codeColumns+`)
			VALUES ($1, $2, $3, $4, true, $5, $6, $7, $8, $9)`,
			c.Signature, c.RequestID, c.ClientID, c.LoginSessionID, c.CodeChallenge, c.CodeChallengeMethod,
			s.d.Time(c.ExpiresAt.UTC().Truncate(time.Microsecond)), s.d.Time(created), request)
	}
	if err != nil {
		return fmt.Errorf("create authorization code of request %q: %w", c.RequestID, err)
	}
	c.Active, c.CreatedAt = true, created
	c.ExpiresAt = c.ExpiresAt.UTC().Truncate(time.Microsecond)
	return nil
}

// SetCodeChallenge records the PKCE challenge of a stored code.
func (s *Store) SetCodeChallenge(ctx context.Context, signature, challenge, method string) error {
	err := checkText("signature", signature, "code challenge", challenge, "code challenge method", method)
	if err == nil {
		err = s.execOne(ctx, `UPDATE authorization_codes SET code_challenge = $2, code_challenge_method = $3 WHERE signature = $1`,
			signature, challenge, method)
	}
	if err != nil {
		return fmt.Errorf("set code challenge: %w", err)
	}
	return nil
}

// GetAuthorizationCode returns the code with this signature, used or not.
func (s *Store) GetAuthorizationCode(ctx context.Context, signature string) (*storage.AuthorizationCode, error) {
	var c storage.AuthorizationCode
	err := storage.CheckText("signature", signature)
	if err == nil {
		err = s.row(ctx, `SELECT `+codeColumns+` FROM authorization_codes WHERE signature = $1`, []any{signature},
			&c.Signature, &c.RequestID, &c.ClientID, &c.LoginSessionID, &c.Active, &c.CodeChallenge, &c.CodeChallengeMethod,
			timeDest{&c.ExpiresAt}, timeDest{&c.CreatedAt}, &c.Request)
	}
	if err != nil {
		return nil, fmt.Errorf("get authorization code: %w", err)
	}
	return &c, nil
}

// InvalidateAuthorizationCode marks an active code used: the
// compare-and-swap of the exchange.
func (s *Store) InvalidateAuthorizationCode(ctx context.Context, signature string) error {
	if err := storage.CheckText("signature", signature); err != nil {
		return fmt.Errorf("invalidate authorization code: %w", err)
	}
	err := s.execOne(ctx, `UPDATE authorization_codes SET active = false WHERE signature = $1 AND active`, signature)
	if !errors.Is(err, storage.ErrNotFound) {
		if err != nil {
			return fmt.Errorf("invalidate authorization code: %w", err)
		}
		return nil
	}
	var requestID string
	if err := s.row(ctx, `SELECT request_id FROM authorization_codes WHERE signature = $1`, []any{signature}, &requestID); err != nil {
		return fmt.Errorf("invalidate authorization code: %w", err)
	}
	return fmt.Errorf("invalidate authorization code of request %q: already used: %w", requestID, storage.ErrConflict)
}

// PurgeAuthorizations deletes expired codes and login sessions.
func (s *Store) PurgeAuthorizations(ctx context.Context, before time.Time) (int, error) {
	b := s.d.Time(before.Truncate(time.Microsecond))
	total, err := s.execEach(ctx, b,
		`DELETE FROM authorization_codes WHERE expires_at < $1`,
		`DELETE FROM login_sessions WHERE expires_at < $1`)
	if err != nil {
		return 0, fmt.Errorf("purge authorizations: %w", err)
	}
	return int(total), nil
}
