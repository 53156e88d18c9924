package claims_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/gaia-platform/iam/claims"
)

// echoSubject answers 200 with the verified subject.
var echoSubject = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	a, ok := claims.FromContext(r.Context())
	if !ok {
		http.Error(w, "no claims", http.StatusInternalServerError)
		return
	}
	_, _ = io.WriteString(w, a.Subject)
})

// routers returns the same API on the standard mux and on chi: GET /items
// needs inventory.read, POST /items inventory.write, DELETE /items/{id}
// inventory.write or inventory.admin, GET /report both analytics.report.view
// and inventory.read.
func routers(v *claims.Verifier, opts ...claims.MiddlewareOption) map[string]http.Handler {
	read := claims.RequirePermission("inventory.read")
	write := claims.RequirePermission("inventory.write")
	anyWrite := claims.RequireAnyPermission("inventory.write", "inventory.admin")
	report := claims.RequirePermission("analytics.report.view", "inventory.read")

	mux := http.NewServeMux()
	mux.Handle("GET /items", read(echoSubject))
	mux.Handle("POST /items", write(echoSubject))
	mux.Handle("DELETE /items/{id}", anyWrite(echoSubject))
	mux.Handle("GET /report", report(echoSubject))

	r := chi.NewRouter()
	r.Use(claims.Middleware(v, opts...))
	r.With(read).Get("/items", echoSubject)
	r.With(write).Post("/items", echoSubject)
	r.With(anyWrite).Delete("/items/{id}", echoSubject)
	r.With(report).Get("/report", echoSubject)

	return map[string]http.Handler{"mux": claims.Middleware(v, opts...)(mux), "chi": r}
}

