package bff_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gaia-platform/iam/bff"
	"github.com/gaia-platform/iam/server"
	"github.com/gaia-platform/iam/server/servertest"
	"github.com/gaia-platform/iam/storage"
	"github.com/gaia-platform/iam/storage/storagetest"
)

// fixture is a BFF in front of a recording API, logged in to a real Gaia
// IAM on one backend.
type fixture struct {
	iam      *servertest.IAM
	bff      *httptest.Server
	apiCalls chan *http.Request
	clock    atomic.Int64 // seconds added to the IAM's clock
}

func newFixture(t *testing.T, b storagetest.Backend) *fixture {
	t.Helper()
	f := &fixture{apiCalls: make(chan *http.Request, 10)}
	f.iam = servertest.Start(t, b.Open(t), servertest.Options{Tune: func(c *server.Config) {
		c.Now = func() time.Time { return time.Now().Add(time.Duration(f.clock.Load()) * time.Second) }
	}})
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.apiCalls <- r.Clone(context.Background())
		w.Header().Set("Set-Cookie", "api=1; Path=/")
		_, _ = io.WriteString(w, `{"items":[]}`)
	}))
	t.Cleanup(api.Close)
	f.bff = httptest.NewUnstartedServer(nil)
	base := "http://" + f.bff.Listener.Addr().String()
	// The example seed's gaia-web, registered for this BFF's port.
	_, err := f.iam.Store.UpdateClient(t.Context(), "gaia-web", func(c *storage.Client) error {
		c.RedirectURIs = []string{base + bff.CallbackPath}
		c.PostLogoutRedirectURIs = []string{base + "/"}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	h, err := bff.New(t.Context(), bff.Config{
		Issuer: f.iam.Issuer, ClientID: "gaia-web", ClientSecret: servertest.WebSecret,
		BaseURL: base, API: api.URL, Audience: "gaia", Logger: storagetest.Logger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.bff.Config.Handler = h.Handler()
	f.bff.Start()
	t.Cleanup(f.bff.Close)
	return f
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func (f *fixture) do(t *testing.T, method, path string, hdr map[string]string, cookies ...*http.Cookie) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, f.bff.URL+path, strings.NewReader(`{"name":"x","quantity":1}`))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// TestCSRF: the app's calls need the custom header and an allowed Origin;
// state-changing ones an Origin at all. Refused requests never reach the API.
func TestCSRF(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			f := newFixture(t, b)
			self := f.bff.URL
			tests := []struct {
				name, method, path string
				hdr                map[string]string
				status             int
			}{
				{"session without the header", "GET", "/bff/session", nil, 403},
				{"session, same origin", "GET", "/bff/session", map[string]string{bff.CSRFHeader: "1"}, 200},
				{"session from another origin", "GET", "/bff/session", map[string]string{bff.CSRFHeader: "1", "Origin": "http://evil.example"}, 403},
				{"header with another value", "GET", "/bff/session", map[string]string{bff.CSRFHeader: "0"}, 403},
				{"API POST from another origin", "POST", "/api/items", map[string]string{bff.CSRFHeader: "1", "Origin": "http://evil.example"}, 403},
				{"API POST from a sibling port", "POST", "/api/items", map[string]string{bff.CSRFHeader: "1", "Origin": "http://127.0.0.1:1"}, 403},
				{"API POST without the header (a form)", "POST", "/api/items", map[string]string{"Origin": self}, 403},
				{"API POST without Origin", "POST", "/api/items", map[string]string{bff.CSRFHeader: "1"}, 403},
				{"API POST, null origin", "POST", "/api/items", map[string]string{bff.CSRFHeader: "1", "Origin": "null"}, 403},
				{"API POST from the app, no session", "POST", "/api/items", map[string]string{bff.CSRFHeader: "1", "Origin": self}, 401},
				{"logout from another origin", "POST", "/bff/logout", map[string]string{bff.CSRFHeader: "1", "Origin": "http://evil.example"}, 403},
				{"logout as a GET", "GET", "/bff/logout", map[string]string{bff.CSRFHeader: "1"}, 405},
				{"preflight", "OPTIONS", "/api/items", map[string]string{"Origin": "http://evil.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-gaia-bff"}, 403},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					resp, body := f.do(t, tc.method, tc.path, tc.hdr, &http.Cookie{Name: bff.SessionCookie, Value: "forged"})
					if resp.StatusCode != tc.status {
						t.Errorf("%s %s = %d %s, want %d", tc.method, tc.path, resp.StatusCode, body, tc.status)
					}
					if v := resp.Header.Get("Access-Control-Allow-Origin"); v != "" {
						t.Errorf("Access-Control-Allow-Origin = %q", v)
					}
				})
			}
			select {
			case r := <-f.apiCalls:
				t.Errorf("the API was called: %s %s", r.Method, r.URL)
			default:
			}
		})
	}
}

