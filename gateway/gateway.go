// Package gateway is the decision logic of gaia-gateway, a forward-auth
// service that lets a reverse proxy (NGINX auth_request, Traefik
// ForwardAuth, Envoy's HTTP ext_authz) enforce Gaia permissions in front
// of services that do not verify tokens themselves.
//
// For each subrequest it learns the original method and URI, finds the
// first rule matching them, verifies the bearer token locally with package
// claims (status lists included) and answers 200 with the caller's
// identity in X-Gaia-* headers for the upstream, or 401/403 with an RFC
// 6750 challenge. It imports claims only, never the server.
package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gaia-platform/iam/claims"
)

// Proxy names the forward-auth contract a gateway answers, which decides
// where it reads the original method and URI. Only that proxy's headers
// are read: a client may send the others, and its proxy passes them on.
type Proxy string

// The proxies.
const (
	// NGINX: X-Original-Method and X-Original-URI, which the NGINX
	// configuration sets from $request_method and $request_uri.
	NGINX Proxy = "nginx"
	// Traefik: X-Forwarded-Method and X-Forwarded-Uri, set by Traefik's
	// ForwardAuth middleware.
	Traefik Proxy = "traefik"
	// Envoy: the check request's own method and path after DecisionPath
	// (ext_authz http_service with path_prefix "/auth").
	Envoy Proxy = "envoy"
)

// Paths the gateway serves. Every other path is 404.
const (
	DecisionPath = "/auth"    // and, for Envoy, everything under it
	HealthPath   = "/healthz" // 200 while the process runs
)

// Identity headers of an allowed request, for the upstream. Lists are
// comma-separated (RFC 9110 §5.3); permissions and roles hold no comma.
const (
	HeaderSubject     = "X-Gaia-Subject"
	HeaderType        = "X-Gaia-Type"
	HeaderClient      = "X-Gaia-Client"
	HeaderUsername    = "X-Gaia-Username" // users only
	HeaderRoles       = "X-Gaia-Roles"
	HeaderPermissions = "X-Gaia-Permissions"
	HeaderTokenID     = "X-Gaia-Token-Id" // the jti, for the upstream's logs
)

// identityHeaders are every header allow may set.
var identityHeaders = []string{HeaderSubject, HeaderType, HeaderClient, HeaderUsername, HeaderRoles, HeaderPermissions, HeaderTokenID}

// Config configures a Handler.
type Config struct {
	Rules *Rules // required
	Proxy Proxy  // required
	// Realm is the realm of the challenges. Empty means claims.DefaultRealm.
	Realm string
}

// Handler answers forward-auth subrequests. Safe for concurrent use.
type Handler struct {
	rules *Rules
	proxy Proxy
	realm string
	log   *slog.Logger
	deny  http.Handler // behind claims.Middleware: 403 for an authenticated request no rule allows
	// perRule holds, per rule index, the handler run after authentication:
	// allow behind claims.RequirePermission, or allow itself.
	perRule []http.Handler
}

var _ http.Handler = (*Handler)(nil)

// New returns a Handler deciding with v's verdicts on tokens and cfg's
// rules. log receives refusals at debug level (never a token).
func New(cfg Config, v *claims.Verifier, log *slog.Logger) (*Handler, error) {
	switch {
	case cfg.Rules == nil:
		return nil, errors.New("gateway: no rules")
	case v == nil:
		return nil, errors.New("gateway: no verifier")
	}
	switch cfg.Proxy {
	case NGINX, Traefik, Envoy:
	default:
		return nil, fmt.Errorf("gateway: proxy %q, want nginx, traefik or envoy", cfg.Proxy)
	}
	if cfg.Realm == "" {
		cfg.Realm = claims.DefaultRealm
	}
	if strings.ContainsFunc(cfg.Realm, isControl) {
		return nil, errors.New("gateway: control character in realm")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Handler{rules: cfg.Rules, proxy: cfg.Proxy, realm: cfg.Realm, log: log}
	// claims.Middleware with this gateway's challenges.
	authed := claims.Middleware(v, claims.WithRealm(cfg.Realm), claims.WithLogger(log), claims.WithErrorWriter(writeRefusal))
	h.deny = authed(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.refuse(w, r, "no rule allows the request")
	}))
	for i := range cfg.Rules.list {
		r := &cfg.Rules.list[i]
		var next http.Handler = http.HandlerFunc(allow)
		if len(r.Permissions) > 0 {
			next = claims.RequirePermission(r.Permissions...)(next)
		}
		h.perRule = append(h.perRule, authed(next))
	}
	return h, nil
}