// TestMiddleware covers RFC 6750 (E1–E5) and rows 52–69 of the bad-input
// table on the standard mux and on chi.
func TestMiddleware(t *testing.T) {
	li := newLocalIssuer(keyA())
	defer li.Close()
	v := newVerifier(t, claims.VerifierConfig{Issuer: li.URL, Audience: "gaia"})
	read := li.mint(keyA(), "inventory.read")
	write := li.mint(keyA(), "inventory.read", "inventory.write")
	admin := li.mint(keyA(), "inventory.admin")
	none := li.mint(keyA())
	expiredClaims := li.claimsOf("inventory.read")
	expiredClaims["exp"] = time.Now().Add(-time.Hour).Unix()
	expired := keyA().sign(header(keyA()), expiredClaims)
	algNone := strings.Split(read, ".")
	algNone[0] = b64JSON(t, map[string]any{"alg": "none", "kid": keyA().kid, "typ": "at+jwt"})
	tamperedClaims := li.claimsOf("inventory.read", "inventory.write")
	tampered := strings.Split(read, ".")
	tampered[1] = b64JSON(t, tamperedClaims)
	badSig := read[:len(read)-4] + "AAAA"
	unknownKid := attacker().sign(header(attacker()), li.claimsOf("inventory.read"))

	const (
		noError      = `Bearer realm="inventory"`
		invalidToken = `Bearer realm="inventory", error="invalid_token"`
		invalidReq   = `Bearer realm="inventory", error="invalid_request"`
		noBody       = `{"error":"unauthorized"}`
		tokenBody    = `{"error":"invalid_token"}`
		reqBody      = `{"error":"invalid_request"}`
		scopeBody    = `{"error":"insufficient_scope"}`
	)
	bearer := func(tok string) func(r *http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	cookie := func(tok string) func(r *http.Request) {
		return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: "gaia_at", Value: tok}) }
	}
	both := func(fs ...func(r *http.Request)) func(r *http.Request) {
		return func(r *http.Request) {
			for _, f := range fs {
				f(r)
			}
		}
	}
	for _, tc := range []struct {
		name         string
		method, path string
		body         string
		prepare      func(r *http.Request)
		status       int
		challenge    string // WWW-Authenticate; "" for none
		respBody     string
	}{
		// E1, row 68: Bearer, scheme case-insensitive.
		{"bearer", "GET", "/items", "", bearer(read), 200, "", "inventory-service"},
		{"bearer lower case", "GET", "/items", "", func(r *http.Request) { r.Header.Set("Authorization", "bearer "+read) }, 200, "", "inventory-service"},
		{"bearer upper case", "GET", "/items", "", func(r *http.Request) { r.Header.Set("Authorization", "BEARER "+read) }, 200, "", "inventory-service"},
		{"bearer two spaces", "GET", "/items", "", func(r *http.Request) { r.Header.Set("Authorization", "Bearer  "+read) }, 200, "", "inventory-service"},
		{"write token writes", "POST", "/items", "", bearer(write), 200, "", "inventory-service"},
		{"any of: write", "DELETE", "/items/1", "", bearer(write), 200, "", "inventory-service"},
		{"any of: admin", "DELETE", "/items/1", "", bearer(admin), 200, "", "inventory-service"},
		// E2, row 67: no credentials, no error attribute.
		{"no credentials", "GET", "/items", "", nil, 401, noError, noBody},
		{"basic scheme is not ours", "GET", "/items", "", func(r *http.Request) { r.SetBasicAuth("inventory-service", "x") }, 401, noError, noBody},
		// Row 66: never from the query or a form.
		{"access_token query", "GET", "/items?access_token=" + read, "", nil, 401, noError, noBody},
		{"access_token form", "POST", "/items", "access_token=" + url.QueryEscape(write), func(r *http.Request) {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}, 401, noError, noBody},
		// E3: malformed requests.
		{"two authorization headers", "GET", "/items", "", func(r *http.Request) {
			r.Header.Add("Authorization", "Bearer "+read)
			r.Header.Add("Authorization", "Bearer "+read)
		}, 400, invalidReq, reqBody},
		{"bearer and basic headers", "GET", "/items", "", func(r *http.Request) {
			r.Header.Add("Authorization", "Basic eDp5")
			r.Header.Add("Authorization", "Bearer "+read)
		}, 200, "", "inventory-service"},
		{"bearer without token", "GET", "/items", "", func(r *http.Request) { r.Header.Set("Authorization", "Bearer") }, 400, invalidReq, reqBody},
		{"bearer with spaces only", "GET", "/items", "", func(r *http.Request) { r.Header.Set("Authorization", "Bearer    ") }, 400, invalidReq, reqBody},
		{"bearer with two tokens", "GET", "/items", "", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+read+" "+write) }, 400, invalidReq, reqBody},
		{"bearer not a b64token", "GET", "/items", "", func(r *http.Request) { r.Header.Set("Authorization", `Bearer "x"`) }, 400, invalidReq, reqBody},
		{"two cookies", "GET", "/items", "", both(cookie(read), cookie(read)), 400, invalidReq, reqBody},
		// E4, rows 52–64: the same answer whatever is wrong.
		{"garbage", "GET", "/items", "", bearer("undefined"), 401, invalidToken, tokenBody},
		{"expired", "GET", "/items", "", bearer(expired), 401, invalidToken, tokenBody},
		{"alg none", "GET", "/items", "", bearer(strings.Join(algNone, ".")), 401, invalidToken, tokenBody},
		{"alg none, empty signature", "GET", "/items", "", bearer(algNone[0] + "." + algNone[1] + "."), 401, invalidToken, tokenBody},
		{"tampered payload", "GET", "/items", "", bearer(strings.Join(tampered, ".")), 401, invalidToken, tokenBody},
		{"bad signature", "GET", "/items", "", bearer(badSig), 401, invalidToken, tokenBody},
		{"unknown kid", "GET", "/items", "", bearer(unknownKid), 401, invalidToken, tokenBody},
		{"over 16 KiB", "GET", "/items", "", bearer(read + strings.Repeat("A", claims.MaxTokenSize)), 401, invalidToken, tokenBody},
		// E5, row 69: permissions, exactly.
		{"read token cannot write", "POST", "/items", "", bearer(read), 403,
			`Bearer realm="inventory", error="insufficient_scope", scope="inventory.write"`, scopeBody},
		{"no permissions", "GET", "/items", "", bearer(none), 403,
			`Bearer realm="inventory", error="insufficient_scope", scope="inventory.read"`, scopeBody},
		{"all of: one missing", "GET", "/report", "", bearer(read), 403,
			`Bearer realm="inventory", error="insufficient_scope", scope="analytics.report.view"`, scopeBody},
		{"all of: both missing", "GET", "/report", "", bearer(none), 403,
			`Bearer realm="inventory", error="insufficient_scope", scope="analytics.report.view inventory.read"`, scopeBody},
		{"any of: none held", "DELETE", "/items/1", "", bearer(read), 403,
			`Bearer realm="inventory", error="insufficient_scope", scope="inventory.write inventory.admin"`, scopeBody},
		// Cookies, for browser apps; the Bearer header wins.
		{"cookie", "GET", "/items", "", cookie(read), 200, "", "inventory-service"},
		{"cookie cannot write", "POST", "/items", "", cookie(read), 403,
			`Bearer realm="inventory", error="insufficient_scope", scope="inventory.write"`, scopeBody},
		{"bad cookie", "GET", "/items", "", cookie(expired), 401, invalidToken, tokenBody},
		{"empty cookie", "GET", "/items", "", cookie(""), 401, noError, noBody},
		{"cookie not a b64token", "GET", "/items", "", func(r *http.Request) { r.Header.Set("Cookie", `gaia_at="a b"`) }, 400, invalidReq, reqBody},
		{"other cookie", "GET", "/items", "", func(r *http.Request) { r.AddCookie(&http.Cookie{Name: "session", Value: read}) }, 401, noError, noBody},
		{"header wins over cookie", "POST", "/items", "", both(cookie(read), bearer(write)), 200, "", "inventory-service"},
		{"bad header, good cookie", "GET", "/items", "", both(cookie(read), bearer(expired)), 401, invalidToken, tokenBody},
		{"basic header, good cookie", "GET", "/items", "", both(cookie(read), func(r *http.Request) { r.SetBasicAuth("a", "b") }), 200, "", "inventory-service"},
	} {
		for name, h := range routers(v, claims.WithRealm("inventory"), claims.WithCookie("gaia_at")) {
			t.Run(name+"/"+tc.name, func(t *testing.T) {
				var body io.Reader
				if tc.body != "" {
					body = strings.NewReader(tc.body)
				}
				r := httptest.NewRequest(tc.method, tc.path, body)
				if tc.prepare != nil {
					tc.prepare(r)
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				got := strings.TrimSpace(w.Body.String())
				if w.Code != tc.status || got != tc.respBody {
					t.Errorf("%s %s = %d %s, want %d %s", tc.method, tc.path, w.Code, got, tc.status, tc.respBody)
				}
				if c := w.Header().Get("WWW-Authenticate"); c != tc.challenge {
					t.Errorf("WWW-Authenticate = %q, want %q", c, tc.challenge)
				}
				if tc.status >= 400 {
					if ct, cc := w.Header().Get("Content-Type"), w.Header().Get("Cache-Control"); ct != "application/json" || cc != "no-store" {
						t.Errorf("Content-Type %q, Cache-Control %q, want application/json, no-store", ct, cc)
					}
				}
			})
		}
	}
}

