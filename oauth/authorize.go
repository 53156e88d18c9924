package oauth

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/gaia-platform/iam/claims"
	"github.com/gaia-platform/iam/login"
	"github.com/gaia-platform/iam/outage"
	"github.com/gaia-platform/iam/storage"
)

// The authorization endpoint (RFC 6749 §3.1, §4.1; OpenID Connect Core
// §3.1.2) on fosite's authorization-code and PKCE handlers, with what they
// leave to the application: which redirect URIs are trusted, the login
// session, prompt and max_age, and the error responses.
//
// Every client is registered by an administrator (the seed, the admin
// API); there is no dynamic registration. Gaia takes a client given the
// authorization_code grant to be first-party and asks no consent: giving
// a client the grant is the consent decision. A third-party application
// must not be given the grant.

// LoginPath is where the hosted login form posts; the server routes it.
const LoginPath = "/oauth2/login"

const (
	// authorizeCodeTTL is the lifetime of an authorization code: the
	// browser brings it straight back (RFC 6749 §4.1.2 allows 10 minutes).
	authorizeCodeTTL = time.Minute
	// maxAuthorizeBytes bounds an authorization request: its query, or its
	// form, and the copy the login form posts back.
	maxAuthorizeBytes = 8 << 10
	// maxNonce bounds the nonce echoed in the ID token.
	maxNonce = 255
)

// authorizeDescriptions are the only error texts an authorization response
// carries: fixed per code, so nothing the request held is reflected.
var authorizeDescriptions = map[string]string{
	"invalid_request":           "The request is missing a parameter, repeats one, or is otherwise malformed.",
	"unauthorized_client":       "The client is not allowed to request an authorization code.",
	"access_denied":             "The request was denied.",
	"unsupported_response_type": "The response type is not supported; use code.",
	"invalid_scope":             "The requested scope is invalid, unknown, or not allowed for this client.",
	"invalid_target":            "The requested resource or audience is invalid, repeated, or not allowed for this client.",
	"server_error":              "The server could not complete the request.",
	"temporarily_unavailable":   "The server is temporarily unable to handle the request.",
	"login_required":            "The user must log in.",
	"request_not_supported":     "The request parameter is not supported.",
	"request_uri_not_supported": "The request_uri parameter is not supported.",
}

// Authorize serves GET and POST /oauth2/authorize.
func (s *Server) Authorize(w http.ResponseWriter, r *http.Request) {
	form, ok := authorizeForm(w, r)
	if !ok {
		s.errorPage(w, http.StatusBadRequest)
		return
	}
	s.authorizeRequest(r.Context(), w, r, form, nil)
}

// authorizeForm reads the parameters of an authorization request: the
// query of a GET, the body of a POST (OpenID Connect Core §3.1.2.1), bounded.
func authorizeForm(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	switch r.Method {
	case http.MethodGet:
		if len(r.URL.RawQuery) > maxAuthorizeBytes {
			return nil, false
		}
		q, err := url.ParseQuery(r.URL.RawQuery)
		return q, err == nil
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, maxAuthorizeBytes)
		if err := r.ParseForm(); err != nil || r.URL.RawQuery != "" {
			return nil, false
		}
		return r.PostForm, true
	}
	return nil, false
}

