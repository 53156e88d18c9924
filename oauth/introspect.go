package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/ory/fosite"

	"github.com/gaia-platform/iam/audit"
	"github.com/gaia-platform/iam/storage"
)

// refreshToken finds the stored refresh token a presented one stands for,
// or nil. verifiedRefresh checks the token's own HMAC first: fosite's
// signature split alone would match any "x.<signature>".
func (s *Server) refreshToken(ctx context.Context, token string) (*storage.RefreshToken, *storage.TokenFamily, error) {
	sig := s.refresh.RefreshTokenSignature(ctx, token)
	if sig == "" {
		return nil, nil, nil
	}
	rt, fam, err := s.store.GetRefreshToken(ctx, sig)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("look up refresh token: %w", err)
	}
	return rt, fam, nil
}

// introspection is an RFC 7662 §2.2 response.
type introspection struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	Username  string   `json:"username,omitempty"`
	TokenType string   `json:"token_type,omitempty"`
	Expiry    int64    `json:"exp,omitempty"`
	IssuedAt  int64    `json:"iat,omitempty"`
	Subject   string   `json:"sub,omitempty"`
	Audience  []string `json:"aud,omitempty"`
	Issuer    string   `json:"iss,omitempty"`
	ID        string   `json:"jti,omitempty"`
}

// Introspect serves POST /oauth2/introspect (RFC 7662). Only a
// confidential client that authenticates may ask (§2.1; a public client
// could otherwise scan for tokens with nothing but a client_id), and it
// learns about a token only if the token was issued to it or its aud names
// the caller's client_id (§4): sharing an audience such as the default one
// is not enough. A resource server is therefore a confidential client whose
// client_id is in the aud of the tokens it receives. Otherwise, and for a
// token that is not live by the one liveness rule, the answer is
// {"active":false} and nothing else.
func (s *Server) Introspect(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	caller, token, err := s.clientRequest(w, r)
	if err == nil && caller.IsPublic() {
		err = fosite.ErrInvalidClient
	}
	if err != nil {
		s.writeError(ctx, w, r, err)
		return
	}
	lt, err := s.live(ctx, token)
	if err != nil {
		s.writeError(ctx, w, r, err)
		return
	}
	resp := introspection{}
	switch {
	case lt == nil:
	case lt.access != nil && (lt.access.ClientID == caller.GetID() || slices.Contains(lt.access.Audience, caller.GetID())):
		a := lt.access
		resp = introspection{Active: true, Scope: a.Scope, ClientID: a.ClientID, Username: a.Username, TokenType: "Bearer",
			Expiry: a.Expiry, IssuedAt: a.IssuedAt, Subject: a.Subject, Audience: a.Audience, Issuer: a.Issuer, ID: a.ID}
	case lt.refresh != nil && lt.family.ClientID == caller.GetID():
		resp = introspection{Active: true, ClientID: lt.family.ClientID, TokenType: "refresh_token",
			Expiry: lt.refresh.ExpiresAt.Unix(), IssuedAt: lt.refresh.CreatedAt.Unix(), Subject: lt.family.Subject, Issuer: s.cfg.Issuer}
		if lt.user != nil {
			resp.Username = lt.user.Username
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

// Revoke serves POST /oauth2/revoke (RFC 7009). Revoking a refresh token
// ends its login: the whole family, and with it the family's access tokens
// at introspection. Revoking an access token lists its jti as revoked.
// Tokens of other clients are left alone, and every outcome short of a
// failure is 200 (§2.2), so the endpoint tells nothing about tokens; the
// audit log tells what was revoked, or why nothing was.
func (s *Server) Revoke(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	caller, token, err := s.clientRequest(w, r)
	if err != nil {
		s.auditRevoke(ctx, r, nil, revocation{}, err)
		s.writeError(ctx, w, r, err)
		return
	}
	rev, err := s.revoke(ctx, caller.GetID(), token)
	s.auditRevoke(ctx, r, caller, rev, err)
	if err != nil {
		s.log.ErrorContext(ctx, "revocation failed", "error", err)
		w.Header().Set("Retry-After", "5")
		s.writeError(ctx, w, r, &oauthError{"temporarily_unavailable", descriptions["temporarily_unavailable"], http.StatusServiceUnavailable})
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// revocation is what a revocation request did.
type revocation struct {
	// targetType and targetID name the token family or access token the
	// presented token stands for; empty when it stands for none.
	targetType, targetID string
	// refused is why nothing was revoked: "" when the target was.
	refused string
}

func (s *Server) revoke(ctx context.Context, clientID, token string) (revocation, error) {
	// Whether the token is ours, not whether it is live: revoking a token
	// that is no longer live is harmless and answers the same (§2.2).
	p, err := s.identify(ctx, token)
	if err != nil {
		return revocation{}, err
	}
	if p == nil {
		return revocation{refused: reasonUnknownToken}, nil
	}
	if a := p.access; a != nil {
		rev := revocation{targetType: audit.TargetAccessToken, targetID: a.ID}
		if a.ClientID != clientID {
			rev.refused = reasonOtherClient
			return rev, nil
		}
		return rev, s.store.RevokeAccessToken(ctx, a.ID, timeFromUnix(a.Expiry))
	}
	fam := p.family
	rev := revocation{targetType: audit.TargetTokenFamily, targetID: fam.ID}
	if fam.ClientID != clientID {
		rev.refused = reasonOtherClient
		return rev, nil
	}
	s.log.InfoContext(ctx, "token family revoked", "family_id", fam.ID, "client_id", clientID)
	return rev, s.store.RevokeTokenFamily(ctx, fam.ID, s.now())
}

// clientRequest parses a revocation or introspection request: a bounded
// form, an authenticated client (fosite's client authentication), and the
// REQUIRED token parameter.
func (s *Server) clientRequest(w http.ResponseWriter, r *http.Request) (fosite.Client, string, error) {
	if err := parseForm(w, r); err != nil {
		return nil, "", err
	}
	v, err := s.protect(r.Context(), w, r)
	if err != nil {
		return nil, "", err
	}
	c, err := s.provider.AuthenticateClient(r.Context(), r, r.PostForm)
	if err == nil {
		err = checkPublic(c, r)
	}
	if err = s.protectedClient(r.Context(), r, v, c, err); err != nil {
		return nil, "", err
	}
	token := strings.TrimSpace(r.PostForm.Get("token"))
	if token == "" {
		return nil, "", errRequest()
	}
	return c, token, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
