package claims_test

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gaia-platform/iam/claims"
)

// publishStatus signs a status list of bits (one per entry, index order)
// with k as the IAM does and serves it at /statuslists/{id}; edit changes
// the claims or header before signing.
func (li *localIssuer) publishStatus(k testKey, id string, revoked []bool, edit func(h, c map[string]any)) {
	raw := make([]byte, len(revoked)/8+1)
	for i, r := range revoked {
		if r {
			raw[i/8] |= 1 << (i % 8)
		}
	}
	var z bytes.Buffer
	w := zlib.NewWriter(&z)
	_, _ = w.Write(raw)
	_ = w.Close()
	now := time.Now().Unix()
	h := map[string]any{"alg": "RS256", "kid": k.kid, "typ": "statuslist+jwt"}
	c := map[string]any{
		"sub": li.URL + "/statuslists/" + id, "iat": now, "exp": now + 600, "ttl": 1,
		"status_list": map[string]any{"bits": 1, "lst": base64.RawURLEncoding.EncodeToString(z.Bytes())},
	}
	if edit != nil {
		edit(h, c)
	}
	li.mu.Lock()
	defer li.mu.Unlock()
	if li.statusLists == nil {
		li.statusLists = map[string]string{}
	}
	li.statusLists[id] = k.sign(h, c)
}

// mintStatus returns a token of li naming entry idx of the list at uri.
func (li *localIssuer) mintStatus(uri string, idx int) string {
	c := li.claimsOf("inventory.read")
	c["status"] = map[string]any{"status_list": map[string]any{"idx": idx, "uri": uri}}
	return keyA().sign(header(keyA()), c)
}

func statusVerifier(t *testing.T, li *localIssuer, cfg claims.VerifierConfig) *claims.Verifier {
	t.Helper()
	cfg.Issuer, cfg.CheckStatus = li.URL, true
	v := newVerifier(t, cfg)
	t.Cleanup(func() { _ = v.Close() })
	return v
}

func TestStatusList(t *testing.T) {
	li := newLocalIssuer(keyA())
	defer li.Close()
	li.publishStatus(keyA(), "0", []bool{false, true, false}, nil)
	v := statusVerifier(t, li, claims.VerifierConfig{})
	uri := li.URL + "/statuslists/0"

	live, revoked := li.mintStatus(uri, 0), li.mintStatus(uri, 1)
	if _, err := v.Verify(t.Context(), live); err != nil {
		t.Fatalf("Verify(live) = %v", err)
	}
	wantInvalid(t, v, revoked)
	wantInvalid(t, v, li.mintStatus(uri, 4000)) // past the list's end
	wantInvalid(t, v, li.mintStatus(uri, -1))
	// Lists are the issuer's only: no fetch from an address a token names.
	wantInvalid(t, v, li.mintStatus("http://127.0.0.1:1/statuslists/0", 0))
	wantInvalid(t, v, li.mintStatus(li.URL+"/elsewhere/0", 0))
	// A token without a status claim is verified as before.
	if _, err := v.Verify(t.Context(), li.mint(keyA(), "inventory.read")); err != nil {
		t.Errorf("Verify(no status) = %v", err)
	}

	// No fetch per request: many verifications, no more fetches than the
	// background's one per ttl (1 s).
	before := li.statusHits.Load()
	start := time.Now()
	for range 500 {
		if _, err := v.Verify(t.Context(), live); err != nil {
			t.Fatal(err)
		}
	}
	if got, max := li.statusHits.Load()-before, int64(time.Since(start)/time.Second)+1; got > max {
		t.Errorf("%d list fetches during 500 verifications, want at most %d", got, max)
	}

	// Revoked at the IAM: refused within ttl and a fetch.
	li.publishStatus(keyA(), "0", []bool{true, true, false}, nil)
	deadline := time.Now().Add(3 * time.Second)
	for {
		if _, err := v.Verify(t.Context(), live); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a revoked token still verifies 3 s after its list changed (ttl 1 s)")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestStatusListStaleness(t *testing.T) {
	for _, failOpen := range []bool{false, true} {
		li := newLocalIssuer(keyA())
		defer li.Close()
		li.publishStatus(keyA(), "0", []bool{false, true}, nil)
		var offset atomic.Int64
		now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
		v := statusVerifier(t, li, claims.VerifierConfig{Now: now, StatusMaxStaleness: time.Minute, InsecureStatusFailOpen: failOpen})
		uri := li.URL + "/statuslists/0"
		live := li.mintStatus(uri, 0)
		if _, err := v.Verify(t.Context(), live); err != nil {
			t.Fatalf("Verify = %v", err)
		}
		li.down.Store(true)
		offset.Store(int64(50 * time.Second)) // within the staleness bound
		if _, err := v.Verify(t.Context(), live); err != nil {
			t.Errorf("IAM down 50 s, failOpen %v: Verify = %v, want the last copy used", failOpen, err)
		}
		wantInvalid(t, v, li.mintStatus(uri, 1)) // still known revoked
		offset.Store(int64(2 * time.Minute))
		_, err := v.Verify(t.Context(), live)
		if failOpen && err != nil {
			t.Errorf("stale list, failing open: Verify = %v", err)
		}
		if !failOpen && err == nil {
			t.Error("stale list: Verify accepted, want fail closed")
		}
	}
}

func TestStatusListRefused(t *testing.T) {
	cases := map[string]struct {
		key  func() testKey
		edit func(h, c map[string]any)
	}{
		"other key":    {attacker, nil},
		"typ":          {keyA, func(h, c map[string]any) { h["typ"] = "JWT" }},
		"sub":          {keyA, func(h, c map[string]any) { c["sub"] = "https://elsewhere/statuslists/0" }},
		"expired":      {keyA, func(h, c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() }},
		"iat ahead":    {keyA, func(h, c map[string]any) { c["iat"] = time.Now().Add(time.Hour).Unix() }},
		"bits":         {keyA, func(h, c map[string]any) { c["status_list"].(map[string]any)["bits"] = 3 }},
		"lst not zlib": {keyA, func(h, c map[string]any) { c["status_list"].(map[string]any)["lst"] = "AAAA" }},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			li := newLocalIssuer(keyA())
			defer li.Close()
			li.publishStatus(tc.key(), "0", []bool{false}, tc.edit)
			v := statusVerifier(t, li, claims.VerifierConfig{})
			// Entry 0 is valid in the list; the list itself is not to be
			// trusted, so the token is refused (fail closed).
			wantInvalid(t, v, li.mintStatus(li.URL+"/statuslists/0", 0))
		})
	}
}
