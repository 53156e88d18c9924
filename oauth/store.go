package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/ory/fosite"
	fositeoauth2 "github.com/ory/fosite/handler/oauth2"
	fositestorage "github.com/ory/fosite/storage"

	"github.com/gaia-platform/iam/rbac"
	"github.com/gaia-platform/iam/storage"
)

// fositeStore is the storage fosite's handlers see.
//
// Access tokens are JWTs that need no row to be valid, so creating one writes
// nothing: client-credentials issuance touches the database only to read.
// What is stored is what refresh rotation, reuse detection, revocation and
// introspection need: refresh tokens (by signature, never the token), grouped
// in families (one per login), and a list of revoked access-token IDs.
type fositeStore struct {
	*clients // fosite's ClientManager
	store    storage.Store
	rbac     *rbac.Service
	now      func() time.Time
	// reuseInterval is how long after its rotation a refresh token
	// presented again is taken for a concurrent refresh that lost, not
	// reuse; 0 takes every replay for reuse.
	reuseInterval time.Duration
}

var (
	_ fositeoauth2.AccessTokenStorage                           = (*fositeStore)(nil)
	_ fositeoauth2.RefreshTokenStorage                          = (*fositeStore)(nil)
	_ fositeoauth2.TokenRevocationStorage                       = (*fositeStore)(nil)
	_ fositeoauth2.ResourceOwnerPasswordCredentialsGrantStorage = (*fositeStore)(nil)
	_ fosite.ClientManager                                      = (*fositeStore)(nil)
	_ fositestorage.Transactional                               = (*fositeStore)(nil)
)

// BeginTX implements fosite's storage.Transactional. fosite's refresh
// handler signs the new tokens first and only then begins, rotates, stores
// and commits, so the transaction (on SQLite, the write lock) does not
// cover the signature, and refreshes sign in parallel.
func (s *fositeStore) BeginTX(ctx context.Context) (context.Context, error) {
	return s.store.Begin(ctx)
}

// Commit implements fosite's storage.Transactional.
func (s *fositeStore) Commit(ctx context.Context) error { return s.store.Commit(ctx) }

// Rollback implements fosite's storage.Transactional.
func (s *fositeStore) Rollback(ctx context.Context) error { return s.store.Rollback(ctx) }

// Authenticate implements the password grant's storage. Every credential
// failure is fosite.ErrNotFound, which fosite answers with invalid_grant;
// anything else (the database is down) is a server error.
func (s *fositeStore) Authenticate(ctx context.Context, username, pw string) (string, error) {
	u, err := s.rbac.Authenticate(ctx, username, pw)
	if errors.Is(err, rbac.ErrInvalidCredentials) {
		return "", fmt.Errorf("%w: %w", fosite.ErrNotFound, err)
	}
	if err != nil {
		return "", err
	}
	return u.ID, nil
}

// CreateAccessTokenSession writes nothing: the JWT carries everything.
func (s *fositeStore) CreateAccessTokenSession(context.Context, string, fosite.Requester) error {
	return nil
}

// GetAccessTokenSession is never satisfied: access tokens have no row.
// Gaia's introspection and revocation verify the JWT instead.
func (s *fositeStore) GetAccessTokenSession(context.Context, string, fosite.Session) (fosite.Requester, error) {
	return nil, fosite.ErrNotFound
}

// DeleteAccessTokenSession has nothing to delete.
func (s *fositeStore) DeleteAccessTokenSession(context.Context, string) error { return nil }