// authorizeRequest runs the authorization request form. fresh, when set, is the
// login session the user has just opened at the login form, which
// satisfies prompt=login and max_age.
func (s *Server) authorizeRequest(ctx context.Context, w http.ResponseWriter, r *http.Request, form url.Values, fresh *storage.LoginSession) {
	c, back, err := s.authorizeTarget(ctx, form)
	if err != nil {
		s.log.DebugContext(ctx, "authorization request refused without redirect", "cause", err.Error())
		status := http.StatusBadRequest
		if outage.Is(err) {
			status = http.StatusServiceUnavailable
		}
		s.errorPage(w, status)
		return
	}
	// From here on the redirect URI is the client's: errors go back to it.
	if st := form["state"]; len(st) > 0 {
		back.state = st[0]
	}
	if err := checkRepeated(form); err != nil {
		s.authorizeError(ctx, w, r, back, err)
		return
	}
	// The service the grant is for is judged here, not by fosite (which
	// would answer invalid_request); the login page keeps it in form.
	fosForm := maps.Clone(form)
	target, err := requestedTarget(fosForm)
	if err == nil && target != "" {
		err = allowTarget(c, target)
	}
	if err != nil {
		s.authorizeError(ctx, w, r, back, err)
		return
	}
	prompt, maxAge, err := promptOf(form)
	if err != nil {
		s.authorizeError(ctx, w, r, back, err)
		return
	}
	if m := form.Get("response_mode"); (m != "" && m != "query") || len(form.Get("nonce")) > maxNonce {
		s.authorizeError(ctx, w, r, back, errRequest())
		return
	}
	if err := checkChallenge(c, form); err != nil {
		s.authorizeError(ctx, w, r, back, err)
		return
	}
	fr, err := http.NewRequestWithContext(ctx, http.MethodGet, "/?"+fosForm.Encode(), http.NoBody)
	if err != nil {
		s.authorizeError(ctx, w, r, back, errRequest())
		return
	}
	ar, err := s.provider.NewAuthorizeRequest(ctx, fr)
	if err != nil {
		s.authorizeError(ctx, w, r, back, err)
		return
	}
	ls := fresh
	if ls == nil {
		if ls, err = s.currentLogin(ctx, r); err != nil {
			s.authorizeError(ctx, w, r, back, err)
			return
		}
		// prompt=login and max_age ask for a password now (Core §3.1.2.1).
		if ls != nil && (prompt["login"] || (maxAge >= 0 && s.now().Sub(ls.AuthTime) > time.Duration(maxAge)*time.Second)) {
			ls = nil
		}
	}
	if ls == nil {
		if prompt["none"] {
			s.authorizeError(ctx, w, r, back, &oauthError{Code: "login_required", status: http.StatusBadRequest})
			return
		}
		s.loginPage(w, r, c, form, "", "", http.StatusOK)
		return
	}

	sess := &Session{Subject: ls.UserID, Type: claims.User, AuthTime: ls.AuthTime, LoginSessionID: ls.ID, Nonce: form.Get("nonce"), Resource: target}
	grantRequested(ar)
	resp, err := s.provider.NewAuthorizeResponse(ctx, ar, sess)
	if err != nil {
		s.authorizeError(ctx, w, r, back, err)
		return
	}
	resp.AddParameter("iss", s.cfg.Issuer) // RFC 9207
	s.provider.WriteAuthorizeResponse(ctx, w, ar, resp)
}

// redirectBack is where an authorization response goes: a redirect URI
// registered for the client, matched exactly, and the request's state.
type redirectBack struct {
	uri   *url.URL
	state string
}

var errNoRedirect = errors.New("no client, or no redirect URI registered for it")

// authorizeTarget finds the client of an authorization request and the
// redirect URI, which must be one registered for it, byte for byte (RFC
// 9700 §4.1.3): fosite lets a loopback URI differ in its port. Until both
// are known nothing may be redirected (RFC 6749 §4.1.2.1).
func (s *Server) authorizeTarget(ctx context.Context, form url.Values) (*client, redirectBack, error) {
	ids := form["client_id"]
	if len(ids) != 1 {
		return nil, redirectBack{}, errNoRedirect
	}
	c, err := s.clients.get(ctx, ids[0])
	if err != nil {
		if errors.Is(err, fosite.ErrNotFound) {
			return nil, redirectBack{}, errNoRedirect
		}
		return nil, redirectBack{}, err
	}
	var raw string
	switch uris := form["redirect_uri"]; {
	case len(uris) == 1:
		raw = uris[0]
	case len(uris) == 0 && len(c.rec.RedirectURIs) == 1: // RFC 6749 §3.1.2.3
		raw = c.rec.RedirectURIs[0]
	default:
		return nil, redirectBack{}, errNoRedirect
	}
	if !slices.Contains(c.rec.RedirectURIs, raw) || !c.GetResponseTypes().Has("code") {
		return nil, redirectBack{}, errNoRedirect
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, redirectBack{}, errNoRedirect
	}
	return c, redirectBack{uri: u}, nil
}

// checkChallenge checks the PKCE parameters (RFC 7636 §4.3) before the user
// is asked to log in, where fosite's handler checks them only once the
// code is issued: S256 only, required of a public client.
func checkChallenge(c *client, form url.Values) error {
	challenge, method := form.Get("code_challenge"), form.Get("code_challenge_method")
	switch {
	case challenge == "" && method == "" && !c.IsPublic():
		return nil
	case method != "S256" || len(challenge) < 43 || len(challenge) > 128:
		return errRequest()
	}
	for _, r := range challenge {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("-._~", r)) {
			return errRequest()
		}
	}
	return nil
}

