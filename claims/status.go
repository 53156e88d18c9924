package claims

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Token status lists (draft-ietf-oauth-status-list): Gaia access tokens
// carry "status": {"status_list": {"idx": N, "uri": …}}, and the list at the
// URI, a JWT signed with the issuer's keys, has bit N set once the token's
// login has ended (logout, password reset, a disabled or deleted user or
// client, refresh-token reuse, revocation). A Verifier with CheckStatus set
// refuses such tokens, from lists it fetches in the background: never per
// request.
const (
	// DefaultStatusMaxStaleness is how long a Verifier keeps using a
	// status list it could not fetch again (the IAM is down) before it
	// fails closed: tokens that name the list are refused.
	DefaultStatusMaxStaleness = 5 * time.Minute
	// MinStatusRefresh and MaxStatusRefresh bound the time between two
	// fetches of a list, whatever its ttl says. A list without a ttl is
	// fetched every DefaultStatusRefresh.
	MinStatusRefresh     = time.Second
	MaxStatusRefresh     = 5 * time.Minute
	DefaultStatusRefresh = 30 * time.Second

	statusPath     = "/statuslists/"
	maxStatusLists = 64      // lists tracked by one Verifier
	maxStatusBytes = 4 << 20 // a list, decompressed
)

// statusLists fetches and holds the status lists a Verifier has seen in
// tokens.
type statusLists struct {
	v        *Verifier
	prefix   string // the URIs accepted: the issuer's lists
	maxStale time.Duration
	failOpen bool

	// lists is the tracked lists by URI, replaced whole when one is added
	// (rarely), read without a lock on every Verify.
	lists atomic.Pointer[map[string]*statusCopy]

	mu      sync.Mutex // guards adding to lists, and starting the loop
	started bool
	wake    chan struct{} // a list was added
	stop    chan struct{} // closed by Close
	done    chan struct{} // closed when the loop returns
	closed  sync.Once
}

// statusCopy is one list: its last good copy, and when to fetch it again.
type statusCopy struct {
	uri   string
	ready chan struct{} // closed once the first fetch ended, good or not
	cur   atomic.Pointer[statusData]
	next  time.Time // when to fetch next; owned by the fetching goroutine
}

// statusData is a verified status list.
type statusData struct {
	bits    int    // per entry: 1, 2, 4 or 8
	lst     []byte // decompressed
	iat     int64
	exp     int64 // 0: none
	ttl     time.Duration
	fetched time.Time // when it was fetched; staleness counts from here
}

