package admin

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/gaia-platform/iam/audit"
	"github.com/gaia-platform/iam/claims"
	"github.com/gaia-platform/iam/storage"
)

type routeKey struct{}

// withRoute puts the route in the request's context, for the refusal
// writer to name the permission and audit the refused action.
func withRoute(rt route) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), routeKey{}, rt)))
		})
	}
}

// refuse writes the problem body of an authentication or authorization
// failure; claims has set the status's WWW-Authenticate challenge. A
// refused change is audited.
func (a *API) refuse(w http.ResponseWriter, r *http.Request, status int, code, _ string) {
	var p *Problem
	switch status {
	case http.StatusForbidden:
		rt, _ := r.Context().Value(routeKey{}).(route)
		p = problem(status, KindForbidden, "the access token does not grant %s", rt.permission)
		p.RequiredPermission = rt.permission
		if rt.action != "" {
			ev := a.event(r, rt.action)
			ev.Outcome, ev.Details = audit.Failure, map[string]string{audit.DetailReason: KindForbidden}
			if err := a.audit.Write(r.Context(), ev); err != nil {
				a.log.LogAttrs(r.Context(), slog.LevelError, "audit write failed", slog.String("action", rt.action), slog.Any("error", err))
			}
		}
	case http.StatusBadRequest:
		p = problem(status, KindMalformed, "send one access token in an Authorization: Bearer header")
	default:
		if code == "" {
			p = problem(status, KindUnauthorized, "an access token is required")
		} else {
			p = problem(status, KindUnauthorized, "the access token is invalid, expired or revoked")
		}
	}
	writeProblem(w, p)
}

// current refuses a verified token whose login has ended since it was
// issued: revoked, its session logged out, or its user or client disabled
// or deleted. Services
// cannot see that before the token expires; the IAM itself can, and its
// admin API is where a stale token would do the most harm.
func (a *API) current(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		acc, _ := claims.FromContext(ctx)
		ok, err := a.live(ctx, acc)
		if err != nil {
			a.writeError(ctx, w, r, err)
			return
		}
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+Realm+`", error="invalid_token"`)
			writeProblem(w, problem(http.StatusUnauthorized, KindUnauthorized, "the access token is invalid, expired or revoked"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (a *API) live(ctx context.Context, acc *claims.Access) (bool, error) {
	if acc == nil {
		return false, nil
	}
	revoked, err := a.store.AccessTokenRevoked(ctx, acc.ID)
	if err != nil || revoked {
		return false, err
	}
	switch acc.Type {
	case claims.User:
		if acc.SessionID != "" { // ended by a logout or a detected reuse?
			f, err := a.store.GetTokenFamily(ctx, acc.SessionID)
			switch {
			case errors.Is(err, storage.ErrNotFound):
				return false, nil
			case err != nil:
				return false, err
			case !f.RevokedAt.IsZero():
				return false, nil
			}
		}
		u, err := a.store.GetUser(ctx, acc.Subject)
		if errors.Is(err, storage.ErrNotFound) {
			return false, nil
		}
		return err == nil && u.Active, err
	case claims.Service:
		c, err := a.store.GetClient(ctx, acc.Subject)
		if errors.Is(err, storage.ErrNotFound) {
			return false, nil
		}
		return err == nil && c.Active, err
	}
	return false, nil
}

// event starts the audit event of an action by the request's caller.
func (a *API) event(r *http.Request, action string) storage.AuditEvent {
	ev := storage.AuditEvent{Action: action, ClientIP: audit.ClientIP(r)}
	if acc, ok := claims.FromContext(r.Context()); ok {
		ev.ClientID = acc.ClientID
		ev.ActorID = acc.Subject
		if acc.Type == claims.Service {
			ev.ActorType, ev.ActorName = audit.ActorService, acc.ClientID
		} else {
			ev.ActorType, ev.ActorName = audit.ActorUser, acc.Username
		}
	}
	return ev
}

// change runs fn, the route's change, and writes its audit entry in the
// same transaction, so that no change is stored without its entry. fn
// fills in the target and details. A change refused for a reason the
// client can act on (a rule, a conflict, a missing record) is audited as a
// failure after the rollback.
func (a *API) change(r *http.Request, target, id string, fn func(ctx context.Context, ev *storage.AuditEvent) error) error {
	rt, _ := r.Context().Value(routeKey{}).(route)
	ev := a.event(r, rt.action)
	ev.TargetType, ev.TargetID = target, id
	err := a.store.InTx(r.Context(), func(ctx context.Context) error {
		if err := fn(ctx, &ev); err != nil {
			return err
		}
		ev.Outcome = audit.Success
		return a.audit.Write(ctx, ev)
	})
	if err == nil {
		return nil
	}
	if p := toProblem(err); p != nil && p.Status < http.StatusInternalServerError {
		ev.Outcome = audit.Failure
		if ev.Details == nil {
			ev.Details = map[string]string{}
		}
		ev.Details[audit.DetailReason] = p.Kind()
		if werr := a.audit.Write(r.Context(), ev); werr != nil {
			a.log.LogAttrs(r.Context(), slog.LevelError, "audit write failed", slog.String("action", ev.Action), slog.Any("error", werr))
		}
	}
	return err
}
