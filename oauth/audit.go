package oauth

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/ory/fosite"

	"github.com/gaia-platform/iam/audit"
	"github.com/gaia-platform/iam/rbac"
	"github.com/gaia-platform/iam/storage"
)

// The audit events of the OAuth endpoints name who acted (the user or
// client that authenticated, or anonymous), what it was done to (the user
// whose password was tried, the client, the token family, the access
// token's jti), the client's address and client_id, and, for a failure,
// why. They never hold a password, secret, token or refresh-token
// signature, nor a username or client_id that matched nothing: people
// paste passwords into username fields.

// Reasons the audit log gives for a refused request, besides rbac's
// credential reasons and the RFC 6749 error codes (invalid_client,
// invalid_grant, invalid_request, unauthorized_client, server_error, …).
const (
	reasonUnknownClient     = "unknown_client"     // the client_id names no client
	reasonClientDisabled    = "client_disabled"    // the client exists but is disabled
	reasonExpired           = "expired"            // the refresh token expired
	reasonSessionExpired    = "session_expired"    // the login is older than MaxSessionAge
	reasonReuse             = "reuse"              // a rotated refresh token, presented again
	reasonRevoked           = "revoked"            // the token's family was revoked
	reasonConcurrentRefresh = "concurrent_refresh" // another refresh of the same token won
	reasonUnknownToken      = "unknown_token"      // revocation: not a live token of ours
	reasonOtherClient       = "other_client"       // revocation: a token of another client
	reasonCodeReuse         = "code_reuse"         // an authorization code presented again
)

// refusal is an OAuth error together with the reason the audit log gives
// for it; the client sees only err.
type refusal struct {
	reason string
	err    error
}

func (r *refusal) Error() string { return r.reason + ": " + r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

// grantActions maps the grants Gaia serves to their audit actions.
var grantActions = map[string]string{
	"password":           audit.ActionAuthPassword,
	"client_credentials": audit.ActionAuthClientCredentials,
	"refresh_token":      audit.ActionAuthRefresh,
	"authorization_code": audit.ActionAuthCode,
}

// auditToken records the outcome of a token request for a grant Gaia
// serves. ar is the access request as far as fosite got with it (nil if
// not at all), err the failure.
func (s *Server) auditToken(ctx context.Context, r *http.Request, ar fosite.AccessRequester, err error) {
	grant := r.PostForm.Get("grant_type")
	action, ok := grantActions[grant]
	if !ok {
		return
	}
	e := storage.AuditEvent{Action: action, ActorType: audit.ActorAnonymous, ClientIP: audit.ClientIP(r),
		Details: map[string]string{audit.DetailGrant: grant}}
	var c *client
	var sess *Session
	if ar != nil {
		c, _ = ar.GetClient().(*client)
		sess, _ = ar.GetSession().(*Session)
	}
	if err == nil && c != nil && sess != nil {
		e.Outcome, e.ClientID = audit.Success, c.rec.ClientID
		switch grant {
		case "client_credentials":
			e.ActorType, e.ActorID, e.ActorName = audit.ActorService, c.rec.ClientID, c.rec.Name
			e.TargetType, e.TargetID = audit.TargetClient, c.rec.ClientID
		case "password":
			e.ActorType, e.ActorID, e.ActorName = audit.ActorUser, sess.Subject, sess.Username
			e.TargetType, e.TargetID = audit.TargetUser, sess.Subject
		case "refresh_token", "authorization_code":
			e.ActorType, e.ActorID, e.ActorName = audit.ActorUser, sess.Subject, sess.Username
			e.TargetType, e.TargetID = audit.TargetTokenFamily, ar.GetID() // fosite sets the family's ID on a refresh
		}
		s.audit.Record(ctx, e)
		return
	}

	e.Outcome = audit.Failure
	reason := reasonOf(err)
	if c != nil {
		e.ClientID = c.rec.ClientID
	} else {
		e.ClientID, reason = s.presentedClient(ctx, r, reason)
	}
	switch grant {
	case "client_credentials":
		if e.ClientID != "" {
			e.TargetType, e.TargetID = audit.TargetClient, e.ClientID
		}
	case "password":
		var ce *rbac.CredentialsError
		switch {
		case sess != nil && sess.Subject != "": // authenticated, refused after
			e.TargetType, e.TargetID = audit.TargetUser, sess.Subject
		case errors.As(err, &ce) && ce.UserID != "":
			e.TargetType, e.TargetID = audit.TargetUser, ce.UserID
		}
	case "authorization_code":
		if sess != nil && sess.Subject != "" && ar.GetID() != "" {
			e.TargetType, e.TargetID = audit.TargetTokenFamily, ar.GetID()
		}
		if errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
			reason = reasonCodeReuse
		}
	case "refresh_token":
		var inactive *inactiveRefresh
		var lost *lostRefresh
		if errors.As(err, &lost) {
			e.TargetType, e.TargetID = audit.TargetTokenFamily, lost.familyID
			reason = reasonConcurrentRefresh
		} else if errors.As(err, &inactive) {
			e.TargetType, e.TargetID = audit.TargetTokenFamily, inactive.familyID
			reason = reasonRevoked
			if inactive.reuse {
				e.Action, reason = audit.ActionAuthRefreshReuse, reasonReuse
			}
		} else if fam := s.presentedFamily(ctx, r); fam != "" {
			e.TargetType, e.TargetID = audit.TargetTokenFamily, fam
		}
	}
	e.Details[audit.DetailReason] = reason
	s.audit.Record(ctx, e)
}

