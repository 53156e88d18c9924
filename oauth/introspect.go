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
	"github.com/gaia-platform/iam/claims"
	"github.com/gaia-platform/iam/storage"
)

// tokenState is what Gaia knows of a presented token.
type tokenState struct {
	access  *claims.Access        // set for a live access token
	refresh *storage.RefreshToken // set for a live refresh token
	family  *storage.TokenFamily
}

// lookup finds token among the live tokens: an access token whose signature
// verifies and that was not revoked, nor its login, nor its user disabled;
// or an active refresh token of a live family. Anything else is nil.
func (s *Server) lookup(ctx context.Context, token string) (*tokenState, error) {
	if a, err := s.access.verify(token); err == nil {
		live, err := s.accessLive(ctx, a)
		if err != nil || !live {
			return nil, err
		}
		return &tokenState{access: a}, nil
	}
	rt, fam, err := s.refreshToken(ctx, token)
	if err != nil || rt == nil {
		return nil, err
	}
	if !rt.Active || !fam.RevokedAt.IsZero() || !rt.ExpiresAt.After(s.now()) {
		return nil, nil
	}
	return &tokenState{refresh: rt, family: fam}, nil
}

// refreshToken finds the stored refresh token a presented one stands for,
// or nil. The token's own HMAC is checked first: fosite's signature split
// alone would match any "x.<signature>".
func (s *Server) refreshToken(ctx context.Context, token string) (*storage.RefreshToken, *storage.TokenFamily, error) {
	if len(token) > maxTokenLength || s.enigma.Validate(ctx, token) != nil {
		return nil, nil, nil
	}
	rt, fam, err := s.store.GetRefreshToken(ctx, s.refresh.RefreshTokenSignature(ctx, token))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("look up refresh token: %w", err)
	}
	return rt, fam, nil
}

// accessLive reports whether a verified access token still stands.
func (s *Server) accessLive(ctx context.Context, a *claims.Access) (bool, error) {
	revoked, err := s.store.AccessTokenRevoked(ctx, a.ID)
	if err != nil || revoked {
		return false, err
	}
	if a.Type != claims.User {
		return true, nil
	}
	if a.SessionID != "" {
		fam, err := s.store.GetTokenFamily(ctx, a.SessionID)
		if err == nil && !fam.RevokedAt.IsZero() {
			return false, nil
		}
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return false, err
		}
	}
	u, err := s.store.GetUser(ctx, a.Subject)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	return err == nil && u.Active, err
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

// Introspect serves POST /oauth2/introspect (RFC 7662). The caller must
// authenticate as a client, and learns about a token only if it was issued
// to it or names one of its audiences (§4); otherwise, and for any token
// that is not live, the answer is {"active":false} and nothing else.
func (s *Server) Introspect(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	caller, token, err := s.clientRequest(w, r)
	if err != nil {
		s.writeError(ctx, w, r, err)
		return
	}
	st, err := s.lookup(ctx, token)
	if err != nil {
		s.writeError(ctx, w, r, err)
		return
	}
	resp := introspection{}
	switch {
	case st == nil:
	case st.access != nil && (st.access.ClientID == caller.GetID() || slices.ContainsFunc(caller.GetAudience(), func(a string) bool { return slices.Contains(st.access.Audience, a) })):
		a := st.access
		resp = introspection{Active: true, Scope: a.Scope, ClientID: a.ClientID, Username: a.Username, TokenType: "Bearer",
			Expiry: a.Expiry, IssuedAt: a.IssuedAt, Subject: a.Subject, Audience: a.Audience, Issuer: a.Issuer, ID: a.ID}
	case st.refresh != nil && st.family.ClientID == caller.GetID():
		resp = introspection{Active: true, ClientID: st.family.ClientID, TokenType: "refresh_token",
			Expiry: st.refresh.ExpiresAt.Unix(), IssuedAt: st.refresh.CreatedAt.Unix(), Subject: st.family.Subject, Issuer: s.cfg.Issuer}
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
	if a, err := s.access.verify(token); err == nil {
		rev := revocation{targetType: audit.TargetAccessToken, targetID: a.ID}
		if a.ClientID != clientID {
			rev.refused = reasonOtherClient
			return rev, nil
		}
		return rev, s.store.RevokeAccessToken(ctx, a.ID, timeFromUnix(a.Expiry))
	}
	_, fam, err := s.refreshToken(ctx, token)
	if err != nil {
		return revocation{}, err
	}
	if fam == nil {
		return revocation{refused: reasonUnknownToken}, nil
	}
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
