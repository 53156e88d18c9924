// Package statuslist serves Gaia's token status lists
// (draft-ietf-oauth-status-list): every access token carries
// "status": {"status_list": {"idx": N, "uri": "<issuer>/statuslists/<id>"}},
// and GET on the URI returns a signed application/statuslist+jwt whose bit
// N is 1 once the token is no longer live, so that services learn of a
// revocation within seconds without calling the IAM per request.
//
// One entry (bit) stands for a user's login (token family) or a service
// client, so one bit covers every token of a login. The bit is not stored:
// the list is built from the state the liveness rule (oauth.Server.live)
// reads — the login revoked or past its maximum age, the user or client
// disabled or gone — so every path that ends a login (logout, password
// reset, disable, delete, refresh-token reuse, RFC 7009 revocation of the
// refresh token) sets it without writing here.
package statuslist

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gaia-platform/iam/claims"
	"github.com/gaia-platform/iam/oauth/keys"
	"github.com/gaia-platform/iam/storage"
)

// Path is where the lists are served: Path + "/" + the list's id.
const Path = "/statuslists"

// MediaType is the content type of a status list token (draft §5.1, §14).
const MediaType = "application/statuslist+jwt"

// Defaults of Config. With them a revocation shows in the list served
// within DefaultCacheFor, and a service honouring ttl fetches it within
// DefaultTTL more: the bound from logout to refusal is about 7 s, stated
// as 10 s.
const (
	DefaultListSize = 1 << 16
	DefaultTTL      = 5 * time.Second
	DefaultCacheFor = 2 * time.Second
	DefaultLifetime = 10 * time.Minute
)

// allocationGrace is how long an entry allocated for a login whose family
// is not stored yet reads as valid: the family is written right after the
// first access token is signed. A family still missing later was never
// written (the login failed) or was purged: not live.
const allocationGrace = time.Minute

// expiryStep rounds the expiry kept for an entry up, so that issuing a
// token again within it (a service's client-credentials tokens) reads the
// entry without writing it.
const expiryStep = time.Minute

