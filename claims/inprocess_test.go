package claims_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/gaia-platform/iam/claims"
)

// TestInProcessJWKS: with VerifierConfig.JWKS the verifier neither
// discovers nor fetches over HTTP, checks the keys it is given as fetched
// ones, and calls the source again for an unknown kid.
func TestInProcessJWKS(t *testing.T) {
	li := newLocalIssuer(keyA())
	defer li.Close()
	set := func(keys ...testKey) []byte {
		var jwks []map[string]any
		for _, k := range keys {
			jwks = append(jwks, k.jwk(nil))
		}
		b, err := json.Marshal(map[string]any{"keys": jwks})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var current atomic.Pointer[[]byte]
	a := set(keyA())
	current.Store(&a)
	var calls atomic.Int32
	noHTTP := &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
		t.Error("the verifier made an HTTP request")
		return nil, errors.New("no HTTP here")
	})}
	v := newVerifier(t, claims.VerifierConfig{
		Issuer: li.URL, HTTPClient: noHTTP,
		JWKS: func(context.Context) ([]byte, error) { calls.Add(1); return *current.Load(), nil },
	})
	if _, err := v.Verify(t.Context(), li.mint(keyA(), "inventory.read")); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	b := set(keyA(), keyB())
	current.Store(&b)
	if _, err := v.Verify(t.Context(), li.mint(keyB(), "inventory.read")); err != nil {
		t.Errorf("Verify with a key added to the source: %v", err)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("the source was called %d times, want 2 (start, unknown kid)", n)
	}
	weak := set(newTestKey("weak", 1024))
	if _, err := claims.NewVerifier(t.Context(), claims.VerifierConfig{
		Issuer: li.URL, Audience: "gaia", JWKS: func(context.Context) ([]byte, error) { return weak, nil },
	}); err == nil {
		t.Error("NewVerifier accepted a source with only a 1024-bit key")
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestErrorWriter: WithErrorWriter replaces the body of refusals; the
// status and the RFC 6750 challenge stay.
func TestErrorWriter(t *testing.T) {
	li := newLocalIssuer(keyA())
	defer li.Close()
	v := newVerifier(t, claims.VerifierConfig{Issuer: li.URL})
	type refusal struct {
		path        string
		status      int
		code, scope string
	}
	var got []refusal
	write := func(w http.ResponseWriter, r *http.Request, status int, code, scope string) {
		got = append(got, refusal{r.URL.Path, status, code, scope})
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"status":0}`))
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {})
	h := claims.Middleware(v, claims.WithErrorWriter(write))(claims.RequirePermission("inventory.write")(ok))
	for _, tc := range []struct {
		token     string
		status    int
		challenge string
	}{
		{"", 401, `Bearer realm="gaia"`},
		{"not-a-jwt", 401, `Bearer realm="gaia", error="invalid_token"`},
		{li.mint(keyA(), "inventory.read"), 403, `Bearer realm="gaia", error="insufficient_scope", scope="inventory.write"`},
	} {
		r := httptest.NewRequest("GET", "/items", nil)
		if tc.token != "" {
			r.Header.Set("Authorization", "Bearer "+tc.token)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tc.status || w.Header().Get("WWW-Authenticate") != tc.challenge ||
			w.Header().Get("Content-Type") != "application/problem+json" || w.Body.String() != `{"status":0}` {
			t.Errorf("%d %q %q %s, want %d %q with the writer's body", w.Code, w.Header().Get("WWW-Authenticate"),
				w.Header().Get("Content-Type"), w.Body, tc.status, tc.challenge)
		}
	}
	want := []refusal{{"/items", 401, "", ""}, {"/items", 401, "invalid_token", ""}, {"/items", 403, "insufficient_scope", "inventory.write"}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("writer calls %+v, want %+v", got, want)
	}
}
