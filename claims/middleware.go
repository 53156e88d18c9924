package claims

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
)

// DefaultRealm is the realm of the WWW-Authenticate challenges unless
// WithRealm says otherwise.
const DefaultRealm = "gaia"

// contextKey is the key of the verified claims in a request's context.
type contextKey struct{}

// verified is the context value: the claims, and the middleware that
// verified them, whose realm RequirePermission's challenges repeat.
type verified struct {
	a *Access
	m *middleware
}

// FromContext returns the claims Middleware verified for the request whose
// context ctx is, and whether there are any.
func FromContext(ctx context.Context) (*Access, bool) {
	v, ok := ctx.Value(contextKey{}).(*verified)
	if !ok || v.a == nil {
		return nil, false
	}
	return v.a, true
}

// NewContext returns a copy of ctx carrying a, as Middleware does. Tests of
// handlers behind RequirePermission may use it.
func NewContext(ctx context.Context, a *Access) context.Context {
	return context.WithValue(ctx, contextKey{}, &verified{a: a, m: defaultMiddleware})
}

// defaultMiddleware answers for requests that no Middleware saw.
var defaultMiddleware = &middleware{realm: quote(DefaultRealm)}

// MiddlewareOption configures Middleware.
type MiddlewareOption func(*middleware)

type middleware struct {
	v      *Verifier
	cookie string // "" when tokens are read from the Authorization header only
	realm  string // quoted-string ready, see quote
	log    *slog.Logger
	body   ErrorWriter // nil: the default {"error": code} body
}

// ErrorWriter writes the body of a refusal after Middleware, or a Require…
// behind it, has set the WWW-Authenticate header. status is 400, 401 or
// 403; code is the RFC 6750 error code, "" for a request that carried no
// token; scope lists the missing permissions of a 403, space-separated.
type ErrorWriter func(w http.ResponseWriter, r *http.Request, status int, code, scope string)

// WithErrorWriter replaces the JSON body of refusals, for an API whose
// errors have another shape (RFC 9457 problem details, say). The status
// and the WWW-Authenticate challenge stay those of RFC 6750.
func WithErrorWriter(fn ErrorWriter) MiddlewareOption {
	if fn == nil {
		panic("claims: WithErrorWriter: nil writer")
	}
	return func(m *middleware) { m.body = fn }
}

// WithCookie makes Middleware also read the token from the cookie name, for
// browser apps that keep it in an HttpOnly cookie. A Bearer Authorization
// header wins over the cookie when a request carries both.
func WithCookie(name string) MiddlewareOption {
	if name == "" || strings.ContainsAny(name, " \t\r\n;=,\"") {
		panic("claims: WithCookie: bad cookie name " + name)
	}
	return func(m *middleware) { m.cookie = name }
}

// WithRealm sets the realm of the WWW-Authenticate challenges (RFC 6750 §3).
// Default DefaultRealm.
func WithRealm(realm string) MiddlewareOption {
	if strings.ContainsFunc(realm, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		panic("claims: WithRealm: control character in realm")
	}
	return func(m *middleware) { m.realm = realm }
}

// WithLogger logs, at debug level, why tokens were refused (never the
// token itself). Default: nothing is logged.
func WithLogger(log *slog.Logger) MiddlewareOption {
	return func(m *middleware) {
		if log != nil {
			m.log = log
		}
	}
}

// Middleware authenticates every request with a Gaia access token and puts
// its claims in the request's context (see FromContext). It works with any
// router built on net/http: the standard mux, chi, …
//
// The token is taken from an "Authorization: Bearer" header (scheme
// case-insensitive; RFC 6750 §2.1) or, with WithCookie, from a cookie when
// there is no Bearer header. Other Authorization schemes are ignored. It is
// never taken from the URL query or a form body (RFC 6750 §2.3, RFC 9700
// §4.3.2). Failures are answered per RFC 6750 §3 with a small JSON body:
//
//   - no token: 401, WWW-Authenticate: Bearer realm="…" with no error code;
//   - two Authorization headers or two token cookies, or a Bearer
//     credential that is not a b64token: 400, error="invalid_request";
//   - a token that does not verify: 401, error="invalid_token".
//
// Why a token failed is never told to the client. The size of the headers
// is bounded by the server (http.Server.MaxHeaderBytes, 1 MiB by default:
// set it lower); tokens over MaxTokenSize are refused unparsed.
func Middleware(v *Verifier, opts ...MiddlewareOption) func(http.Handler) http.Handler {
	if v == nil {
		panic("claims: Middleware: nil Verifier")
	}
	m := &middleware{v: v, realm: DefaultRealm, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(m)
	}
	m.realm = quote(m.realm)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			token, status := m.token(r)
			switch status {
			case http.StatusUnauthorized:
				m.challenge(w, r, http.StatusUnauthorized, "", "")
				return
			case http.StatusBadRequest:
				m.challenge(w, r, http.StatusBadRequest, "invalid_request", "")
				return
			}
			a, err := m.v.Verify(r.Context(), token)
			if err != nil {
				m.log.LogAttrs(r.Context(), slog.LevelDebug, "access token refused", slog.Any("error", err))
				m.challenge(w, r, http.StatusUnauthorized, "invalid_token", "")
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), contextKey{}, &verified{a: a, m: m})))
		})
	}
}

