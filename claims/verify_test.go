package claims_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gaia-platform/iam/claims"
	"github.com/gaia-platform/iam/oauth/keys"
	"github.com/gaia-platform/iam/storage/storagetest"
)

func newVerifier(t testing.TB, cfg claims.VerifierConfig) *claims.Verifier {
	t.Helper()
	if cfg.Audience == "" && !cfg.InsecureAcceptAnyAudience {
		cfg.Audience = "gaia" // what the test issuers mint
	}
	v, err := claims.NewVerifier(t.Context(), cfg)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

// wantInvalid fails t unless v refuses token with an error wrapping
// ErrInvalidToken.
func wantInvalid(t *testing.T, v *claims.Verifier, token string) {
	t.Helper()
	a, err := v.Verify(t.Context(), token)
	if err == nil {
		t.Fatalf("Verify accepted the token: %+v", a)
	}
	if !errors.Is(err, claims.ErrInvalidToken) {
		t.Errorf("Verify error %v does not wrap ErrInvalidToken", err)
	}
	if a != nil {
		t.Errorf("Verify returned claims %+v with error %v", a, err)
	}
}

// publicKey returns the IAM's public key of kid, from its JWKS.
func (s *iam) publicKey(t *testing.T, kid string) (*rsa.PublicKey, []byte) {
	t.Helper()
	resp, err := http.Get(s.issuer + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	ks := set.Key(kid)
	if len(ks) != 1 {
		t.Fatalf("JWKS has %d keys of kid %s", len(ks), kid)
	}
	raw, err := ks[0].MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return ks[0].Key.(*rsa.PublicKey), raw
}

// TestVerifyIAM runs the verifier against a real Gaia IAM: its user and
// service tokens pass, and every forgery built from them fails.
func TestVerifyIAM(t *testing.T) {
	s := startIAM(t, nil)
	v := newVerifier(t, claims.VerifierConfig{Issuer: s.issuer, Audience: "gaia"})
	svc := s.serviceToken(t)
	viewer, idToken := s.userToken(t, "viewer", viewerPassword)
	admin, _ := s.userToken(t, "admin", adminPassword)

	t.Run("valid", func(t *testing.T) {
		for _, tc := range []struct {
			name, token string
			typ         claims.Type
			sub         string // "" when it is a generated id
			username    string
			has, hasNot string
		}{
			{"service", svc, claims.Service, "inventory-service", "", "inventory.read", "inventory.write"},
			{"viewer", viewer, claims.User, "", "viewer", "inventory.read", "inventory.write"},
			{"admin", admin, claims.User, "", "admin", "iam.user.read", "inventory.delete"}, // not in the seed
		} {
			t.Run(tc.name, func(t *testing.T) {
				a, err := v.Verify(t.Context(), tc.token)
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if a.Issuer != s.issuer || a.Type != tc.typ || a.Username != tc.username || a.ID == "" || a.Subject == "" {
					t.Errorf("Verify = %+v, want iss %s, type %s, username %q", a, s.issuer, tc.typ, tc.username)
				}
				if tc.sub != "" && a.Subject != tc.sub {
					t.Errorf("sub = %q, want %q", a.Subject, tc.sub)
				}
				if !a.Has(tc.has) || a.Has(tc.hasNot) {
					t.Errorf("permissions %v: want %s and not %s", a.Permissions, tc.has, tc.hasNot)
				}
			})
		}
		// Only when told to: any audience, said loudly.
		var logs bytes.Buffer
		anyAud := newVerifier(t, claims.VerifierConfig{Issuer: s.issuer, InsecureAcceptAnyAudience: true, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if _, err := anyAud.Verify(t.Context(), svc); err != nil {
			t.Errorf("Verify accepting any audience: %v", err)
		}
		if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "INSECURE") {
			t.Errorf("InsecureAcceptAnyAudience logged %q, want an INSECURE warning", logs.String())
		}
	})

	h, p, sig := jwtParts(t, svc)
	kid := h["kid"].(string)
	pub, jwkJSON := s.publicKey(t, kid)
	payload := strings.Split(svc, ".")[1]
	withHeader := func(edit func(h map[string]any)) string {
		h2 := map[string]any{}
		for k, v := range h {
			h2[k] = v
		}
		edit(h2)
		return b64JSON(t, h2) + "." + payload + "." + sig
	}
	// hs256 signs the service token's claims with HMAC-SHA256 keyed with
	// the IAM's public key in some encoding (row 53).
	hs256 := func(key []byte) string {
		in := b64JSON(t, map[string]any{"alg": "HS256", "kid": kid, "typ": "at+jwt"}) + "." + payload
		m := hmac.New(sha256.New, key)
		m.Write([]byte(in))
		return in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	pkix, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := x509.MarshalPKCS1PublicKey(pub)
	tampered := func(edit func(p map[string]any)) string {
		p2 := map[string]any{}
		for k, v := range p {
			p2[k] = v
		}
		edit(p2)
		return strings.Split(svc, ".")[0] + "." + b64JSON(t, p2) + "." + sig
	}
	other := startIAM(t, nil)

	rejected := []struct {
		name  string
		v     *claims.Verifier // nil: v
		token string
	}{
		{"expired", newVerifier(t, claims.VerifierConfig{Issuer: s.issuer, Now: func() time.Time { return time.Now().Add(16 * time.Minute) }}), svc},
		{"issued in the future", newVerifier(t, claims.VerifierConfig{Issuer: s.issuer, Now: func() time.Time { return time.Now().Add(-5 * time.Minute) }}), svc},
		{"wrong audience", newVerifier(t, claims.VerifierConfig{Issuer: s.issuer, Audience: "billing"}), svc},
		{"token of another issuer", nil, other.serviceToken(t)},
		{"alg none", nil, withHeader(func(h map[string]any) { h["alg"] = "none" }) + ""},
		{"alg None empty signature", nil, strings.TrimSuffix(withHeader(func(h map[string]any) { h["alg"] = "None" }), sig)},
		{"alg NONE empty signature", nil, strings.TrimSuffix(withHeader(func(h map[string]any) { h["alg"] = "NONE" }), sig)},
		{"alg nOnE empty signature", nil, strings.TrimSuffix(withHeader(func(h map[string]any) { h["alg"] = "nOnE" }), sig)},
		{"alg none no signature segment", nil, strings.TrimSuffix(withHeader(func(h map[string]any) { h["alg"] = "none" }), "."+sig)},
		{"HS256 keyed with the public key PEM", nil, hs256(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix}))},
		{"HS256 keyed with the public key DER", nil, hs256(pkix)},
		{"HS256 keyed with the PKCS#1 PEM", nil, hs256(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: pkcs1}))},
		{"HS256 keyed with the PKCS#1 DER", nil, hs256(pkcs1)},
		{"HS256 keyed with the JWK", nil, hs256(jwkJSON)},
		{"HS256 keyed with the modulus", nil, hs256(pub.N.Bytes())},
		{"RS512 header", nil, withHeader(func(h map[string]any) { h["alg"] = "RS512" })},
		{"PS256 header", nil, withHeader(func(h map[string]any) { h["alg"] = "PS256" })},
		{"unknown kid", nil, withHeader(func(h map[string]any) { h["kid"] = "not-a-gaia-kid" })},
		{"no kid", nil, withHeader(func(h map[string]any) { delete(h, "kid") })},
		{"kid path", nil, withHeader(func(h map[string]any) { h["kid"] = "../../dev/null" })},
		{"kid sql", nil, withHeader(func(h map[string]any) { h["kid"] = "' OR 1=1--" })},
		{"kid 10 KB", nil, withHeader(func(h map[string]any) { h["kid"] = strings.Repeat("k", 10<<10) })},
		{"kid number", nil, withHeader(func(h map[string]any) { h["kid"] = 1 })},
		{"missing typ", nil, withHeader(func(h map[string]any) { delete(h, "typ") })},
		{"typ JWT", nil, withHeader(func(h map[string]any) { h["typ"] = "JWT" })},
		{"ID token as access token", nil, idToken},
		{"jku header", nil, withHeader(func(h map[string]any) { h["jku"] = "https://evil.example/jwks.json" })},
		{"x5u header", nil, withHeader(func(h map[string]any) { h["x5u"] = "https://evil.example/cert.pem" })},
		{"jwk header", nil, withHeader(func(h map[string]any) { h["jwk"] = json.RawMessage(jwkJSON) })},
		{"crit header", nil, withHeader(func(h map[string]any) { h["crit"] = []string{"exp"} })},
		{"tampered permissions", nil, tampered(func(p map[string]any) {
			p["permissions"] = []string{"iam.user.create", "inventory.read", "inventory.write"}
		})},
		{"tampered roles", nil, tampered(func(p map[string]any) { p["roles"] = []string{"PlatformAdmin"} })},
		{"tampered exp", nil, tampered(func(p map[string]any) { p["exp"] = p["exp"].(float64) + 3600 })},
		{"signature of another token", nil, strings.TrimSuffix(svc, sig) + strings.Split(viewer, ".")[2]},
		{"signature flipped", nil, strings.TrimSuffix(svc, sig) + flip(sig)},
		{"signature padded", nil, svc + "=="},
		{"signature std base64", nil, strings.TrimSuffix(svc, sig) + strings.NewReplacer("-", "+", "_", "/").Replace(sig)},
		{"truncated", nil, svc[:len(svc)-10]},
		{"two segments", nil, strings.TrimSuffix(svc, "."+sig)},
		{"JWE shape", nil, svc + ".a.b"},
		{"empty", nil, ""},
		{"over 16 KiB", nil, svc + strings.Repeat("A", claims.MaxTokenSize)},
		{"refresh-token shape", nil, "ory_rt_abc.def"},
	}
	for _, tc := range rejected {
		t.Run(tc.name, func(t *testing.T) {
			vv := tc.v
			if vv == nil {
				vv = v
			}
			wantInvalid(t, vv, tc.token)
		})
	}
}

