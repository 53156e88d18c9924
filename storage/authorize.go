package storage

import (
	"context"
	"time"
)

// The browser flows (issue 12): the login sessions of the hosted login
// page and the authorization codes issued through them.

// LoginSession is a user's login at the hosted login page. The browser
// holds a secret in a cookie; the store keeps only its SHA-256
// (TokenHash). ID is the sid of the ID tokens issued through the session,
// and names the token families issued through it (TokenFamily.LoginSessionID).
type LoginSession struct {
	ID        string // UUID, assigned by CreateLoginSession when empty
	TokenHash string // hex SHA-256 of the cookie secret; unique
	UserID    string
	AuthTime  time.Time // when the user presented the password
	ExpiresAt time.Time // required
	CreatedAt time.Time
	RevokedAt time.Time // zero while live
}

// AuthorizationCode is an authorization code, stored by its signature (an
// HMAC of the code); the code itself is never stored.
type AuthorizationCode struct {
	Signature      string // at most MaxTokenKeyLen bytes
	RequestID      string // fosite's request ID: the family its tokens get
	ClientID       string
	LoginSessionID string
	// Active is false once the code was exchanged. The row stays until it
	// expires, so that a replay is recognised (RFC 6749 §4.1.2).
	Active bool
	// The PKCE challenge (RFC 7636) the authorization request carried.
	CodeChallenge       string
	CodeChallengeMethod string
	ExpiresAt           time.Time // required
	CreatedAt           time.Time
	Request             []byte // the serialized request; at most MaxTokenRequestLen bytes
}

// Authorizations stores login sessions and authorization codes.
type Authorizations interface {
	// CreateLoginSession stores s, assigning ID and CreatedAt when zero. A
	// TokenHash already stored is ErrConflict.
	CreateLoginSession(ctx context.Context, s *LoginSession) error
	// GetLoginSession finds a session by ID; GetLoginSessionByToken by the
	// hash of its secret. Revoked and expired sessions are returned too:
	// the caller checks RevokedAt and ExpiresAt.
	GetLoginSession(ctx context.Context, id string) (*LoginSession, error)
	GetLoginSessionByToken(ctx context.Context, tokenHash string) (*LoginSession, error)
	// RevokeLoginSession ends the session (idempotently: the first
	// revocation time stays) and revokes, as RevokeTokenFamily does, every
	// live token family issued through it, in one transaction. It returns
	// how many families it revoked. An unknown session is ErrNotFound.
	RevokeLoginSession(ctx context.Context, id string, at time.Time) (int, error)

	// CreateAuthorizationCode stores c as active; a signature already
	// stored is ErrConflict.
	CreateAuthorizationCode(ctx context.Context, c *AuthorizationCode) error
	// SetCodeChallenge records the PKCE challenge of a stored code.
	SetCodeChallenge(ctx context.Context, signature, challenge, method string) error
	// GetAuthorizationCode returns the code with this signature, used or
	// not.
	GetAuthorizationCode(ctx context.Context, signature string) (*AuthorizationCode, error)
	// InvalidateAuthorizationCode marks an active code used, in one
	// statement: of concurrent exchanges of one code exactly one succeeds;
	// the others get ErrConflict. No such code is ErrNotFound.
	InvalidateAuthorizationCode(ctx context.Context, signature string) error
	// PurgeAuthorizations deletes the codes and login sessions that
	// expired before `before`, and returns how many rows went.
	PurgeAuthorizations(ctx context.Context, before time.Time) (int, error)
}
