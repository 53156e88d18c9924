// Package bff is a backend-for-frontend for first-party browser apps, the
// pattern the IETF "OAuth 2.0 for Browser-Based Applications" draft
// recommends (§6.1): the BFF, not the browser, is the OAuth client. It
// runs the authorization-code flow as a confidential client with PKCE,
// state and nonce, keeps every token server-side, and gives the browser
// one opaque session cookie (__Host-, HttpOnly, Secure, SameSite=Strict).
// The app's API calls go through the BFF's proxy under /api/, which
// attaches the access token, refreshing it shortly before it expires.
// JavaScript never sees a token.
//
// Routes (Handler):
//
//	GET  /bff/login     start a login at the IAM
//	GET  /bff/callback  the redirect URI: exchange the code, start the session
//	GET  /bff/session   who is logged in (no token): {"authenticated": …}
//	POST /bff/logout    revoke the tokens, end the session; answers the IAM's logout URL
//	*    /api/…         proxied to Config.API with the access token attached
//
// Every route but login and callback (top-level navigations) requires the
// custom header CSRFHeader and, when the browser sends one, an Origin in
// Config.AllowedOrigins; a request that changes state must carry Origin.
// A cross-origin page cannot send the header without a CORS preflight,
// which the BFF never approves.
//
// Sessions live in this process's memory: one BFF replica, or sticky
// sessions, per app.
package bff

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gaia-platform/iam/claims"
)

// Names the browser sees.
const (
	// SessionCookie holds the opaque session id. SameSite=Strict: no
	// request started by another site carries it.
	SessionCookie = "__Host-gaia-bff"
	// LoginCookie binds a login in progress to the browser that started
	// it. SameSite=Lax: the IAM's redirect back to the callback is a
	// top-level navigation from another site when the IAM is on one.
	LoginCookie = "__Host-gaia-bff-login"
	// CSRFHeader must be sent, with value "1", by the app's fetch calls.
	CSRFHeader = "X-Gaia-BFF"
)

// Paths of the routes.
const (
	LoginPath    = "/bff/login"
	CallbackPath = "/bff/callback"
	SessionPath  = "/bff/session"
	LogoutPath   = "/bff/logout"
	APIPrefix    = "/api/"
)

// Defaults of Config.
const (
	DefaultRefreshBefore   = time.Minute
	DefaultSessionLifetime = 12 * time.Hour
	DefaultMaxSessions     = 10000
	loginLifetime          = 10 * time.Minute
	// MaxBodyBytes bounds a request body the proxy forwards.
	MaxBodyBytes = 1 << 20
	maxLogins    = 10000
)

// Config is a BFF's settings.
type Config struct {
	// Issuer is the IAM's issuer URL; its discovery document gives the
	// endpoints. Required.
	Issuer string
	// ClientID and ClientSecret are the BFF's confidential client.
	// Required.
	ClientID     string
	ClientSecret string
	// BaseURL is the app's external origin, such as
	// https://app.example.com: the redirect URI is BaseURL + CallbackPath
	// and the post-logout redirect URI BaseURL + "/". Both must be
	// registered for the client. Required.
	BaseURL string
	// AllowedOrigins are the Origin values accepted on the app's calls;
	// empty: BaseURL's origin alone.
	AllowedOrigins []string
	// API is the base URL requests under APIPrefix are proxied to.
	// Required.
	API string
	// Audience must be in the access token's aud (claims requires one).
	Audience string
	// Scopes requested; nil: openid and offline_access.
	Scopes []string
	// RefreshBefore is how long before its expiry the access token is
	// refreshed; 0: DefaultRefreshBefore.
	RefreshBefore time.Duration
	// SessionLifetime is the absolute limit of a session; 0:
	// DefaultSessionLifetime.
	SessionLifetime time.Duration
	// MaxSessions bounds the sessions held; 0: DefaultMaxSessions.
	MaxSessions int
	// HTTPClient talks to the IAM; nil: a client with a 10 s timeout.
	HTTPClient *http.Client
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// Logger; nil discards.
	Logger *slog.Logger
}

