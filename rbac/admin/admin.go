// Package admin is the admin HTTP API of Gaia IAM, under /admin/v1: users,
// their departments and roles, service clients, sessions and the audit log.
//
// It is protected by Gaia's own access tokens, verified by the same
// claims.Verifier services use, and authorized by permission: each route
// declares one (iam.user.create, iam.role.assign, …). Errors are RFC 9457
// problem details. Every change, and every refused change, is written to
// the audit log; a change and its audit entry commit in one transaction.
package admin

import (
	"context"
	_ "embed"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/gaia-platform/iam/audit"
	"github.com/gaia-platform/iam/claims"
	"github.com/gaia-platform/iam/rbac"
	"github.com/gaia-platform/iam/storage"
)

// Document is the OpenAPI 3.1 description of the API, served at
// /admin/v1/openapi.json. Tests check every response against it.
//
//go:embed openapi.json
var Document []byte

// Realm names the admin API in WWW-Authenticate challenges.
const Realm = "gaia-iam-admin"

// Store is what the API reads directly. Changes go through the domain
// services, inside Store.InTx so that they commit with their audit entry.
type Store interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
	GetUser(ctx context.Context, id string) (*storage.User, error)
	ListUsers(ctx context.Context, f storage.UserFilter) ([]storage.User, error)
	UserDepartments(ctx context.Context, userID string) ([]storage.Department, error)
	UserRoles(ctx context.Context, userID string) ([]storage.Role, error)
	ListRoles(ctx context.Context) ([]storage.Role, error)
	ListPermissions(ctx context.Context) ([]storage.Permission, error)
	ListDepartments(ctx context.Context) ([]storage.Department, error)
	ListAudit(ctx context.Context, f storage.AuditFilter) ([]storage.AuditEvent, error)
}

// Auditor writes audit events. Write joins the transaction in ctx; Flush
// waits until events recorded asynchronously (logins, refreshes) are stored.
type Auditor interface {
	Write(ctx context.Context, events ...storage.AuditEvent) error
	Flush(ctx context.Context) error
}

// Config is what the API needs.
type Config struct {
	// Verifier checks the bearer tokens, as any Gaia service would.
	Verifier *claims.Verifier
	// Liveness decides, after the verifier, whether a token is still live.
	Liveness Liveness
	Users    *rbac.Service
	Clients  *rbac.Clients
	Store    Store
	Audit    Auditor
	// ClientChanged, when set, is called after a client was changed or
	// deleted, so that this process drops what it cached of it at once.
	ClientChanged func(clientID string)
	// Security unlocks accounts and keeps the block list.
	Security Security
	Log      *slog.Logger
	// TokenSize, when set, measures the token a user would get, for the
	// permission view; Services and Audience (the default audience) say
	// which tokens: the unscoped one and one per service.
	TokenSize TokenSizer
	Services  *rbac.Services
	Audience  string
}

// TokenSizer measures an access token as the IAM would issue it now.
type TokenSizer interface {
	TokenSize(a claims.Access) (size, budget int, err error)
}

// API serves the admin endpoints.
type API struct {
	verifier      *claims.Verifier
	liveness      Liveness
	users         *rbac.Service
	clients       *rbac.Clients
	store         Store
	audit         Auditor
	clientChanged func(string)
	security      Security
	log           *slog.Logger
	tokenSize     TokenSizer
	services      *rbac.Services
	audience      string
}

// New checks cfg and returns the API.
func New(cfg Config) (*API, error) {
	if cfg.Verifier == nil || cfg.Liveness == nil || cfg.Users == nil || cfg.Clients == nil || cfg.Store == nil || cfg.Audit == nil || cfg.Security == nil || cfg.Log == nil {
		return nil, errors.New("admin.New: verifier, liveness, users, clients, store, audit, security and log are required")
	}
	changed := cfg.ClientChanged
	if changed == nil {
		changed = func(string) {}
	}
	return &API{
		verifier: cfg.Verifier, liveness: cfg.Liveness, users: cfg.Users, clients: cfg.Clients, store: cfg.Store,
		audit: cfg.Audit, clientChanged: changed, security: cfg.Security, log: cfg.Log,
		tokenSize: cfg.TokenSize, services: cfg.Services, audience: cfg.Audience,
	}, nil
}

// route is one endpoint: who may call it and what it does.
type route struct {
	method, pattern string
	permission      string // required of the caller's token
	action          string // audit action of a change; "" for a read
	handle          func(w http.ResponseWriter, r *http.Request) error
}