// auditRevoke records the outcome of a revocation request. caller is the
// authenticated client, or nil.
func (s *Server) auditRevoke(ctx context.Context, r *http.Request, caller fosite.Client, rev revocation, err error) {
	e := storage.AuditEvent{Action: audit.ActionTokenRevoke, ActorType: audit.ActorAnonymous, ClientIP: audit.ClientIP(r),
		TargetType: rev.targetType, TargetID: rev.targetID, Outcome: audit.Success}
	c, _ := caller.(*client)
	if c != nil {
		e.ActorType, e.ActorID, e.ActorName, e.ClientID = audit.ActorService, c.rec.ClientID, c.rec.Name, c.rec.ClientID
	}
	reason := rev.refused
	if err != nil {
		reason = reasonOf(err)
		if c == nil {
			e.ClientID, reason = s.presentedClient(ctx, r, reason)
		}
	}
	if reason != "" {
		e.Outcome, e.Details = audit.Failure, map[string]string{audit.DetailReason: reason}
	}
	s.audit.Record(ctx, e)
}

// reasonOf is the audit reason for a failed request.
func reasonOf(err error) string {
	var ce *rbac.CredentialsError
	var rf *refusal
	switch {
	case errors.As(err, &ce):
		return ce.Reason
	case errors.As(err, &rf):
		return rf.reason
	case errors.Is(err, fosite.ErrTokenExpired):
		return reasonExpired
	}
	return toOAuthError(err).Code
}

// presentedClient returns the client_id a request that failed before
// client authentication succeeded presented, if it names a client; and
// reason, made precise when it is invalid_client: unknown_client or
// client_disabled. A client_id that names no client is not returned: it
// is only what the caller typed. It reads the store, on failures only.
func (s *Server) presentedClient(ctx context.Context, r *http.Request, reason string) (clientID, why string) {
	id := ""
	if r.PostForm != nil {
		id = r.PostForm.Get("client_id")
	}
	if u, _, ok := r.BasicAuth(); ok {
		// RFC 6749 §2.3.1: the client_id is form-encoded in Basic credentials.
		var err error
		if id, err = url.QueryUnescape(u); err != nil {
			return "", reason
		}
	}
	if id == "" {
		return "", reason
	}
	var c *storage.Client
	err := storage.ErrNotFound // no client has an ID that long
	if len(id) <= maxClientIDLength {
		c, err = s.store.GetClient(ctx, id)
	}
	switch {
	case err != nil:
		if errors.Is(err, storage.ErrNotFound) && reason == "invalid_client" {
			reason = reasonUnknownClient
		}
		return "", reason
	case !c.Active && reason == "invalid_client":
		reason = reasonClientDisabled
	}
	return c.ClientID, reason
}

// presentedFamily returns the ID of the token family of the refresh token
// a failed refresh presented, or "" if it is none of ours. It reads the
// store, on failures only.
func (s *Server) presentedFamily(ctx context.Context, r *http.Request) string {
	_, fam, err := s.refreshToken(ctx, r.PostForm.Get("refresh_token"))
	if err != nil || fam == nil {
		return ""
	}
	return fam.ID
}
