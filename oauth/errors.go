package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/ory/fosite"

	"github.com/gaia-platform/iam/outage"
	"github.com/gaia-platform/iam/password"
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

// errUnavailable is temporarily_unavailable; writeError adds Retry-After.
func errUnavailable() *oauthError {
	return &oauthError{"temporarily_unavailable", descriptions["temporarily_unavailable"], http.StatusServiceUnavailable}
}

// retryAfter is the Retry-After, in seconds, of a 503 caused by err. A
// password hash takes tens of milliseconds, so a full hasher has a free
// slot a second later; a database takes longer to come back.
func retryAfter(err error) int {
	if errors.Is(err, password.ErrBusy) {
		return 1
	}
	return outage.RetryAfter
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
	"invalid_target":          "The requested resource or audience is invalid, repeated, or not allowed for this client.",
	"server_error":            "The server could not complete the request.",
	"temporarily_unavailable": "The server is temporarily unable to handle the request.",
}

// toOAuthError maps fosite's errors to RFC 6749 codes. fosite also has
// codes of its own (scope_not_granted, token_inactive, request_unauthorized,
// …) that no client library knows; they become the standard code closest
// in meaning.
//
// The server's own failures come first, whatever fosite made of them: a
// database that cannot answer (which fosite calls invalid_client when it
// was loading the client) or a full password hasher is 503
// temporarily_unavailable, never a verdict on the credentials.
func toOAuthError(err error) *oauthError {
	var oe *oauthError
	switch {
	case errors.As(err, &oe):
		return oe
	case errors.Is(err, password.ErrBusy), outage.Is(err):
		return errUnavailable()
	}
	rfc := fosite.ErrorToRFC6749Error(err)
	code, status := rfc.ErrorField, rfc.CodeField
	switch code {
	case "invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
		"unsupported_grant_type", "invalid_scope", "unsupported_token_type", "server_error", "temporarily_unavailable",
		"invalid_target":
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

// cause is the text of the first error in err's chain that is not one of
// fosite's wrappers (its RFC 6749 errors and stack carriers, all of which
// have Cause): what went wrong, without a stack trace.
func cause(err error) string {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if _, wrapper := e.(interface{ Cause() error }); !wrapper {
			return e.Error()
		}
	}
	return err.Error()
}

// writeError answers err as RFC 6749 §5.2 JSON. A 401 carries the
// WWW-Authenticate challenge §5.2 requires when the client authenticated
// with the Authorization header (fosite omits it).
func (s *Server) writeError(ctx context.Context, w http.ResponseWriter, r *http.Request, err error) {
	oe := toOAuthError(err)
	switch {
	case errors.Is(err, password.ErrBusy):
		// Expected under a flood, once per refused login: no stack.
		s.log.WarnContext(ctx, "password hashing at capacity", "path", r.URL.Path)
	case outage.Is(err):
		s.log.ErrorContext(ctx, "database unavailable", "path", r.URL.Path, "error", cause(err))
	case oe.status >= 500:
		s.log.ErrorContext(ctx, "oauth request failed", "path", r.URL.Path, "error", err)
	default:
		s.log.DebugContext(ctx, "oauth request refused", "path", r.URL.Path, "error_code", oe.Code, "cause", fosite.ErrorToRFC6749Error(err).GetDescription())
	}
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	if oe.status == http.StatusServiceUnavailable {
		h.Set("Retry-After", strconv.Itoa(retryAfter(err)))
	}
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