// BFF is a backend-for-frontend. Safe for concurrent use.
type BFF struct {
	cfg        Config
	oauth      oauth2.Config
	ids        *oidc.IDTokenVerifier
	access     *claims.Verifier
	revocation string // "" when the IAM advertises none
	endSession string // "" when the IAM advertises none
	origins    map[string]bool
	proxy      *httputil.ReverseProxy
	log        *slog.Logger

	mu       sync.Mutex
	sessions map[string]*session // guarded by mu; keyed by hashID
	logins   map[string]*login   // guarded by mu; keyed by hashID
}

// login is a login in progress.
type login struct {
	state, nonce, verifier string
	expires                time.Time
}

// session is a logged-in browser.
type session struct {
	expires time.Time // absolute

	mu      sync.Mutex // held across a refresh, so that one request refreshes
	token   *oauth2.Token
	idToken string
	claims  *claims.Access
}

// New reads the IAM's discovery document and returns the BFF.
func New(ctx context.Context, cfg Config) (*BFF, error) {
	switch {
	case cfg.Issuer == "":
		return nil, errors.New("bff: issuer required")
	case cfg.ClientID == "" || cfg.ClientSecret == "":
		return nil, errors.New("bff: client id and secret required")
	case cfg.API == "":
		return nil, errors.New("bff: API URL required")
	}
	base, err := url.Parse(cfg.BaseURL)
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" || (base.Path != "" && base.Path != "/") || base.RawQuery != "" || base.Fragment != "" {
		return nil, fmt.Errorf("bff: base URL %q: want scheme://host[:port]", cfg.BaseURL)
	}
	cfg.BaseURL = base.Scheme + "://" + base.Host
	api, err := url.Parse(cfg.API)
	if err != nil || (api.Scheme != "https" && api.Scheme != "http") || api.Host == "" {
		return nil, fmt.Errorf("bff: API URL %q: want an absolute http(s) URL", cfg.API)
	}
	if cfg.Scopes == nil {
		cfg.Scopes = []string{oidc.ScopeOpenID, oidc.ScopeOfflineAccess}
	}
	if cfg.RefreshBefore <= 0 {
		cfg.RefreshBefore = DefaultRefreshBefore
	}
	if cfg.SessionLifetime <= 0 {
		cfg.SessionLifetime = DefaultSessionLifetime
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	origins := map[string]bool{cfg.BaseURL: true}
	if len(cfg.AllowedOrigins) > 0 {
		origins = make(map[string]bool, len(cfg.AllowedOrigins))
		for _, o := range cfg.AllowedOrigins {
			origins[o] = true
		}
	}

	octx := oidc.ClientContext(ctx, cfg.HTTPClient)
	provider, err := oidc.NewProvider(octx, cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("bff: discovery: %w", err)
	}
	var meta struct {
		Revocation string `json:"revocation_endpoint"`
		EndSession string `json:"end_session_endpoint"`
	}
	if err := provider.Claims(&meta); err != nil {
		return nil, fmt.Errorf("bff: discovery: %w", err)
	}
	if provider.Endpoint().AuthURL == "" {
		return nil, errors.New("bff: discovery: the IAM advertises no authorization_endpoint")
	}
	access, err := claims.NewVerifier(ctx, claims.VerifierConfig{
		Issuer: cfg.Issuer, Audience: cfg.Audience, HTTPClient: cfg.HTTPClient, Now: cfg.Now, Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("bff: access token verifier: %w", err)
	}
	b := &BFF{
		cfg: cfg,
		oauth: oauth2.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret,
			Endpoint:     provider.Endpoint(),
			RedirectURL:  cfg.BaseURL + CallbackPath,
			Scopes:       cfg.Scopes,
		},
		ids:        provider.VerifierContext(octx, &oidc.Config{ClientID: cfg.ClientID, Now: cfg.Now}),
		access:     access,
		revocation: meta.Revocation,
		endSession: meta.EndSession,
		origins:    origins,
		log:        log,
		sessions:   make(map[string]*session),
		logins:     make(map[string]*login),
	}
	b.oauth.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
	b.proxy = &httputil.ReverseProxy{
		Rewrite:        func(pr *httputil.ProxyRequest) { rewrite(pr, api) },
		ModifyResponse: func(r *http.Response) error { r.Header.Del("Set-Cookie"); return nil },
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "body_too_large"})
				return
			}
			log.WarnContext(r.Context(), "bff: API unreachable", "error", err)
			writeJSON(w, http.StatusBadGateway, map[string]string{"error": "api_unavailable"})
		},
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return b, nil
}

