package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/ory/fosite"
)

// oauthError is an RFC 6749 §5.2 error.
type oauthError struct {
	Code   string `json:"error"`
	Detail string `json:"error_description,omitempty"`
	status int
}

func (e *oauthError) Error() string { return e.Code + ": " + e.Detail }

// errRequest is invalid_request: a malformed request.
func errRequest() *oauthError {
	return &oauthError{"invalid_request", descriptions["invalid_request"], http.StatusBadRequest}
}

// descriptions are the only error texts clients see. They are fixed per
// code, so no client input is ever reflected (and the RFC 6749 §5.2
// character set holds), and credential failures read alike whatever the
// cause.
var descriptions = map[string]string{
	"invalid_request":         "The request is missing a parameter, repeats one, or is otherwise malformed.",
	"invalid_client":          "Client authentication failed.",
	"invalid_grant":           "The grant or refresh token is invalid, expired, revoked, or was issued to another client.",
	"unauthorized_client":     "The client is not allowed to use this grant type.",
	"unsupported_grant_type":  "The grant type is not supported.",
	"invalid_scope":           "The requested scope is invalid, unknown, or not allowed for this client.",
	"unsupported_token_type":  "The token type is not supported.",
	"server_error":            "The server could not complete the request.",
	"temporarily_unavailable": "The server is temporarily unable to handle the request.",
}

// toOAuthError maps fosite's errors to RFC 6749 codes. fosite also has
// codes of its own (scope_not_granted, token_inactive, request_unauthorized,
// …) that no client library knows; they become the standard code closest
// in meaning.
func toOAuthError(err error) *oauthError {
	var oe *oauthError
	if errors.As(err, &oe) {
		return oe
	}
	rfc := fosite.ErrorToRFC6749Error(err)
	code, status := rfc.ErrorField, rfc.CodeField
	switch code {
	case "invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
		"unsupported_grant_type", "invalid_scope", "unsupported_token_type", "server_error", "temporarily_unavailable":
	case "scope_not_granted", "invalid_audience":
		code = "invalid_scope"
	case "token_inactive", "token_expired", "token_signature_mismatch", "token_claim":
		code = "invalid_grant"
	case "request_unauthorized", "access_denied", "request_forbidden":
		code, status = "invalid_client", http.StatusUnauthorized
	default:
		code, status = "server_error", http.StatusInternalServerError
	}
	if status == 0 {
		status = http.StatusBadRequest
	}
	if code == "invalid_client" {
		status = http.StatusUnauthorized
	}
	return &oauthError{Code: code, Detail: descriptions[code], status: status}
}

// writeError answers err as RFC 6749 §5.2 JSON. A 401 carries the
// WWW-Authenticate challenge §5.2 requires when the client authenticated
// with the Authorization header (fosite omits it).
func (s *Server) writeError(ctx context.Context, w http.ResponseWriter, r *http.Request, err error) {
	oe := toOAuthError(err)
	if oe.status >= 500 {
		s.log.ErrorContext(ctx, "oauth request failed", "path", r.URL.Path, "error", err)
	} else {
		s.log.DebugContext(ctx, "oauth request refused", "path", r.URL.Path, "error_code", oe.Code, "cause", fosite.ErrorToRFC6749Error(err).GetDescription())
	}
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	if oe.status == http.StatusUnauthorized {
		scheme := "Basic"
		if a := r.Header.Get("Authorization"); a != "" && !strings.HasPrefix(strings.ToLower(a), "basic ") {
			scheme = "Bearer"
		}
		h.Set("WWW-Authenticate", scheme+` realm="`+s.cfg.Issuer+`"`)
	}
	w.WriteHeader(oe.status)
	_ = json.NewEncoder(w).Encode(oe)
}
