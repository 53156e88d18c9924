package server

import (
	"net/http"

	"github.com/gaia-platform/iam/cors"
	"github.com/gaia-platform/iam/discovery"
)

// corsPaths are the endpoints a browser app calls with fetch: discovery
// and the JWKS to configure itself, the token endpoint (code exchange and
// refresh by a public client), revocation at logout and userinfo. The
// authorization and logout endpoints are navigated to, not fetched;
// introspection and the admin API are for servers.
var corsPaths = map[string]bool{
	discovery.OpenIDPath:     true,
	discovery.OAuthPath:      true,
	discovery.JWKSPath:       true,
	discovery.TokenPath:      true,
	discovery.RevocationPath: true,
	discovery.UserinfoPath:   true,
}

// withCORS answers CORS on corsPaths for origins; with none, h is
// returned unchanged and no path answers a preflight.
func withCORS(h http.Handler, origins []string) (http.Handler, error) {
	if len(origins) == 0 {
		return h, nil
	}
	p, err := cors.New(cors.Config{
		AllowedOrigins: origins,
		// Userinfo takes a Bearer header; token and revocation take
		// form bodies, whose Content-Type is safelisted, and client
		// authentication a public client does not have.
		Headers: []string{"Authorization"},
		// RFC 6750 §3: the page learns why a token was refused.
		Expose: []string{"WWW-Authenticate"},
	})
	if err != nil {
		return nil, err
	}
	wrapped := p.Handler(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if corsPaths[r.URL.Path] {
			wrapped.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	}), nil
}
