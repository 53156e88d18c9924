package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/ory/fosite"
	fositeoauth2 "github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/pkce"
	"github.com/ory/fosite/token/hmac"

	"github.com/gaia-platform/iam/storage"
)

// Authorization codes and their PKCE challenges, behind fosite's storage
// interfaces. A code's row holds its challenge too: one row, one
// lifetime, and no way to exchange the code without the challenge it was
// issued with.

var (
	_ fositeoauth2.AuthorizeCodeStorage = (*fositeStore)(nil)
	_ pkce.PKCERequestStorage           = (*fositeStore)(nil)
)

// errCodeUsed is an authorization code presented again: the exchange is
// invalid_grant and revokes what the code's first exchange issued (RFC 6749
// §4.1.2). It is fosite.ErrInvalidatedAuthorizeCode.
var errCodeUsed = fmt.Errorf("authorization code already used: %w", fosite.ErrInvalidatedAuthorizeCode)

// CreateAuthorizeCodeSession stores a code issued through a login session.
func (s *fositeStore) CreateAuthorizeCodeSession(ctx context.Context, signature string, r fosite.Requester) error {
	sess, ok := r.GetSession().(*Session)
	if !ok {
		return fmt.Errorf("session is %T, want *oauth.Session", r.GetSession())
	}
	data, err := encodeRequest(r, sess)
	if err != nil {
		return err
	}
	err = s.store.CreateAuthorizationCode(ctx, &storage.AuthorizationCode{
		Signature:      signature,
		RequestID:      r.GetID(),
		ClientID:       r.GetClient().GetID(),
		LoginSessionID: sess.LoginSessionID,
		ExpiresAt:      sess.GetExpiresAt(fosite.AuthorizeCode),
		Request:        data,
	})
	if err != nil {
		return fmt.Errorf("store authorization code: %w", err)
	}
	return nil
}

// GetAuthorizeCodeSession returns the request a code was issued for; for a
// code already exchanged, that request and fosite.ErrInvalidatedAuthorizeCode,
// on which fosite revokes the tokens of its first exchange.
func (s *fositeStore) GetAuthorizeCodeSession(ctx context.Context, signature string, _ fosite.Session) (fosite.Requester, error) {
	if signature == "" { // not one of our codes (verifiedCode)
		return nil, fosite.ErrNotFound
	}
	c, err := s.store.GetAuthorizationCode(ctx, signature)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fosite.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get authorization code: %w", err)
	}
	r, err := s.decodeRequest(ctx, c.Request)
	if err != nil {
		return nil, err
	}
	if !c.Active {
		return r, errCodeUsed
	}
	return r, nil
}

// InvalidateAuthorizeCodeSession marks the code used: the compare-and-swap
// that lets exactly one of concurrent exchanges of a code succeed.
func (s *fositeStore) InvalidateAuthorizeCodeSession(ctx context.Context, signature string) error {
	err := s.store.InvalidateAuthorizationCode(ctx, signature)
	switch {
	case errors.Is(err, storage.ErrConflict):
		return errCodeUsed
	case err != nil:
		return fmt.Errorf("invalidate authorization code: %w", err)
	}
	return nil
}

// CreatePKCERequestSession records the challenge in the code's row.
func (s *fositeStore) CreatePKCERequestSession(ctx context.Context, signature string, r fosite.Requester) error {
	f := r.GetRequestForm()
	if err := s.store.SetCodeChallenge(ctx, signature, f.Get("code_challenge"), f.Get("code_challenge_method")); err != nil {
		return fmt.Errorf("store code challenge: %w", err)
	}
	return nil
}

// GetPKCERequestSession returns the challenge a code was issued with, or
// fosite.ErrNotFound when it was issued with none.
func (s *fositeStore) GetPKCERequestSession(ctx context.Context, signature string, _ fosite.Session) (fosite.Requester, error) {
	if signature == "" {
		return nil, fosite.ErrNotFound
	}
	c, err := s.store.GetAuthorizationCode(ctx, signature)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fosite.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get code challenge: %w", err)
	}
	if c.CodeChallenge == "" {
		return nil, fosite.ErrNotFound
	}
	cl, err := s.clients.GetClient(ctx, c.ClientID)
	if err != nil {
		return nil, err
	}
	return &fosite.Request{
		ID:     c.RequestID,
		Client: cl,
		Form:   url.Values{"code_challenge": {c.CodeChallenge}, "code_challenge_method": {c.CodeChallengeMethod}},
	}, nil
}

// DeletePKCERequestSession keeps the challenge. fosite deletes it before
// it compares the verifier, so a wrong verifier would otherwise leave a
// code that a confidential client could exchange with no verifier at all.
// The challenge goes with its code, when the code expires.
func (s *fositeStore) DeletePKCERequestSession(context.Context, string) error { return nil }

// verifiedCode is the authorization-code strategy with the correction
// verifiedRefresh makes for refresh tokens: a signature is only taken from
// a code whose HMAC verifies, so "anything.<signature of a used code>"
// cannot revoke the tokens of that code's exchange.
type verifiedCode struct {
	fositeoauth2.AuthorizeCodeStrategy
	enigma *hmac.HMACStrategy
}

// AuthorizeCodeSignature implements fosite's AuthorizeCodeStrategy.
func (v verifiedCode) AuthorizeCodeSignature(ctx context.Context, code string) string {
	if len(code) > maxTokenLength || v.enigma.Validate(ctx, code) != nil {
		return ""
	}
	return v.AuthorizeCodeStrategy.AuthorizeCodeSignature(ctx, code)
}
