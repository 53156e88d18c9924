package oauth

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/gaia-platform/iam/claims"
	"github.com/gaia-platform/iam/rbac"
	"github.com/gaia-platform/iam/storage"
)

// maxFormBytes bounds a token, revocation or introspection request body.
// Go's default for url-encoded bodies is 10 MiB.
const maxFormBytes = 64 << 10

// grantTypes are the grants Gaia serves.
var grantTypes = []string{"authorization_code", "password", "client_credentials", "refresh_token"}

// Token serves POST /oauth2/token (RFC 6749 §3.2). Every request for a
// grant Gaia serves leaves an audit event, recorded before the answer is
// written.
func (s *Server) Token(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ar, resp, err := s.token(ctx, w, r)
	s.auditToken(ctx, r, ar, err)
	if err != nil {
		s.writeError(ctx, w, r, err)
		return
	}
	s.provider.WriteAccessResponse(ctx, w, ar, resp)
}

// token runs a token request up to its response. On failure it returns
// the access request as far as fosite got with it, or nil.
func (s *Server) token(ctx context.Context, w http.ResponseWriter, r *http.Request) (fosite.AccessRequester, fosite.AccessResponder, error) {
	if err := parseForm(w, r); err != nil {
		return nil, nil, err
	}
	if err := checkTokenRequest(r); err != nil {
		return nil, nil, err
	}
	target, err := requestedTarget(r.PostForm)
	if err != nil {
		return nil, nil, err
	}
	delete(r.Form, "resource")
	delete(r.Form, "audience")
	v, err := s.protect(ctx, w, r)
	if err != nil {
		return nil, nil, err
	}
	ar, err := s.provider.NewAccessRequest(ctx, r, &Session{})
	if err == nil {
		err = checkPublic(ar.GetClient(), r)
	}
	if err = s.protected(ctx, r, v, ar, err); err != nil {
		return ar, nil, err
	}
	grant := ar.GetGrantTypes()[0]
	if err := s.authorize(ctx, grant, ar, target); err != nil {
		return ar, nil, err
	}
	// Before anything is written: a refused refresh token stays usable.
	if err := s.checkSize(ar); err != nil {
		return ar, nil, err
	}

	// Client credentials write nothing. A password login writes its refresh
	// token (and new family) in one storage call; a refresh rotates and
	// stores in the transaction fosite opens through fositeStore.BeginTX,
	// after signing.
	resp, err := s.provider.NewAccessResponse(ctx, ar)
	if err != nil {
		if grant == "authorization_code" && errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
			// A concurrent exchange of the same code won: this is a
			// replay, and revokes what the winner got (RFC 6749 §4.1.2).
			_ = s.fstore.revokeFamily(ctx, ar.GetID())
			return ar, nil, &refusal{reasonCodeReuse, fosite.ErrInvalidGrant}
		}
		return ar, nil, lostRace(err)
	}
	if grant != "client_credentials" && ar.GetGrantedScopes().Has("openid") {
		idToken, err := s.idToken(ar)
		if err != nil {
			return ar, nil, err
		}
		resp.SetExtra("id_token", idToken)
	}
	return ar, resp, nil
}

// lostRace turns fosite's answer to a refresh that lost the rotation race
// (invalid_request, "retry") into invalid_grant: the token it presented is
// spent, and retrying it would be reuse.
func lostRace(err error) error {
	switch {
	case errors.Is(err, fosite.ErrSerializationFailure):
		return &refusal{reasonConcurrentRefresh, fosite.ErrInvalidGrant}
	case errors.Is(err, fosite.ErrInactiveToken):
		return &refusal{reasonRevoked, fosite.ErrInvalidGrant}
	}
	return err
}

// parseForm reads a bounded url-encoded body (RFC 6749 §3.2, App. B).
func parseForm(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		return errRequest()
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return errRequest()
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return &oauthError{"invalid_request", descriptions["invalid_request"], http.StatusRequestEntityTooLarge}
		}
		return errRequest()
	}
	if err := checkFormLimits(r.PostForm); err != nil {
		return err
	}
	// Credentials never travel in the URI (RFC 6749 §2.3.1, §3.2), and the
	// endpoints take no query parameters.
	if r.URL.RawQuery != "" {
		return errRequest()
	}
	if err := checkRepeated(r.PostForm); err != nil {
		return err
	}
	// A request that does not even name a client failed client
	// authentication (RFC 6749 §5.2), which fosite calls invalid_request.
	if r.Header.Get("Authorization") == "" && r.PostForm.Get("client_id") == "" {
		return fosite.ErrInvalidClient
	}
	// Clients authenticate with Basic; any other scheme (a Bearer token
	// sent to the introspection endpoint, say) is a failed authentication.
	if scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " "); scheme != "" && !strings.EqualFold(scheme, "Basic") {
		return fosite.ErrInvalidClient
	}
	// RFC 6749 §2.3: one client authentication method per request, and
	// never a client_id in the body naming another client than the header.
	if id, _, ok := r.BasicAuth(); ok || r.Header.Get("Authorization") != "" {
		if r.PostForm.Get("client_secret") != "" {
			return errRequest()
		}
		if body := r.PostForm.Get("client_id"); ok && body != "" && body != id {
			return errRequest()
		}
	}
	return nil
}

// checkRepeated refuses a parameter sent more than once (RFC 6749 §3.1,
// §3.2). RFC 8707 allows several resources; Gaia issues a token for one
// service, so a repeated resource or audience is invalid_target.
func checkRepeated(form url.Values) error {
	for k, v := range form {
		if len(v) > 1 {
			if k == "resource" || k == "audience" {
				return errTarget()
			}
			return errRequest()
		}
	}
	return nil
}

