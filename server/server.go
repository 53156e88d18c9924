// Package server wires Gaia's parts into one HTTP server: the RBAC domain
// and its seed, the signing keys, the OAuth endpoints and discovery over a
// store. The gaia-iam command and the end-to-end tests build it the same way.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/gaia-platform/iam/audit"
	"github.com/gaia-platform/iam/claims"
	"github.com/gaia-platform/iam/clientip"
	"github.com/gaia-platform/iam/discovery"
	"github.com/gaia-platform/iam/oauth"
	"github.com/gaia-platform/iam/oauth/guard"
	"github.com/gaia-platform/iam/oauth/keys"
	"github.com/gaia-platform/iam/oauth/statuslist"
	"github.com/gaia-platform/iam/password"
	"github.com/gaia-platform/iam/rbac"
	"github.com/gaia-platform/iam/rbac/admin"
	"github.com/gaia-platform/iam/rbac/seed"
	"github.com/gaia-platform/iam/storage"
)

// KeyRetentionSkew is how long past the longest token lifetime a retired
// signing key stays published: clock skew between us and resource servers.
const KeyRetentionSkew = 5 * time.Minute

// MinKeyPublishDelay is the least publish delay of a rotation for servers
// that reload their keys every refresh: every replica has loaded the next
// key (refresh), and every resource server's cached JWKS has expired
// (discovery.JWKSMaxAge), before the key signs a token.
func MinKeyPublishDelay(refresh time.Duration) time.Duration {
	return refresh + discovery.JWKSMaxAge
}

// KeyRing returns the ring of a server with cfg over store: what serve
// and the keys command use, so that both keep the same retention.
func KeyRing(ctx context.Context, cfg Config, store storage.Store, log *slog.Logger) (*keys.Ring, error) {
	return keys.New(ctx, keys.Config{
		Retention:       cfg.AccessTokenTTL + cfg.KeyRefresh + KeyRetentionSkew,
		RefreshInterval: cfg.KeyRefresh,
		PublishDelay:    cfg.KeyPublishDelay,
	}, store, cfg.KEK, log)
}

// Config is what a server needs besides its store.
type Config struct {
	Issuer          string
	AccessTokenTTL  time.Duration
	RefreshTokenTTL time.Duration
	MaxSessionAge   time.Duration
	DefaultAudience string
	KeyRefresh      time.Duration // how often signing keys are reloaded
	// KeyPublishDelay is how long a rotated key is published before it
	// signs; see MinKeyPublishDelay.
	KeyPublishDelay time.Duration
	ClientCacheTTL  time.Duration // how long a client read from the store is trusted
	// RefreshReuseInterval is how long after a refresh token's rotation
	// presenting it again is refused without ending the login (see
	// oauth.Config); 0 takes every replay for reuse.
	RefreshReuseInterval time.Duration
	// Now is the clock of the OAuth endpoints and of login protection;
	// nil is time.Now. Tests move it past the refresh reuse interval and
	// through lock delays instead of waiting.
	Now func() time.Time
	// KEK is the 32-byte key-encryption key: it seals the signing keys and
	// the data key, which the other server keys are derived from (see
	// keys.DataKey), so that a new KEK (keys.Rewrap) changes none of them.
	KEK []byte
	// Seed is reconciled when the server is made.
	Seed *seed.File
	// Login is login protection's policy; the zero Policy means
	// guard.DefaultPolicy().
	Login guard.Policy
	// SeedCascade lets the seed remove the user role assignments it breaks
	// (seed.ErrBreaksAssignments); without it such a seed is refused.
	SeedCascade bool
	// PasswordHasher hashes user passwords; nil is argon2id with OWASP's
	// parameters, one hash per core at a time.
	PasswordHasher rbac.PasswordHasher
	// Hashing bounds password hashing; zero fields take the password
	// package's defaults.
	Hashing password.Config
	// TrustedProxies are the CIDRs (or addresses) of the reverse proxies
	// whose ForwardedHeader is believed; none: the peer is the client.
	TrustedProxies []string
	// ForwardedHeader is clientip.XForwardedFor (the default) or
	// clientip.Forwarded.
	ForwardedHeader string
	// NoMetrics turns the Prometheus metrics off; MetricsElsewhere keeps
	// them off the main handler, for MetricsHandler on a listener of its
	// own.
	NoMetrics        bool
	MetricsElsewhere bool
	// NoRequestLog turns the per-request log line off.
	NoRequestLog bool
	// StatusListTTL is the ttl of the token status lists (how long a
	// service uses one before fetching it again) and StatusListCache how
	// long a signed list is served; zero takes statuslist's defaults.
	StatusListTTL   time.Duration
	StatusListCache time.Duration
	// AuditQueueSize bounds the login and token events waiting for the
	// database; 0 is audit.DefaultQueueSize. Tests make it small to fill.
	AuditQueueSize int
	// Tracer, if set, traces every request (see NewTracerProvider); nil
	// is off and costs nothing.
	Tracer trace.TracerProvider
	// CORSAllowedOrigins are the exact origins of browser apps that may
	// call the token, revocation, userinfo, discovery and JWKS endpoints
	// directly (see corsPaths); none: no CORS.
	CORSAllowedOrigins []string
	// AccessTokenMaxBytes is the budget of an access token; 0 is
	// oauth.DefaultAccessTokenMaxBytes. The seed's services say which
	// permissions a token for one service carries.
	AccessTokenMaxBytes int
}

