package oauth

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/gaia-platform/iam/claims"
	"github.com/gaia-platform/iam/rbac"
)

// Token budget (Config.AccessTokenMaxBytes).
const (
	// DefaultAccessTokenMaxBytes is the default budget of an access token:
	// it fits a 4 KiB browser cookie with its name and attributes (the
	// backend-for-frontend keeps tokens in cookies) and any proxy's header
	// limit (NGINX refuses a header line over 8 KiB by default), far
	// under the 16 KiB verifiers refuse (claims, the IAM's own).
	DefaultAccessTokenMaxBytes = 4000
	// MinAccessTokenMaxBytes and MaxAccessTokenMaxBytes bound the setting:
	// below, no token with a status claim fits; above, verifiers refuse it.
	MinAccessTokenMaxBytes = 1024
	MaxAccessTokenMaxBytes = maxTokenLength
)

// reasonTokenTooLarge is the audit reason of a token refused over budget.
const reasonTokenTooLarge = "token_too_large"

// errTarget is RFC 8707 §2 invalid_target: a resource or audience that is
// malformed, repeated, or not one this client may ask a token for.
func errTarget() *oauthError {
	return &oauthError{"invalid_target", descriptions["invalid_target"], http.StatusBadRequest}
}

// requestedTarget reads the one audience a request names, with RFC 8707
// resource (an absolute URI without a fragment) or the audience parameter
// (any audience string), and removes both from form so that fosite does
// not judge them (it would answer invalid_request). "" means none. A token
// is for one service: several values are invalid_target.
func requestedTarget(form url.Values) (string, error) {
	res, hasRes := form["resource"]
	aud, hasAud := form["audience"]
	delete(form, "resource")
	delete(form, "audience")
	if len(res) > 1 || len(aud) > 1 {
		return "", errTarget()
	}
	var target string
	if hasRes {
		u, err := url.Parse(res[0])
		if err != nil || !u.IsAbs() || u.Fragment != "" || strings.Contains(res[0], "#") || len(res[0]) > rbac.MaxAudienceLength {
			return "", errTarget()
		}
		target = res[0]
	}
	if hasAud {
		a := aud[0]
		if a == "" || len(a) > rbac.MaxAudienceLength || strings.ContainsFunc(a, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return "", errTarget()
		}
		if hasRes && a != target {
			return "", errTarget()
		}
		target = a
	}
	return target, nil
}

// allowTarget checks that client c may ask a token for target: it must be
// one of the client's audiences, exactly.
func allowTarget(c fosite.Client, target string) error {
	if !slices.Contains(c.GetAudience(), target) {
		return errTarget()
	}
	return nil
}

// scopeTo decides the audience of the token being issued: the target of
// this request, or else the resource the grant was bound to when it was
// made (a password or client-credentials request, or the authorization
// request), or else every audience granted. A target that differs from the
// grant's resource, or that the client may no longer use, is
// invalid_target. The token carries only the permissions of the services
// it names (all of them when it names an audience that is no service).
func (s *Server) scopeTo(ar fosite.AccessRequester, sess *Session, target string) error {
	if target != "" && sess.Resource != "" && target != sess.Resource {
		return errTarget()
	}
	if target == "" {
		target = sess.Resource
	}
	auds := []string(ar.GetGrantedAudience())
	if target != "" {
		if err := allowTarget(ar.GetClient(), target); err != nil {
			return err
		}
		sess.audience, auds = target, []string{target}
	}
	sess.Permissions = s.cfg.Services.Permissions(auds, sess.Permissions)
	return nil
}

// tooLarge refuses a token over the budget; the client is told to ask for
// one service's token.
func tooLarge(size, budget int) error {
	return &refusal{reasonTokenTooLarge, &oauthError{"invalid_target",
		fmt.Sprintf("The access token would be %d bytes, over the limit of %d. Ask for a token for one service with the resource parameter.", size, budget),
		http.StatusBadRequest}}
}

// Placeholders for the parts of a token not known before it is signed:
// a jti as long as rand.Text's, and a status claim no real one outgrows.
var (
	placeholderJTI    = strings.Repeat("J", 26)
	placeholderStatus = &claims.Status{StatusList: &claims.StatusListRef{Index: 1<<31 - 1, URI: strings.Repeat("U", 64)}}
)

// size is the length a compact JWS of a would have, signed with the
// current key; jti and the status claim are replaced by placeholders at
// least as long as what issuance gives them (the status URI by the
// issuer's plus 64 bytes).
func (t *accessTokens) size(a claims.Access) (int, error) {
	a.ID = placeholderJTI
	if t.status != nil {
		st := *placeholderStatus.StatusList
		st.URI = t.issuer + "/statuslists/" + st.URI
		a.Status = &claims.Status{StatusList: &st}
	}
	payload, err := json.Marshal(&a)
	if err != nil {
		return 0, err
	}
	frame, err := t.frame()
	if err != nil {
		return 0, err
	}
	return frame + base64.RawURLEncoding.EncodedLen(len(payload)), nil
}

// frame is the length of a token signed with the current key less its
// payload: header, signature and the two dots, the same for every token
// the key signs.
func (t *accessTokens) frame() (int, error) {
	k := t.keys.Current()
	if n, ok := t.frames.Load(k.ID); ok {
		return n.(int), nil
	}
	signer, err := t.signer(k, "at+jwt")
	if err != nil {
		return 0, err
	}
	jws, err := signer.Sign(nil)
	if err != nil {
		return 0, fmt.Errorf("sign: %w", err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		return 0, fmt.Errorf("serialize: %w", err)
	}
	t.frames.Store(k.ID, len(tok))
	return len(tok), nil
}

// checkSize refuses, before anything is written, an access token for ar
// that would exceed the budget.
func (s *Server) checkSize(ar fosite.AccessRequester) error {
	sess, ok := ar.GetSession().(*Session)
	if !ok {
		return fmt.Errorf("session is %T, want *oauth.Session", ar.GetSession())
	}
	n, err := s.access.size(claimsOf(s.cfg.Issuer, ar, sess, sess.issuedAt, sess.GetExpiresAt(fosite.AccessToken)))
	if err != nil {
		return err
	}
	if n > s.cfg.AccessTokenMaxBytes {
		return tooLarge(n, s.cfg.AccessTokenMaxBytes)
	}
	return nil
}

// TokenSize is what a token with these claims would measure, in bytes, as
// issued now (iss, iat, exp, jti and the status claim are filled in here),
// and the budget it must fit: for the admin API's view of a user.
func (s *Server) TokenSize(a claims.Access) (size, budget int, err error) {
	now := s.now().UTC().Truncate(time.Second)
	a.Issuer, a.IssuedAt, a.Expiry = s.cfg.Issuer, now.Unix(), now.Add(s.cfg.AccessTokenTTL).Unix()
	n, err := s.access.size(a)
	return n, s.cfg.AccessTokenMaxBytes, err
}
