package conformance

import (
	"context"
	"crypto/rand"
	"errors"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gaia-platform/iam/audit"
	"github.com/gaia-platform/iam/rbac/admin"
	"github.com/gaia-platform/iam/storage"
)

// The authorization-code flow with PKCE, the hosted login page and
// RP-initiated logout (issue 12), driven as a browser app drives them:
// golang.org/x/oauth2 builds the authorization URL and exchanges the code,
// go-oidc verifies the ID token, and a real HTTP client with a cookie jar
// plays the browser, posting the login form it is served.

// The example seed's public browser client.
const (
	spaClient   = "gaia-spa"
	spaRedirect = "http://127.0.0.1:5173/callback"
	spaLogout   = "http://127.0.0.1:5173/"
)

// browser is an HTTP client with cookies that does not follow redirects:
// the test reads each Location, as a browser would go there.
type browser struct {
	t *testing.T
	c *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// page is a response read whole.
type page struct {
	status int
	header http.Header
	body   string
}

func (p page) location(t *testing.T) *url.URL {
	t.Helper()
	loc := p.header.Get("Location")
	if p.status != http.StatusSeeOther || loc == "" {
		t.Fatalf("got %d (Location %q), want a 303 redirect; body: %.300s", p.status, loc, p.body)
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return page{resp.StatusCode, resp.Header, string(body)}
}

func (b *browser) get(u string) page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

func (b *browser) post(u string, form url.Values, header ...string) page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(req)
}

var hiddenField = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)

// loginForm returns the hidden fields of the login form p shows.
func loginForm(t *testing.T, p page) url.Values {
	t.Helper()
	if p.status != http.StatusOK && p.status != http.StatusBadRequest && p.status != http.StatusTooManyRequests {
		t.Fatalf("login page status %d; body %.300s", p.status, p.body)
	}
	if !strings.Contains(p.body, `<form method="post" action="/oauth2/login">`) {
		t.Fatalf("no login form in %.500s", p.body)
	}
	f := url.Values{}
	for _, m := range hiddenField.FindAllStringSubmatch(p.body, -1) {
		f.Set(m[1], html.UnescapeString(m[2]))
	}
	if f.Get("csrf_token") == "" || f.Get("request") == "" {
		t.Fatalf("login form without csrf_token or request: %v", f)
	}
	return f
}

// logIn posts the login form of p with a username and password.
func (b *browser) logIn(issuer string, p page, username, password string) page {
	b.t.Helper()
	f := loginForm(b.t, p)
	f.Set("username", username)
	f.Set("password", password)
	return b.post(issuer+"/oauth2/login", f)
}

// codeFlow is one client's view of the flow.
type codeFlow struct {
	conf     oauth2.Config
	provider *oidc.Provider
	verifier string
	state    string
	nonce    string
}

func newCodeFlow(t *testing.T, issuer, clientID, secret, redirect string) *codeFlow {
	t.Helper()
	p, err := oidc.NewProvider(ctx(t), issuer)
	if err != nil {
		t.Fatal(err)
	}
	return &codeFlow{
		conf: oauth2.Config{ClientID: clientID, ClientSecret: secret, Endpoint: p.Endpoint(), RedirectURL: redirect,
			Scopes: []string{oidc.ScopeOpenID, "profile", oidc.ScopeOfflineAccess}},
		provider: p,
	}
}

// authURL starts an authorization with fresh PKCE verifier, state and nonce.
func (f *codeFlow) authURL(opts ...oauth2.AuthCodeOption) string {
	f.verifier, f.state, f.nonce = oauth2.GenerateVerifier(), rand.Text(), rand.Text()
	return f.conf.AuthCodeURL(f.state, append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(f.verifier), oidc.Nonce(f.nonce)}, opts...)...)
}