// Config configures the lists.
type Config struct {
	Issuer string // required
	// ListSize is the number of entries per list; zero is DefaultListSize.
	ListSize int
	// TTL is the ttl claim: how long a service may use a list before
	// fetching it again. Zero is DefaultTTL.
	TTL time.Duration
	// CacheFor is how long a signed list is served before it is built
	// again; iat is a multiple of it, so replicas on one database serve
	// byte-identical lists (RS256 signatures are deterministic). Zero is
	// DefaultCacheFor.
	CacheFor time.Duration
	// Lifetime is exp - iat of a list. Zero is DefaultLifetime.
	Lifetime time.Duration
	// MaxSessionAge ends a login's tokens, as the liveness rule does. Required.
	MaxSessionAge time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// store is what the lists need of storage.
type store interface {
	storage.StatusLists
}

// signingKey gives the key lists are signed with: the one access tokens
// are signed with, published in the JWKS.
type signingKey interface {
	Current() keys.Key
}

// Lists allocates status-list entries and serves the lists. It is safe for
// concurrent use.
type Lists struct {
	cfg   Config
	store store
	keys  signingKey
	log   *slog.Logger
	now   func() time.Time

	mu    sync.Mutex      // guards cache
	cache map[int]*cached // by list id; only lists that exist stay
}

// cached is a signed list, or one being built.
type cached struct {
	mu     sync.Mutex // held while building; guards the fields
	bucket time.Time  // iat
	kid    string
	jwt    []byte // nil: no such list
}

// New returns the lists of cfg.Issuer over store, signed with keys.
func New(cfg Config, st store, k signingKey, log *slog.Logger) (*Lists, error) {
	switch {
	case cfg.Issuer == "":
		return nil, errors.New("statuslist: issuer is required")
	case st == nil || k == nil || log == nil:
		return nil, errors.New("statuslist: store, keys and log are required")
	case cfg.MaxSessionAge <= 0:
		return nil, errors.New("statuslist: max session age is required")
	case cfg.ListSize < 0 || cfg.TTL < 0 || cfg.CacheFor < 0 || cfg.Lifetime < 0:
		return nil, errors.New("statuslist: negative setting")
	}
	if cfg.ListSize == 0 {
		cfg.ListSize = DefaultListSize
	}
	if cfg.ListSize < 8 || cfg.ListSize > 1<<24 {
		return nil, fmt.Errorf("statuslist: list size %d, want 8 to %d", cfg.ListSize, 1<<24)
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.CacheFor == 0 {
		cfg.CacheFor = DefaultCacheFor
	}
	if cfg.Lifetime == 0 {
		cfg.Lifetime = DefaultLifetime
	}
	if cfg.TTL < time.Second || cfg.CacheFor < time.Second || cfg.Lifetime < cfg.TTL+cfg.CacheFor {
		return nil, errors.New("statuslist: ttl and cache time of at least 1s, lifetime longer than both")
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	cfg.Issuer = strings.TrimSuffix(cfg.Issuer, "/")
	return &Lists{cfg: cfg, store: st, keys: k, log: log, now: now, cache: map[int]*cached{}}, nil
}

// URI is the address of list id.
func (l *Lists) URI(id int) string { return l.cfg.Issuer + Path + "/" + strconv.Itoa(id) }

// Assign returns the status claim of an access token expiring at exp,
// issued for owner (a user's login, or a service client), allocating the
// owner's entry on its first token.
//
// A service's token is issued with no other write: when its entry cannot
// be written (the database refuses writes) it gets no status claim (nil,
// nil), as before status lists, rather than no token. It still expires,
// and the IAM's liveness rule still applies to it.
func (l *Lists) Assign(ctx context.Context, owner storage.StatusOwner, exp time.Time) (*claims.Status, error) {
	st, err := l.assign(ctx, owner, exp)
	if err != nil && owner.ClientID != "" && !errors.Is(err, storage.ErrInvalid) {
		l.log.LogAttrs(ctx, slog.LevelWarn, "service token issued without a status claim: its entry could not be written",
			slog.String("client_id", owner.ClientID), slog.Any("error", err))
		return nil, nil
	}
	return st, err
}

func (l *Lists) assign(ctx context.Context, owner storage.StatusOwner, exp time.Time) (*claims.Status, error) {
	now := l.now()
	// An entry is taken over only once every token carrying it has expired
	// and any list a service may still hold from then has too.
	reuseBefore := now.Add(-claims.DefaultLeeway - l.cfg.Lifetime)
	keep := exp.Add(expiryStep - 1).Truncate(expiryStep)
	e, err := l.store.AssignStatusEntry(ctx, owner, keep, reuseBefore, l.cfg.ListSize)
	if err != nil {
		return nil, fmt.Errorf("status list entry: %w", err)
	}
	return &claims.Status{StatusList: &claims.StatusListRef{Index: e.Index, URI: l.URI(e.List)}}, nil
}

// revoked reports whether the entry's bit is set at at: whether a token
// carrying it is no longer live by the liveness rule's stored state.
func (l *Lists) revoked(st storage.StatusState, at time.Time) bool {
	if st.ExpiresAt.Add(claims.DefaultLeeway).Before(at) {
		return false // no token carrying it verifies any more
	}
	if st.ClientID != "" {
		return !st.ClientActive
	}
	f := st.Family
	if f == nil {
		return at.Sub(st.AllocatedAt) > allocationGrace
	}
	return !f.RevokedAt.IsZero() || at.After(f.StartedAt.Add(l.cfg.MaxSessionAge)) || !st.UserActive || !st.ClientActive
}

// payload is a status list token's claims (draft §5.1), in a fixed order.
type payload struct {
	Subject    string     `json:"sub"`
	IssuedAt   int64      `json:"iat"`
	Expiry     int64      `json:"exp"`
	TTL        int64      `json:"ttl"`
	StatusList statusList `json:"status_list"`
}

type statusList struct {
	Bits int    `json:"bits"`
	List string `json:"lst"`
}

// Build returns the signed list id as of at, or nil when there is no
// such list. Its content is a function of the database and of at's
// bucket (at truncated to CacheFor), so every replica builds the same.
func (l *Lists) Build(ctx context.Context, id int, at time.Time) ([]byte, error) {
	bucket := at.Truncate(l.cfg.CacheFor)
	states, err := l.store.StatusListStates(ctx, id)
	if err != nil {
		return nil, err
	}
	if len(states) == 0 {
		return nil, nil
	}
	// draft §4.1: index i is bit i%8 of byte i/8, least significant first.
	bits := make([]byte, states[len(states)-1].Index/8+1)
	for _, st := range states {
		if l.revoked(st, bucket) {
			bits[st.Index/8] |= 1 << (st.Index % 8)
		}
	}
	var z bytes.Buffer
	w, err := zlib.NewWriterLevel(&z, zlib.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(bits); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	body, err := json.Marshal(payload{
		Subject:    l.URI(id),
		IssuedAt:   bucket.Unix(),
		Expiry:     bucket.Add(l.cfg.Lifetime).Unix(),
		TTL:        int64(l.cfg.TTL / time.Second),
		StatusList: statusList{Bits: 1, List: base64.RawURLEncoding.EncodeToString(z.Bytes())},
	})
	if err != nil {
		return nil, err
	}
	k := l.keys.Current()
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: k.Private, KeyID: k.ID}},
		(&jose.SignerOptions{}).WithType("statuslist+jwt"),
	)
	if err != nil {
		return nil, fmt.Errorf("status list signer: %w", err)
	}
	jws, err := signer.Sign(body)
	if err != nil {
		return nil, fmt.Errorf("sign status list: %w", err)
	}
	s, err := jws.CompactSerialize()
	return []byte(s), err
}

// signed returns list id, built at most once per bucket and key.
func (l *Lists) signed(ctx context.Context, id int) ([]byte, error) {
	l.mu.Lock()
	c := l.cache[id]
	if c == nil {
		c = &cached{}
		l.cache[id] = c
	}
	l.mu.Unlock()
	now := l.now()
	bucket, kid := now.Truncate(l.cfg.CacheFor), l.keys.Current().ID
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bucket.Equal(bucket) && c.kid == kid {
		return c.jwt, nil
	}
	jwt, err := l.Build(ctx, id, now)
	if err != nil {
		return nil, err
	}
	if jwt == nil {
		// Nothing is kept for a list that does not exist: requests for
		// made-up ids must not grow the cache.
		l.mu.Lock()
		if l.cache[id] == c {
			delete(l.cache, id)
		}
		l.mu.Unlock()
		return nil, nil
	}
	c.bucket, c.kid, c.jwt = bucket, kid, jwt
	return jwt, nil
}

// ServeHTTP answers GET and HEAD on Path/{id} with the signed list
// (draft §8.1): 404 for a list that does not exist, 406 for a client that
// accepts no status list token, 503 when the database does not answer.
func (l *Lists) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	id, ok := listID(strings.TrimPrefix(r.URL.Path, Path+"/"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	if !accepts(r.Header.Values("Accept")) {
		http.Error(w, "status lists are served as "+MediaType, http.StatusNotAcceptable)
		return
	}
	jwt, err := l.signed(r.Context(), id)
	if err != nil {
		l.log.LogAttrs(r.Context(), slog.LevelError, "build status list", slog.Int("list", id), slog.Any("error", err))
		w.Header().Set("Retry-After", "1")
		http.Error(w, "status list unavailable", http.StatusServiceUnavailable)
		return
	}
	if jwt == nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", MediaType)
	// The list's own cache time is ttl; a shared cache in front must not
	// add to the bound from revocation to refusal.
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Length", strconv.Itoa(len(jwt)))
	if r.Method == http.MethodGet {
		_, _ = w.Write(jwt)
	}
}

// listID reads a list id as URI writes it: decimal, no sign, no leading
// zero, within bounds.
func listID(s string) (int, bool) {
	if s == "" || len(s) > 7 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || strconv.Itoa(n) != s {
		return 0, false
	}
	return n, true
}

// accepts reports whether an Accept header admits a status list token:
// none, */*, application/*, or the media type itself.
func accepts(values []string) bool {
	if len(values) == 0 {
		return true
	}
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			mt, _, _ := strings.Cut(part, ";")
			switch strings.ToLower(strings.TrimSpace(mt)) {
			case "*/*", "application/*", MediaType:
				return true
			}
		}
	}
	return false
}