// checkTokenRequest answers what fosite gets wrong about grant types: an
// unknown grant is unsupported_grant_type (RFC 6749 §5.2), not invalid_request.
func checkTokenRequest(r *http.Request) error {
	g := r.PostForm.Get("grant_type")
	if g == "" {
		return errRequest()
	}
	if !slices.Contains(grantTypes, g) {
		return &oauthError{"unsupported_grant_type", descriptions["unsupported_grant_type"], http.StatusBadRequest}
	}
	return nil
}

// authorize completes an access request fosite has authenticated: it grants
// the requested scopes and audience, and resolves who the token is for and
// what it carries — again on every refresh, so role changes show and a
// disabled user is refused. target is the one service the request names
// (RFC 8707 resource, or audience), "" for none; a token for a service
// names it alone and carries only its permissions.
func (s *Server) authorize(ctx context.Context, grant string, ar fosite.AccessRequester, target string) error {
	if err := s.grant(ctx, grant, ar, target); err != nil {
		return err
	}
	sess, _ := ar.GetSession().(*Session)
	return s.scopeTo(ar, sess, target)
}

// grant resolves the principal of an access request, and for a password
// or client-credentials request binds the grant to the service it names.
func (s *Server) grant(ctx context.Context, grant string, ar fosite.AccessRequester, target string) error {
	sess, ok := ar.GetSession().(*Session)
	if !ok {
		return fmt.Errorf("session is %T, want *oauth.Session", ar.GetSession())
	}
	fc := ar.GetClient()
	if !fc.GetGrantTypes().Has(grant) {
		return fosite.ErrUnauthorizedClient
	}
	// fosite rounds some expiries and not others; one instant makes
	// exp - iat exactly the access-token lifetime.
	sess.issuedAt = s.now().UTC().Truncate(time.Second)
	sess.SetExpiresAt(fosite.AccessToken, sess.issuedAt.Add(s.cfg.AccessTokenTTL))
	switch grant {
	case "client_credentials":
		grantRequested(ar)
		sess.Resource = target
		c, ok := fc.(*client)
		if !ok {
			return fmt.Errorf("client is %T, want *oauth.client", fc)
		}
		// Resolved when the (active) client was loaded for authentication.
		sess.Subject, sess.Type = c.GetID(), claims.Service
		sess.Roles, sess.Permissions = c.grants.Roles, c.grants.Permissions
		return nil

	case "password":
		grantRequested(ar)
		sess.Resource = target
		sess.Type = claims.User
		sess.AuthTime = s.now().UTC()
		return s.resolveUser(ctx, ar, sess)

	case "authorization_code":
		// The session is the one stored with the code (fosite's code
		// handler), made when the user logged in. A logout since ends it.
		if s.sessionOver(sess.AuthTime) {
			return &refusal{reasonSessionExpired, fosite.ErrInvalidGrant}
		}
		ls, err := s.store.GetLoginSession(ctx, sess.LoginSessionID)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			return &refusal{reasonRevoked, fosite.ErrInvalidGrant}
		case err != nil:
			return fmt.Errorf("get login session: %w", err)
		case !ls.RevokedAt.IsZero() || ls.UserID != sess.Subject:
			return &refusal{reasonRevoked, fosite.ErrInvalidGrant}
		}
		return s.resolveUser(ctx, ar, sess)

	case "refresh_token":
		// The session is the one stored with the refresh token.
		if s.sessionOver(sess.AuthTime) {
			_ = s.fstore.revokeFamily(ctx, ar.GetID())
			return &refusal{reasonSessionExpired, fosite.ErrInvalidGrant}
		}
		if err := s.resolveUser(ctx, ar, sess); err != nil {
			if errors.Is(err, fosite.ErrInvalidGrant) {
				_ = s.fstore.revokeFamily(ctx, ar.GetID())
			}
			return err
		}
		return nil
	}
	return fosite.ErrUnsupportedGrantType
}

func (s *Server) resolveUser(ctx context.Context, ar fosite.AccessRequester, sess *Session) error {
	u, g, err := s.rbac.ResolveUser(ctx, sess.Subject)
	if errors.Is(err, rbac.ErrDisabled) {
		return &refusal{rbac.ReasonDisabled, fosite.ErrInvalidGrant}
	}
	if errors.Is(err, storage.ErrNotFound) {
		return &refusal{rbac.ReasonUnknownUser, fosite.ErrInvalidGrant}
	}
	if err != nil {
		return fmt.Errorf("resolve user: %w", err)
	}
	sess.Username, sess.email = u.Username, u.Email
	sess.Roles, sess.Permissions = g.Roles, g.Permissions
	return nil
}

// grantRequested grants the scopes and audience fosite has checked against
// the client. A client that names no audience gets all of its own.
func grantRequested(ar fosite.Requester) {
	for _, sc := range ar.GetRequestedScopes() {
		ar.GrantScope(sc)
	}
	aud := ar.GetRequestedAudience()
	if len(aud) == 0 {
		aud = ar.GetClient().GetAudience()
	}
	for _, a := range aud {
		ar.GrantAudience(a)
	}
}

// checkPublic refuses a public client that presents a secret: it has none,
// so whoever sends one is confused or probing (fosite ignores it).
func checkPublic(c fosite.Client, r *http.Request) error {
	if !c.IsPublic() {
		return nil
	}
	if _, secret, ok := r.BasicAuth(); (ok && secret != "") || r.PostForm.Get("client_secret") != "" {
		return fosite.ErrInvalidClient
	}
	return nil
}
