package oauth

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"time"

	"github.com/ory/fosite"

	"github.com/gaia-platform/iam/audit"
	"github.com/gaia-platform/iam/oauth/guard"
	"github.com/gaia-platform/iam/rbac"
	"github.com/gaia-platform/iam/storage"
)

// Login protection of the token endpoint (package guard): the block list,
// the address and client throttles answered before any credential is
// checked, and the account lock answered after the password was checked
// anyway, exactly as a wrong password.

// Reasons the audit log gives for attempts login protection refused.
const (
	reasonBlocked   = "blocked"   // the address is on the block list
	reasonThrottled = "throttled" // the address or the client failed too often
	reasonLocked    = "locked"    // the account is locked
)

// errThrottled answers an address or client that failed too often: 429
// with Retry-After (RFC 6585 §4). RFC 6749 has no code for it; slow_down
// (RFC 8628 §3.5) is the token endpoint's code for "wait before asking
// again", and tells the client apart from a server that is unavailable
// (temporarily_unavailable, 503).
func errThrottled() *oauthError {
	return &oauthError{"slow_down", "Too many failed attempts; retry after the time Retry-After gives.", http.StatusTooManyRequests}
}

// errBlocked answers an address on the block list: access_denied (RFC 6749
// §4.1.2.1, "the authorization server denied the request") with 403.
func errBlocked() *oauthError {
	return &oauthError{"access_denied", "Requests from this address are not accepted.", http.StatusForbidden}
}

// sourceAddr is the address a request came from, for login protection:
// the client address, which the server's clientip middleware has put in
// RemoteAddr (the peer's, unless the peer is a trusted proxy), so that the
// guard, the audit log and the block list judge one address.
func sourceAddr(r *http.Request) netip.Addr {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap()
	}
	a, _ := netip.ParseAddr(r.RemoteAddr)
	return a.Unmap()
}

// presentedClientID is the client_id a request authenticates as, known or
// not: the Basic user name (form-encoded, RFC 6749 §2.3.1) or the body's.
func presentedClientID(r *http.Request) string {
	if u, _, ok := r.BasicAuth(); ok {
		if id, err := url.QueryUnescape(u); err == nil {
			return id
		}
		return u
	}
	return r.PostForm.Get("client_id")
}

// protect asks the guard whether a token, revocation or introspection
// request may go on to check credentials. A refusal sets Retry-After on w where there is a wait.
func (s *Server) protect(ctx context.Context, w http.ResponseWriter, r *http.Request) (guard.Verdict, error) {
	a := guard.Attempt{Addr: sourceAddr(r), Client: presentedClientID(r)}
	if r.PostForm.Get("grant_type") == "password" {
		a.Account = accountOf(r.PostForm.Get("username"))
	}
	return s.check(ctx, w, a)
}

// accountOf is the guard's account name of a typed username.
func accountOf(username string) string {
	if n, err := rbac.NormalizeUsername(username); err == nil {
		return n
	}
	return username // matches no user: counted under what was typed
}

// check asks the guard about an attempt: the token endpoint's and the
// hosted login page's. A refusal sets Retry-After on w where there is a wait.
func (s *Server) check(ctx context.Context, w http.ResponseWriter, a guard.Attempt) (guard.Verdict, error) {
	v, err := s.guard.Check(ctx, a)
	switch {
	case err != nil:
		return v, err
	case v.Blocked:
		return v, &refusal{reasonBlocked, errBlocked()}
	case v.RetryAfter > 0:
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(v.RetryAfter.Seconds()))))
		return v, &refusal{reasonThrottled, errThrottled()}
	}
	return v, nil
}

// protected counts how a token request the guard let through ended (ar and
// err as NewAccessRequest left them) and returns the error to answer: that
// of a wrong password when the account is locked, whatever the password.
// It records the locks the request set off.
func (s *Server) protected(ctx context.Context, r *http.Request, v guard.Verdict, ar fosite.AccessRequester, err error) error {
	var c fosite.Client
	if ar != nil {
		c = ar.GetClient()
	}
	return s.settle(ctx, r, v, clientOutcome(c, err), r.PostForm.Get("grant_type") == "password", err)
}

// settle counts how an attempt the guard let through ended — client is
// how client authentication went; password reports whether a password was
// checked, err is the attempt's error — and returns the error to answer:
// that of a wrong password when the account is locked, whatever the
// password. It records the locks the attempt set off. The password grant
// and the hosted login page both end here: one rule.
func (s *Server) settle(ctx context.Context, r *http.Request, v guard.Verdict, client guard.Outcome, password bool, err error) error {
	account := guard.NotChecked
	var ce *rbac.CredentialsError
	if password {
		switch {
		case errors.As(err, &ce):
			account = guard.Failed
		case err == nil:
			account = guard.Succeeded
		}
	}
	s.record(ctx, r, v, client, account, ce)
	if v.AccountLocked && account != guard.NotChecked {
		return &refusal{reasonLocked, fosite.ErrInvalidGrant}
	}
	return err
}

// protectedClient is protected for a revocation or introspection request:
// client authentication only. c and err are what it ended with.
func (s *Server) protectedClient(ctx context.Context, r *http.Request, v guard.Verdict, c fosite.Client, err error) error {
	s.record(ctx, r, v, clientOutcome(c, err), guard.NotChecked, nil)
	return err
}

// clientOutcome is how client authentication ended: c is the client it
// authenticated, if any, and err the request's error.
func clientOutcome(c fosite.Client, err error) guard.Outcome {
	switch {
	case errors.Is(err, fosite.ErrInvalidClient):
		return guard.Failed
	case c != nil:
		return guard.Succeeded
	}
	return guard.NotChecked
}

// record counts the attempt and audits the locks it set off.
func (s *Server) record(ctx context.Context, r *http.Request, v guard.Verdict, client, account guard.Outcome, ce *rbac.CredentialsError) {
	for _, l := range s.guard.Record(ctx, v, client, account) {
		s.auditLock(ctx, r, l, ce)
	}
}

// auditLock records a lock a failed attempt set off. It names the user or
// client when the name matched one, else the guard's key of the name.
func (s *Server) auditLock(ctx context.Context, r *http.Request, l guard.Lock, ce *rbac.CredentialsError) {
	e := storage.AuditEvent{Action: audit.ActionAuthLockout, ActorType: audit.ActorSystem, Outcome: audit.Success,
		ClientIP: audit.ClientIP(r), TargetType: audit.TargetLoginKey, TargetID: l.Key,
		Details: map[string]string{"kind": l.Kind, "failures": strconv.Itoa(l.Failures),
			"locked_until": l.Until.UTC().Format(time.RFC3339), "permanent": strconv.FormatBool(l.Permanent)}}
	switch id := presentedClientID(r); {
	case l.Kind == "account" && ce != nil && ce.UserID != "":
		e.TargetType, e.TargetID = audit.TargetUser, ce.UserID
	case l.Kind == "client" && len(id) <= maxClientIDLength:
		if c, err := s.store.GetClient(ctx, id); err == nil {
			e.TargetType, e.TargetID = audit.TargetClient, c.ClientID
		}
	}
	s.log.WarnContext(ctx, "login protection locked "+l.Kind, "target_type", e.TargetType, "target_id", e.TargetID,
		"failures", l.Failures, "locked_until", l.Until, "permanent", l.Permanent)
	s.audit.Record(ctx, e)
}