// ServeHTTP answers a forward-auth subrequest at DecisionPath, or a health
// check.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == HealthPath:
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte("ok\n"))
		return
	case p != DecisionPath && !(h.proxy == Envoy && strings.HasPrefix(p, DecisionPath+"/")):
		http.NotFound(w, r)
		return
	}
	// A decision holds for this request only: a cache between proxy and
	// gateway must not answer another with it.
	w.Header().Set("Cache-Control", "no-store")
	method, uri, ok := h.original(r)
	if !ok {
		h.refuse(w, r, "original request missing or repeated")
		return
	}
	path, err := canonicalPath(uri)
	if err != nil {
		h.log.LogAttrs(r.Context(), slog.LevelDebug, "request refused", slog.String("reason", err.Error()))
		h.refuse(w, r, "request path not canonical")
		return
	}
	i := h.rules.match(method, path)
	switch {
	case i < 0:
		// Authenticate first, so that a caller without a valid token
		// learns nothing of which routes exist.
		h.deny.ServeHTTP(w, r)
	case h.rules.list[i].Public:
		// Empty identity headers: a proxy that copies the gateway's
		// headers onto the request (Traefik's authResponseHeaders) then
		// overwrites a client's forged ones rather than passing them on.
		for _, name := range identityHeaders {
			w.Header()[name] = []string{""}
		}
		w.WriteHeader(http.StatusOK)
	default:
		h.perRule[i].ServeHTTP(w, r)
	}
}

// original returns the method and request URI of the request the proxy
// asks about, from the one place cfg.Proxy puts them, and false when they
// are missing or sent twice.
func (h *Handler) original(r *http.Request) (method, uri string, ok bool) {
	switch h.proxy {
	case NGINX:
		return pair(r.Header, "X-Original-Method", "X-Original-URI")
	case Traefik:
		return pair(r.Header, "X-Forwarded-Method", "X-Forwarded-Uri")
	default: // Envoy
		uri := strings.TrimPrefix(r.RequestURI, DecisionPath)
		if uri == "" || uri[0] == '?' {
			uri = "/" + uri
		}
		return r.Method, uri, true
	}
}

func pair(hd http.Header, mName, uName string) (string, string, bool) {
	m, u := hd.Values(mName), hd.Values(uName)
	if len(m) != 1 || len(u) != 1 || !isToken(m[0]) {
		return "", "", false
	}
	return strings.ToUpper(m[0]), u[0], true
}

// allow answers 200 with the verified caller's identity.
func allow(w http.ResponseWriter, r *http.Request) {
	a, ok := claims.FromContext(r.Context())
	if !ok { // unreachable: every route to allow passes claims.Middleware
		http.Error(w, "no claims", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set(HeaderSubject, a.Subject)
	hd.Set(HeaderType, string(a.Type))
	hd.Set(HeaderClient, a.ClientID)
	if a.Username != "" {
		hd.Set(HeaderUsername, a.Username)
	}
	hd.Set(HeaderRoles, strings.Join(a.Roles, ","))
	hd.Set(HeaderPermissions, strings.Join(a.Permissions, ","))
	hd.Set(HeaderTokenID, a.ID)
	w.WriteHeader(http.StatusOK)
}

// refuse answers 403 for a request no token could make pass.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, why string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm=`+quote(h.realm)+`, error="insufficient_scope", error_description=`+quote(why))
	writeRefusal(w, r, http.StatusForbidden, "insufficient_scope", "")
}

// writeRefusal writes the status and body of a refusal whose challenge is
// set. NGINX's auth_request turns any status but 2xx, 401 and 403 into a
// 500, so the 400 RFC 6750 §3.1 gives a malformed Authorization header
// (error="invalid_request", which the challenge keeps) is sent as 401.
func writeRefusal(w http.ResponseWriter, _ *http.Request, status int, code, _ string) {
	if status == http.StatusBadRequest {
		status = http.StatusUnauthorized
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if code == "" {
		code = "unauthorized"
	}
	_, _ = w.Write([]byte(`{"error":"` + code + `"}` + "\n"))
}

// quote returns s as an RFC 9110 §5.6.4 quoted-string.
func quote(s string) string {
	return `"` + quoteEscaper.Replace(s) + `"`
}

var quoteEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`)