// code reads the code of a redirect back to the client, checking state and iss.
func (f *codeFlow) code(t *testing.T, issuer string, p page) string {
	t.Helper()
	u := p.location(t)
	q := u.Query()
	if got := u.Scheme + "://" + u.Host + u.Path; got != f.conf.RedirectURL {
		t.Fatalf("redirected to %s, want %s", got, f.conf.RedirectURL)
	}
	if q.Get("error") != "" || q.Get("code") == "" {
		t.Fatalf("authorization response %v, want a code", q)
	}
	if q.Get("state") != f.state || q.Get("iss") != issuer {
		t.Fatalf("authorization response state %q iss %q, want %q %q", q.Get("state"), q.Get("iss"), f.state, issuer)
	}
	return q.Get("code")
}

func (f *codeFlow) exchange(t *testing.T, code string, opts ...oauth2.AuthCodeOption) (*oauth2.Token, error) {
	t.Helper()
	return f.conf.Exchange(ctx(t), code, append([]oauth2.AuthCodeOption{oauth2.VerifierOption(f.verifier)}, opts...)...)
}

// idToken verifies the ID token of tok with go-oidc and checks its nonce.
func (f *codeFlow) idToken(t *testing.T, tok *oauth2.Token) (*oidc.IDToken, map[string]any) {
	t.Helper()
	raw, _ := tok.Extra("id_token").(string)
	idt, err := f.provider.Verifier(&oidc.Config{ClientID: f.conf.ClientID}).Verify(ctx(t), raw)
	if err != nil {
		t.Fatalf("ID token: %v", err)
	}
	var c map[string]any
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	return idt, c
}

// wantRedirectError checks an error response redirected to the client.
func wantRedirectError(t *testing.T, p page, redirect, code, state string) {
	t.Helper()
	u := p.location(t)
	q := u.Query()
	if got := u.Scheme + "://" + u.Host + u.Path; got != redirect {
		t.Fatalf("error redirected to %s, want %s", got, redirect)
	}
	if q.Get("error") != code || q.Get("state") != state || q.Get("code") != "" {
		t.Errorf("error response %v, want error=%s state=%q and no code", q, code, state)
	}
}

// wantNoRedirect checks an error answered with our own page.
func wantNoRedirect(t *testing.T, p page) {
	t.Helper()
	if p.status != http.StatusBadRequest || p.header.Get("Location") != "" || !strings.HasPrefix(p.header.Get("Content-Type"), "text/html") {
		t.Errorf("got %d Location %q %q, want a 400 page and no redirect", p.status, p.header.Get("Location"), p.header.Get("Content-Type"))
	}
}

func wantGrantError(t *testing.T, err error, code string) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != code {
		t.Errorf("got %v, want %s", err, code)
	}
}