// tokenKey is the context key of the access token handed to rewrite.
type tokenKey struct{}

// rewrite sends an /api/ request to api with the session's access token
// and nothing of the browser's credentials.
func rewrite(pr *httputil.ProxyRequest, api *url.URL) {
	out := pr.Out
	out.URL.Path = strings.TrimPrefix(out.URL.Path, strings.TrimSuffix(APIPrefix, "/"))
	out.URL.RawPath = strings.TrimPrefix(out.URL.RawPath, strings.TrimSuffix(APIPrefix, "/"))
	pr.SetURL(api)
	out.Header.Del("Cookie")
	out.Header.Del(CSRFHeader)
	out.Header.Set("Authorization", "Bearer "+pr.In.Context().Value(tokenKey{}).(string))
}

// Handler serves the BFF's routes.
func (b *BFF) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+LoginPath, b.login)
	mux.HandleFunc("GET "+CallbackPath, b.callback)
	mux.HandleFunc("GET "+SessionPath, b.guard(b.sessionInfo))
	mux.HandleFunc("POST "+LogoutPath, b.guard(b.logout))
	mux.HandleFunc(APIPrefix, b.guard(b.api))
	return mux
}

// guard refuses a request that may come from another origin: without
// CSRFHeader, with an Origin not allowed, or changing state without an
// Origin at all.
func (b *BFF) guard(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !b.sameApp(r) {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "forbidden"})
			return
		}
		next(w, r)
	}
}

// sameApp reports whether r comes from the app's own pages.
func (b *BFF) sameApp(r *http.Request) bool {
	// A custom header makes any cross-origin request a preflighted one,
	// and the BFF answers no preflight (IETF browser-based apps §6.1.3.2).
	if v := r.Header.Values(CSRFHeader); len(v) != 1 || v[0] != "1" {
		return false
	}
	origin := r.Header.Values("Origin")
	switch {
	case len(origin) > 1:
		return false
	case len(origin) == 1:
		return b.origins[origin[0]]
	}
	// Browsers send Origin on every request but a same-origin GET or
	// HEAD; without one, only a safe method passes.
	return r.Method == http.MethodGet || r.Method == http.MethodHead
}

// login starts the authorization-code flow with PKCE, state and nonce.
func (b *BFF) login(w http.ResponseWriter, r *http.Request) {
	now := b.cfg.Now()
	id, l := randomString(), &login{
		state: randomString(), nonce: randomString(), verifier: oauth2.GenerateVerifier(),
		expires: now.Add(loginLifetime),
	}
	b.mu.Lock()
	if len(b.logins) >= maxLogins {
		for k, v := range b.logins {
			if now.After(v.expires) {
				delete(b.logins, k)
			}
		}
	}
	full := len(b.logins) >= maxLogins
	if !full {
		b.logins[hashID(id)] = l
	}
	b.mu.Unlock()
	if full {
		w.Header().Set("Retry-After", "60")
		http.Error(w, "too many logins in progress; try again later", http.StatusServiceUnavailable)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: LoginCookie, Value: id, Path: "/", MaxAge: int(loginLifetime / time.Second),
		HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode,
	})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, b.oauth.AuthCodeURL(l.state, oidc.Nonce(l.nonce), oauth2.S256ChallengeOption(l.verifier)), http.StatusFound)
}

