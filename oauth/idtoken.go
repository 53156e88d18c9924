package oauth

import (
	"encoding/json"
	"fmt"

	"github.com/ory/fosite"
)

// idTokenClaims is an OpenID Connect Core §2 ID token. fosite has no OpenID
// handler for the password grant, so Gaia mints it beside the access token
// when the client asked for openid, as Keycloak does.
type idTokenClaims struct {
	Issuer            string   `json:"iss"`
	Subject           string   `json:"sub"`
	Audience          []string `json:"aud"`
	AuthorizedParty   string   `json:"azp"`
	Expiry            int64    `json:"exp"`
	IssuedAt          int64    `json:"iat"`
	AuthTime          int64    `json:"auth_time"`
	AMR               []string `json:"amr"`
	Nonce             string   `json:"nonce,omitempty"`
	SessionID         string   `json:"sid,omitempty"`
	PreferredUsername string   `json:"preferred_username,omitempty"`
	Email             string   `json:"email,omitempty"`
}

// idToken signs the ID token of a code exchange, password or refresh grant. It keeps the
// original auth_time on refresh (Core §12.2) and is typed JWT, so a resource
// server checking typ at+jwt refuses it as an access token.
func (s *Server) idToken(ar fosite.AccessRequester) (string, error) {
	sess := ar.GetSession().(*Session)
	c := idTokenClaims{
		Issuer:          s.cfg.Issuer,
		Subject:         sess.Subject,
		Audience:        []string{ar.GetClient().GetID()},
		AuthorizedParty: ar.GetClient().GetID(),
		Expiry:          sess.GetExpiresAt(fosite.AccessToken).Unix(),
		IssuedAt:        sess.issuedAt.Unix(),
		AuthTime:        sess.AuthTime.Unix(),
		AMR:             []string{"pwd"},
		// The hosted-login session (OpenID Connect Front-/Back-Channel
		// Logout's sid), the one RP-initiated logout ends.
		SessionID: sess.LoginSessionID,
	}
	// The nonce goes in the ID token of the code exchange only; a refreshed
	// ID token has none (Core §12.2).
	if ar.GetGrantTypes().ExactOne("authorization_code") {
		c.Nonce = sess.Nonce
	}
	if ar.GetGrantedScopes().Has("profile") {
		c.PreferredUsername = sess.Username
	}
	if ar.GetGrantedScopes().Has("email") {
		c.Email = sess.email
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("encode id token: %w", err)
	}
	return s.access.signJWS(payload, "JWT")
}
