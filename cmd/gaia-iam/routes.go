package main

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// pinger reports whether the database answers.
type pinger interface {
	Ping(ctx context.Context) error
}

// routes lists every HTTP path the server answers.
func routes(db pinger, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", healthz)
	mux.Handle("GET /readyz", readyz(db, log))
	return mux
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