// callback ends the flow: the state must be the one of the login this
// browser started, the ID token's nonce that login's.
func (b *BFF) callback(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	fail := func(reason string, err error) {
		b.log.InfoContext(r.Context(), "bff: login failed", "reason", reason, "error", err)
		http.Error(w, "Login failed. Go back to the app and log in again.", http.StatusBadRequest)
	}
	c, err := r.Cookie(LoginCookie)
	if err != nil {
		fail("no login cookie", err)
		return
	}
	// The login is used once, whatever comes next.
	http.SetCookie(w, &http.Cookie{Name: LoginCookie, Path: "/", MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
	b.mu.Lock()
	l := b.logins[hashID(c.Value)]
	delete(b.logins, hashID(c.Value))
	b.mu.Unlock()
	q := r.URL.Query()
	switch {
	case l == nil || b.cfg.Now().After(l.expires):
		fail("unknown or expired login", nil)
		return
	case subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(l.state)) != 1:
		fail("state mismatch", nil)
		return
	case q.Has("iss") && q.Get("iss") != b.cfg.Issuer: // RFC 9207 §2.4: mix-up defence
		fail("issuer mismatch", nil)
		return
	case q.Get("error") != "":
		fail("authorization error", fmt.Errorf("%.64s", q.Get("error")))
		return
	case q.Get("code") == "":
		fail("no code", nil)
		return
	}
	ctx := oidc.ClientContext(r.Context(), b.cfg.HTTPClient)
	tok, err := b.oauth.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(l.verifier))
	if err != nil {
		fail("code exchange", err)
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := b.ids.Verify(ctx, raw)
	if err != nil {
		fail("id token", err)
		return
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(l.nonce)) != 1 {
		fail("nonce mismatch", nil)
		return
	}
	a, err := b.access.Verify(ctx, tok.AccessToken)
	if err != nil {
		fail("access token", err)
		return
	}
	s := &session{expires: b.cfg.Now().Add(b.cfg.SessionLifetime), token: tok, idToken: raw, claims: a}
	id := randomString()
	if !b.store(id, s) {
		b.revoke(r.Context(), tok)
		w.Header().Set("Retry-After", "60")
		http.Error(w, "too many sessions; try again later", http.StatusServiceUnavailable)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: id, Path: "/", HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	b.log.InfoContext(r.Context(), "bff: login", "sub", a.Subject, "jti", a.ID)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// store keeps s under id, dropping expired sessions when full, and
// reports whether there was room.
func (b *BFF) store(id string, s *session) bool {
	now := b.cfg.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.sessions) >= b.cfg.MaxSessions {
		for k, v := range b.sessions {
			if now.After(v.expires) {
				delete(b.sessions, k)
			}
		}
	}
	if len(b.sessions) >= b.cfg.MaxSessions {
		return false
	}
	b.sessions[hashID(id)] = s
	return true
}

// session returns the request's live session, or nil.
func (b *BFF) session(r *http.Request) (string, *session) {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return "", nil
	}
	key := hashID(c.Value)
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.sessions[key]
	if s != nil && b.cfg.Now().After(s.expires) {
		delete(b.sessions, key)
		return "", nil
	}
	return key, s
}

func (b *BFF) drop(key string) {
	b.mu.Lock()
	delete(b.sessions, key)
	b.mu.Unlock()
}

// errSessionEnded is a refresh the IAM refused: the login is over.
var errSessionEnded = errors.New("bff: session ended")

// accessToken returns s's access token, refreshed first when it expires
// within RefreshBefore. Refresh tokens are single use and a replay ends
// the login, so a session refreshes under its lock, once.
func (b *BFF) accessToken(ctx context.Context, s *session) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token.Expiry.Sub(b.cfg.Now()) > b.cfg.RefreshBefore {
		return s.token.AccessToken, nil
	}
	if s.token.RefreshToken == "" {
		return "", errSessionEnded
	}
	ctx = oidc.ClientContext(ctx, b.cfg.HTTPClient)
	tok, err := b.oauth.TokenSource(ctx, &oauth2.Token{RefreshToken: s.token.RefreshToken}).Token()
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 {
		return "", fmt.Errorf("%w: %s", errSessionEnded, re.ErrorCode)
	}
	if err != nil {
		return "", fmt.Errorf("bff: refresh: %w", err)
	}
	a, err := b.access.Verify(ctx, tok.AccessToken)
	if err != nil {
		return "", fmt.Errorf("bff: refreshed access token: %w", err)
	}
	s.token, s.claims = tok, a
	b.log.InfoContext(ctx, "bff: refreshed", "sub", a.Subject, "jti", a.ID)
	return tok.AccessToken, nil
}