// Server is a ready-to-serve Gaia IAM.
type Server struct {
	handler http.Handler
	metrics *metrics // nil when off
	ring    *keys.Ring
	rbac    *rbac.Service
	seeded  seed.Result
	store   storage.Store
	audit   *audit.Recorder
	guard   *guard.Guard
	hasher  *password.Hasher
	log     *slog.Logger
}

// PurgeInterval is how often expired token state (refresh tokens, revoked
// access-token IDs, empty families) is deleted.
const PurgeInterval = 10 * time.Minute

// Domain is the RBAC service, the client manager, the seeder and the client
// secret hasher over one store: what the seed, user and client commands
// need without the HTTP server.
type Domain struct {
	RBAC          *rbac.Service
	Clients       *rbac.Clients
	Seeder        *seed.Seeder
	ClientSecrets *oauth.SecretHasher
	Passwords     *password.Hasher
	// Guard is login protection with the default policy: enough to unlock
	// accounts and change the block list.
	Guard *guard.Guard
}

// NewDomain builds the domain over store, hashing passwords with the
// default bounds. The data key (see DataKey) keys the client secrets.
func NewDomain(store storage.Store, dk keys.DataKey, log *slog.Logger) (*Domain, error) {
	return newDomain(store, dk, password.Config{}, nil, log)
}

// DataKey returns the data key of store, opened with kek, that NewDomain
// and NewGuard take: see keys.OpenDataKey, whose write says whether a data
// key made for a store without one is stored (false for a command that
// writes nothing).
func DataKey(ctx context.Context, store storage.Store, kek []byte, write bool) (keys.DataKey, error) {
	return keys.OpenDataKey(ctx, store, kek, write)
}

// The purposes of the keys derived from the data key. The "v1" names the
// derivation, not the data key's version: changing one changes the key.
const (
	purposeClientSecrets   = "gaia-iam client secrets v1"
	purposeLoginProtection = "gaia-iam login protection v1"
	purposeRefreshTokens   = "gaia-iam refresh tokens v1"
)

// newDomain is NewDomain with the hashing bounds and, for tests, a hasher
// that wraps or replaces the bounded one (nil: the bounded one).
func newDomain(store storage.Store, dk keys.DataKey, hashing password.Config, override rbac.PasswordHasher, log *slog.Logger) (*Domain, error) {
	clientKey, err := dk.Derive(purposeClientSecrets)
	if err != nil {
		return nil, err
	}
	hasher, err := password.New(hashing)
	if err != nil {
		return nil, fmt.Errorf("password hashing: %w", err)
	}
	var rh rbac.PasswordHasher = hasher
	if override != nil {
		rh = override
	}
	svc, err := rbac.New(store, rh, log)
	if err != nil {
		return nil, err
	}
	clientSecrets, err := oauth.NewSecretHasher(clientKey)
	if err != nil {
		return nil, err
	}
	seeder, err := seed.New(store, svc, clientSecrets.HashString, log)
	if err != nil {
		return nil, err
	}
	clients, err := rbac.NewClients(store, clientSecrets.HashString, log)
	if err != nil {
		return nil, err
	}
	g, err := NewGuard(store, dk, guard.DefaultPolicy(), nil, log)
	if err != nil {
		return nil, err
	}
	return &Domain{RBAC: svc, Clients: clients, Seeder: seeder, ClientSecrets: clientSecrets, Passwords: hasher, Guard: g}, nil
}

// NewGuard builds login protection over store, its names keyed with a key
// derived from the data key, so that every server sharing it counts alike.
func NewGuard(store storage.Store, dk keys.DataKey, p guard.Policy, now func() time.Time, log *slog.Logger) (*guard.Guard, error) {
	key, err := dk.Derive(purposeLoginProtection)
	if err != nil {
		return nil, err
	}
	if p == (guard.Policy{}) {
		p = guard.DefaultPolicy()
	}
	return guard.New(p, store, key, log, now)
}