// routes lists every endpoint of the API, relative to /admin/v1.
func (a *API) routes() []route {
	return []route{
		{"POST", "/users", "iam.user.create", audit.ActionUserCreate, a.createUser},
		{"GET", "/users", "iam.user.read", "", a.listUsers},
		{"GET", "/users/{id}", "iam.user.read", "", a.getUser},
		{"PATCH", "/users/{id}", "iam.user.update", audit.ActionUserUpdate, a.updateUser},
		{"DELETE", "/users/{id}", "iam.user.update", audit.ActionUserDelete, a.deleteUser},
		{"PUT", "/users/{id}/password", "iam.user.update", audit.ActionUserPasswordSet, a.setPassword},
		{"POST", "/users/{id}/logout", "iam.session.revoke", audit.ActionUserLogout, a.logout},
		{"GET", "/users/{id}/departments", "iam.user.read", "", a.userDepartments},
		{"PUT", "/users/{id}/departments/{code}", "iam.role.assign", audit.ActionUserDepartmentAdd, a.addDepartment},
		{"DELETE", "/users/{id}/departments/{code}", "iam.role.assign", audit.ActionUserDepartmentRemove, a.removeDepartment},
		{"GET", "/users/{id}/roles", "iam.user.read", "", a.userRoles},
		{"PUT", "/users/{id}/roles/{name}", "iam.role.assign", audit.ActionUserRoleAssign, a.assignRole},
		{"DELETE", "/users/{id}/roles/{name}", "iam.role.assign", audit.ActionUserRoleUnassign, a.unassignRole},
		{"GET", "/users/{id}/permissions", "iam.user.read", "", a.userPermissions},

		{"POST", "/clients", "iam.client.manage", audit.ActionClientCreate, a.createClient},
		{"GET", "/clients", "iam.client.manage", "", a.listClients},
		{"GET", "/clients/{client_id}", "iam.client.manage", "", a.getClient},
		{"PATCH", "/clients/{client_id}", "iam.client.manage", audit.ActionClientUpdate, a.updateClient},
		{"DELETE", "/clients/{client_id}", "iam.client.manage", audit.ActionClientDelete, a.deleteClient},
		{"POST", "/clients/{client_id}/secret", "iam.client.manage", audit.ActionClientSecretRotate, a.rotateSecret},
		{"PUT", "/clients/{client_id}/roles/{name}", "iam.client.manage", audit.ActionClientRoleAssign, a.assignClientRole},
		{"DELETE", "/clients/{client_id}/roles/{name}", "iam.client.manage", audit.ActionClientRoleUnassign, a.unassignClientRole},

		{"GET", "/roles", "iam.user.read", "", a.listRoles},
		{"GET", "/permissions", "iam.user.read", "", a.listPermissions},
		{"GET", "/departments", "iam.user.read", "", a.listDepartments},
		{"GET", "/audit", "iam.audit.read", "", a.listAudit},

		{"POST", "/users/{id}/unlock", "iam.security.manage", audit.ActionUserUnlock, a.unlockUser},
		{"GET", "/blocks", "iam.security.manage", "", a.listBlocks},
		{"POST", "/blocks", "iam.security.manage", audit.ActionBlockAdd, a.createBlock},
		{"DELETE", "/blocks/{id}", "iam.security.manage", audit.ActionBlockRemove, a.deleteBlock},
	}
}

// Handler serves the API; mount it at /admin/v1.
func (a *API) Handler() http.Handler {
	r := chi.NewRouter()
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, problem(http.StatusNotFound, KindNotFound, "no such endpoint"))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, req *http.Request) {
		allowed := allowedMethods(r, req)
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		writeProblem(w, problem(http.StatusMethodNotAllowed, KindMethodNotAllowed,
			"%s is not allowed here; use %s", req.Method, strings.Join(allowed, " or ")))
	})
	r.Get("/openapi.json", serveDocument)

	authn := claims.Middleware(a.verifier, claims.WithRealm(Realm),
		claims.WithErrorWriter(a.refuse), claims.WithLogger(a.log))
	r.Group(func(r chi.Router) {
		r.Use(authn, a.current)
		for _, rt := range a.routes() {
			r.With(withRoute(rt), claims.RequirePermission(rt.permission), a.textOnly(rt)).
				Method(rt.method, rt.pattern, a.serve(rt.handle))
		}
	})
	return r
}

// allowedMethods lists the methods the router would accept for the path.
func allowedMethods(mux *chi.Mux, r *http.Request) []string {
	path := r.URL.Path
	if rctx := chi.RouteContext(r.Context()); rctx != nil && rctx.RoutePath != "" {
		path = rctx.RoutePath // mounted under a prefix
	}
	var allowed []string
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		if mux.Match(chi.NewRouteContext(), m, path) {
			allowed = append(allowed, m)
		}
	}
	return allowed
}

// serve adapts a handler that returns an error.
func (a *API) serve(h func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			a.writeError(r.Context(), w, r, err)
		}
	}
}

func serveDocument(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(Document)
}

// actor is the caller of the request as the domain's delegation rules see
// it, its permissions read from the store in the transaction ctx carries.
// The token's own permissions may be up to its lifetime old: a role taken
// away since must not keep its power here.
func (a *API) actor(ctx context.Context) (rbac.Actor, error) {
	acc, ok := claims.FromContext(ctx)
	if !ok {
		return rbac.Actor{}, errors.New("admin: no verified token in the request")
	}
	if acc.Type == claims.Service {
		return a.users.ServiceActor(ctx, acc.Subject)
	}
	return a.users.UserActor(ctx, acc.Subject)
}
