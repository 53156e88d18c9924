package claims

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// ErrInvalidToken is every reason a token does not verify. Verify wraps it
// with the reason, for logs; never show the reason to the caller.
var ErrInvalidToken = errors.New("invalid access token")

// Limits and defaults of a Verifier.
const (
	// MaxTokenSize bounds the tokens Verify parses, in bytes. A Gaia access
	// token is about 1 KiB.
	MaxTokenSize = 16 << 10
	// DefaultLeeway is the clock skew allowed on exp, nbf and iat.
	DefaultLeeway = 30 * time.Second
	// MaxLeeway is the largest leeway NewVerifier accepts (RFC 9068 §4
	// allows "a few minutes").
	MaxLeeway = 5 * time.Minute
	// DefaultMinRefetchInterval is the default shortest time between two
	// JWKS fetches caused by unknown kids.
	DefaultMinRefetchInterval = 30 * time.Second
	// DefaultKeyRefreshInterval is how long fetched keys are used before
	// the JWKS is fetched again, when its response sets no Cache-Control
	// max-age.
	DefaultKeyRefreshInterval = time.Minute
	// MinKeyRefreshInterval and MaxKeyRefreshInterval bound the time
	// between two scheduled JWKS fetches, whatever max-age the issuer
	// sends. So a key the issuer stops publishing verifies no longer than
	// MaxKeyRefreshInterval after the verifier last fetched the JWKS (plus
	// the fetch itself). A failed fetch is retried after
	// MinKeyRefreshInterval, the old keys kept meanwhile.
	MinKeyRefreshInterval = 10 * time.Second
	MaxKeyRefreshInterval = 5 * time.Minute

	defaultHTTPTimeout = 10 * time.Second
	maxHeaderSize      = 2 << 10 // base64 characters of a JOSE header
	maxDocumentSize    = 1 << 20 // discovery document or JWKS
)

// VerifierConfig configures a Verifier.
type VerifierConfig struct {
	// Issuer is the IAM's issuer URL. Required. It is compared byte for
	// byte with the discovery document's issuer and with every token's iss.
	Issuer string
	// Audience must be one of a token's aud values: the service's own
	// identifier, for which clients ask the IAM (RFC 8707 resource), so a
	// token for another service is refused here (RFC 9068 §4, RFC 8725
	// §3.9). Required unless InsecureAcceptAnyAudience.
	Audience string
	// InsecureAcceptAnyAudience accepts a token whatever its aud, when
	// Audience is empty: any token the IAM issued to anyone, for any
	// service, is then good here. NewVerifier logs a warning saying so.
	InsecureAcceptAnyAudience bool
	// Leeway is the clock skew tolerated on exp, nbf and iat, in whole
	// seconds. Zero means DefaultLeeway; more than MaxLeeway is an error.
	Leeway time.Duration
	// MinRefetchInterval bounds JWKS fetches caused by tokens with an
	// unknown kid: at most one per interval, however many such tokens
	// arrive. Zero means DefaultMinRefetchInterval.
	MinRefetchInterval time.Duration
	// KeyRefreshInterval is how long fetched keys are used before the JWKS
	// is fetched again when the response sets no Cache-Control max-age
	// (and always for JWKS below). Zero means DefaultKeyRefreshInterval;
	// it is held within MinKeyRefreshInterval and MaxKeyRefreshInterval.
	KeyRefreshInterval time.Duration
	// HTTPClient fetches discovery and the JWKS. Nil means a client with a
	// 10s timeout.
	HTTPClient *http.Client
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// Logger receives JWKS refetch failures. Nil discards them.
	Logger *slog.Logger
	// JWKS, when set, supplies the issuer's JWK Set instead of discovery
	// and HTTP: for the IAM verifying its own tokens in process. The keys
	// it returns pass the same checks as fetched ones, and it is called
	// under the same refetch limit.
	JWKS func(ctx context.Context) ([]byte, error)

	// CheckStatus makes Verify refuse a token whose entry in its token
	// status list (the token's "status" claim) is set: its login was
	// ended. Lists are fetched in the background every ttl the IAM gives
	// (5 s by default), never per request; the first token naming a list
	// waits for its first fetch. Close stops the fetches. A token without
	// a status claim is checked as without CheckStatus.
	CheckStatus bool
	// StatusMaxStaleness is how long a status list that cannot be fetched
	// again is still used; after it, tokens naming it are refused (fail
	// closed). Zero means DefaultStatusMaxStaleness.
	StatusMaxStaleness time.Duration
	// InsecureStatusFailOpen accepts tokens whose status list is
	// unavailable or staler than StatusMaxStaleness, instead of refusing
	// them: a revoked token then works while the IAM is unreachable.
	InsecureStatusFailOpen bool
}