// TestLoginStart: /bff/login binds a login to the browser with a __Host-
// cookie and sends it to the IAM with PKCE S256, state and nonce.
func TestLoginStart(t *testing.T) {
	f := newFixture(t, storagetest.Backends(t)[0])
	resp, _ := f.do(t, "GET", "/bff/login", nil)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("GET /bff/login = %d, want 302", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	q := loc.Query()
	for k, want := range map[string]string{
		"response_type": "code", "client_id": "gaia-web", "code_challenge_method": "S256",
		"redirect_uri": f.bff.URL + bff.CallbackPath, "scope": "openid offline_access",
	} {
		if got := q.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	for _, k := range []string{"state", "nonce", "code_challenge"} {
		if len(q.Get(k)) < 43 {
			t.Errorf("%s = %q, want 256 bits", k, q.Get(k))
		}
	}
	if !strings.HasPrefix(loc.String(), f.iam.Issuer) {
		t.Errorf("login goes to %s, not the IAM %s", loc, f.iam.Issuer)
	}
	c := loginCookie(t, resp)
	if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" {
		t.Errorf("login cookie %+v: want HttpOnly, Secure, SameSite=Lax, Path=/, no Domain", c)
	}

	// The callback refuses a wrong state, and the login is then spent:
	// the right state no longer works either.
	bad, body := f.do(t, "GET", bff.CallbackPath+"?code=x&state=wrong", nil, c)
	if bad.StatusCode != http.StatusBadRequest || strings.Contains(body, "wrong") {
		t.Errorf("callback with a wrong state = %d %q, want 400", bad.StatusCode, body)
	}
	again, _ := f.do(t, "GET", bff.CallbackPath+"?code=x&state="+url.QueryEscape(q.Get("state")), nil, c)
	if again.StatusCode != http.StatusBadRequest {
		t.Errorf("callback after a failed one = %d, want 400", again.StatusCode)
	}
	none, _ := f.do(t, "GET", bff.CallbackPath+"?code=x&state="+url.QueryEscape(q.Get("state")), nil)
	if none.StatusCode != http.StatusBadRequest {
		t.Errorf("callback without the login cookie = %d, want 400", none.StatusCode)
	}
}

func loginCookie(t *testing.T, resp *http.Response) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == bff.LoginCookie {
			return c
		}
	}
	t.Fatalf("no %s cookie in %q", bff.LoginCookie, resp.Header.Values("Set-Cookie"))
	return nil
}

// session decodes /bff/session.
func session(t *testing.T, body string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("session %q: %v", body, err)
	}
	return m
}

var hiddenField = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)