func newStatusLists(v *Verifier, maxStale time.Duration, failOpen bool) *statusLists {
	s := &statusLists{
		v: v, prefix: strings.TrimSuffix(v.issuer, "/") + statusPath, maxStale: maxStale, failOpen: failOpen,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	s.lists.Store(&map[string]*statusCopy{})
	return s
}

// check refuses a token whose entry in ref's list is not 0 (VALID). The
// first token naming a list waits for that list's first fetch, once; every
// later check reads the copy in memory.
func (s *statusLists) check(ctx context.Context, ref *StatusListRef) error {
	if ref.Index < 0 {
		return invalid("status index")
	}
	c := (*s.lists.Load())[ref.URI]
	if c == nil {
		var err error
		if c, err = s.add(ctx, ref.URI); err != nil {
			return err
		}
	}
	select {
	case <-c.ready:
	case <-ctx.Done():
		return invalid("status list not fetched")
	}
	d := c.cur.Load()
	now := s.v.now()
	switch {
	case d == nil:
		return s.unknown("status list unavailable")
	case now.Sub(d.fetched) > s.maxStale:
		return s.unknown("status list stale")
	case d.exp != 0 && now.Unix() > d.exp+s.v.leeway: // draft §13.7: never used past exp
		return s.unknown("status list expired")
	}
	bit := ref.Index * d.bits
	if bit/8 >= len(d.lst) {
		return invalid("status index out of range")
	}
	if v := d.lst[bit/8] >> (bit % 8) & (1<<d.bits - 1); v != 0 {
		return invalid("token revoked (status list)")
	}
	return nil
}

// unknown is the answer when the list cannot be read: refuse (the
// default), or accept when configured to fail open.
func (s *statusLists) unknown(reason string) error {
	if s.failOpen {
		return nil
	}
	return invalid(reason)
}

// add starts tracking the list at uri, and fetches it now in the caller's
// goroutine; concurrent callers for the same list wait for that fetch.
func (s *statusLists) add(ctx context.Context, uri string) (*statusCopy, error) {
	// The token is signed by the issuer, but the list must be its too: a
	// service never fetches from an address a token makes up.
	rest, ok := strings.CutPrefix(uri, s.prefix)
	if !ok || rest == "" || strings.ContainsAny(rest, "/?#%") || len(uri) > 1024 {
		return nil, invalid("status uri")
	}
	s.mu.Lock()
	lists := *s.lists.Load()
	if c := lists[uri]; c != nil {
		s.mu.Unlock()
		return c, nil
	}
	if len(lists) >= maxStatusLists {
		s.mu.Unlock()
		return nil, invalid("too many status lists")
	}
	select {
	case <-s.stop:
		s.mu.Unlock()
		return nil, invalid("verifier closed")
	default:
	}
	c := &statusCopy{uri: uri, ready: make(chan struct{})}
	grown := make(map[string]*statusCopy, len(lists)+1)
	for k, v := range lists {
		grown[k] = v
	}
	grown[uri] = c
	s.lists.Store(&grown)
	if !s.started {
		s.started = true
		go s.loop()
	}
	s.mu.Unlock()

	// Not the request's cancellation: others wait for this fetch. The
	// HTTP client's timeout bounds it.
	s.fetch(context.WithoutCancel(ctx), c)
	close(c.ready)
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return c, nil
}

// loop fetches every tracked list when it is due, until Close.
func (s *statusLists) loop() {
	defer close(s.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := s.v.now()
		next := now.Add(MaxStatusRefresh)
		for _, c := range *s.lists.Load() {
			select {
			case <-c.ready:
			default:
				continue // its first fetch is under way
			}
			if !s.v.now().Before(c.next) {
				s.fetch(context.Background(), c)
			}
			if c.next.Before(next) {
				next = c.next
			}
		}
		timer.Reset(next.Sub(now))
		select {
		case <-s.stop:
			return
		case <-s.wake:
		case <-timer.C:
		}
	}
}

// fetch fetches c's list and keeps it if it verifies; either way it sets
// when to fetch next.
func (s *statusLists) fetch(ctx context.Context, c *statusCopy) {
	now := s.v.now()
	d, err := s.get(ctx, c.uri, now)
	if err != nil {
		s.v.log.LogAttrs(ctx, slog.LevelWarn, "status list fetch failed; keeping the last copy",
			slog.String("uri", c.uri), slog.Any("error", err))
		retry := DefaultStatusRefresh
		if old := c.cur.Load(); old != nil {
			retry = old.ttl
		}
		c.next = now.Add(min(retry, 5*time.Second))
		return
	}
	if old := c.cur.Load(); old == nil || d.iat >= old.iat {
		c.cur.Store(d)
	}
	c.next = now.Add(d.ttl)
}

// statusPayload is a status list token's claims (draft §5.1).
type statusPayload struct {
	Subject    string `json:"sub"`
	IssuedAt   int64  `json:"iat"`
	Expiry     int64  `json:"exp"`
	TTL        *int64 `json:"ttl"`
	StatusList *struct {
		Bits int    `json:"bits"`
		List string `json:"lst"`
	} `json:"status_list"`
}

// get fetches and verifies the list at uri (draft §8.3): a JWS signed
// RS256 by one of the issuer's keys, typ statuslist+jwt, sub the URI, iat
// not ahead, exp not past, bits 1, 2, 4 or 8, lst base64url of ZLIB.
func (s *statusLists) get(ctx context.Context, uri string, now time.Time) (*statusData, error) {
	body, _, err := s.v.getWithHeader(ctx, uri, "application/statuslist+jwt")
	if err != nil {
		return nil, err
	}
	jws, err := jose.ParseSignedCompact(string(bytes.TrimSpace(body)), rs256)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, errors.New("not a compact JWS")
	}
	h := &jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, "statuslist+jwt") &&
		!strings.EqualFold(typ, "application/statuslist+jwt") {
		return nil, errors.New("typ is not statuslist+jwt")
	}
	if h.KeyID == "" || h.JSONWebKey != nil {
		return nil, errors.New("no kid, or a key in the header")
	}
	for _, name := range []jose.HeaderKey{"jku", "x5u", "x5c", "crit"} {
		if _, ok := h.ExtraHeaders[name]; ok {
			return nil, fmt.Errorf("header %s", name)
		}
	}
	pub, err := s.v.publicKey(ctx, h.KeyID)
	if err != nil {
		return nil, fmt.Errorf("key %q: %w", h.KeyID, err)
	}
	raw, err := jws.Verify(pub)
	if err != nil {
		return nil, errors.New("signature")
	}
	var p statusPayload
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}
	t := now.Unix()
	switch {
	case p.Subject != uri:
		return nil, fmt.Errorf("sub %q is not the list's URI", p.Subject)
	case p.IssuedAt == 0 || p.IssuedAt > t+s.v.leeway:
		return nil, errors.New("iat missing or ahead")
	case p.Expiry != 0 && p.Expiry <= t-s.v.leeway:
		return nil, errors.New("expired")
	case p.StatusList == nil:
		return nil, errors.New("no status_list")
	}
	switch p.StatusList.Bits {
	case 1, 2, 4, 8:
	default:
		return nil, fmt.Errorf("bits %d", p.StatusList.Bits)
	}
	z, err := base64.RawURLEncoding.DecodeString(p.StatusList.List)
	if err != nil {
		return nil, errors.New("lst is not base64url")
	}
	zr, err := zlib.NewReader(bytes.NewReader(z))
	if err != nil {
		return nil, fmt.Errorf("lst: %w", err)
	}
	lst, err := io.ReadAll(io.LimitReader(zr, maxStatusBytes+1))
	if err != nil || len(lst) > maxStatusBytes {
		return nil, errors.New("lst does not inflate within bounds")
	}
	ttl := DefaultStatusRefresh
	if p.TTL != nil {
		ttl = time.Duration(min(max(*p.TTL, 0), int64(MaxStatusRefresh/time.Second))) * time.Second
	}
	ttl = min(max(ttl, MinStatusRefresh), MaxStatusRefresh)
	return &statusData{bits: p.StatusList.Bits, lst: lst, iat: p.IssuedAt, exp: p.Expiry, ttl: ttl, fetched: now}, nil
}

// close stops the background fetches.
func (s *statusLists) close() {
	s.closed.Do(func() {
		s.mu.Lock()
		close(s.stop)
		started := s.started
		s.mu.Unlock()
		if started {
			<-s.done
		}
	})
}