// TestAuthorizationCodeFlow: a public client logs a user in at the hosted
// page and gets the same access token as the password grant gives, an ID
// token with nonce, auth_time, amr and sid, and a rotating refresh token;
// a second authorization skips the form; a replayed code is invalid_grant
// and revokes what the first exchange issued.
func TestAuthorizationCodeFlow(t *testing.T) {
	forEachLocal(t, nil, func(t *testing.T, l *local) {
		f := newCodeFlow(t, l.issuer, spaClient, "", spaRedirect)
		b := newBrowser(t)

		login := b.get(f.authURL())
		for _, want := range []string{`<html lang="en">`, `<label for="username">`, `<label for="password">`, "Gaia single-page app"} {
			if !strings.Contains(login.body, want) {
				t.Errorf("login page lacks %q", want)
			}
		}
		if csp := login.header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "script-src") {
			t.Errorf("login page CSP %q", csp)
		}
		code := f.code(t, l.issuer, b.logIn(l.issuer, login, "admin", adminPassword))
		var session *http.Cookie
		for _, c := range b.c.Jar.Cookies(mustURL(t, l.issuer)) {
			if c.Name == "gaia-session" {
				session = c
			}
		}
		if session == nil {
			t.Fatal("no login session cookie after login")
		}

		tok, err := f.exchange(t, code)
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		at := verifyAccessToken(t, f.provider, tok.AccessToken)
		if at["type"] != "user" || at["username"] != "admin" || at["client_id"] != spaClient ||
			!slices.Contains(strs(at["roles"]), "PlatformAdmin") || !slices.Contains(strs(at["permissions"]), "iam.user.create") {
			t.Errorf("access token claims = %v", at)
		}
		idt, ic := f.idToken(t, tok)
		if idt.Nonce != f.nonce || idt.Subject != at["sub"] || ic["sid"] == nil || ic["sid"] == "" ||
			ic["auth_time"] == nil || !slices.Equal(strs(ic["amr"]), []string{"pwd"}) {
			t.Errorf("ID token claims = %v, want nonce %q, sub, sid, auth_time, amr [pwd]", ic, f.nonce)
		}
		if tok.RefreshToken == "" {
			t.Fatal("no refresh token")
		}

		// A second authorization, with the cookie: no form, a code at once,
		// of the same login session.
		second := b.get(f.authURL())
		tok2, err := f.exchange(t, f.code(t, l.issuer, second))
		if err != nil {
			t.Fatalf("second exchange: %v", err)
		}
		if _, ic2 := f.idToken(t, tok2); ic2["sid"] != ic["sid"] || ic2["auth_time"] != ic["auth_time"] {
			t.Errorf("second ID token sid/auth_time %v/%v, want %v/%v", ic2["sid"], ic2["auth_time"], ic["sid"], ic["auth_time"])
		}

		// The refresh token rotates, with the same roles.
		tok.Expiry = tok.Expiry.Add(-24 * 60 * 60 * 1e9)
		fresh, err := f.conf.TokenSource(ctx(t), tok).Token()
		if err != nil || fresh.RefreshToken == tok.RefreshToken {
			t.Fatalf("refresh: %v (rotated: %v)", err, fresh != nil && fresh.RefreshToken != tok.RefreshToken)
		}
		if _, ric := f.idToken(t, fresh); ric["sid"] != ic["sid"] || ric["nonce"] != nil {
			t.Errorf("refreshed ID token sid %v nonce %v, want sid %v and no nonce", ric["sid"], ric["nonce"], ic["sid"])
		}

		// The code again: invalid_grant, and what its exchange issued dies.
		_, err = f.exchange(t, code)
		wantGrantError(t, err, "invalid_grant")
		fresh.Expiry = tok.Expiry
		_, err = f.conf.TokenSource(ctx(t), fresh).Token()
		wantGrantError(t, err, "invalid_grant")
		if got := userinfo(t, l.issuer, fresh.AccessToken); got != http.StatusUnauthorized {
			t.Errorf("userinfo with an access token of a replayed code's exchange = %d, want 401", got)
		}
		// The other authorization's tokens live on.
		if got := userinfo(t, l.issuer, tok2.AccessToken); got != http.StatusOK {
			t.Errorf("userinfo with an access token of another code = %d, want 200", got)
		}
	})
}