// sessionInfo tells the app who is logged in, never a token.
func (b *BFF) sessionInfo(w http.ResponseWriter, r *http.Request) {
	_, s := b.session(r)
	if s == nil {
		writeJSON(w, http.StatusOK, map[string]any{"authenticated": false})
		return
	}
	s.mu.Lock()
	a, exp := s.claims, s.token.Expiry
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"authenticated": true, "subject": a.Subject, "username": a.Username,
		"roles": a.Roles, "permissions": a.Permissions, "access_token_expires_at": exp.UTC().Format(time.RFC3339),
	})
}

// api proxies to the API with the session's access token.
func (b *BFF) api(w http.ResponseWriter, r *http.Request) {
	key, s := b.session(r)
	if s == nil {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "login_required"})
		return
	}
	tok, err := b.accessToken(r.Context(), s)
	if errors.Is(err, errSessionEnded) {
		b.log.InfoContext(r.Context(), "bff: session ended by the IAM", "error", err)
		b.drop(key)
		clearSession(w)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "login_required"})
		return
	}
	if err != nil {
		b.log.WarnContext(r.Context(), "bff: token refresh failed", "error", err)
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": "iam_unavailable"})
		return
	}
	if r.ContentLength > MaxBodyBytes {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "body_too_large"})
		return
	}
	// A chunked body is cut off where it passes the bound.
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	b.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), tokenKey{}, tok)))
}

// logout revokes the session's tokens (RFC 7009), forgets it and answers
// where to send the browser to end the login at the IAM too (OIDC
// RP-Initiated Logout 1.0).
func (b *BFF) logout(w http.ResponseWriter, r *http.Request) {
	clearSession(w)
	key, s := b.session(r)
	if s == nil {
		writeJSON(w, http.StatusOK, map[string]string{"logout_url": "/"})
		return
	}
	b.drop(key)
	s.mu.Lock()
	tok, idToken := s.token, s.idToken
	s.mu.Unlock()
	b.revoke(r.Context(), tok)
	next := "/"
	if b.endSession != "" {
		q := url.Values{
			"id_token_hint":            {idToken},
			"post_logout_redirect_uri": {b.cfg.BaseURL + "/"},
			"client_id":                {b.cfg.ClientID},
		}
		next = b.endSession + "?" + q.Encode()
	}
	b.log.InfoContext(r.Context(), "bff: logout", "sub", s.claims.Subject)
	writeJSON(w, http.StatusOK, map[string]string{"logout_url": next})
}

// revoke revokes tok's refresh token, which ends the login's token family
// at the IAM, then its access token. Failures are logged: the session is
// gone here either way.
func (b *BFF) revoke(ctx context.Context, tok *oauth2.Token) {
	if b.revocation == "" {
		return
	}
	for _, t := range []struct{ token, hint string }{{tok.RefreshToken, "refresh_token"}, {tok.AccessToken, "access_token"}} {
		if t.token == "" {
			continue
		}
		form := url.Values{"token": {t.token}, "token_type_hint": {t.hint}}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.revocation, strings.NewReader(form.Encode()))
		if err != nil {
			b.log.WarnContext(ctx, "bff: revocation", "error", err)
			return
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(b.cfg.ClientID), url.QueryEscape(b.cfg.ClientSecret))
		resp, err := b.cfg.HTTPClient.Do(req)
		if err != nil {
			b.log.WarnContext(ctx, "bff: revocation", "error", err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.log.WarnContext(ctx, "bff: revocation refused", "status", resp.StatusCode, "hint", t.hint)
		}
	}
}

func clearSession(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Path: "/", MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
}

// randomString is 256 random bits, base64url.
func randomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// hashID is the map key of a cookie value: the maps hold no value a
// browser presents, and lookups do not compare secrets byte by byte.
func hashID(v string) string {
	h := sha256.Sum256([]byte(v))
	return string(h[:])
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