// CreateRefreshTokenSession stores a refresh token in its family, creating
// the family at the first issuance of a login.
func (s *fositeStore) CreateRefreshTokenSession(ctx context.Context, signature, _ string, r fosite.Requester) error {
	sess, ok := r.GetSession().(*Session)
	if !ok {
		return fmt.Errorf("session is %T, want *oauth.Session", r.GetSession())
	}
	data, err := encodeRequest(r, sess)
	if err != nil {
		return err
	}
	now := s.now()
	family := &storage.TokenFamily{ID: r.GetID(), ClientID: r.GetClient().GetID(), Subject: sess.Subject, StartedAt: sess.AuthTime,
		LoginSessionID: sess.LoginSessionID}
	rt := &storage.RefreshToken{
		Signature: signature,
		FamilyID:  r.GetID(),
		Active:    true,
		ExpiresAt: sess.GetExpiresAt(fosite.RefreshToken),
		CreatedAt: now,
		Request:   data,
	}
	if err := s.store.CreateRefreshToken(ctx, family, rt); err != nil {
		if errors.Is(err, storage.ErrConflict) { // the family was revoked meanwhile
			return fmt.Errorf("%w: %w", fosite.ErrInactiveToken, err)
		}
		return fmt.Errorf("store refresh token: %w", err)
	}
	return nil
}

// GetRefreshTokenSession returns the request a refresh token was issued
// for. A used or revoked token returns that request and an *inactiveRefresh
// error, which is fosite.ErrInactiveToken: that is how fosite detects reuse
// and revokes the family. A token rotated less than reuseInterval ago, its
// family live, is a *lostRefresh instead, which fosite answers with
// invalid_grant and nothing else.
func (s *fositeStore) GetRefreshTokenSession(ctx context.Context, signature string, _ fosite.Session) (fosite.Requester, error) {
	if signature == "" { // not one of our tokens (verifiedRefresh)
		return nil, fosite.ErrNotFound
	}
	rt, family, err := s.store.GetRefreshToken(ctx, signature)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fosite.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get refresh token: %w", err)
	}
	if !rt.Active && family.RevokedAt.IsZero() && !rt.RotatedAt.IsZero() && s.now().Sub(rt.RotatedAt) < s.reuseInterval {
		return nil, &lostRefresh{familyID: family.ID}
	}
	r, err := s.decodeRequest(ctx, rt.Request)
	if err != nil {
		return nil, err
	}
	if !rt.Active || !family.RevokedAt.IsZero() {
		return r, &inactiveRefresh{familyID: family.ID, reuse: family.RevokedAt.IsZero()}
	}
	return r, nil
}

// inactiveRefresh is fosite.ErrInactiveToken for a refresh token of a
// revoked family, or one already rotated: reuse, for which fosite revokes
// the family. fosite keeps it as the cause of its invalid_grant, so the
// token endpoint can tell the audit log which family it was and whether
// this was reuse.
type inactiveRefresh struct {
	familyID string
	reuse    bool // the token was rotated, its family live until now
}

func (e *inactiveRefresh) Error() string { return fosite.ErrInactiveToken.Error() }

// Unwrap makes errors.Is(err, fosite.ErrInactiveToken) hold.
func (e *inactiveRefresh) Unwrap() error { return fosite.ErrInactiveToken }

// lostRefresh is a refresh with a token rotated moments ago, its family
// live: another refresh with the same token won the race (two tabs, a
// retry). It is fosite.ErrNotFound, which fosite answers with
// invalid_grant without taking it for reuse, so the login, and the
// winner's new refresh token, live on. Only past the reuse interval is a
// replay reuse (RFC 9700 §4.14.2). A thief who replays a stolen token
// within the interval gets nothing either; what the interval costs is
// that such a replay does not end the login.
type lostRefresh struct {
	familyID string
}

func (e *lostRefresh) Error() string { return "refresh token rotated by a concurrent refresh" }

// Unwrap makes errors.Is(err, fosite.ErrNotFound) hold.
func (e *lostRefresh) Unwrap() error { return fosite.ErrNotFound }

// DeleteRefreshTokenSession deactivates rather than deletes: the row must
// stay so that a replay of the token is recognised as reuse.
func (s *fositeStore) DeleteRefreshTokenSession(ctx context.Context, signature string) error {
	err := s.store.DeactivateRefreshToken(ctx, signature, s.now())
	if err != nil && !errors.Is(err, storage.ErrConflict) && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("deactivate refresh token: %w", err)
	}
	return nil
}

