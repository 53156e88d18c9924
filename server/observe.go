package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"go.opentelemetry.io/otel/trace"
)

// RequestIDHeader carries a request's id in and out.
const RequestIDHeader = "X-Request-ID"

// maxRequestIDLen bounds an inbound request id: it goes into every log
// line of the request.
const maxRequestIDLen = 128

type requestIDKey struct{}

// RequestID is the id of the request ctx belongs to, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// requestID returns the inbound id if it is well formed (a proxy or the
// caller chose it, so that its logs and ours join), or a new random one.
// Well formed is 1 to maxRequestIDLen characters of letters, digits and
// "-_.:": nothing that could forge a log line or a header.
func requestID(inbound string) string {
	if len(inbound) > 0 && len(inbound) <= maxRequestIDLen {
		ok := true
		for _, c := range []byte(inbound) {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
				ok = false
				break
			}
		}
		if ok {
			return inbound
		}
	}
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// observer gives each request an id, and once answered logs it and counts
// it, and traces it; m, log or tracer may be nil (that part is off).
type observer struct {
	m      *metrics
	log    *slog.Logger
	tracer trace.Tracer
}

// middleware is chi middleware: after the request, chi's route context
// holds the pattern that matched.
func (o observer) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := requestID(r.Header.Get(RequestIDHeader))
		w.Header().Set(RequestIDHeader, id)
		ctx := context.WithValue(r.Context(), requestIDKey{}, id)
		var span trace.Span
		if o.tracer != nil {
			ctx, span = startSpan(ctx, o.tracer, r)
		}
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r.WithContext(ctx))
		code := sw.code
		if code == 0 {
			code = http.StatusOK
		}
		d := time.Since(start)
		route := "unmatched"
		if rc := chi.RouteContext(ctx); rc != nil && rc.RoutePattern() != "" {
			route = rc.RoutePattern()
		}
		if o.m != nil {
			o.m.observed(route, r.Method, code, d)
		}
		if span != nil {
			endSpan(span, r.Method, route, code, id, sw.clientID)
		}
		if o.log != nil {
			attrs := []slog.Attr{
				slog.String("method", r.Method), slog.String("route", route), slog.Int("status", code),
				slog.Float64("duration_ms", float64(d.Microseconds())/1000), slog.String("request_id", id),
			}
			if sw.clientID != "" {
				attrs = append(attrs, slog.String("client_id", sw.clientID))
			}
			if span != nil && span.SpanContext().HasTraceID() {
				attrs = append(attrs, slog.String("trace_id", span.SpanContext().TraceID().String()))
			}
			o.log.LogAttrs(ctx, slog.LevelInfo, "request", attrs...)
		}
	})
}

// client wraps an endpoint where a client authenticates (token, revoke,
// introspect): it notes the client id presented, for the request log, and
// on the token endpoint counts the tokens issued by grant. It reads the
// form the endpoint parsed, never the body itself.
func (o observer) client(next http.HandlerFunc, token bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		next(w, r)
		sw, ok := w.(*statusWriter)
		if !ok {
			return
		}
		sw.clientID = presentedClient(r)
		if token && o.m != nil && (sw.code == 0 || sw.code == http.StatusOK) {
			o.m.issued(r.PostForm.Get("grant_type"))
		}
	}
}

// presentedClient is the client id a request names, authenticated or not
// (an id is not a secret): the Basic user name, form-encoded (RFC 6749
// §2.3.1), or the body's client_id. It is cut to keep log lines bounded;
// the log handler quotes it.
func presentedClient(r *http.Request) string {
	id := r.PostForm.Get("client_id")
	if u, _, ok := r.BasicAuth(); ok {
		id = u
		if d, err := url.QueryUnescape(u); err == nil {
			id = d
		}
	}
	if len(id) > maxRequestIDLen {
		id = id[:maxRequestIDLen]
	}
	return id
}

// statusWriter remembers the status code written and the client id an
// endpoint noted.
type statusWriter struct {
	http.ResponseWriter
	code     int
	clientID string
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func statusLabel(code int) string { return strconv.Itoa(code) }
