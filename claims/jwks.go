package claims

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

const (
	// discoveryPath is where the issuer publishes its metadata (OpenID
	// Connect Discovery 1.0 §4).
	discoveryPath = "/.well-known/openid-configuration"
	// minRSABits is the smallest RSA key accepted (RFC 7518 §3.3).
	minRSABits = 2048
	// maxKeys bounds the keys kept of one JWKS.
	maxKeys = 64
)

// keySet is the issuer's usable signing keys by kid. Never modified once
// stored in Verifier.keys (a failed refresh stores a new keySet sharing
// byKID).
type keySet struct {
	byKID map[string]*rsa.PublicKey
	// refreshAt is when the keys are to be fetched again: the JWKS
	// response's max-age from the fetch, within the bounds, or a retry
	// after a failed refresh. Until a refresh succeeds, these keys are used.
	refreshAt time.Time
}

// publicKey returns the key of kid: from the cache, refreshed first if it is
// due, or after refetching the JWKS for an unknown kid if the last such
// refetch is older than the minimum interval.
func (v *Verifier) publicKey(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	ks := v.keys.Load()
	if !v.now().Before(ks.refreshAt) {
		ks = v.refresh(ctx)
	}
	if k, ok := ks.byKID[kid]; ok {
		return k, nil
	}
	return v.refetch(ctx, kid)
}

// refresh fetches the JWKS because the cached keys are due, so that a key
// the issuer no longer publishes stops verifying within the refresh
// interval. The caller that finds them due fetches; callers arriving during
// that fetch use the cached keys rather than wait. A failed fetch keeps the
// keys, and is retried after MinKeyRefreshInterval.
func (v *Verifier) refresh(ctx context.Context) *keySet {
	if !v.fetchMu.TryLock() {
		return v.keys.Load()
	}
	defer v.fetchMu.Unlock()
	old := v.keys.Load()
	now := v.now()
	if now.Before(old.refreshAt) { // refreshed while we got here
		return old
	}
	keys, err := v.fetchKeys(context.WithoutCancel(ctx), now)
	if err != nil {
		v.log.LogAttrs(ctx, slog.LevelWarn, "jwks refresh failed; keeping cached keys",
			slog.String("jwks_uri", v.jwksURL), slog.Any("error", err))
		keys = &keySet{byKID: old.byKID, refreshAt: now.Add(MinKeyRefreshInterval)}
	}
	v.keys.Store(keys)
	return keys
}

// refetch fetches the JWKS again for a kid not in the cache, at most once
// per minRefetch (OIDC Core §10.1.1; no fetch amplification by forged
// kids). Misses that arrive during a fetch wait for it and use its result.
// A failed fetch keeps the cached keys.
func (v *Verifier) refetch(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	v.fetchMu.Lock()
	defer v.fetchMu.Unlock()
	if k, ok := v.keys.Load().byKID[kid]; ok { // fetched while we waited
		return k, nil
	}
	now := v.now()
	if now.Sub(v.lastFetch) < v.minRefetch {
		return nil, invalid("unknown kid")
	}
	v.lastFetch = now
	// Not the request's cancellation: a client that hangs up must not
	// abort the fetch that every other request is waiting for, and then
	// hold off the next one for an interval. The HTTP client's timeout
	// bounds it.
	keys, err := v.fetchKeys(context.WithoutCancel(ctx), now)
	if err != nil {
		v.log.LogAttrs(ctx, slog.LevelWarn, "jwks refetch failed; keeping cached keys",
			slog.String("jwks_uri", v.jwksURL), slog.Any("error", err))
		return nil, invalid("unknown kid")
	}
	v.keys.Store(keys)
	if k, ok := keys.byKID[kid]; ok {
		return k, nil
	}
	return nil, invalid("unknown kid")
}

// discover reads the issuer's discovery document and returns its jwks_uri.
func (v *Verifier) discover(ctx context.Context) (string, error) {
	u := strings.TrimSuffix(v.issuer, "/") + discoveryPath
	b, err := v.get(ctx, u)
	if err != nil {
		return "", fmt.Errorf("claims: discovery: %w", err)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return "", fmt.Errorf("claims: discovery %s: %w", u, err)
	}
	// OpenID Connect Discovery 1.0 §4.3: the issuer must be exactly the one
	// the document was fetched for.
	if doc.Issuer != v.issuer {
		return "", fmt.Errorf("claims: discovery %s: issuer %q, want %q", u, doc.Issuer, v.issuer)
	}
	j, err := url.Parse(doc.JWKSURI)
	if err != nil || (j.Scheme != "https" && j.Scheme != "http") || j.Host == "" {
		return "", fmt.Errorf("claims: discovery %s: bad jwks_uri %q", u, doc.JWKSURI)
	}
	if strings.HasPrefix(v.issuer, "https:") && j.Scheme != "https" {
		return "", fmt.Errorf("claims: discovery %s: jwks_uri %q is not https", u, doc.JWKSURI)
	}
	return doc.JWKSURI, nil
}