// Verifier checks Gaia access tokens locally, against the issuer's signing
// keys fetched from its JWKS and cached. It is safe for concurrent use.
//
// The cached keys are fetched again when due: after the JWKS response's
// Cache-Control max-age, held within MinKeyRefreshInterval and
// MaxKeyRefreshInterval, so a key the issuer stops publishing stops
// verifying within that time. A token whose kid is not cached makes the
// Verifier fetch the JWKS again, at most once per MinRefetchInterval;
// concurrent misses share that fetch. A failed fetch keeps the cached keys,
// so tokens keep verifying while the IAM is down. The Verifier never uses the jku, jwk, x5u or x5c headers of
// a token (RFC 8725 §3.10).
type Verifier struct {
	issuer     string
	audience   string
	leeway     int64 // seconds
	minRefetch time.Duration
	keyRefresh time.Duration // when the JWKS response gives no max-age
	client     *http.Client
	now        func() time.Time
	log        *slog.Logger
	jwksURL    string
	jwks       func(ctx context.Context) ([]byte, error) // nil: fetch jwksURL

	// keys is the cached key set, replaced whole by a refetch, never
	// modified; never nil after NewVerifier. An atomic pointer rather than
	// a map under an RWMutex: readers on every core share no written
	// cache line.
	keys atomic.Pointer[keySet]

	status *statusLists // nil: status lists not checked

	fetchMu   sync.Mutex // held during a refetch: concurrent misses wait for it and share its result
	lastFetch time.Time  // when the last refetch for an unknown kid started, zero before the first; guarded by fetchMu
}

// NewVerifier returns a verifier for cfg.Issuer. It fetches the issuer's
// discovery document and its JWKS now, and fails if it cannot or if the
// JWKS holds no usable key (RSA, at least 2048 bits, RS256, for signing).
func NewVerifier(ctx context.Context, cfg VerifierConfig) (*Verifier, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("claims: verifier: issuer required")
	}
	if cfg.Audience == "" && !cfg.InsecureAcceptAnyAudience {
		return nil, errors.New("claims: verifier: audience required (the service's own identifier; InsecureAcceptAnyAudience to accept tokens for any service)")
	}
	switch {
	case cfg.Leeway < 0 || cfg.Leeway > MaxLeeway:
		return nil, fmt.Errorf("claims: verifier: leeway %v, want 0 to %v", cfg.Leeway, MaxLeeway)
	case cfg.Leeway == 0:
		cfg.Leeway = DefaultLeeway
	}
	switch {
	case cfg.MinRefetchInterval < 0:
		return nil, fmt.Errorf("claims: verifier: negative refetch interval %v", cfg.MinRefetchInterval)
	case cfg.MinRefetchInterval == 0:
		cfg.MinRefetchInterval = DefaultMinRefetchInterval
	}
	if cfg.KeyRefreshInterval < 0 {
		return nil, fmt.Errorf("claims: verifier: negative key refresh interval %v", cfg.KeyRefreshInterval)
	}
	if cfg.KeyRefreshInterval == 0 {
		cfg.KeyRefreshInterval = DefaultKeyRefreshInterval
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: defaultHTTPTimeout}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case cfg.StatusMaxStaleness < 0:
		return nil, fmt.Errorf("claims: verifier: negative status staleness %v", cfg.StatusMaxStaleness)
	case cfg.StatusMaxStaleness == 0:
		cfg.StatusMaxStaleness = DefaultStatusMaxStaleness
	}
	if cfg.Audience == "" {
		cfg.Logger.Warn("INSECURE: this verifier accepts tokens for any audience: a token the IAM issued for another service is accepted here; set an audience", "issuer", cfg.Issuer)
	}
	v := &Verifier{
		issuer:     cfg.Issuer,
		audience:   cfg.Audience,
		leeway:     int64(cfg.Leeway / time.Second),
		minRefetch: cfg.MinRefetchInterval,
		keyRefresh: cfg.KeyRefreshInterval,
		client:     cfg.HTTPClient,
		now:        cfg.Now,
		log:        cfg.Logger,
		jwks:       cfg.JWKS,
	}
	if v.jwks == nil {
		jwksURL, err := v.discover(ctx)
		if err != nil {
			return nil, err
		}
		v.jwksURL = jwksURL
	} else {
		v.jwksURL = "(in process)"
	}
	keys, err := v.fetchKeys(ctx, v.now())
	if err != nil {
		return nil, err
	}
	v.keys.Store(keys)
	if cfg.CheckStatus {
		if cfg.InsecureStatusFailOpen {
			v.log.Warn("claims: status lists fail open: revoked tokens are accepted while the IAM is unreachable")
		}
		v.status = newStatusLists(v, cfg.StatusMaxStaleness, cfg.InsecureStatusFailOpen)
	}
	return v, nil
}

// Close stops the background fetches of status lists (CheckStatus). A
// closed Verifier still verifies, from the lists it holds, until they are
// stale.
func (v *Verifier) Close() error {
	if v.status != nil {
		v.status.close()
	}
	return nil
}