// userinfo calls the userinfo endpoint, which applies the liveness rule,
// with an access token, and returns the status.
func userinfo(t *testing.T, issuer, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, issuer+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// allowCode gives the example seed's confidential client gaia-web the
// authorization_code grant and a redirect URI.
func allowCode(t *testing.T, store storage.Store, redirect string) {
	t.Helper()
	_, err := store.UpdateClient(context.Background(), "gaia-web", func(c *storage.Client) error {
		c.GrantTypes = append(c.GrantTypes, "authorization_code")
		c.RedirectURIs = []string{redirect}
		c.PostLogoutRedirectURIs = []string{redirect}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestAuthorizationCodeConfidential: a confidential client authenticates
// at the exchange; PKCE is accepted but not required of it, plain never.
func TestAuthorizationCodeConfidential(t *testing.T) {
	forEachLocal(t, nil, func(t *testing.T, l *local) {
		const redirect = "https://app.example.com/cb"
		allowCode(t, l.store, redirect)
		f := newCodeFlow(t, l.issuer, "gaia-web", webSecret, redirect)
		b := newBrowser(t)
		code := f.code(t, l.issuer, b.logIn(l.issuer, b.get(f.authURL()), "admin", adminPassword))
		if _, err := f.exchange(t, code); err != nil {
			t.Fatalf("exchange with PKCE: %v", err)
		}
		state := rand.Text()
		f.state = state
		noPKCE := b.get(f.conf.AuthCodeURL(state))
		tok, err := f.conf.Exchange(ctx(t), f.code(t, l.issuer, noPKCE))
		if err != nil || tok.AccessToken == "" {
			t.Fatalf("exchange without PKCE: %v", err)
		}
		wantRedirectError(t, b.get(f.conf.AuthCodeURL(state, oauth2.SetAuthURLParam("code_challenge", strings.Repeat("a", 43)),
			oauth2.SetAuthURLParam("code_challenge_method", "plain"))), redirect, "invalid_request", state)

		// The wrong secret: invalid_client, and the code is not spent.
		code = f.code(t, l.issuer, b.get(f.authURL()))
		wrong := f.conf
		wrong.ClientSecret = "not-the-secret"
		_, err = wrong.Exchange(ctx(t), code, oauth2.VerifierOption(f.verifier))
		wantGrantError(t, err, "invalid_client")
		if _, err := f.exchange(t, code); err != nil {
			t.Errorf("exchange after a failed client authentication: %v", err)
		}
	})
}

// TestAuthorizeErrors: RFC 6749 §4.1.2.1 errors go back to a registered
// redirect URI with state; without one there is no redirect at all.
func TestAuthorizeErrors(t *testing.T) {
	forEachLocal(t, nil, func(t *testing.T, l *local) {
		b := newBrowser(t)
		base := func(mod func(q url.Values)) string {
			q := url.Values{"client_id": {spaClient}, "redirect_uri": {spaRedirect}, "response_type": {"code"},
				"scope": {"openid"}, "state": {"state-0123456789"}, "code_challenge": {strings.Repeat("A", 43)},
				"code_challenge_method": {"S256"}}
			mod(q)
			return l.issuer + "/oauth2/authorize?" + q.Encode()
		}
		for _, tc := range []struct {
			name string
			mod  func(q url.Values)
		}{
			{"unknown client", func(q url.Values) { q.Set("client_id", "nobody") }},
			{"unregistered redirect", func(q url.Values) { q.Set("redirect_uri", "https://evil.example/callback") }},
			{"other loopback port", func(q url.Values) { q.Set("redirect_uri", "http://127.0.0.1:5174/callback") }},
			{"longer path", func(q url.Values) { q.Set("redirect_uri", spaRedirect+"/../../evil") }},
			{"extra query", func(q url.Values) { q.Set("redirect_uri", spaRedirect+"?next=https://evil.example") }},
			{"two redirect URIs", func(q url.Values) { q.Add("redirect_uri", "https://evil.example/") }},
			{"client without the grant", func(q url.Values) { q.Set("client_id", "gaia-cli") }},
			{"NUL in client_id", func(q url.Values) { q.Set("client_id", "gaia-spa\x00") }},
			{"invalid UTF-8 client_id", func(q url.Values) { q.Set("client_id", "\xff\xfe") }},
			{"huge client_id", func(q url.Values) { q.Set("client_id", strings.Repeat("a", 4000)) }},
			{"NUL in redirect", func(q url.Values) { q.Set("redirect_uri", spaRedirect+"\x00") }},
			{"no client_id", func(q url.Values) { q.Del("client_id") }},
		} {
			t.Run(tc.name, func(t *testing.T) { wantNoRedirect(t, b.get(base(tc.mod))) })
		}
		const state = "state-0123456789"
		for _, tc := range []struct {
			name, code, state string
			mod               func(q url.Values)
		}{
			{"missing PKCE", "invalid_request", state, func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }},
			{"plain PKCE", "invalid_request", state, func(q url.Values) { q.Set("code_challenge_method", "plain") }},
			{"token response", "unsupported_response_type", state, func(q url.Values) { q.Set("response_type", "token") }},
			{"missing state", "invalid_request", "", func(q url.Values) { q.Del("state") }},
			{"repeated scope", "invalid_request", state, func(q url.Values) { q.Add("scope", "profile") }},
			{"unknown scope", "invalid_scope", state, func(q url.Values) { q.Set("scope", "openid admin") }},
			{"prompt none, no session", "login_required", state, func(q url.Values) { q.Set("prompt", "none") }},
			{"prompt none and login", "invalid_request", state, func(q url.Values) { q.Set("prompt", "none login") }},
			{"bad max_age", "invalid_request", state, func(q url.Values) { q.Set("max_age", "-1") }},
			{"fragment response mode", "invalid_request", state, func(q url.Values) { q.Set("response_mode", "fragment") }},
			{"long nonce", "invalid_request", state, func(q url.Values) { q.Set("nonce", strings.Repeat("n", 300)) }},
		} {
			t.Run(tc.name, func(t *testing.T) { wantRedirectError(t, b.get(base(tc.mod)), spaRedirect, tc.code, tc.state) })
		}
	})
}

// TestCodeExchangeErrors: PKCE and redirect-URI mismatches at the token
// endpoint are invalid_grant, and spend nothing a right request needs.
func TestCodeExchangeErrors(t *testing.T) {
	forEachLocal(t, nil, func(t *testing.T, l *local) {
		f := newCodeFlow(t, l.issuer, spaClient, "", spaRedirect)
		b := newBrowser(t)
		code := f.code(t, l.issuer, b.logIn(l.issuer, b.get(f.authURL()), "admin", adminPassword))

		_, err := f.conf.Exchange(ctx(t), code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
		wantGrantError(t, err, "invalid_grant") // PKCE mismatch
		_, err = f.conf.Exchange(ctx(t), code)
		wantGrantError(t, err, "invalid_grant") // no verifier for a code issued with a challenge
		other := f.conf
		other.RedirectURL = "http://127.0.0.1:5173/other"
		_, err = other.Exchange(ctx(t), code, oauth2.VerifierOption(f.verifier))
		wantGrantError(t, err, "invalid_grant") // redirect_uri not the authorization request's
		_, err = f.conf.Exchange(ctx(t), "not-a-code."+strings.Repeat("x", 43), oauth2.VerifierOption(f.verifier))
		wantGrantError(t, err, "invalid_grant")
		if _, err := f.exchange(t, code); err != nil {
			t.Errorf("exchange with the right verifier after failed ones: %v", err)
		}

		// Another client cannot exchange the code.
		allowCode(t, l.store, spaRedirect)
		code = f.code(t, l.issuer, b.get(f.authURL()))
		web := f.conf
		web.ClientID, web.ClientSecret = "gaia-web", webSecret
		_, err = web.Exchange(ctx(t), code, oauth2.VerifierOption(f.verifier))
		wantGrantError(t, err, "invalid_grant")
	})
}

// TestLoginForm: the form is CSRF-protected, says the same for every
// credential failure, and locks the account as the password grant does.
func TestLoginForm(t *testing.T) {
	forEachLocal(t, nil, func(t *testing.T, l *local) {
		f := newCodeFlow(t, l.issuer, spaClient, "", spaRedirect)
		b := newBrowser(t)
		login := b.get(f.authURL())
		form := loginForm(t, login)
		form.Set("username", "admin")
		form.Set("password", adminPassword)

		// CSRF: a wrong token, no pre-login cookie, a cross-site post.
		bad := url.Values{}
		for k, v := range form {
			bad[k] = v
		}
		bad.Set("csrf_token", "forged")
		for name, p := range map[string]page{
			"wrong token":     b.post(l.issuer+"/oauth2/login", bad),
			"no cookie":       newBrowser(t).post(l.issuer+"/oauth2/login", form),
			"cross-site post": b.post(l.issuer+"/oauth2/login", form, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"),
		} {
			if p.status != http.StatusForbidden || p.header.Get("Location") != "" || p.header.Get("Set-Cookie") != "" {
				t.Errorf("%s: %d Location %q Set-Cookie %q, want 403 and nothing set", name, p.status, p.header.Get("Location"), p.header.Get("Set-Cookie"))
			}
		}

		// Unknown user and wrong password read alike.
		unknown := b.logIn(l.issuer, login, "nobody-at-all", "wrong password")
		wrong := b.logIn(l.issuer, login, "admin", "wrong password")
		for name, p := range map[string]page{"unknown user": unknown, "wrong password": wrong} {
			if p.status != http.StatusBadRequest || !strings.Contains(p.body, "The username or password is incorrect.") {
				t.Errorf("%s: %d, want 400 with the one failure message; %.300s", name, p.status, p.body)
			}
		}
		if strings.Replace(unknown.body, "nobody-at-all", "admin", 1) != wrong.body {
			t.Error("unknown user and wrong password pages differ beyond the username typed")
		}

		// Four more failures lock admin (5 in all): the right password then
		// reads as a wrong one, and the audit log holds the lock.
		for range 4 {
			b.logIn(l.issuer, login, "admin", "wrong password")
		}
		locked := b.logIn(l.issuer, login, "admin", adminPassword)
		if locked.status != http.StatusBadRequest || !strings.Contains(locked.body, "The username or password is incorrect.") {
			t.Errorf("locked account with the right password: %d %.300s, want the failure message", locked.status, locked.body)
		}
		flush(t, l)
		events, err := l.store.ListAudit(ctx(t), storage.AuditFilter{Action: "auth.lockout"})
		if err != nil {
			t.Fatal(err)
		}
		if len(events) == 0 {
			t.Error("no auth.lockout audit event after a lock through the login form")
		}
		logins, err := l.store.ListAudit(ctx(t), storage.AuditFilter{Action: "auth.password"})
		if err != nil {
			t.Fatal(err)
		}
		// Unauthenticated failures are aggregated: a summary stands for several.
		failures := 0
		for _, e := range logins {
			if e.Details["grant"] != "authorization_code" || e.Outcome != "failure" {
				t.Errorf("auth.password event %+v, want a failure with grant authorization_code", e)
			}
			failures += audit.Count(e)
		}
		if failures != 7 {
			t.Errorf("auth.password events stand for %d failures, want the form's 7", failures)
		}
	})
}

// TestLogout: RP-initiated logout with id_token_hint ends the login
// session and its refresh tokens, and goes back to a registered
// post_logout_redirect_uri with state; an unregistered one gets no redirect.
func TestLogout(t *testing.T) {
	forEachLocal(t, nil, func(t *testing.T, l *local) {
		f := newCodeFlow(t, l.issuer, spaClient, "", spaRedirect)
		b := newBrowser(t)
		tok, err := f.exchange(t, f.code(t, l.issuer, b.logIn(l.issuer, b.get(f.authURL()), "admin", adminPassword)))
		if err != nil {
			t.Fatal(err)
		}
		hint, _ := tok.Extra("id_token").(string)
		end := l.issuer + "/oauth2/logout?"

		wantNoRedirect(t, b.get(end+url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {"https://evil.example/"}}.Encode()))
		wantNoRedirect(t, b.get(end+url.Values{"id_token_hint": {hint}, "client_id": {"gaia-web"}, "post_logout_redirect_uri": {spaLogout}}.Encode()))
		wantNoRedirect(t, b.get(end+url.Values{"id_token_hint": {hint + "x"}}.Encode()))
		if got := userinfo(t, l.issuer, tok.AccessToken); got != http.StatusOK {
			t.Fatalf("refused logouts ended the login: userinfo %d", got)
		}

		out := b.get(end + url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {spaLogout}, "state": {"bye"}}.Encode())
		if u := out.location(t); u.String() != spaLogout+"?state=bye" {
			t.Errorf("logout redirected to %s, want %s?state=bye", u, spaLogout)
		}
		tok.Expiry = tok.Expiry.Add(-24 * 60 * 60 * 1e9)
		_, err = f.conf.TokenSource(ctx(t), tok).Token()
		wantGrantError(t, err, "invalid_grant")
		if got := userinfo(t, l.issuer, tok.AccessToken); got != http.StatusUnauthorized {
			t.Errorf("userinfo with an access token after logout = %d, want 401", got)
		}
		// The browser's session is over: the next authorization shows the form.
		loginForm(t, b.get(f.authURL()))

		// Without a hint the user confirms on a CSRF-protected page.
		b.logIn(l.issuer, b.get(f.authURL()), "admin", adminPassword)
		ask := b.get(end + url.Values{"client_id": {spaClient}, "post_logout_redirect_uri": {spaLogout}}.Encode())
		if ask.status != http.StatusOK || !strings.Contains(ask.body, "Log out?") {
			t.Fatalf("logout without hint: %d %.300s, want a confirmation page", ask.status, ask.body)
		}
		confirm := url.Values{}
		for _, m := range hiddenField.FindAllStringSubmatch(ask.body, -1) {
			confirm.Set(m[1], html.UnescapeString(m[2]))
		}
		forged := url.Values{"client_id": {spaClient}, "csrf_token": {"forged"}}
		if p := b.post(l.issuer+"/oauth2/logout", forged); p.status != http.StatusOK || !strings.Contains(p.body, "Log out?") {
			t.Errorf("forged confirmation: %d, want the confirmation page again", p.status)
		}
		if u := b.post(l.issuer+"/oauth2/logout", confirm).location(t); u.String() != spaLogout {
			t.Errorf("confirmed logout went to %s, want %s", u, spaLogout)
		}
		loginForm(t, b.get(f.authURL()))
	})
}

// testAdminCodeClients (part of TestAdminAPI, which checks every exchange
// against the OpenAPI document): the admin API creates and changes
// authorization_code clients, validates their redirect URIs, and a change
// reaches the authorization endpoint at once.
func testAdminCodeClients(t *testing.T, l *local, api *adminClient) {
	var created admin.NewClientSecret
	want(t, api.do("POST", "/clients", map[string]any{
		"client_id": "mobile-app", "name": "Mobile app", "public": true, "grant_types": []string{"authorization_code", "refresh_token"},
		"scopes": []string{"openid", "offline_access"}, "redirect_uris": []string{"https://app.example/cb"},
		"post_logout_redirect_uris": []string{"https://app.example/"},
	}), http.StatusCreated).decode(t, &created)
	if created.ClientSecret != "" || !slices.Equal(created.RedirectURIs, []string{"https://app.example/cb"}) ||
		!slices.Equal(created.PostLogoutRedirectURIs, []string{"https://app.example/"}) {
		t.Fatalf("created %+v", created)
	}
	for name, body := range map[string]map[string]any{
		"fragment":      {"redirect_uris": []string{"https://app.example/cb#x"}},
		"http":          {"redirect_uris": []string{"http://app.example/cb"}},
		"relative":      {"redirect_uris": []string{"/cb"}},
		"no redirect":   {"redirect_uris": []string{}},
		"logout no tls": {"post_logout_redirect_uris": []string{"http://app.example/"}},
	} {
		t.Run(name, func(t *testing.T) {
			nc := map[string]any{"client_id": "bad-app", "name": "Bad", "public": true, "grant_types": []string{"authorization_code", "refresh_token"},
				"redirect_uris": []string{"https://app.example/cb"}}
			for k, v := range body {
				nc[k] = v
			}
			api.do("POST", "/clients", nc).problem(t, http.StatusBadRequest, admin.KindValidation)
			api.do("PATCH", "/clients/mobile-app", body).problem(t, http.StatusBadRequest, admin.KindValidation)
		})
	}
	api.do("POST", "/clients", map[string]any{"client_id": "svc-with-redirect", "name": "S", "grant_types": []string{"client_credentials"},
		"redirect_uris": []string{"https://app.example/cb"}}).problem(t, http.StatusBadRequest, admin.KindValidation)

	const loopback = "http://127.0.0.1:7000/cb"
	var got admin.Client
	want(t, api.do("PATCH", "/clients/mobile-app", map[string]any{"redirect_uris": []string{loopback}}), http.StatusOK).decode(t, &got)
	if !slices.Equal(got.RedirectURIs, []string{loopback}) || !slices.Equal(got.PostLogoutRedirectURIs, []string{"https://app.example/"}) {
		t.Fatalf("after PATCH %+v", got)
	}
	f := newCodeFlow(t, l.issuer, "mobile-app", "", loopback)
	f.conf.Scopes = []string{oidc.ScopeOpenID}
	b := newBrowser(t)
	if _, err := f.exchange(t, f.code(t, l.issuer, b.logIn(l.issuer, b.get(f.authURL()), "admin", adminPassword))); err != nil {
		t.Errorf("flow with the redirect URI set through the admin API: %v", err)
	}
	old := newCodeFlow(t, l.issuer, "mobile-app", "", "https://app.example/cb")
	wantNoRedirect(t, b.get(old.authURL()))
}

// TestPromptAndMaxAge: prompt=none answers from the login session,
// prompt=login and max_age=0 ask for the password again, and a disabled
// user's session no longer counts.
func TestPromptAndMaxAge(t *testing.T) {
	forEachLocal(t, nil, func(t *testing.T, l *local) {
		f := newCodeFlow(t, l.issuer, spaClient, "", spaRedirect)
		b := newBrowser(t)
		f.code(t, l.issuer, b.logIn(l.issuer, b.get(f.authURL()), "admin", adminPassword))

		f.code(t, l.issuer, b.get(f.authURL(oauth2.SetAuthURLParam("prompt", "none"))))
		f.code(t, l.issuer, b.get(f.authURL(oauth2.SetAuthURLParam("max_age", "3600"))))
		for _, opt := range []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("prompt", "login"), oauth2.SetAuthURLParam("max_age", "0")} {
			login := b.get(f.authURL(opt))
			tok, err := f.exchange(t, f.code(t, l.issuer, b.logIn(l.issuer, login, "admin", adminPassword)))
			if err != nil {
				t.Fatal(err)
			}
			if _, c := f.idToken(t, tok); c["auth_time"] == nil {
				t.Error("no auth_time")
			}
		}

		// A disabled user's session no longer logs anyone in.
		u, err := l.store.GetUserByUsername(ctx(t), "admin")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.store.UpdateUser(ctx(t), u.ID, func(u *storage.User) error { u.Active = false; return nil }); err != nil {
			t.Fatal(err)
		}
		wantRedirectError(t, b.get(f.authURL(oauth2.SetAuthURLParam("prompt", "none"))), spaRedirect, "login_required", f.state)
	})
}

// TestConcurrentCodeExchange: of concurrent exchanges of one code exactly
// one gets tokens; the others are invalid_grant, and revoke what the
// winner got.
func TestConcurrentCodeExchange(t *testing.T) {
	forEachLocal(t, nil, func(t *testing.T, l *local) {
		f := newCodeFlow(t, l.issuer, spaClient, "", spaRedirect)
		b := newBrowser(t)
		code := f.code(t, l.issuer, b.logIn(l.issuer, b.get(f.authURL()), "admin", adminPassword))
		const n = 6
		toks := make([]*oauth2.Token, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { toks[i], errs[i] = f.conf.Exchange(ctx(t), code, oauth2.VerifierOption(f.verifier)) })
		}
		wg.Wait()
		var winner *oauth2.Token
		for i, err := range errs {
			if err == nil {
				if winner != nil {
					t.Fatal("two exchanges of one code succeeded")
				}
				winner = toks[i]
				continue
			}
			wantGrantError(t, err, "invalid_grant")
		}
		if winner == nil {
			t.Fatal("no exchange succeeded")
		}
		if got := userinfo(t, l.issuer, winner.AccessToken); got != http.StatusUnauthorized {
			t.Errorf("userinfo with the winner's token after replays = %d, want 401 (revoked)", got)
		}
	})
}