// flip changes the last-but-one character of a base64url string.
func flip(s string) string {
	b := []byte(s)
	i := len(b) - 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

// TestVerifyAfterRotation: after the IAM rotates its signing key, tokens
// with the new kid verify without a new verifier, and tokens of the
// previous key still verify while the IAM publishes it.
func TestVerifyAfterRotation(t *testing.T) {
	s := startIAM(t, nil)
	v := newVerifier(t, claims.VerifierConfig{Issuer: s.issuer, MinRefetchInterval: time.Millisecond})
	before := s.serviceToken(t)
	if _, err := v.Verify(t.Context(), before); err != nil {
		t.Fatalf("Verify before rotation: %v", err)
	}

	// `gaia-iam keys rotate`, as the command does it (a ring on the same
	// store and KEK) but with no publish delay: the new key signs at once,
	// so this verifier meets its kid before having fetched it.
	ring, err := keys.New(t.Context(), keys.Config{Retention: time.Hour}, s.store, s.kek, storagetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	k, _, err := ring.Rotate(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if k.ID == kidOf(t, before) {
		t.Fatal("Rotate kept the kid")
	}
	// The server picks the new key up within its KeyRefresh (200ms).
	var after string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		after = s.serviceToken(t)
		if kidOf(t, after) == k.ID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the IAM still signs with %s after rotating to %s", kidOf(t, after), k.ID)
		}
	}
	a, err := v.Verify(t.Context(), after)
	if err != nil {
		t.Fatalf("Verify with the new kid: %v", err)
	}
	if a.Subject != "inventory-service" {
		t.Errorf("sub = %q", a.Subject)
	}
	if _, err := v.Verify(t.Context(), before); err != nil {
		t.Errorf("Verify with the retired, still published key: %v", err)
	}
}

// TestVerifyIAMDown: with the IAM stopped, cached keys still verify, and a
// failed refetch keeps them.
func TestVerifyIAMDown(t *testing.T) {
	s := startIAM(t, nil)
	v := newVerifier(t, claims.VerifierConfig{Issuer: s.issuer, MinRefetchInterval: time.Millisecond})
	svc := s.serviceToken(t)
	user, _ := s.userToken(t, "viewer", viewerPassword)
	s.hs.Close()

	for _, tok := range []string{svc, user} {
		if _, err := v.Verify(t.Context(), tok); err != nil {
			t.Fatalf("Verify with the IAM down: %v", err)
		}
	}
	h, _, _ := jwtParts(t, svc)
	h["kid"] = "unknown"
	parts := strings.Split(svc, ".")
	wantInvalid(t, v, b64JSON(t, h)+"."+parts[1]+"."+parts[2]) // refetch fails
	if _, err := v.Verify(t.Context(), svc); err != nil {
		t.Errorf("Verify after a failed refetch: %v", err)
	}
}

// TestVerifyClaims checks every claim and header rule on validly signed
// tokens of a local issuer.
func TestVerifyClaims(t *testing.T) {
	li := newLocalIssuer(keyA(), keyB())
	defer li.Close()
	v := newVerifier(t, claims.VerifierConfig{Issuer: li.URL, Audience: "gaia"})
	now := time.Now().Unix()
	edit := func(f func(c map[string]any)) string {
		c := li.claimsOf("inventory.read")
		f(c)
		return keyA().sign(header(keyA()), c)
	}
	hdr := func(f func(h map[string]any)) string {
		h := header(keyA())
		f(h)
		return keyA().sign(h, li.claimsOf("inventory.read"))
	}
	for _, tc := range []struct {
		name  string
		token string
		ok    bool
	}{
		{"valid", li.mint(keyA(), "inventory.read"), true},
		{"valid, other key", li.mint(keyB(), "inventory.read"), true},
		{"user", edit(func(c map[string]any) { c["type"] = "user"; c["username"] = "cj"; c["sub"] = "0190-uuid" }), true},
		{"typ application/at+jwt", hdr(func(h map[string]any) { h["typ"] = "application/at+jwt" }), true},
		{"typ AT+JWT", hdr(func(h map[string]any) { h["typ"] = "AT+JWT" }), true},
		{"typ missing", hdr(func(h map[string]any) { delete(h, "typ") }), false},
		{"typ JWT", hdr(func(h map[string]any) { h["typ"] = "JWT" }), false},
		{"typ at+jwt2", hdr(func(h map[string]any) { h["typ"] = "at+jwt2" }), false},
		{"no kid with two keys published", hdr(func(h map[string]any) { delete(h, "kid") }), false},
		{"kid of the other key", hdr(func(h map[string]any) { h["kid"] = keyB().kid }), false},
		{"crit exp", hdr(func(h map[string]any) { h["crit"] = []string{"exp"} }), false},
		{"crit b64", hdr(func(h map[string]any) { h["crit"] = []string{"b64"}; h["b64"] = true }), false},
		{"x5c", hdr(func(h map[string]any) { h["x5c"] = []string{"MIIB"} }), false},
		{"unknown header", hdr(func(h map[string]any) { h["foo"] = "bar" }), true},
		{"alg in lower case", hdr(func(h map[string]any) { h["alg"] = "rs256" }), false},
		{"exp past", edit(func(c map[string]any) { c["exp"] = now - 60 }), false},
		{"exp past within leeway", edit(func(c map[string]any) { c["exp"] = now - 10 }), true},
		{"exp missing", edit(func(c map[string]any) { delete(c, "exp") }), false},
		{"exp zero", edit(func(c map[string]any) { c["exp"] = 0 }), false},
		{"exp negative", edit(func(c map[string]any) { c["exp"] = -1 }), false},
		{"exp string", edit(func(c map[string]any) { c["exp"] = fmt.Sprint(now + 900) }), false},
		{"exp float", edit(func(c map[string]any) { c["exp"] = float64(now) + 900.5 }), false},
		{"exp max int64", edit(func(c map[string]any) { c["exp"] = int64(math.MaxInt64) }), true},
		{"exp min int64", edit(func(c map[string]any) { c["exp"] = int64(math.MinInt64) }), false},
		{"nbf future", edit(func(c map[string]any) { c["nbf"] = now + 120 }), false},
		{"nbf max int64", edit(func(c map[string]any) { c["nbf"] = int64(math.MaxInt64) }), false},
		{"nbf future within leeway", edit(func(c map[string]any) { c["nbf"] = now + 10 }), true},
		{"nbf past", edit(func(c map[string]any) { c["nbf"] = now - 10 }), true},
		{"nbf string", edit(func(c map[string]any) { c["nbf"] = "0" }), false},
		{"iat far future", edit(func(c map[string]any) { c["iat"] = now + 3600 }), false},
		{"iat missing", edit(func(c map[string]any) { delete(c, "iat") }), false},
		{"iss with slash", edit(func(c map[string]any) { c["iss"] = li.URL + "/" }), false},
		{"iss upper case", edit(func(c map[string]any) { c["iss"] = strings.ToUpper(li.URL) }), false},
		{"iss https", edit(func(c map[string]any) { c["iss"] = strings.Replace(li.URL, "http:", "https:", 1) }), false},
		{"iss other", edit(func(c map[string]any) { c["iss"] = "https://evil.example" }), false},
		{"iss missing", edit(func(c map[string]any) { delete(c, "iss") }), false},
		{"aud other", edit(func(c map[string]any) { c["aud"] = []string{"billing"} }), false},
		{"aud among others", edit(func(c map[string]any) { c["aud"] = []string{"billing", "gaia"} }), true},
		{"aud missing", edit(func(c map[string]any) { delete(c, "aud") }), false},
		{"aud empty", edit(func(c map[string]any) { c["aud"] = []string{} }), false},
		{"aud prefix", edit(func(c map[string]any) { c["aud"] = []string{"gaia-admin"} }), false},
		{"sub missing", edit(func(c map[string]any) { delete(c, "sub") }), false},
		{"client_id missing", edit(func(c map[string]any) { delete(c, "client_id") }), false},
		{"jti missing", edit(func(c map[string]any) { delete(c, "jti") }), false},
		{"type missing", edit(func(c map[string]any) { delete(c, "type") }), false},
		{"type admin", edit(func(c map[string]any) { c["type"] = "admin" }), false},
		{"permissions not a list", edit(func(c map[string]any) { c["permissions"] = "inventory.read" }), false},
		{"claims not an object", keyA().sign(header(keyA()), []string{"x"}), false},
		{"signed by an unpublished key", li.mint(attacker()), false},
		{"signed by an unpublished key with a published kid", attacker().sign(header(keyA()), li.claimsOf()), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := v.Verify(t.Context(), tc.token)
			switch {
			case tc.ok && err != nil:
				t.Errorf("Verify: %v, want success", err)
			case !tc.ok && err == nil:
				t.Errorf("Verify accepted %+v", a)
			case !tc.ok && !errors.Is(err, claims.ErrInvalidToken):
				t.Errorf("Verify error %v does not wrap ErrInvalidToken", err)
			}
		})
	}
}