// New reconciles the seed, loads (or makes) the signing keys and builds the
// HTTP handler. The store must be migrated.
func New(ctx context.Context, cfg Config, store storage.Store, log *slog.Logger) (*Server, error) {
	if cfg.Seed == nil {
		return nil, errors.New("server: a seed is required")
	}
	header := cfg.ForwardedHeader
	if header == "" {
		header = clientip.XForwardedFor
	}
	proxies, err := clientip.New(cfg.TrustedProxies, header)
	if err != nil {
		return nil, err
	}
	dk, err := DataKey(ctx, store, cfg.KEK, keys.StoreDataKey)
	if err != nil {
		return nil, err
	}
	d, err := newDomain(store, dk, cfg.Hashing, cfg.PasswordHasher, log)
	if err != nil {
		return nil, err
	}
	st := d.Passwords.Stats()
	log.InfoContext(ctx, "password hashing bounded", "concurrency", st.Limit,
		"memory_kib_per_hash", d.Passwords.Params().Memory, "max_wait", d.Passwords.MaxWait().String())
	apply := d.Seeder.Apply
	if cfg.SeedCascade {
		apply = d.Seeder.ApplyCascading
	}
	res, err := apply(ctx, cfg.Seed)
	if err != nil {
		return nil, err
	}
	for _, c := range res.Changes {
		log.InfoContext(ctx, "seed change", "change", c.String())
	}
	log.InfoContext(ctx, "seed reconciled", "changes", len(res.Changes))

	ring, err := KeyRing(ctx, cfg, store, log)
	if err != nil {
		return nil, err
	}
	refreshKey, err := dk.Derive(purposeRefreshTokens)
	if err != nil {
		return nil, err
	}
	g, err := NewGuard(store, dk, cfg.Login, cfg.Now, log)
	if err != nil {
		return nil, err
	}
	var m *metrics
	var appender audit.Appender = store
	opts := audit.Options{QueueSize: cfg.AuditQueueSize}
	if !cfg.NoMetrics {
		m = newMetrics(store, ring)
		appender = countingAppender{next: store, m: m}
		opts.Dropped = func(n int) { m.auditDropped.Add(float64(n)) }
	}
	rec := audit.New(appender, log, opts)
	lists, err := statuslist.New(statuslist.Config{
		Issuer:        cfg.Issuer,
		TTL:           cfg.StatusListTTL,
		CacheFor:      cfg.StatusListCache,
		MaxSessionAge: cfg.MaxSessionAge,
		Now:           cfg.Now,
	}, store, ring, log)
	if err != nil {
		_ = rec.Close(ctx)
		return nil, err
	}
	services, err := rbac.NewServices(cfg.Seed.ServiceMap())
	if err != nil {
		_ = rec.Close(ctx)
		return nil, err
	}
	o, err := oauth.New(oauth.Config{
		Issuer:               cfg.Issuer,
		AccessTokenTTL:       cfg.AccessTokenTTL,
		RefreshTokenTTL:      cfg.RefreshTokenTTL,
		MaxSessionAge:        cfg.MaxSessionAge,
		DefaultAudience:      cfg.DefaultAudience,
		TokenSecret:          refreshKey,
		ClientCacheTTL:       cfg.ClientCacheTTL,
		RefreshReuseInterval: cfg.RefreshReuseInterval,
		Now:                  cfg.Now,
		Guard:                g,
		Status:               lists,
		Services:             services,
		AccessTokenMaxBytes:  cfg.AccessTokenMaxBytes,
	}, store, d.RBAC, ring, d.ClientSecrets, rec, log)
	if err != nil {
		_ = rec.Close(ctx)
		return nil, err
	}
	disco, err := discovery.NewHandler(discovery.New(cfg.Issuer, cfg.Seed.Scopes()), ring.JWKS)
	if err != nil {
		_ = rec.Close(ctx)
		return nil, err
	}
	adminAPI, err := newAdmin(ctx, cfg, store, d, ring, rec, o, g, services, log)
	if err != nil {
		_ = rec.Close(ctx)
		return nil, err
	}
	obs := observer{m: m}
	if cfg.Tracer != nil {
		obs.tracer = cfg.Tracer.Tracer(tracerName)
	}
	if !cfg.NoRequestLog {
		obs.log = log
	}
	h := routes(store, o, disco, adminAPI, obs, !cfg.MetricsElsewhere, log, lists)
	if h, err = withCORS(h, cfg.CORSAllowedOrigins); err != nil {
		_ = rec.Close(ctx)
		return nil, err
	}
	h = proxies.Handler(hygiene(h, log))
	return &Server{handler: h, metrics: m, ring: ring, rbac: d.RBAC, seeded: res, store: store, audit: rec, hasher: d.Passwords, guard: g, log: log}, nil
}

