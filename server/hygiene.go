package server

import (
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
)

// hygiene wraps every answer of the server. Every response gets the
// security headers a JSON API wants (nothing of it may be sniffed, framed,
// or run as a document); the paths that carry secrets (tokens, passwords,
// client secrets, user data) are never cached; and a panic is logged, with
// its stack, and answered 500 with no body, so that nothing of the
// server's insides reaches the client.
func hygiene(next http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
		if carriesSecrets(r.URL.Path) {
			h.Set("Cache-Control", "no-store")
			h.Set("Pragma", "no-cache")
		}
		tw := &trackingWriter{ResponseWriter: w}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			log.ErrorContext(r.Context(), "panic serving request", "method", r.Method, "path", r.URL.Path,
				"panic", v, "stack", string(debug.Stack()))
			if tw.wrote {
				// Part of an answer is out: break the connection rather
				// than let it pass for a whole one.
				panic(http.ErrAbortHandler)
			}
			for _, k := range []string{"Content-Type", "Content-Length", "Content-Encoding", "Retry-After", "WWW-Authenticate", "Location"} {
				h.Del(k)
			}
			w.WriteHeader(http.StatusInternalServerError)
		}()
		next.ServeHTTP(tw, r)
	})
}

// carriesSecrets reports whether answers on path may carry a token, a
// secret or personal data: everything but discovery, the JWKS and the
// health checks.
func carriesSecrets(path string) bool {
	return strings.HasPrefix(path, "/oauth2/") || path == "/userinfo" || strings.HasPrefix(path, "/admin/")
}

// trackingWriter notes whether anything was written.
type trackingWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *trackingWriter) WriteHeader(code int) {
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *trackingWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *trackingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