// TestVerifyHeaderKeysNotFetched: a token naming its own key (jwk) or key
// location (jku, x5u) is refused without any fetch (ASVS 5 9.1.3).
func TestVerifyHeaderKeysNotFetched(t *testing.T) {
	li := newLocalIssuer(keyA())
	defer li.Close()
	evil := newLocalIssuer(attacker())
	defer evil.Close()
	v := newVerifier(t, claims.VerifierConfig{Issuer: li.URL, MinRefetchInterval: time.Millisecond})
	hits := li.jwksHits.Load()
	for name, extra := range map[string]any{
		"jku": evil.URL + "/jwks.json",
		"x5u": evil.URL + "/cert.pem",
		"jwk": attacker().jwk(nil),
	} {
		t.Run(name, func(t *testing.T) {
			h := header(attacker())
			h[name] = extra
			wantInvalid(t, v, attacker().sign(h, li.claimsOf("inventory.write")))
		})
	}
	if n := evil.jwksHits.Load(); n != 0 {
		t.Errorf("the attacker's JWKS was fetched %d times", n)
	}
	if n := li.jwksHits.Load() - hits; n != 0 {
		t.Errorf("the issuer's JWKS was fetched %d times for tokens refused by their header", n)
	}
}

// TestVerifyKeyRefetch covers the JWKS cache: refetch on an unknown kid,
// rate-limited and shared; keys rotated out; failed refetches.
func TestVerifyKeyRefetch(t *testing.T) {
	t.Run("flood of unknown kids", func(t *testing.T) {
		li := newLocalIssuer(keyA())
		defer li.Close()
		v := newVerifier(t, claims.VerifierConfig{Issuer: li.URL})
		var wg sync.WaitGroup
		for i := range 200 {
			wg.Go(func() {
				h := header(attacker())
				h["kid"] = fmt.Sprintf("forged-%d", i)
				if _, err := v.Verify(context.Background(), attacker().sign(h, li.claimsOf())); err == nil {
					t.Error("a forged kid verified")
				}
			})
		}
		wg.Wait()
		// One fetch at start, at most one for the whole flood (row 55).
		if n := li.jwksHits.Load(); n > 2 {
			t.Errorf("JWKS fetched %d times, want at most 2", n)
		}
		if _, err := v.Verify(t.Context(), li.mint(keyA())); err != nil {
			t.Errorf("Verify after the flood: %v", err)
		}
	})

	t.Run("concurrent misses share one fetch", func(t *testing.T) {
		li := newLocalIssuer(keyA())
		defer li.Close()
		v := newVerifier(t, claims.VerifierConfig{Issuer: li.URL, MinRefetchInterval: time.Hour})
		li.publish(keyA(), keyB()) // the IAM rotated
		tok := li.mint(keyB(), "inventory.read")
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				if _, err := v.Verify(context.Background(), tok); err != nil {
					t.Errorf("Verify with the new key: %v", err)
				}
			})
		}
		wg.Wait()
		if n := li.jwksHits.Load(); n != 2 {
			t.Errorf("JWKS fetched %d times, want 2 (start, then one refetch)", n)
		}
	})

	t.Run("key rotated out of the JWKS", func(t *testing.T) {
		li := newLocalIssuer(keyA())
		defer li.Close()
		v := newVerifier(t, claims.VerifierConfig{Issuer: li.URL, MinRefetchInterval: time.Millisecond})
		old := li.mint(keyA())
		if _, err := v.Verify(t.Context(), old); err != nil {
			t.Fatalf("Verify: %v", err)
		}
		li.publish(keyB()) // key A retired and gone
		if _, err := v.Verify(t.Context(), li.mint(keyB())); err != nil {
			t.Fatalf("Verify with the new key: %v", err)
		}
		time.Sleep(2 * time.Millisecond) // past MinRefetchInterval
		wantInvalid(t, v, old)
	})

	t.Run("failed refetch keeps the keys", func(t *testing.T) {
		li := newLocalIssuer(keyA())
		defer li.Close()
		v := newVerifier(t, claims.VerifierConfig{Issuer: li.URL, MinRefetchInterval: time.Millisecond})
		for _, broken := range []func(){
			func() { li.down.Store(true) },
			func() { li.down.Store(false); li.publish() },                          // empty JWKS
			func() { li.publishJWK(map[string]any{"kty": "RSA", "kid": "x"}) },     // no usable key
			func() { li.publishJWK(weakKey().jwk(map[string]any{"kid": "weak"})) }, // only a weak key
		} {
			broken()
			time.Sleep(2 * time.Millisecond)
			wantInvalid(t, v, li.mint(keyB()))
			if _, err := v.Verify(t.Context(), li.mint(keyA())); err != nil {
				t.Fatalf("Verify after a failed refetch: %v", err)
			}
		}
	})

	t.Run("unusable keys are ignored", func(t *testing.T) {
		li := newLocalIssuer()
		defer li.Close()
		li.publishJWK(
			keyA().jwk(nil),
			weakKey().jwk(nil),
			keyB().jwk(map[string]any{"kid": "rs512", "alg": "RS512"}),
			keyB().jwk(map[string]any{"kid": "enc", "use": "enc"}),
			keyB().jwk(map[string]any{"kid": "bare", "alg": nil, "use": nil}),
			keyB().jwk(map[string]any{"kid": "dup"}),
			attacker().jwk(map[string]any{"kid": "dup"}),
			map[string]any{"kty": "EC", "kid": "ec", "crv": "P-256",
				"x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpJW6cbPYT8ysZKJa6QvU"},
			map[string]any{"kty": "oct", "kid": "oct", "k": "c2VjcmV0"},
			map[string]any{"kty": "ML-DSA", "kid": "future"},
		)
		v := newVerifier(t, claims.VerifierConfig{Issuer: li.URL, MinRefetchInterval: time.Millisecond})
		sign := func(k testKey, kid string) string {
			h := header(k)
			h["kid"] = kid
			return k.sign(h, li.claimsOf())
		}
		for _, tc := range []struct {
			name, token string
			ok          bool
		}{
			{"good key", sign(keyA(), keyA().kid), true},
			{"alg and use unset", sign(keyB(), "bare"), true},
			{"1024-bit key", sign(weakKey(), weakKey().kid), false},
			{"key for RS512", sign(keyB(), "rs512"), false},
			{"key for encryption", sign(keyB(), "enc"), false},
			{"duplicate kid, first key", sign(keyB(), "dup"), false},
			{"duplicate kid, second key", sign(attacker(), "dup"), false},
			{"EC key", sign(keyB(), "ec"), false},
			{"symmetric key", sign(keyB(), "oct"), false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := v.Verify(t.Context(), tc.token)
				if (err == nil) != tc.ok {
					t.Errorf("Verify: %v, want ok %v", err, tc.ok)
				}
			})
		}
	})
}