func TestMiddlewareDefaults(t *testing.T) {
	li := newLocalIssuer(keyA())
	defer li.Close()
	v := newVerifier(t, claims.VerifierConfig{Issuer: li.URL})
	read := li.mint(keyA(), "inventory.read")
	for name, h := range routers(v) {
		t.Run(name, func(t *testing.T) {
			for _, tc := range []struct {
				method, cookie string
				status         int
				challenge      string
			}{
				{"GET", "", 401, `Bearer realm="gaia"`},
				{"GET", read, 401, `Bearer realm="gaia"`}, // no WithCookie: cookies are not read
				{"POST", "", 401, `Bearer realm="gaia"`},
			} {
				r := httptest.NewRequest(tc.method, "/items", nil)
				if tc.cookie != "" {
					r.AddCookie(&http.Cookie{Name: "gaia_at", Value: tc.cookie})
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != tc.status || w.Header().Get("WWW-Authenticate") != tc.challenge {
					t.Errorf("%s = %d %q, want %d %q", tc.method, w.Code, w.Header().Get("WWW-Authenticate"), tc.status, tc.challenge)
				}
			}
			r := httptest.NewRequest("POST", "/items", nil)
			r.Header.Set("Authorization", "Bearer "+read)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if want := `Bearer realm="gaia", error="insufficient_scope", scope="inventory.write"`; w.Code != 403 || w.Header().Get("WWW-Authenticate") != want {
				t.Errorf("POST = %d %q, want 403 %q", w.Code, w.Header().Get("WWW-Authenticate"), want)
			}
		})
	}
}

// TestRequireWithoutMiddleware: a route guarded by RequirePermission but not
// behind Middleware refuses everyone.
func TestRequireWithoutMiddleware(t *testing.T) {
	h := claims.RequirePermission("inventory.read")(echoSubject)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if w.Code != 401 {
		t.Errorf("status %d, want 401", w.Code)
	}
	// Handlers may be tested with claims put in the context directly.
	r := httptest.NewRequest("GET", "/", nil)
	r = r.WithContext(claims.NewContext(r.Context(), &claims.Access{Subject: "s", Permissions: []string{"inventory.read"}}))
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 200 || w.Body.String() != "s" {
		t.Errorf("with claims in the context: %d %q, want 200 s", w.Code, w.Body.String())
	}
}

func TestRequirePanics(t *testing.T) {
	for name, f := range map[string]func(){
		"RequirePermission()":        func() { claims.RequirePermission() },
		"RequirePermission(\"\")":    func() { claims.RequirePermission("inventory.read", "") },
		"RequireAnyPermission()":     func() { claims.RequireAnyPermission() },
		"RequireAnyPermission(\\\")": func() { claims.RequireAnyPermission(`a"b`) },
		"Middleware(nil)":            func() { claims.Middleware(nil) },
		"WithCookie(\"\")":           func() { claims.WithCookie("") },
		"WithRealm(newline)":         func() { claims.WithRealm("a\nb") },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			f()
		})
	}
}