// RotateRefreshToken retires the refresh token being exchanged. It is the
// compare-and-swap that makes rotation atomic: of N concurrent refreshes
// with one token exactly one deactivates it; the others get
// fosite.ErrSerializationFailure.
func (s *fositeStore) RotateRefreshToken(ctx context.Context, _ string, signature string) error {
	err := s.store.DeactivateRefreshToken(ctx, signature, s.now())
	switch {
	case errors.Is(err, storage.ErrConflict):
		return fmt.Errorf("%w: refresh token already used", fosite.ErrSerializationFailure)
	case errors.Is(err, storage.ErrNotFound):
		return fosite.ErrNotFound
	case err != nil:
		return fmt.Errorf("rotate refresh token: %w", err)
	}
	return nil
}

// RevokeRefreshToken revokes the whole family (fosite's request ID).
func (s *fositeStore) RevokeRefreshToken(ctx context.Context, requestID string) error {
	return s.revokeFamily(ctx, requestID)
}

// RevokeAccessToken revokes the family too: a user's access tokens name
// their family (sid), and introspection answers active:false for them.
func (s *fositeStore) RevokeAccessToken(ctx context.Context, requestID string) error {
	return s.revokeFamily(ctx, requestID)
}

func (s *fositeStore) revokeFamily(ctx context.Context, id string) error {
	err := s.store.RevokeTokenFamily(ctx, id, s.now())
	if errors.Is(err, storage.ErrNotFound) {
		return fosite.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("revoke token family: %w", err)
	}
	return nil
}

// storedRequest is what a refresh token remembers of the request that made it.
type storedRequest struct {
	ID                string    `json:"id"`
	RequestedAt       time.Time `json:"requested_at"`
	ClientID          string    `json:"client_id"`
	RequestedScope    []string  `json:"requested_scope,omitempty"`
	GrantedScope      []string  `json:"granted_scope,omitempty"`
	RequestedAudience []string  `json:"requested_audience,omitempty"`
	GrantedAudience   []string  `json:"granted_audience,omitempty"`
	Session           *Session  `json:"session"`
	// RedirectURI is the redirect_uri of an authorization request, which
	// its code's exchange must repeat (RFC 6749 §4.1.3).
	RedirectURI string `json:"redirect_uri,omitempty"`
}

func encodeRequest(r fosite.Requester, sess *Session) ([]byte, error) {
	granted := []string(r.GetGrantedScopes())
	if sess.refreshScope != nil {
		granted = sess.refreshScope
	}
	b, err := json.Marshal(storedRequest{
		ID:                r.GetID(),
		RequestedAt:       r.GetRequestedAt(),
		ClientID:          r.GetClient().GetID(),
		RequestedScope:    r.GetRequestedScopes(),
		GrantedScope:      granted,
		RequestedAudience: r.GetRequestedAudience(),
		GrantedAudience:   r.GetGrantedAudience(),
		Session:           sess,
		RedirectURI:       r.GetRequestForm().Get("redirect_uri"),
	})
	if err != nil {
		return nil, fmt.Errorf("encode token request: %w", err)
	}
	return b, nil
}

func (s *fositeStore) decodeRequest(ctx context.Context, data []byte) (*fosite.Request, error) {
	var sr storedRequest
	if err := json.Unmarshal(data, &sr); err != nil || sr.Session == nil {
		return nil, fmt.Errorf("decode token request: %w", errors.Join(err, errors.New("no session")))
	}
	c, err := s.clients.GetClient(ctx, sr.ClientID)
	if err != nil {
		return nil, err // a client deleted or disabled since: the token is as good as unknown
	}
	form := url.Values{}
	if sr.RedirectURI != "" {
		form.Set("redirect_uri", sr.RedirectURI)
	}
	return &fosite.Request{
		ID:                sr.ID,
		RequestedAt:       sr.RequestedAt,
		Client:            c,
		RequestedScope:    sr.RequestedScope,
		GrantedScope:      sr.GrantedScope,
		RequestedAudience: sr.RequestedAudience,
		GrantedAudience:   sr.GrantedAudience,
		Form:              form,
		Session:           sr.Session,
	}, nil
}