func TestNewVerifierErrors(t *testing.T) {
	li := newLocalIssuer(keyA())
	defer li.Close()
	down := httptest.NewServer(nil)
	down.Close()
	wrongIssuer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": "https://other.example", "jwks_uri": li.URL + "/jwks.json"})
	}))
	defer wrongIssuer.Close()
	weak := newLocalIssuer(weakKey())
	defer weak.Close()
	for _, tc := range []struct {
		name string
		cfg  claims.VerifierConfig
	}{
		{"no issuer", claims.VerifierConfig{}},
		{"leeway too long", claims.VerifierConfig{Audience: "gaia", Issuer: li.URL, Leeway: 6 * time.Minute}},
		{"negative leeway", claims.VerifierConfig{Audience: "gaia", Issuer: li.URL, Leeway: -time.Second}},
		{"negative refetch interval", claims.VerifierConfig{Audience: "gaia", Issuer: li.URL, MinRefetchInterval: -time.Second}},
		{"issuer down", claims.VerifierConfig{Audience: "gaia", Issuer: down.URL}},
		{"issuer with a slash", claims.VerifierConfig{Audience: "gaia", Issuer: li.URL + "/"}},
		{"discovery names another issuer", claims.VerifierConfig{Audience: "gaia", Issuer: wrongIssuer.URL}},
		{"no usable key", claims.VerifierConfig{Audience: "gaia", Issuer: weak.URL}},
		{"no audience", claims.VerifierConfig{Issuer: li.URL}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := claims.NewVerifier(t.Context(), tc.cfg); err == nil {
				t.Error("NewVerifier succeeded")
			}
		})
	}
}
