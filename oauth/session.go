package oauth

import (
	"maps"
	"slices"
	"time"

	"github.com/ory/fosite"
	fositeoauth2 "github.com/ory/fosite/handler/oauth2"

	"github.com/gaia-platform/iam/claims"
)

// Session is Gaia's fosite session. What identifies the login is stored with
// the refresh token; what it grants (roles, permissions) is resolved again at
// every issuance and never stored, so a role change shows on the next refresh.
type Session struct {
	Subject  string      `json:"sub"`
	Username string      `json:"username,omitempty"`
	Type     claims.Type `json:"type"`
	// AuthTime is when the user last presented a password; refreshes keep it.
	AuthTime time.Time `json:"auth_time"`
	// ExpiresAt holds the expiry of each token kind issued for the session.
	ExpiresAt map[fosite.TokenType]time.Time `json:"expires_at,omitempty"`
	// LoginSessionID is the hosted-login session of the authorization-code
	// flow (the ID token's sid); empty for the password grant.
	LoginSessionID string `json:"login_session_id,omitempty"`
	// Nonce is the OpenID Connect nonce of the authorization request,
	// echoed in the ID token of the code exchange.
	Nonce string `json:"nonce,omitempty"`
	// Resource is the one service (RFC 8707) the grant was made for, when
	// the client named one: every access token of the login is for it.
	Resource string `json:"resource,omitempty"`

	// Resolved at each issuance, never stored.
	Roles       []string `json:"-"`
	Permissions []string `json:"-"`
	email       string
	// issuedAt is the instant of this issuance, to the second: the token's
	// iat, and exp counts from it.
	issuedAt time.Time
	// refreshScope, when set, is the scope the refresh token issued with
	// this session keeps: a refresh that narrows the access token's scope
	// leaves the refresh token's as it was (RFC 6749 §6).
	refreshScope []string
	// audience, when set, is the one aud of this issuance (Resource, or a
	// service named at this code exchange or refresh); Permissions are
	// then that service's only.
	audience string
}

var (
	_ fosite.Session       = (*Session)(nil)
	_ fositeoauth2.Session = (*Session)(nil)
)

// SetExpiresAt implements fosite.Session.
func (s *Session) SetExpiresAt(key fosite.TokenType, exp time.Time) {
	if s.ExpiresAt == nil {
		s.ExpiresAt = make(map[fosite.TokenType]time.Time, 2)
	}
	s.ExpiresAt[key] = exp
}

// GetExpiresAt implements fosite.Session.
func (s *Session) GetExpiresAt(key fosite.TokenType) time.Time { return s.ExpiresAt[key] }

// GetUsername implements fosite.Session.
func (s *Session) GetUsername() string { return s.Username }

// GetSubject implements fosite.Session.
func (s *Session) GetSubject() string { return s.Subject }

// SetSubject implements the password handler's session interface.
func (s *Session) SetSubject(sub string) { s.Subject = sub }

// Clone implements fosite.Session.
func (s *Session) Clone() fosite.Session {
	if s == nil {
		return nil
	}
	c := *s
	c.ExpiresAt = maps.Clone(s.ExpiresAt)
	c.Roles = slices.Clone(s.Roles)
	c.Permissions = slices.Clone(s.Permissions)
	return &c
}
