package server

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/gaia-platform/iam/discovery"
	"github.com/gaia-platform/iam/oauth"
)

// pinger reports whether the database answers.
type pinger interface {
	Ping(ctx context.Context) error
}

// routes lists every HTTP path the server answers.
func routes(db pinger, o *oauth.Server, d *discovery.Handler, adminAPI http.Handler, log *slog.Logger) http.Handler {
	r := chi.NewRouter() // hygiene, around it, recovers panics
	r.Get("/healthz", healthz)
	r.Get("/readyz", readyz(db, log).ServeHTTP)

	r.Get(discovery.OpenIDPath, d.Metadata)
	r.Get(discovery.OAuthPath, d.Metadata)
	r.Get(discovery.JWKSPath, d.JWKS)

	r.Post(discovery.TokenPath, o.Token)
	r.Post(discovery.RevocationPath, o.Revoke)
	r.Post(discovery.IntrospectionPath, o.Introspect)
	r.Get(discovery.UserinfoPath, o.Userinfo)
	r.Post(discovery.UserinfoPath, o.Userinfo)

	r.Mount("/admin/v1", adminAPI) // the admin API lists its own paths
	return r
}

// healthz reports that the process is up and serving.
func healthz(w http.ResponseWriter, _ *http.Request) {
	writeStatus(w, http.StatusOK, `{"status":"ok"}`)
}

// readyz reports whether the database is reachable. The reason for a
// failure goes to the log, not to the caller.
func readyz(db pinger, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := db.Ping(ctx); err != nil {
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
