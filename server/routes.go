package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/gaia-platform/iam/discovery"
	"github.com/gaia-platform/iam/oauth"
)

// pinger reports whether the database answers.
type pinger interface {
	Ping(ctx context.Context) error
}

// migrator is a store that can tell whether its schema is behind.
type migrator interface {
	PendingMigrations(ctx context.Context) (bool, error)
}

// routes lists every HTTP path the server answers. metricsPath, if set,
// serves obs's metrics on this listener.
func routes(db pinger, o *oauth.Server, d *discovery.Handler, adminAPI http.Handler, obs observer, metricsPath bool, log *slog.Logger) http.Handler {
	r := chi.NewRouter() // hygiene, around it, recovers panics
	r.Use(obs.middleware)
	r.Get("/healthz", healthz)
	r.Get("/readyz", readyz(db, log).ServeHTTP)
	if metricsPath && obs.m != nil {
		r.Method(http.MethodGet, MetricsPath, obs.m.handler())
	}

	r.Get(discovery.OpenIDPath, d.Metadata)
	r.Get(discovery.OAuthPath, d.Metadata)
	r.Get(discovery.JWKSPath, d.JWKS)

	r.Post(discovery.TokenPath, obs.client(o.Token, true))
	r.Post(discovery.RevocationPath, obs.client(o.Revoke, false))
	r.Post(discovery.IntrospectionPath, obs.client(o.Introspect, false))
	r.Get(discovery.UserinfoPath, o.Userinfo)
	r.Post(discovery.UserinfoPath, o.Userinfo)

	// The browser flows: authorization code with the hosted login page,
	// and RP-initiated logout.
	r.Get(discovery.AuthorizationPath, o.Authorize)
	r.Post(discovery.AuthorizationPath, o.Authorize)
	r.Post(oauth.LoginPath, o.Login)
	r.Get(discovery.EndSessionPath, o.Logout)
	r.Post(discovery.EndSessionPath, o.Logout)

	r.Mount("/admin/v1", adminAPI) // the admin API lists its own paths
	return r
}

// healthz reports that the process is up and serving.
func healthz(w http.ResponseWriter, _ *http.Request) {
	writeStatus(w, http.StatusOK, `{"status":"ok"}`)
}

// MetricsPath is where the Prometheus metrics are served.
const MetricsPath = "/metrics"

// readyz reports whether the database is reachable and its schema has
// every migration this binary knows: a replica started before an upgrade's
// migration ran must not take traffic. The reason for a failure goes to
// the log, not to the caller.
func readyz(db pinger, log *slog.Logger) http.Handler {
	// Once the schema is seen complete it stays so: a migration is never
	// undone while this process runs.
	var migrated atomic.Bool
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		err := db.Ping(ctx)
		if m, ok := db.(migrator); ok && err == nil && !migrated.Load() {
			var pending bool
			switch pending, err = m.PendingMigrations(ctx); {
			case err == nil && pending:
				err = errors.New("database migrations are pending: run gaia-iam migrate")
			case err == nil:
				migrated.Store(true)
			}
		}
		if err != nil {
			log.WarnContext(ctx, "readiness check failed", "error", err)
			writeStatus(w, http.StatusServiceUnavailable, `{"status":"unavailable"}`)
			return
		}
		writeStatus(w, http.StatusOK, `{"status":"ready"}`)
	})
}

func writeStatus(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body + "\n"))
}