// promptOf reads prompt (as a set) and max_age (-1 when absent). prompt=none
// with any other value is invalid (Core §3.1.2.1); consent and
// select_account are satisfied already (first-party clients, one account).
func promptOf(form url.Values) (map[string]bool, int64, error) {
	prompt := map[string]bool{}
	for _, p := range strings.Fields(form.Get("prompt")) {
		switch p {
		case "none", "login", "consent", "select_account":
			prompt[p] = true
		default:
			return nil, 0, errRequest()
		}
	}
	if prompt["none"] && len(prompt) > 1 {
		return nil, 0, errRequest()
	}
	maxAge := int64(-1)
	if v := form.Get("max_age"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return nil, 0, errRequest()
		}
		maxAge = min(n, int64(100*365*24*time.Hour/time.Second))
	}
	return prompt, maxAge, nil
}

// authorizeError redirects an error response to the client (RFC 6749
// §4.1.2.1, with iss per RFC 9207).
func (s *Server) authorizeError(ctx context.Context, w http.ResponseWriter, r *http.Request, back redirectBack, err error) {
	code := authorizeErrorCode(err)
	if code == "server_error" || code == "temporarily_unavailable" {
		s.log.ErrorContext(ctx, "authorization request failed", "error", cause(err))
	} else {
		s.log.DebugContext(ctx, "authorization request refused", "error_code", code, "cause", fosite.ErrorToRFC6749Error(err).GetDescription())
	}
	u := *back.uri
	q := u.Query()
	q.Set("error", code)
	q.Set("error_description", authorizeDescriptions[code])
	if back.state != "" {
		q.Set("state", back.state)
	}
	q.Set("iss", s.cfg.Issuer)
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

// authorizeErrorCode maps an error to an RFC 6749 §4.1.2.1 (or OpenID
// Connect Core §3.1.2.6) code. fosite's own codes (invalid_state, …)
// become invalid_request.
func authorizeErrorCode(err error) string {
	var oe *oauthError
	switch {
	case errors.As(err, &oe):
		if _, ok := authorizeDescriptions[oe.Code]; ok {
			return oe.Code
		}
		return "invalid_request"
	case outage.Is(err):
		return "temporarily_unavailable"
	}
	rfc := fosite.ErrorToRFC6749Error(err)
	if _, ok := authorizeDescriptions[rfc.ErrorField]; ok {
		return rfc.ErrorField
	}
	if rfc.CodeField >= 500 {
		return "server_error"
	}
	return "invalid_request"
}

// currentLogin is the live login session of the request's cookie, or nil:
// none, unknown, ended, expired, or its user disabled or gone.
func (s *Server) currentLogin(ctx context.Context, r *http.Request) (*storage.LoginSession, error) {
	v := s.cookies.read(r, s.cookies.session)
	if v == "" {
		return nil, nil
	}
	ls, err := s.store.GetLoginSessionByToken(ctx, hashSecret(v))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !ls.RevokedAt.IsZero() || !s.now().Before(ls.ExpiresAt) || s.sessionOver(ls.AuthTime) {
		return nil, nil
	}
	u, err := s.store.GetUser(ctx, ls.UserID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !u.Active {
		return nil, nil
	}
	return ls, nil
}

// loginPage shows the login form for the authorization request form.
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request, c *client, form url.Values, username, msg string, status int) {
	s.pages.Login(w, status, login.Form{
		Action:     LoginPath,
		ClientName: c.rec.Name,
		Username:   username,
		CSRF:       s.cookies.formToken(w, r),
		Request:    form.Encode(),
		Error:      msg,
	})
}

// errorPage answers a browser request that cannot be sent back to a
// client: no redirect to a URI that is not registered (RFC 6749 §4.1.2.1).
func (s *Server) errorPage(w http.ResponseWriter, status int) {
	m := login.Message{Title: "Sign-in request not valid",
		Message: "The application sent a request this server cannot accept. Go back to the application and try again."}
	if status == http.StatusServiceUnavailable {
		m = login.Message{Title: "Try again later", Message: "The server is temporarily unable to handle the request."}
		w.Header().Set("Retry-After", strconv.Itoa(outage.RetryAfter))
	}
	s.pages.Message(w, status, m)
}