// fetchKeys fetches the JWKS at now and keeps the keys fit to verify Gaia
// tokens: RSA public keys of at least 2048 bits, with a kid, alg RS256 or
// unset, use sig or unset (RFC 7517 §4, RFC 8725 §3.1: one key, one
// algorithm). Other keys are skipped, as are kids that appear twice. A JWKS
// with no usable key is an error. The set is due for refresh after the
// response's Cache-Control max-age, or the configured interval.
func (v *Verifier) fetchKeys(ctx context.Context, now time.Time) (*keySet, error) {
	var (
		b   []byte
		h   http.Header
		err error
	)
	if v.jwks != nil {
		b, err = v.jwks(ctx)
	} else {
		b, h, err = v.getWithHeader(ctx, v.jwksURL, "application/json")
	}
	if err != nil {
		return nil, fmt.Errorf("claims: jwks: %w", err)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("claims: jwks %s: %w", v.jwksURL, err)
	}
	keys := make(map[string]*rsa.PublicKey, len(set.Keys))
	dup := make(map[string]bool)
	for _, raw := range set.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil {
			continue // a key of a kind go-jose does not know
		}
		pub, ok := k.Key.(*rsa.PublicKey)
		if !ok || k.KeyID == "" || pub.N.BitLen() < minRSABits ||
			(k.Algorithm != "" && k.Algorithm != string(jose.RS256)) ||
			(k.Use != "" && k.Use != "sig") {
			continue
		}
		if _, seen := keys[k.KeyID]; seen || dup[k.KeyID] {
			delete(keys, k.KeyID) // ambiguous: trust neither
			dup[k.KeyID] = true
			continue
		}
		keys[k.KeyID] = pub
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("claims: jwks %s: no usable signing key", v.jwksURL)
	}
	if len(keys) > maxKeys {
		return nil, fmt.Errorf("claims: jwks %s: %d keys, more than %d", v.jwksURL, len(keys), maxKeys)
	}
	return &keySet{byKID: keys, refreshAt: now.Add(refreshInterval(h, v.keyRefresh))}, nil
}

// refreshInterval is how long a fetched JWKS is used: its Cache-Control
// max-age (RFC 9111 §5.2.2.1), or def when it gives none, within
// [MinKeyRefreshInterval, MaxKeyRefreshInterval]. no-cache and no-store
// mean the least. The bounds keep a misconfigured issuer from making every
// verifier fetch on every request, or from keeping an unpublished key for
// long.
func refreshInterval(h http.Header, def time.Duration) time.Duration {
	d := def
	for _, field := range h.Values("Cache-Control") {
		for directive := range strings.SplitSeq(field, ",") {
			name, value, _ := strings.Cut(strings.TrimSpace(directive), "=")
			switch strings.ToLower(name) {
			case "no-cache", "no-store":
				return MinKeyRefreshInterval
			case "max-age":
				if n, err := strconv.ParseInt(strings.Trim(value, `"`), 10, 64); err == nil && n >= 0 {
					d = time.Duration(min(n, int64(MaxKeyRefreshInterval/time.Second))) * time.Second
				}
			}
		}
	}
	return min(max(d, MinKeyRefreshInterval), MaxKeyRefreshInterval)
}

// get fetches u and returns its body, at most maxDocumentSize bytes.
func (v *Verifier) get(ctx context.Context, u string) ([]byte, error) {
	b, _, err := v.getWithHeader(ctx, u, "application/json")
	return b, err
}

// getWithHeader is get, with the response's header, for a document of
// media type accept.
func (v *Verifier) getWithHeader(ctx context.Context, u, accept string) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", accept)
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := readLimited(resp)
	if err != nil {
		return nil, nil, fmt.Errorf("get %s: %w", u, err)
	}
	return b, resp.Header, nil
}
