package oauth

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/gaia-platform/iam/audit"
	"github.com/gaia-platform/iam/login"
	"github.com/gaia-platform/iam/oauth/guard"
	"github.com/gaia-platform/iam/outage"
	"github.com/gaia-platform/iam/password"
	"github.com/gaia-platform/iam/rbac"
	"github.com/gaia-platform/iam/storage"
)

// The hosted login page's form handler. The password is checked exactly
// as the password grant checks it — the same guard (block list, address
// throttle, account lock answered after the password was checked anyway),
// the same rbac.Authenticate and the same audit event — and every
// credential failure reads the same, whether the user exists or not.

// maxLoginBytes bounds the login form's body: the authorization request
// it carries (form-encoded again, so up to three times its size), a
// username and a password.
const maxLoginBytes = 3*maxAuthorizeBytes + 4<<10

// loginFailed is what the form says for every credential failure (unknown
// user, wrong password, disabled, locked): no enumeration.
const loginFailed = "The username or password is incorrect."

// crossOrigin refuses a cross-site form post (Sec-Fetch-Site, or an Origin
// that is not this host), before the token is even looked at.
var crossOrigin = http.NewCrossOriginProtection()

// Login serves POST /oauth2/login: the hosted login form.
func (s *Server) Login(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBytes)
	if r.Method != http.MethodPost || r.ParseForm() != nil || r.URL.RawQuery != "" {
		s.errorPage(w, http.StatusBadRequest)
		return
	}
	for _, v := range r.PostForm {
		if len(v) > 1 {
			s.errorPage(w, http.StatusBadRequest)
			return
		}
	}
	form, err := url.ParseQuery(r.PostForm.Get("request"))
	if err != nil {
		s.errorPage(w, http.StatusBadRequest)
		return
	}
	c, _, err := s.authorizeTarget(ctx, form)
	if err != nil {
		status := http.StatusBadRequest
		if outage.Is(err) {
			status = http.StatusServiceUnavailable
		}
		s.errorPage(w, status)
		return
	}
	if crossOrigin.Check(r) != nil || !s.cookies.formTokenOK(r, r.PostForm.Get("csrf_token")) {
		s.pages.Message(w, http.StatusForbidden, login.Message{Title: "Login form expired",
			Message: "The login form was not sent from this site, or it expired. Go back to the application and sign in again."})
		return
	}
	username, pw := r.PostForm.Get("username"), r.PostForm.Get("password")
	u, err := s.loginPassword(ctx, w, r, username, pw)
	s.auditLogin(ctx, r, c, u, err)
	if err != nil {
		msg, status := loginFailed, http.StatusBadRequest
		var oe *oauthError
		switch {
		case errors.As(err, &oe) && oe.status == http.StatusTooManyRequests:
			msg, status = "Too many failed attempts. Wait a while, then try again.", http.StatusTooManyRequests
		case errors.As(err, &oe) && oe.status == http.StatusForbidden:
			msg, status = "Logins from this address are not accepted.", http.StatusForbidden
		case errors.Is(err, password.ErrBusy), outage.Is(err):
			msg, status = "The server is busy. Try again in a moment.", http.StatusServiceUnavailable
		case errors.Is(err, rbac.ErrInvalidCredentials), errors.Is(err, errLocked):
		default:
			s.log.ErrorContext(ctx, "login failed", "error", cause(err))
			msg, status = "The server could not complete the login.", http.StatusInternalServerError
		}
		s.loginPage(w, r, c, form, username, msg, status)
		return
	}
	ls, err := s.openLogin(ctx, w, r, u)
	if err != nil {
		s.log.ErrorContext(ctx, "open login session", "error", err)
		s.loginPage(w, r, c, form, username, "The server could not complete the login.", http.StatusServiceUnavailable)
		return
	}
	s.authorizeRequest(ctx, w, r, form, ls)
}

// errLocked is the refusal of a locked account, to the form as to the
// password grant: a wrong password.
var errLocked = errors.New("account locked")

// loginPassword checks a password typed into the login form, through the
// guard, as the password grant does.
func (s *Server) loginPassword(ctx context.Context, w http.ResponseWriter, r *http.Request, username, pw string) (*storage.User, error) {
	v, err := s.check(ctx, w, guard.Attempt{Addr: sourceAddr(r), Account: accountOf(username)})
	if err != nil {
		return nil, err
	}
	u, err := s.rbac.Authenticate(ctx, username, pw)
	if err := s.settle(ctx, r, v, guard.NotChecked, true, err); err != nil {
		var rf *refusal
		if errors.As(err, &rf) && rf.reason == reasonLocked {
			return nil, errors.Join(errLocked, err)
		}
		return nil, err
	}
	return u, nil
}

// openLogin starts a login session for u and sets its cookie: a new
// secret at every login (ASVS 5 7.2.4). The session it replaces, if any,
// ends.
func (s *Server) openLogin(ctx context.Context, w http.ResponseWriter, r *http.Request, u *storage.User) (*storage.LoginSession, error) {
	if old, err := s.currentLogin(ctx, r); err == nil && old != nil {
		_, _ = s.store.RevokeLoginSession(ctx, old.ID, s.now())
	}
	secret := newSecret()
	now := s.now().UTC()
	ls := &storage.LoginSession{TokenHash: hashSecret(secret), UserID: u.ID, AuthTime: now, ExpiresAt: now.Add(s.cfg.MaxSessionAge)}
	if err := s.store.CreateLoginSession(ctx, ls); err != nil {
		return nil, err
	}
	s.cookies.set(w, s.cookies.session, secret, s.cfg.MaxSessionAge, http.SameSiteLaxMode)
	return ls, nil
}

// auditLogin records a login at the form as the password grant records
// one (audit.ActionAuthPassword), with grant authorization_code.
func (s *Server) auditLogin(ctx context.Context, r *http.Request, c *client, u *storage.User, err error) {
	e := storage.AuditEvent{Action: audit.ActionAuthPassword, ActorType: audit.ActorAnonymous, ClientIP: audit.ClientIP(r),
		ClientID: c.rec.ClientID, Details: map[string]string{audit.DetailGrant: "authorization_code"}}
	if err == nil {
		e.Outcome = audit.Success
		e.ActorType, e.ActorID, e.ActorName = audit.ActorUser, u.ID, u.Username
		e.TargetType, e.TargetID = audit.TargetUser, u.ID
		s.audit.Record(ctx, e)
		return
	}
	e.Outcome = audit.Failure
	var ce *rbac.CredentialsError
	if errors.As(err, &ce) && ce.UserID != "" {
		e.TargetType, e.TargetID = audit.TargetUser, ce.UserID
	}
	e.Details[audit.DetailReason] = reasonOf(err)
	s.audit.Record(ctx, e)
}
