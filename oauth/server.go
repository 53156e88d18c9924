// Package oauth is Gaia's OAuth 2.0 authorization server: fosite composed
// with only the handlers Gaia serves (authorization code with PKCE,
// password, client credentials and refresh grants; revocation;
// introspection), the hosted login page and RP-initiated logout of the
// browser flows, Gaia's storage behind fosite's
// storage interfaces, and the HTTP endpoints with the corrections fosite's
// defaults need (see shared/OAUTH-CHECKLIST.md).
//
// Every fosite import of the project is in this package.
package oauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ory/fosite"
	fositeoauth2 "github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/pkce"
	"github.com/ory/fosite/token/hmac"

	"github.com/gaia-platform/iam/login"
	"github.com/gaia-platform/iam/oauth/guard"
	"github.com/gaia-platform/iam/rbac"
	"github.com/gaia-platform/iam/storage"
)

// Config is what the authorization server needs to know.
type Config struct {
	Issuer          string
	AccessTokenTTL  time.Duration
	RefreshTokenTTL time.Duration
	// MaxSessionAge caps a login: past it refresh fails, however often the
	// refresh token was rotated (ASVS 5 10.4.8).
	MaxSessionAge time.Duration
	// DefaultAudience is the aud of tokens for clients that name none.
	DefaultAudience string
	// TokenSecret keys the HMAC of refresh tokens; 32 bytes or more.
	TokenSecret []byte
	// ClientCacheTTL is how long a client read from the store is trusted;
	// 0 reads it at every request.
	ClientCacheTTL time.Duration
	// RefreshReuseInterval is how long after a refresh token's rotation
	// presenting it again is refused as a concurrent refresh that lost,
	// without ending the login; later it is reuse, which does. 0 makes
	// every replay reuse.
	RefreshReuseInterval time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Guard is login protection; required.
	Guard *guard.Guard
	// Services maps service audiences to the permissions their tokens
	// carry (RFC 8707 resource); nil declares none.
	Services *rbac.Services
	// AccessTokenMaxBytes is the budget of an access token: a larger one
	// is refused with invalid_target. 0 means DefaultAccessTokenMaxBytes.
	AccessTokenMaxBytes int
	// Status gives every access token its token-status-list entry
	// (*statuslist.Lists); nil issues tokens without a status claim.
	Status statusAssigner
}

// The default and the bound of Config.RefreshReuseInterval.
const (
	// DefaultRefreshReuseInterval covers refreshes sent together (two
	// tabs, a retry after a timeout), which arrive within a second or two
	// of each other even on a slow network, with room to spare.
	DefaultRefreshReuseInterval = 10 * time.Second
	// MaxRefreshReuseInterval bounds it: a replay within the interval does
	// not end the login, so a longer one would hide theft.
	MaxRefreshReuseInterval = time.Minute
)

// Server serves the OAuth endpoints.
type Server struct {
	cfg      Config
	provider *fosite.Fosite
	store    storage.Store
	rbac     *rbac.Service
	fstore   *fositeStore
	clients  *clients
	access   *accessTokens
	refresh  verifiedRefresh
	audit    auditor
	guard    *guard.Guard
	log      *slog.Logger
	now      func() time.Time
	pages    *login.Pages // the hosted login page and the browser flows' other pages
	cookies  cookies
}

// auditor records the audit events of the OAuth endpoints. Record must not
// wait on the database: it runs once per token request.
type auditor interface {
	Record(ctx context.Context, e storage.AuditEvent)
}

