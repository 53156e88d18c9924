package storage

import (
	"context"
	"time"
)

// Access tokens are signed JWTs that need no row to be valid. What is stored
// is only what revocation, refresh rotation, reuse detection and
// introspection need: the token families, the refresh tokens, and the jti of
// access tokens revoked before they expire.

// Bounds that the schema enforces and callers may check first.
const (
	// MaxTokenKeyLen bounds RefreshToken.Signature and the jti of a revoked
	// access token, in characters (both are ASCII).
	MaxTokenKeyLen = 512
	// MaxTokenRequestLen bounds RefreshToken.Request, in bytes.
	MaxTokenRequestLen = 64 << 10
)

// TokenFamily is one login: every refresh token rotated from one grant
// shares it (fosite's request ID). Revoking the family ends the login.
type TokenFamily struct {
	ID       string // UUID: the fosite request ID
	ClientID string // OAuth client_id
	// Subject is the token's sub: a user ID for now. It references no
	// table, so a deleted user's families can still be revoked and purged.
	Subject   string
	StartedAt time.Time // first issuance; an absolute session cap counts from here
	RevokedAt time.Time // zero while live
	// LoginSessionID is the hosted-login session the family was issued
	// through (the authorization-code flow); empty for the password grant.
	LoginSessionID string
}

// RefreshToken is a refresh token, stored by its signature (an HMAC of the
// token); the token itself is never stored. Since the signature is a lookup
// key, errors and logs name the token's family, never its signature.
type RefreshToken struct {
	Signature string // at most MaxTokenKeyLen bytes
	FamilyID  string
	// Active is false once the token was rotated or revoked. The row stays
	// until it expires, so that a replay is recognised as reuse.
	Active    bool
	ExpiresAt time.Time // required: a token that never expires is an error
	CreatedAt time.Time
	// RotatedAt is when DeactivateRefreshToken retired the token; zero
	// while active, for a token deactivated by revocation only, and for
	// one rotated before the time was kept. The token endpoint tells a
	// concurrent refresh that lost (shortly after) from reuse by it.
	RotatedAt time.Time
	// Request is the serialized fosite request (scopes, audience, session),
	// opaque to storage; at most MaxTokenRequestLen bytes.
	Request []byte
}

// Tokens stores the state of issued tokens. The token endpoint calls these
// once per request, so the reads and DeactivateRefreshToken are a single
// statement each; the methods that write several tables run in one
// transaction (joining the one in ctx, like every Store method), so that
// nothing is half-written.
type Tokens interface {
	// CreateRefreshToken stores rt as an active token and, when no family
	// with f.ID exists yet (first issuance), f as a live family, in one
	// transaction. An existing family is left as is, but must belong to
	// f.ClientID and f.Subject and be live: a revoked family, or one of
	// another client or subject, is ErrConflict, as is a signature already
	// stored.
	//
	// It assigns f.ID when empty; sets rt.FamilyID to it (rt.FamilyID must
	// be empty or name the same family) and rt.Active to true; and stamps
	// rt.CreatedAt and, for a new family, f.StartedAt (now when zero).
	// Times are kept to the microsecond. f.RevokedAt is ignored.
	CreateRefreshToken(ctx context.Context, f *TokenFamily, rt *RefreshToken) error
	// GetRefreshToken returns the token with this signature and its family,
	// inactive tokens and revoked families included: reuse detection needs
	// them. It checks nothing: a caller accepting the token checks
	// rt.Active, rt.ExpiresAt and f.RevokedAt.
	GetRefreshToken(ctx context.Context, signature string) (*RefreshToken, *TokenFamily, error)
	// DeactivateRefreshToken marks an active token inactive and sets its
	// RotatedAt to at (now when zero; kept to the microsecond), in one
	// statement. It is the compare-and-swap of rotation: of concurrent
	// calls for one token, exactly one succeeds; the others, and any later
	// call, get ErrConflict (a concurrent refresh won, or this is a replay)
	// and change nothing, RotatedAt included. No such token is ErrNotFound.
	DeactivateRefreshToken(ctx context.Context, signature string, at time.Time) error
	// GetTokenFamily finds a family by ID.
	GetTokenFamily(ctx context.Context, id string) (*TokenFamily, error)
	// RevokeTokenFamily sets the family's RevokedAt to at (now when zero)
	// unless it is already revoked, and deactivates all its refresh tokens,
	// including any that a concurrent CreateRefreshToken adds. It is
	// idempotent; an unknown family is ErrNotFound.
	RevokeTokenFamily(ctx context.Context, id string, at time.Time) error
	// RevokeSubjectTokens revokes, as RevokeTokenFamily does, every live
	// family of subject (logout, a disabled user) and returns how many it
	// revoked. A subject with none is 0, not an error.
	RevokeSubjectTokens(ctx context.Context, subject string, at time.Time) (int, error)
	// RevokeClientTokens revokes, as RevokeTokenFamily does, every live
	// family issued to the OAuth client clientID (a deleted client: its
	// logins must not outlive it, nor pass to a new client given the same
	// client_id) and returns how many it revoked.
	RevokeClientTokens(ctx context.Context, clientID string, at time.Time) (int, error)
	// RevokeAccessToken records the jti of a revoked access token until
	// expiresAt (required), when the token would have expired anyway. It is
	// idempotent: revoking a jti again keeps the first record.
	RevokeAccessToken(ctx context.Context, jti string, expiresAt time.Time) error
	// AccessTokenRevoked reports whether jti was revoked (and not purged).
	AccessTokenRevoked(ctx context.Context, jti string) (bool, error)
	// PurgeTokens deletes, in one transaction, the refresh tokens and
	// access-token revocations that expired before `before`, and then the
	// families left without a refresh token. It returns the number of rows
	// deleted. A family that a rotation or revocation holds at that moment
	// may be left for the next purge.
	PurgeTokens(ctx context.Context, before time.Time) (int, error)
}
