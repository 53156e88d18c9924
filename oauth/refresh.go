package oauth

import (
	"context"
	"slices"

	"github.com/ory/fosite"
	fositeoauth2 "github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/token/hmac"
)

// verifiedRefresh is the refresh-token strategy with one correction: a
// token's signature (its storage key) is only taken from a token whose
// HMAC verifies. fosite's refresh handler looks the token up by the part
// after the "." and runs reuse detection before it validates the token,
// so "anything.<signature of a rotated token>" would end the login of
// whoever that token belonged to.
type verifiedRefresh struct {
	fositeoauth2.RefreshTokenStrategy
	enigma *hmac.HMACStrategy
}

var _ fositeoauth2.RefreshTokenStrategy = verifiedRefresh{}

// RefreshTokenSignature implements fosite's RefreshTokenStrategy. For a
// token that is not one of ours it returns "", which names no stored
// token: the refresh fails with invalid_grant and nothing is revoked.
func (v verifiedRefresh) RefreshTokenSignature(ctx context.Context, token string) string {
	if len(token) > maxTokenLength || v.enigma.Validate(ctx, token) != nil {
		return ""
	}
	return v.RefreshTokenStrategy.RefreshTokenSignature(ctx, token)
}

// scopedRefresh adds the scope parameter of a refresh request to fosite's
// refresh handler, which ignores it (RFC 6749 §6): the request may narrow
// the scope of the new access token to a subset of what was granted at
// login; asking for anything more is invalid_scope. The new refresh token
// keeps the scope of the one presented, as §6 requires, so a later refresh
// may ask for the full scope again.
type scopedRefresh struct {
	*fositeoauth2.RefreshTokenGrantHandler
}

var _ fosite.TokenEndpointHandler = scopedRefresh{}

// HandleTokenEndpointRequest implements fosite.TokenEndpointHandler.
func (h scopedRefresh) HandleTokenEndpointRequest(ctx context.Context, r fosite.AccessRequester) error {
	// fosite replaces the requested scopes with those of the login.
	asked := slices.Clone(r.GetRequestedScopes())
	if err := h.RefreshTokenGrantHandler.HandleTokenEndpointRequest(ctx, r); err != nil {
		return err
	}
	if len(asked) == 0 { // omitted: the scope granted at login (§6)
		return nil
	}
	granted := r.GetGrantedScopes()
	for _, sc := range asked {
		if !granted.Has(sc) {
			return fosite.ErrInvalidScope
		}
	}
	ar, ok := r.(*fosite.AccessRequest)
	sess, sok := r.GetSession().(*Session)
	if !ok || !sok {
		return fosite.ErrServerError
	}
	// The login's scope goes with the new refresh token; the narrower one
	// into the access token, the ID token and the response.
	sess.refreshScope = slices.Clone(granted)
	narrow := fosite.Arguments{}
	for _, sc := range asked {
		if !narrow.Has(sc) {
			narrow = append(narrow, sc)
		}
	}
	ar.GrantedScope = narrow
	return nil
}