// payload is an access token's claims: Access, and nbf, which Gaia does not
// issue but a verifier honours (RFC 9068 §4).
type payload struct {
	Access
	NotBefore *int64 `json:"nbf"`
}

// rs256 is the only algorithm accepted (RFC 8725 §3.1).
var rs256 = []jose.SignatureAlgorithm{jose.RS256}

// invalid wraps ErrInvalidToken with a fixed reason, never with anything
// taken from the token.
func invalid(reason string) error { return fmt.Errorf("%w: %s", ErrInvalidToken, reason) }

// Verify checks token and returns its claims. It checks, per RFC 9068 §4
// and RFC 8725: the size; the header (alg RS256, typ at+jwt or
// application/at+jwt, a kid, no jku/jwk/x5u/x5c/crit/b64); the RS256
// signature with the issuer's key of that kid; iss exactly; aud present and
// holding the configured audience; exp present and in the future, nbf if
// present, and iat not in the future, each with the leeway; sub, client_id,
// jti present and type user or service. Every error wraps ErrInvalidToken.
func (v *Verifier) Verify(ctx context.Context, token string) (*Access, error) {
	if len(token) == 0 || len(token) > MaxTokenSize {
		return nil, invalid("size")
	}
	if i := strings.IndexByte(token, '.'); i < 0 || i > maxHeaderSize {
		return nil, invalid("malformed")
	}
	// go-jose refuses any alg but RS256, and unknown crit values.
	jws, err := jose.ParseSignedCompact(token, rs256)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, invalid("malformed")
	}
	h := &jws.Signatures[0].Protected
	if err := checkHeader(h); err != nil {
		return nil, err
	}
	pub, err := v.publicKey(ctx, h.KeyID)
	if err != nil {
		return nil, err
	}
	body, err := jws.Verify(pub)
	if err != nil {
		return nil, invalid("signature")
	}
	var p payload
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, invalid("claims not a Gaia claim set")
	}
	if err := v.check(&p); err != nil {
		return nil, err
	}
	if v.status != nil && p.Status != nil && p.Status.StatusList != nil {
		if err := v.status.check(ctx, p.Status.StatusList); err != nil {
			return nil, err
		}
	}
	return &p.Access, nil
}

// noRoots is an empty pool: Header.Certificates with it fails at once for
// a token that carries x5c, without loading the system roots.
var noRoots = x509.NewCertPool()

// checkHeader checks the JOSE header of a token, as go-jose parsed it.
func checkHeader(h *jose.Header) error {
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	switch {
	case h.Algorithm != string(jose.RS256): // go-jose checked; kept for the reader
		return invalid("algorithm")
	// RFC 9068 §4, RFC 8725 §3.11: only access tokens, not ID tokens.
	case !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt"):
		return invalid("typ")
	// OIDC Core §10.1: the kid selects the key; Gaia always sends one.
	case h.KeyID == "":
		return invalid("no kid")
	}
	// RFC 8725 §3.10, ASVS 5 9.1.3: keys and key locations named by the
	// token itself are never used; a token carrying them is refused. So are
	// crit and b64, which Gaia tokens never use.
	if h.JSONWebKey != nil {
		return invalid("key in header")
	}
	if _, err := h.Certificates(x509.VerifyOptions{Roots: noRoots}); !errors.Is(err, jose.ErrMissingX5cHeader) {
		return invalid("key in header")
	}
	for _, name := range []jose.HeaderKey{"jku", "x5u", "crit", "b64"} {
		if _, ok := h.ExtraHeaders[name]; ok {
			return invalid("header " + string(name))
		}
	}
	return nil
}

// check checks the claims of a token whose signature verified.
func (v *Verifier) check(p *payload) error {
	// Seconds throughout: exp, nbf and iat are compared with now ± leeway,
	// never added to, so no value a token holds can overflow.
	now := v.now().Unix()
	switch {
	case p.Issuer != v.issuer: // RFC 9068 §4, RFC 8725 §3.8: exact match
		return invalid("issuer")
	case len(p.Audience) == 0:
		return invalid("no audience")
	case v.audience != "" && !slices.Contains(p.Audience, v.audience):
		return invalid("audience")
	case p.Expiry == 0:
		return invalid("no exp")
	case p.Expiry <= now-v.leeway:
		return invalid("expired")
	case p.NotBefore != nil && *p.NotBefore > now+v.leeway:
		return invalid("not yet valid")
	case p.IssuedAt == 0:
		return invalid("no iat")
	case p.IssuedAt > now+v.leeway:
		return invalid("issued in the future")
	case p.Subject == "" || p.ClientID == "" || p.ID == "":
		return invalid("missing claim")
	case p.Type != User && p.Type != Service:
		return invalid("type")
	}
	return nil
}

// readLimited reads an HTTP response body of at most maxDocumentSize bytes.
func readLimited(resp *http.Response) ([]byte, error) {
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %s", resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxDocumentSize {
		return nil, fmt.Errorf("larger than %d bytes", maxDocumentSize)
	}
	return b, nil
}