// newAdmin builds the admin API. Its tokens are verified by the same
// claims.Verifier services use, fed the key ring's JWKS in process rather
// than over HTTP; they must be for the default audience. Then the OAuth
// server's liveness rule, the one introspection and userinfo use, decides
// whether the token is still live.
func newAdmin(ctx context.Context, cfg Config, store storage.Store, d *Domain, ring *keys.Ring, rec *audit.Recorder, o *oauth.Server, g *guard.Guard, services *rbac.Services, log *slog.Logger) (http.Handler, error) {
	v, err := claims.NewVerifier(ctx, claims.VerifierConfig{
		Issuer:   cfg.Issuer,
		Audience: cfg.DefaultAudience,
		JWKS:     func(context.Context) ([]byte, error) { return ring.JWKS(), nil },
		// The ring is in memory: a new key (rotated on another replica
		// and loaded by the ring) may be looked up again after a second.
		MinRefetchInterval: time.Second,
		Logger:             log,
	})
	if err != nil {
		return nil, fmt.Errorf("admin token verifier: %w", err)
	}
	api, err := admin.New(admin.Config{
		Verifier:      v,
		Liveness:      o,
		Users:         d.RBAC,
		Clients:       d.Clients,
		Store:         store,
		Audit:         rec,
		ClientChanged: o.ForgetClient,
		Security:      g,
		Log:           log,
		TokenSize:     o,
		Services:      services,
		Audience:      cfg.DefaultAudience,
	})
	if err != nil {
		return nil, err
	}
	return api.Handler(), nil
}

// Handler serves every endpoint.
func (s *Server) Handler() http.Handler { return s.handler }

// MetricsHandler serves the Prometheus metrics, for a listener of their
// own; nil when metrics are off.
func (s *Server) MetricsHandler() http.Handler {
	if s.metrics == nil {
		return nil
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+MetricsPath, s.metrics.handler())
	return mux
}

// Run does the server's background work until ctx ends: reloading the
// signing keys, and purging expired token state every PurgeInterval.
func (s *Server) Run(ctx context.Context) {
	go s.ring.Run(ctx)
	t := time.NewTicker(PurgeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.purge(ctx)
		}
	}
}

// purge deletes token state that expired over a minute ago; replicas may
// purge at once (PostgreSQL skips rows another one holds).
func (s *Server) purge(ctx context.Context) {
	n, err := s.store.PurgeTokens(ctx, time.Now().Add(-time.Minute))
	if err != nil {
		s.log.WarnContext(ctx, "purging expired tokens failed", "error", err)
		return
	}
	if n > 0 {
		s.log.InfoContext(ctx, "expired tokens purged", "rows", n)
	}
	// Expired authorization codes and login sessions (the browser flows).
	if a, err := s.store.PurgeAuthorizations(ctx, time.Now().Add(-time.Minute)); err != nil {
		s.log.WarnContext(ctx, "purging expired authorizations failed", "error", err)
	} else if a > 0 {
		s.log.InfoContext(ctx, "expired authorizations purged", "rows", a)
	}
	if m, err := s.guard.Purge(ctx); err != nil {
		s.log.WarnContext(ctx, "purging idle login protection state failed", "error", err)
	} else if m > 0 {
		s.log.InfoContext(ctx, "idle login protection state purged", "rows", m)
	}
}

// Guard is the server's login protection.
func (s *Server) Guard() *guard.Guard { return s.guard }

// Audit is the server's audit recorder.
func (s *Server) Audit() *audit.Recorder { return s.audit }

// Close writes the audit events still queued and stops the recorder's
// writer; call it once the HTTP server has stopped. Events recorded after
// Close are written one at a time.
func (s *Server) Close(ctx context.Context) error { return s.audit.Close(ctx) }

// Seeded reports what reconciling the seed did, including generated
// passwords to show the operator once.
func (s *Server) Seeded() seed.Result { return s.seeded }

// PasswordStats reports how many password hashes ran at once, at most and
// now, and how many were refused for want of a slot.
func (s *Server) PasswordStats() password.Stats { return s.hasher.Stats() }

// RBAC is the domain service the server uses.
func (s *Server) RBAC() *rbac.Service { return s.rbac }
