package admin

import (
	"context"
	"log/slog"
	"net/http"
	"strings"

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

// Liveness is the server's one liveness rule for access tokens: the
// token's claims when it is live, nil when it is not, an error only when
// the rule could not be applied. The claims.Verifier in front of it checks
// the token as a service would, from a cached JWKS; the IAM itself can
// see, and its admin API is where a stale token would do the most harm,
// that the token was revoked, its login ended or outlived the session cap,
// its user or client was disabled or deleted, or its key unpublished.
type Liveness interface {
	LiveAccessToken(ctx context.Context, token string) (*claims.Access, error)
}

// current refuses a token the verifier accepted but the liveness rule
// does not.
func (a *API) current(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		acc, _ := claims.FromContext(ctx)
		live, err := a.live(ctx, r, acc)
		if err != nil {
			a.writeError(ctx, w, r, err)
			return
		}
		if !live {
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+Realm+`", error="invalid_token"`)
			writeProblem(w, problem(http.StatusUnauthorized, KindUnauthorized, "the access token is invalid, expired or revoked"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// live asks the liveness rule about the bearer token the verifier turned
// into acc, and checks that it is the same token.
func (a *API) live(ctx context.Context, r *http.Request, acc *claims.Access) (bool, error) {
	if acc == nil {
		return false, nil
	}
	// claims.Middleware accepted exactly one "Bearer <token>" header.
	_, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	got, err := a.liveness.LiveAccessToken(ctx, strings.TrimSpace(token))
	if err != nil || got == nil {
		return false, err
	}
	return got.ID == acc.ID, nil
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
