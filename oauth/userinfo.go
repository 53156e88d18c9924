package oauth

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gaia-platform/iam/claims"
)

// Userinfo serves GET and POST /userinfo (OpenID Connect Core §5.3) for a
// user's access token with the openid scope. Errors follow RFC 6750 §3.1.
func (s *Server) Userinfo(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	token, ok := bearer(r)
	if !ok {
		s.bearerError(w, http.StatusUnauthorized, "")
		return
	}
	lt, err := s.live(ctx, token)
	if err != nil {
		s.log.ErrorContext(ctx, "userinfo liveness check failed", "error", err)
		w.Header().Set("Retry-After", "5")
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily_unavailable"})
		return
	}
	if lt == nil || lt.access == nil {
		s.bearerError(w, http.StatusUnauthorized, "invalid_token")
		return
	}
	a := lt.access
	scopes := strings.Fields(a.Scope)
	has := func(sc string) bool { return slices.Contains(scopes, sc) }
	if a.Type != claims.User || lt.user == nil || !has("openid") {
		s.bearerError(w, http.StatusForbidden, "insufficient_scope")
		return
	}
	resp := map[string]string{"sub": a.Subject}
	if has("profile") {
		resp["preferred_username"] = a.Username
	}
	// The user as the liveness rule just read it: the email of now.
	if has("email") && lt.user.Email != "" {
		resp["email"] = lt.user.Email
	}
	writeJSON(w, http.StatusOK, resp)
}

// bearer returns the token of an "Authorization: Bearer" header (scheme
// case-insensitive). Tokens in the query string are not accepted (RFC 6750 §2.3).
func bearer(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || len(token) > maxTokenLength {
		return "", false
	}
	return strings.TrimSpace(token), true
}

// bearerError answers per RFC 6750 §3: no error attribute when the request
// carried no token at all.
func (s *Server) bearerError(w http.ResponseWriter, status int, code string) {
	challenge := `Bearer realm="` + s.cfg.Issuer + `"`
	if code != "" {
		challenge += `, error="` + code + `"`
	}
	w.Header().Set("WWW-Authenticate", challenge)
	body := map[string]string{}
	if code != "" {
		body["error"] = code
	}
	writeJSON(w, status, body)
}

func timeFromUnix(sec int64) time.Time { return time.Unix(sec, 0).UTC() }
