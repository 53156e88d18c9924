package claims_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"
)

// testKey is an RSA signing key with its kid.
type testKey struct {
	kid  string
	priv *rsa.PrivateKey
}

// Keys are costly to generate, so each is made once per test binary and
// shared; they are never modified.
var (
	keyA     = sync.OnceValue(func() testKey { return newTestKey("key-a", 2048) })
	keyB     = sync.OnceValue(func() testKey { return newTestKey("key-b", 2048) })
	attacker = sync.OnceValue(func() testKey { return newTestKey("attacker", 2048) })
	weakKey  = sync.OnceValue(func() testKey { return newTestKey("weak", 1024) })
)

func newTestKey(kid string, bits int) testKey {
	priv, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		panic(err)
	}
	return testKey{kid: kid, priv: priv}
}

// jwk is k's public key as a JWKS entry, with overrides applied (a nil
// value deletes the member).
func (k testKey) jwk(overrides map[string]any) map[string]any {
	m := map[string]any{
		"kty": "RSA", "kid": k.kid, "use": "sig", "alg": "RS256",
		"n": base64.RawURLEncoding.EncodeToString(k.priv.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.priv.E)).Bytes()),
	}
	for name, v := range overrides {
		if v == nil {
			delete(m, name)
		} else {
			m[name] = v
		}
	}
	return m
}

// sign returns the compact JWS of claims under header, signed RS256 with k
// whatever header says. Tests build tokens by hand so that they can build
// every wrong one.
func (k testKey) sign(header map[string]any, claims any) string {
	h, err := json.Marshal(header)
	if err != nil {
		panic(err)
	}
	p, err := json.Marshal(claims)
	if err != nil {
		panic(err)
	}
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(nil, k.priv, crypto.SHA256, sum[:])
	if err != nil {
		panic(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// localIssuer stands in for the IAM where a test needs tokens the IAM
// cannot make: it serves discovery and a JWKS of chosen keys, and signs
// whatever it is asked to.
type localIssuer struct {
	URL string
	srv *httptest.Server

	mu           sync.Mutex
	jwks         []map[string]any // guarded by mu
	cacheControl string           // of the JWKS response, when set; guarded by mu

	statusLists map[string]string // signed lists by id; guarded by mu

	jwksHits   atomic.Int64
	statusHits atomic.Int64
	tokenHits  atomic.Int64
	down       atomic.Bool // answer 503 to everything
}

// Client credentials the local issuer's token endpoint accepts.
const (
	localClientID     = "inventory-service"
	localClientSecret = "local-secret"
)

// newLocalIssuer serves discovery and a JWKS publishing keys. Close it.
func newLocalIssuer(keys ...testKey) *localIssuer {
	li := &localIssuer{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": li.URL, "jwks_uri": li.URL + "/jwks.json"})
	})
	mux.HandleFunc("GET /jwks.json", func(w http.ResponseWriter, r *http.Request) {
		li.jwksHits.Add(1)
		li.mu.Lock()
		defer li.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if li.cacheControl != "" {
			w.Header().Set("Cache-Control", li.cacheControl)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": li.jwks})
	})
	mux.HandleFunc("GET /statuslists/{id}", func(w http.ResponseWriter, r *http.Request) {
		li.statusHits.Add(1)
		li.mu.Lock()
		jwt, ok := li.statusLists[r.PathValue("id")]
		li.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/statuslist+jwt")
		_, _ = w.Write([]byte(jwt))
	})
	// A token endpoint for the client credentials grant of one client,
	// enough for golang.org/x/oauth2/clientcredentials.
	mux.HandleFunc("POST /oauth2/token", func(w http.ResponseWriter, r *http.Request) {
		li.tokenHits.Add(1)
		id, secret, ok := r.BasicAuth()
		if !ok || id != localClientID || secret != localClientSecret || r.PostFormValue("grant_type") != "client_credentials" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid_client"}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"access_token": li.mint(keyA(), "inventory.read"), "token_type": "bearer", "expires_in": 900,
		})
	})
	li.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if li.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	li.URL = li.srv.URL
	li.publish(keys...)
	return li
}

func (li *localIssuer) Close() { li.srv.Close() }

// publish replaces the JWKS with keys.
func (li *localIssuer) publish(keys ...testKey) {
	var set []map[string]any
	for _, k := range keys {
		set = append(set, k.jwk(nil))
	}
	li.publishJWK(set...)
}

// publishJWK replaces the JWKS with raw entries.
func (li *localIssuer) publishJWK(set ...map[string]any) {
	li.mu.Lock()
	defer li.mu.Unlock()
	li.jwks = set
}

// header is a Gaia access token's JOSE header for k.
func header(k testKey) map[string]any {
	return map[string]any{"alg": "RS256", "kid": k.kid, "typ": "at+jwt"}
}

// claimsOf returns the claims of a valid Gaia service token of li, issued
// now and granting perms.
func (li *localIssuer) claimsOf(perms ...string) map[string]any {
	now := time.Now().Unix()
	if perms == nil {
		perms = []string{}
	}
	return map[string]any{
		"iss": li.URL, "sub": "inventory-service", "aud": []string{"gaia"},
		"client_id": "inventory-service", "exp": now + 900, "iat": now,
		"jti": rand.Text(), "type": "service", "roles": []string{"InventoryViewer"},
		"permissions": perms,
	}
}

// mint returns a valid token of li signed with k, granting perms.
func (li *localIssuer) mint(k testKey, perms ...string) string {
	return k.sign(header(k), li.claimsOf(perms...))
}