// token returns the request's token and 0, or the status of the failure:
// 401 for no token, 400 for a malformed request.
func (m *middleware) token(r *http.Request) (string, int) {
	var bearer []string
	for _, h := range r.Header.Values("Authorization") {
		scheme, cred, _ := strings.Cut(h, " ")
		if strings.EqualFold(scheme, "Bearer") {
			bearer = append(bearer, strings.TrimLeft(cred, " "))
		}
	}
	switch {
	case len(bearer) > 1: // RFC 6750 §3.1: more than one token
		return "", http.StatusBadRequest
	case len(bearer) == 1:
		if !isB64Token(bearer[0]) {
			return "", http.StatusBadRequest
		}
		return bearer[0], 0
	}
	if m.cookie == "" {
		return "", http.StatusUnauthorized
	}
	switch cs := r.CookiesNamed(m.cookie); len(cs) {
	case 0:
		return "", http.StatusUnauthorized
	case 1:
		if cs[0].Value == "" {
			return "", http.StatusUnauthorized
		}
		if !isB64Token(cs[0].Value) {
			return "", http.StatusBadRequest
		}
		return cs[0].Value, 0
	default:
		return "", http.StatusBadRequest
	}
}

// isB64Token reports whether s is an RFC 6750 §2.1 b64token:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/') {
			return false
		}
	}
	return true
}

// RequirePermission lets through requests whose verified token grants every
// one of perms, and answers the others 403 with error="insufficient_scope"
// and, in scope, the permissions the token lacks (RFC 6750 §3.1). A request
// that did not pass Middleware is answered 401. Matching is exact (see
// Access.Has). It panics when perms is empty or holds an empty string.
func RequirePermission(perms ...string) func(http.Handler) http.Handler {
	checkPerms("RequirePermission", perms)
	return require(func(a *Access) []string {
		var missing []string
		for _, p := range perms {
			if !a.Has(p) {
				missing = append(missing, p)
			}
		}
		return missing
	})
}

// RequireAnyPermission lets through requests whose verified token grants
// at least one of perms, and answers the others 403 with
// error="insufficient_scope" and scope listing perms, any one of which
// would do. Otherwise as RequirePermission.
func RequireAnyPermission(perms ...string) func(http.Handler) http.Handler {
	checkPerms("RequireAnyPermission", perms)
	return require(func(a *Access) []string {
		if a.HasAny(perms...) {
			return nil
		}
		return perms
	})
}

func checkPerms(fn string, perms []string) {
	if len(perms) == 0 {
		panic("claims: " + fn + ": no permission given")
	}
	for _, p := range perms {
		if p == "" || strings.ContainsFunc(p, func(r rune) bool { return r <= ' ' || r == '"' || r == '\\' || r == 0x7f }) {
			panic("claims: " + fn + ": bad permission " + p)
		}
	}
}

// require answers 403 when missing returns permissions for the request's
// claims.
func require(missing func(*Access) []string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			v, ok := r.Context().Value(contextKey{}).(*verified)
			if !ok || v.a == nil {
				defaultMiddleware.challenge(w, r, http.StatusUnauthorized, "", "")
				return
			}
			if lack := missing(v.a); len(lack) > 0 {
				v.m.challenge(w, r, http.StatusForbidden, "insufficient_scope", strings.Join(lack, " "))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// challenge answers status with an RFC 6750 §3 WWW-Authenticate header and
// a JSON body {"error": code}. An empty code means no error attribute
// (RFC 6750 §3.1: a request without credentials).
func (m *middleware) challenge(w http.ResponseWriter, r *http.Request, status int, code, scope string) {
	c := "Bearer realm=" + m.realm
	if code != "" {
		c += `, error="` + code + `"`
	}
	if scope != "" {
		c += ", scope=" + quote(scope)
	}
	h := w.Header()
	h.Set("WWW-Authenticate", c)
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if m.body != nil {
		m.body(w, r, status, code, scope)
		return
	}
	w.WriteHeader(status)
	body := code
	if body == "" {
		body = "unauthorized"
	}
	_, _ = w.Write([]byte(`{"error":"` + body + `"}` + "\n"))
}

// quote returns s as an RFC 9110 §5.6.4 quoted-string.
func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(s) + `"`
}