// logIn walks the flow as a browser: /bff/login, the IAM's hosted login
// page, the callback. It returns the session cookie. The IAM's cookies go
// in a jar; the BFF's Secure ones, which a jar keeps off plain HTTP, by hand.
func (f *fixture) logIn(t *testing.T) *http.Cookie {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	iam := &http.Client{Jar: jar, CheckRedirect: noRedirect.CheckRedirect}
	resp, _ := f.do(t, "GET", bff.LoginPath, nil)
	login := loginCookie(t, resp)
	page, err := iam.Get(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(page.Body)
	page.Body.Close()
	form := url.Values{"username": {"admin"}, "password": {servertest.AdminPassword}}
	for _, m := range hiddenField.FindAllStringSubmatch(string(body), -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	done, err := iam.PostForm(f.iam.Issuer+"/oauth2/login", form)
	if err != nil {
		t.Fatal(err)
	}
	done.Body.Close()
	back, err := url.Parse(done.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(back.String(), f.bff.URL+bff.CallbackPath) {
		t.Fatalf("login answered %d to %q, want the callback", done.StatusCode, back)
	}
	cb, cbBody := f.do(t, "GET", bff.CallbackPath+"?"+back.RawQuery, nil, login)
	if cb.StatusCode != http.StatusSeeOther || cb.Header.Get("Location") != "/" {
		t.Fatalf("callback = %d %q, want 303 to /", cb.StatusCode, cbBody)
	}
	for _, c := range cb.Cookies() {
		if c.Name == bff.SessionCookie {
			if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Domain != "" || c.MaxAge != 0 {
				t.Errorf("session cookie %+v: want HttpOnly, Secure, SameSite=Strict, Path=/, no Domain", c)
			}
			return c
		}
	}
	t.Fatalf("callback set no session cookie: %q", cb.Header.Values("Set-Cookie"))
	return nil
}

// TestSession: a login through the hosted page gives a session whose API
// calls reach the API with the access token and nothing of the browser's;
// the token is refreshed once when it nears expiry, however many calls
// come at once; logout revokes it and ends the session. Never a token in
// what the browser gets.
func TestSession(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			f := newFixture(t, b)
			// The login's access token was issued 14.5 minutes ago by the
			// IAM's clock: it expires in 30 s, within RefreshBefore.
			f.clock.Store(-int64((15*time.Minute - 30*time.Second) / time.Second))
			sess := f.logIn(t)
			f.clock.Store(0)
			app := map[string]string{bff.CSRFHeader: "1", "Origin": f.bff.URL}

			_, body := f.do(t, "GET", bff.SessionPath, app, sess)
			info := session(t, body)
			if info["authenticated"] != true || info["username"] != "admin" || strings.Contains(body, "eyJ") {
				t.Fatalf("session = %s", body)
			}
			expiresIn := func() time.Duration {
				t.Helper()
				_, body := f.do(t, "GET", bff.SessionPath, app, sess)
				at, err := time.Parse(time.RFC3339, fmt.Sprint(session(t, body)["access_token_expires_at"]))
				if err != nil {
					t.Fatalf("session %s: %v", body, err)
				}
				return time.Until(at)
			}
			if d := expiresIn(); d > time.Minute {
				t.Fatalf("the login's token expires in %v, want under a minute", d)
			}

			// Five calls at once: one refresh (a second would replay the
			// single-use refresh token and end the login).
			var wg sync.WaitGroup
			for range 5 {
				wg.Go(func() {
					resp, body := f.do(t, "GET", "/api/items", app, sess)
					if resp.StatusCode != http.StatusOK {
						t.Errorf("GET /api/items during refresh = %d %s", resp.StatusCode, body)
					}
				})
			}
			wg.Wait()
			tokens := map[string]bool{}
			for range 5 {
				tokens[(<-f.apiCalls).Header.Get("Authorization")] = true
			}
			if len(tokens) != 1 {
				t.Errorf("the API got %d distinct tokens from concurrent calls, want 1", len(tokens))
			}
			if d := expiresIn(); d < 14*time.Minute {
				t.Errorf("after the calls the token expires in %v: not refreshed", d)
			}
			var token string
			for k := range tokens {
				token = strings.TrimPrefix(k, "Bearer ")
			}

			// The refreshed token is fresh: used as is, and only it
			// reaches the API, with nothing of the browser's.
			resp, body := f.do(t, "POST", "/api/items?x=1", map[string]string{bff.CSRFHeader: "1", "Origin": f.bff.URL, "Authorization": "Bearer forged"}, sess)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Set-Cookie") != "" {
				t.Fatalf("POST /api/items = %d %s, Set-Cookie %q", resp.StatusCode, body, resp.Header.Get("Set-Cookie"))
			}
			got := <-f.apiCalls
			if got.URL.Path != "/items" || got.URL.RawQuery != "x=1" || got.Header.Get("Cookie") != "" || got.Header.Get(bff.CSRFHeader) != "" {
				t.Errorf("API got %s?%s, Cookie %q, %s %q", got.URL.Path, got.URL.RawQuery, got.Header.Get("Cookie"), bff.CSRFHeader, got.Header.Get(bff.CSRFHeader))
			}
			if got.Header.Get("Authorization") != "Bearer "+token || !strings.HasPrefix(token, "eyJ") {
				t.Errorf("API got Authorization %.20q, want the refreshed token %.20q", got.Header.Get("Authorization"), token)
			}
			refreshed := token

			big, _ := http.NewRequestWithContext(t.Context(), "POST", f.bff.URL+"/api/items", strings.NewReader(strings.Repeat("x", bff.MaxBodyBytes+1)))
			big.Header.Set(bff.CSRFHeader, "1")
			big.Header.Set("Origin", f.bff.URL)
			big.AddCookie(sess)
			if resp, err := http.DefaultClient.Do(big); err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Errorf("POST of %d bytes: %v, %v; want 413", bff.MaxBodyBytes+1, resp, err)
			} else {
				resp.Body.Close()
			}

			resp, body = f.do(t, "POST", bff.LogoutPath, app, sess)
			var out struct {
				LogoutURL string `json:"logout_url"`
			}
			if err := json.Unmarshal([]byte(body), &out); err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("logout = %d %s", resp.StatusCode, body)
			}
			u, err := url.Parse(out.LogoutURL)
			if err != nil || !strings.HasPrefix(out.LogoutURL, f.iam.Issuer+"/oauth2/logout?") ||
				u.Query().Get("id_token_hint") == "" || u.Query().Get("post_logout_redirect_uri") != f.bff.URL+"/" {
				t.Errorf("logout_url = %q, want the IAM's end_session_endpoint with id_token_hint and the app", out.LogoutURL)
			}
			if after, _ := f.do(t, "GET", "/api/items", app, sess); after.StatusCode != http.StatusUnauthorized {
				t.Errorf("API call after logout = %d, want 401", after.StatusCode)
			}
			// RFC 7009: the BFF revoked what it held.
			if active := introspect(t, f.iam.Issuer, refreshed); active {
				t.Error("the access token is still active after logout")
			}
		})
	}
}

// introspect reports whether the IAM takes token for active.
func introspect(t *testing.T, issuer, token string) bool {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, issuer+"/oauth2/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("gaia-web", servertest.WebSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Active bool `json:"active"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.Active
}
