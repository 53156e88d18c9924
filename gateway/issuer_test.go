package gateway_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gaia-platform/iam/claims"
)

// signingKey is made once per test binary: RSA generation is slow.
var signingKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// issuer is a minimal Gaia issuer over real HTTP: discovery and a JWKS,
// and tokens signed with signingKey.
type issuer struct {
	url    string
	signer jose.Signer
}

func newIssuer(t testing.TB) *issuer {
	t.Helper()
	key := signingKey()
	iss := &issuer{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": iss.url, "jwks_uri": iss.url + "/jwks"})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	iss.url = srv.URL
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	iss.signer = signer
	return iss
}

// mint returns a token of a user holding perms, signed by iss.
func (iss *issuer) mint(t testing.TB, perms ...string) string {
	t.Helper()
	now := time.Now().Unix()
	a := claims.Access{
		Issuer: iss.url, Subject: "0190a8c2-7f5e-7c3b-9d4e-2f1a6b8c9d0e", Audience: []string{"gaia"},
		ClientID: "gaia-web", Expiry: now + 900, IssuedAt: now, ID: "jti-1", Type: claims.User,
		Username: "cj", Roles: []string{"InventoryViewer"}, Permissions: perms,
	}
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := iss.signer.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (iss *issuer) verifier(t testing.TB) *claims.Verifier {
	t.Helper()
	v, err := claims.NewVerifier(t.Context(), claims.VerifierConfig{Issuer: iss.url, Audience: "gaia"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	return v
}
