package claims

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

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
// stored in Verifier.keys.
type keySet struct {
	byKID map[string]*rsa.PublicKey
}

// publicKey returns the key of kid: from the cache, or after refetching the
// JWKS if the last refetch is older than the minimum interval.
func (v *Verifier) publicKey(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	if k, ok := v.keys.Load().byKID[kid]; ok {
		return k, nil
	}
	return v.refetch(ctx, kid)
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
	keys, err := v.fetchKeys(context.WithoutCancel(ctx))
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

// fetchKeys fetches the JWKS and keeps the keys fit to verify Gaia tokens:
// RSA public keys of at least 2048 bits, with a kid, alg RS256 or unset,
// use sig or unset (RFC 7517 §4, RFC 8725 §3.1: one key, one algorithm).
// Other keys are skipped, as are kids that appear twice. A JWKS with no
// usable key is an error.
func (v *Verifier) fetchKeys(ctx context.Context) (*keySet, error) {
	var b []byte
	var err error
	if v.jwks != nil {
		b, err = v.jwks(ctx)
	} else {
		b, err = v.get(ctx, v.jwksURL)
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
	return &keySet{byKID: keys}, nil
}

// get fetches u and returns its body, at most maxDocumentSize bytes.
func (v *Verifier) get(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := readLimited(resp)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", u, err)
	}
	return b, nil
}