// New composes the provider. keys signs and verifies tokens; secrets
// verifies client secrets; rec records logins, refreshes and revocations.
func New(cfg Config, store storage.Store, svc *rbac.Service, keys signingKeys, secrets *SecretHasher, rec auditor, log *slog.Logger) (*Server, error) {
	switch {
	case cfg.Issuer == "":
		return nil, errors.New("oauth: issuer is required")
	case cfg.AccessTokenTTL <= 0 || cfg.RefreshTokenTTL <= 0 || cfg.MaxSessionAge <= 0 || cfg.ClientCacheTTL < 0:
		return nil, errors.New("oauth: token lifetimes must be positive")
	case cfg.RefreshReuseInterval < 0 || cfg.RefreshReuseInterval > MaxRefreshReuseInterval:
		return nil, fmt.Errorf("oauth: refresh reuse interval %v not within 0 and %v", cfg.RefreshReuseInterval, MaxRefreshReuseInterval)
	case len(cfg.TokenSecret) < 32:
		return nil, errors.New("oauth: token secret must be at least 32 bytes")
	case cfg.DefaultAudience == "":
		return nil, errors.New("oauth: default audience is required")
	case cfg.AccessTokenMaxBytes != 0 && (cfg.AccessTokenMaxBytes < MinAccessTokenMaxBytes || cfg.AccessTokenMaxBytes > MaxAccessTokenMaxBytes):
		return nil, fmt.Errorf("oauth: access token budget %d not within %d and %d bytes", cfg.AccessTokenMaxBytes, MinAccessTokenMaxBytes, MaxAccessTokenMaxBytes)
	case store == nil || svc == nil || keys == nil || secrets == nil || rec == nil || log == nil || cfg.Guard == nil:
		return nil, errors.New("oauth: store, rbac, keys, secrets, auditor, guard and log are required")
	}
	if cfg.AccessTokenMaxBytes == 0 {
		cfg.AccessTokenMaxBytes = DefaultAccessTokenMaxBytes
	}
	fcfg := &fosite.Config{
		AccessTokenLifespan:  cfg.AccessTokenTTL,
		RefreshTokenLifespan: cfg.RefreshTokenTTL,
		// Exact matching: fosite's defaults let "users.*" grant
		// "users.delete" and accept sub-paths of an audience URL.
		ScopeStrategy:            fosite.ExactScopeStrategy,
		AudienceMatchingStrategy: fosite.ExactAudienceMatchingStrategy,
		// Users get a refresh token whether or not they ask for offline_access.
		RefreshTokenScopes:         []string{},
		AccessTokenIssuer:          cfg.Issuer,
		IDTokenIssuer:              cfg.Issuer,
		TokenURL:                   cfg.Issuer + "/oauth2/token",
		GlobalSecret:               cfg.TokenSecret,
		TokenEntropy:               32,
		ClientSecretsHasher:        secrets,
		SendDebugMessagesToClients: false,
		// The authorization-code flow: short-lived codes, PKCE S256 for
		// public clients (and for any client that sends a challenge), no
		// plain challenges, https redirect URIs except on loopback.
		AuthorizeCodeLifespan:          authorizeCodeTTL,
		EnforcePKCEForPublicClients:    true,
		EnablePKCEPlainChallengeMethod: false,
		RedirectSecureChecker:          fosite.IsRedirectURISecureStrict,
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	cl := &clients{store: store, defaultAudience: cfg.DefaultAudience, ttl: cfg.ClientCacheTTL, now: now, cache: map[string]cachedClient{}}
	fs := &fositeStore{clients: cl, store: store, rbac: svc, now: now, reuseInterval: cfg.RefreshReuseInterval}
	at := &accessTokens{issuer: cfg.Issuer, keys: keys, now: now, status: cfg.Status}
	// Refresh tokens are opaque: 32 random bytes and their HMAC. Only the
	// HMAC (the "signature") is stored.
	enigma := &hmac.HMACStrategy{Config: fcfg}
	opaque := fositeoauth2.NewHMACSHAStrategyUnPrefixed(enigma, fcfg)
	rt := verifiedRefresh{opaque, enigma}
	codes := verifiedCode{opaque, enigma}
	helper := &fositeoauth2.HandleHelper{AccessTokenStrategy: at, AccessTokenStorage: fs, Config: fcfg}
	code := &fositeoauth2.AuthorizeExplicitGrantHandler{
		AccessTokenStrategy:    at,
		RefreshTokenStrategy:   rt,
		AuthorizeCodeStrategy:  codes,
		CoreStorage:            fs,
		TokenRevocationStorage: fs,
		Config:                 fcfg,
	}
	pkceHandler := &pkce.Handler{AuthorizeCodeStrategy: codes, Storage: fs, Config: fcfg}
	fcfg.AuthorizeEndpointHandlers = fosite.AuthorizeEndpointHandlers{code, pkceHandler}
	fcfg.TokenEndpointHandlers = fosite.TokenEndpointHandlers{
		grantChecked{&fositeoauth2.ClientCredentialsGrantHandler{HandleHelper: helper, Config: fcfg}, "client_credentials"},
		//lint:ignore SA1019 the password grant is part of Gaia's design (DESIGN.md, "Flows" 3), a documented deviation from RFC 9700 §2.4.
		&fositeoauth2.ResourceOwnerPasswordCredentialsGrantHandler{
			HandleHelper: helper,
			ResourceOwnerPasswordCredentialsGrantStorage: fs,
			RefreshTokenStrategy:                         rt,
			Config:                                       fcfg,
		},
		scopedRefresh{&fositeoauth2.RefreshTokenGrantHandler{AccessTokenStrategy: at, RefreshTokenStrategy: rt, TokenRevocationStorage: fs, Config: fcfg}},
		code,
		pkceHandler,
	}
	pages, err := login.New()
	if err != nil {
		return nil, err
	}
	s := &Server{clients: cl, cfg: cfg, store: store, rbac: svc, fstore: fs, access: at, refresh: rt, audit: rec, guard: cfg.Guard, log: log, now: now,
		pages: pages, cookies: newCookies(cfg.Issuer, cfg.TokenSecret)}
	// Composed by hand rather than with compose.Compose, whose factories
	// type-assert the store at run time and panic on a missing method.
	s.provider = &fosite.Fosite{Store: fs, Config: fcfg}
	return s, nil
}

// grantChecked refuses a client that was not given the grant before the
// wrapped handler runs. fosite's client credentials handler (v0.49) never
// checks the client's grant types, and answers a public client with
// invalid_grant where RFC 6749 §5.2 says unauthorized_client.
type grantChecked struct {
	fosite.TokenEndpointHandler
	grant string
}

func (g grantChecked) HandleTokenEndpointRequest(ctx context.Context, r fosite.AccessRequester) error {
	if g.CanHandleTokenEndpointRequest(ctx, r) && !r.GetClient().GetGrantTypes().Has(g.grant) {
		return fosite.ErrUnauthorizedClient
	}
	return g.TokenEndpointHandler.HandleTokenEndpointRequest(ctx, r)
}
