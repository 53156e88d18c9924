// Package cors answers Cross-Origin Resource Sharing (the Fetch standard's
// CORS protocol) for a fixed list of exact origins. It serves Gaia's
// browser-facing endpoints and the example services.
//
// It never allows credentials: the endpoints it fronts authenticate with
// an Authorization header or form parameters, never a cookie, so a
// cross-origin page gets nothing a cookie would have granted it. Origins
// are compared exactly (scheme, host and port); there is no wildcard.
package cors

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config is a CORS policy.
type Config struct {
	// AllowedOrigins are the exact origins allowed, such as
	// "https://app.example.com" or "http://127.0.0.1:5173": a scheme
	// (http or https), a host and an optional port, nothing else.
	AllowedOrigins []string
	// Methods a cross-origin request may use besides the CORS-safelisted
	// GET, HEAD and POST, which are always allowed by browsers.
	Methods []string
	// Headers a cross-origin request may send beyond the CORS-safelisted
	// ones, such as Authorization.
	Headers []string
	// Expose are the response headers a page may read beyond the
	// safelisted ones, such as WWW-Authenticate.
	Expose []string
	// MaxAge is how long a browser may cache a preflight's answer;
	// 0 is 10 minutes (Chromium's cap).
	MaxAge time.Duration
}

// Policy answers CORS for the origins of its Config. Safe for concurrent use.
type Policy struct {
	origins map[string]bool // never nil
	methods []string        // upper case
	headers []string        // lower case
	allowM  string          // Access-Control-Allow-Methods
	allowH  string          // Access-Control-Allow-Headers
	expose  string          // Access-Control-Expose-Headers
	maxAge  string          // Access-Control-Max-Age
}

// maxOrigins bounds the list: it is configuration, not data.
const maxOrigins = 100

// New checks cfg and returns its Policy. An empty origin list gives a
// Policy that allows no origin.
func New(cfg Config) (*Policy, error) {
	if len(cfg.AllowedOrigins) > maxOrigins {
		return nil, fmt.Errorf("cors: %d allowed origins, at most %d", len(cfg.AllowedOrigins), maxOrigins)
	}
	p := &Policy{origins: make(map[string]bool, len(cfg.AllowedOrigins))}
	for _, o := range cfg.AllowedOrigins {
		if err := CheckOrigin(o); err != nil {
			return nil, err
		}
		p.origins[o] = true
	}
	for _, m := range cfg.Methods {
		if m == "" || strings.ContainsAny(m, " ,\t\r\n") {
			return nil, fmt.Errorf("cors: bad method %q", m)
		}
		p.methods = append(p.methods, strings.ToUpper(m))
	}
	for _, h := range cfg.Headers {
		if h == "" || strings.ContainsAny(h, " ,\t\r\n:") {
			return nil, fmt.Errorf("cors: bad header %q", h)
		}
		p.headers = append(p.headers, strings.ToLower(h))
	}
	for _, h := range cfg.Expose {
		if h == "" || strings.ContainsAny(h, " ,\t\r\n:") {
			return nil, fmt.Errorf("cors: bad exposed header %q", h)
		}
	}
	p.allowM = strings.Join(slices.Concat([]string{"GET", "HEAD", "POST"}, p.methods), ", ")
	p.allowH = strings.Join(cfg.Headers, ", ")
	p.expose = strings.Join(cfg.Expose, ", ")
	age := cfg.MaxAge
	if age <= 0 {
		age = 10 * time.Minute
	}
	p.maxAge = strconv.Itoa(int(age / time.Second))
	return p, nil
}

// CheckOrigin reports why o is not a serialized origin that may be
// allowed: scheme http or https, a host, an optional port, and no path,
// query, fragment, user or wildcard. "null" (sandboxed frames, file: pages)
// is never allowed: any page can make itself null.
func CheckOrigin(o string) error {
	u, err := url.Parse(o)
	switch {
	case err != nil:
		return fmt.Errorf("cors: origin %q: %w", o, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("cors: origin %q: scheme must be http or https", o)
	case u.Host == "" || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery || strings.HasSuffix(o, "#"):
		return fmt.Errorf("cors: origin %q: want scheme://host[:port] and nothing else", o)
	case strings.Contains(u.Host, "*"):
		return fmt.Errorf("cors: origin %q: no wildcards", o)
	case o != strings.ToLower(o):
		// Browsers send origins in lower case; a mixed-case entry would never match.
		return fmt.Errorf("cors: origin %q: must be lower case", o)
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("cors: origin %q: bad port", o)
		}
		if (u.Scheme == "http" && port == "80") || (u.Scheme == "https" && port == "443") {
			return fmt.Errorf("cors: origin %q: drop the default port, browsers do", o)
		}
	}
	return nil
}

// ParseList splits a comma-separated list of origins, as an environment
// variable gives it, and checks each. An empty string is an empty list.
func ParseList(s string) ([]string, error) {
	var out []string
	for o := range strings.SplitSeq(s, ",") {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		if err := CheckOrigin(o); err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// Allows reports whether origin is one of the allowed origins.
func (p *Policy) Allows(origin string) bool { return p.origins[origin] }

// Handler answers preflights itself and adds the CORS headers to the other
// answers of next for allowed origins. A request from another origin is
// passed on without them, so the browser withholds the answer from the
// page; a preflight from another origin, or asking for a method or header
// not allowed, is refused with 403 and no CORS headers.
func (p *Policy) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		// The answer depends on Origin: caches must not serve one
		// origin's answer to another.
		h.Add("Vary", "Origin")
		origin := r.Header.Get("Origin")
		preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
		if preflight {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			if !p.origins[origin] || len(r.Header.Values("Origin")) != 1 || !p.allowsPreflight(r) {
				w.WriteHeader(http.StatusForbidden)
				return
			}
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Methods", p.allowM)
			if p.allowH != "" {
				h.Set("Access-Control-Allow-Headers", p.allowH)
			}
			h.Set("Access-Control-Max-Age", p.maxAge)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if origin != "" && p.origins[origin] {
			h.Set("Access-Control-Allow-Origin", origin)
			if p.expose != "" {
				h.Set("Access-Control-Expose-Headers", p.expose)
			}
		}
		next.ServeHTTP(w, r)
	})
}

// maxRequestHeaders bounds the work on Access-Control-Request-Headers.
const maxRequestHeaders = 32

// allowsPreflight reports whether the preflight's method and headers are
// allowed.
func (p *Policy) allowsPreflight(r *http.Request) bool {
	m := r.Header.Get("Access-Control-Request-Method")
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost:
	default:
		if !slices.Contains(p.methods, m) {
			return false
		}
	}
	n := 0
	for _, v := range r.Header.Values("Access-Control-Request-Headers") {
		for name := range strings.SplitSeq(v, ",") {
			name = strings.ToLower(strings.TrimSpace(name))
			if name == "" {
				continue
			}
			if n++; n > maxRequestHeaders || !slices.Contains(p.headers, name) {
				return false
			}
		}
	}
	return true
}
