package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/gaia-platform/iam/audit"
	"github.com/gaia-platform/iam/login"
	"github.com/gaia-platform/iam/storage"
)

// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) at the
// end_session_endpoint, GET or POST.
//
// With a valid id_token_hint the login session it names (its sid) ends at
// once, with the refresh tokens issued through it, and so does the
// browser's session if it is the same user's. Without one, a cross-site
// page could log the user out with a link, so the browser's session ends
// only after the user confirms on a page of ours (a form with a CSRF
// token). The browser goes back to post_logout_redirect_uri, with state,
// only when that URI is registered for the client the request names
// (client_id, or the hint's azp); otherwise it sees our "logged out" page:
// never a redirect to an unregistered URI.

// Logout serves GET and POST /oauth2/logout.
func (s *Server) Logout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	form, ok := authorizeForm(w, r)
	if ok {
		for _, v := range form {
			ok = ok && len(v) == 1
		}
	}
	if !ok {
		s.logoutError(w, http.StatusBadRequest)
		return
	}
	var hint *idTokenClaims
	if h := form.Get("id_token_hint"); h != "" {
		var err error
		if hint, err = s.idTokenHint(h); err != nil {
			s.logoutError(w, http.StatusBadRequest)
			return
		}
	}
	clientID := form.Get("client_id")
	if hint != nil {
		if clientID != "" && !slices.Contains(hint.Audience, clientID) {
			s.logoutError(w, http.StatusBadRequest)
			return
		}
		if clientID == "" {
			clientID = hint.AuthorizedParty
		}
	}
	var back *url.URL
	if raw := form.Get("post_logout_redirect_uri"); raw != "" {
		c, err := s.clients.get(ctx, clientID)
		if err != nil || !slices.Contains(c.rec.PostLogoutRedirectURIs, raw) {
			s.logoutError(w, http.StatusBadRequest)
			return
		}
		if back, err = url.Parse(raw); err != nil {
			s.logoutError(w, http.StatusBadRequest)
			return
		}
	}
	cur, err := s.currentLogin(ctx, r)
	if err != nil {
		s.logoutError(w, http.StatusServiceUnavailable)
		return
	}
	confirmed := hint != nil || (r.Method == http.MethodPost && crossOrigin.Check(r) == nil &&
		s.cookies.formTokenOK(r, form.Get("csrf_token")))
	if !confirmed && cur != nil {
		fields := map[string]string{}
		for _, k := range []string{"client_id", "post_logout_redirect_uri", "state"} {
			if v := form.Get(k); v != "" {
				fields[k] = v
			}
		}
		if clientID != "" {
			fields["client_id"] = clientID
		}
		s.pages.Message(w, http.StatusOK, login.Message{Title: "Log out?", Message: "Do you want to log out of Gaia?",
			Confirm: &login.Confirm{Action: r.URL.Path, CSRF: s.cookies.formToken(w, r), Fields: fields, Button: "Log out"}})
		return
	}
	if hint != nil && hint.SessionID != "" {
		ls, err := s.store.GetLoginSession(ctx, hint.SessionID)
		if err == nil && ls.UserID == hint.Subject {
			s.endLogin(ctx, r, ls, clientID)
		}
	}
	if cur != nil && (hint == nil || cur.UserID == hint.Subject) {
		s.endLogin(ctx, r, cur, clientID)
		s.cookies.clear(w, s.cookies.session, http.SameSiteLaxMode)
	}
	if back != nil {
		if st := form.Get("state"); st != "" {
			q := back.Query()
			q.Set("state", st)
			back.RawQuery = q.Encode()
		}
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, back.String(), http.StatusSeeOther)
		return
	}
	s.pages.Message(w, http.StatusOK, login.Message{Title: "Logged out", Message: "You are logged out of Gaia. You may close this window."})
}

// endLogin ends a login session and revokes the token families issued
// through it.
func (s *Server) endLogin(ctx context.Context, r *http.Request, ls *storage.LoginSession, clientID string) {
	n, err := s.store.RevokeLoginSession(ctx, ls.ID, s.now())
	e := storage.AuditEvent{Action: audit.ActionUserLogout, ActorType: audit.ActorUser, ActorID: ls.UserID, ClientIP: audit.ClientIP(r),
		ClientID: clientID, TargetType: audit.TargetUser, TargetID: ls.UserID, Outcome: audit.Success,
		Details: map[string]string{"login_session": ls.ID}}
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		s.log.ErrorContext(ctx, "end login session", "login_session", ls.ID, "error", err)
		e.Outcome, e.Details[audit.DetailReason] = audit.Failure, "server_error"
	}
	s.log.InfoContext(ctx, "login session ended", "login_session", ls.ID, "families_revoked", n)
	s.audit.Record(ctx, e)
}

func (s *Server) logoutError(w http.ResponseWriter, status int) {
	m := login.Message{Title: "Logout request not valid",
		Message: "The application sent a logout request this server cannot accept."}
	if status == http.StatusServiceUnavailable {
		m = login.Message{Title: "Try again later", Message: "The server is temporarily unable to handle the request."}
	}
	s.pages.Message(w, status, m)
}

var errInvalidHint = errors.New("invalid id_token_hint")

// idTokenHint verifies an ID token this server issued: RS256, typ JWT,
// a key the ring publishes, our issuer. It may have expired (RP-Initiated
// Logout §2: the hint need not be current).
func (s *Server) idTokenHint(token string) (*idTokenClaims, error) {
	payload, _, ok := s.access.verifyJWS(token, func(typ string) bool { return typ == "JWT" })
	if !ok {
		return nil, errInvalidHint
	}
	var c idTokenClaims
	if err := json.Unmarshal(payload, &c); err != nil || c.Issuer != s.cfg.Issuer || c.Subject == "" {
		return nil, errInvalidHint
	}
	return &c, nil
}
