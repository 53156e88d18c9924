package claims_test

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/gaia-platform/iam/claims"
)

// BenchmarkVerify reports what a request costs a service: Verify and a
// permission check on a Gaia-shaped token, next to the bound, a raw
// rsa.VerifyPKCS1v15 of the same signature with the same key (hash done
// beforehand), in the same run. verify+check reports x_raw, its cost in
// multiples of raw's; the aim is at most 1.5.
func BenchmarkVerify(b *testing.B) {
	k := keyA()
	li := newLocalIssuer(k)
	defer li.Close()
	v := newVerifier(b, claims.VerifierConfig{Issuer: li.URL, Audience: "gaia"})
	// A user token with the example's largest permission set.
	c := li.claimsOf("iam.audit.read", "iam.client.manage", "iam.role.assign", "iam.session.revoke",
		"iam.user.create", "iam.user.read", "iam.user.update", "inventory.read")
	c["type"], c["sub"], c["client_id"] = "user", "0190a8c2-7f5e-7c3b-9d4e-2f1a6b8c9d0e", "gaia-web"
	c["username"], c["sid"], c["scope"] = "admin", "0190a8c2-7f5e-7c3b-9d4e-2f1a6b8c9d0f", "openid profile"
	c["roles"] = []string{"InventoryViewer", "PlatformAdmin"}
	token := k.sign(header(k), c)
	b.Logf("token: %d bytes", len(token))

	i := strings.LastIndexByte(token, '.')
	sig, err := base64.RawURLEncoding.DecodeString(token[i+1:])
	if err != nil {
		b.Fatal(err)
	}
	digest := sha256.Sum256([]byte(token[:i]))
	pub := &k.priv.PublicKey

	var rawNs float64
	b.Run("raw", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
				b.Fatal(err)
			}
		}
		rawNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})
	b.Run("verify+check", func(b *testing.B) {
		b.ReportAllocs()
		ctx := b.Context()
		for b.Loop() {
			a, err := v.Verify(ctx, token)
			if err != nil {
				b.Fatal(err)
			}
			if !a.Has("inventory.read") {
				b.Fatal("permission missing")
			}
		}
		if rawNs > 0 {
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/rawNs, "x_raw")
		}
	})
	// The same two, alternated op by op, so that both see the same machine:
	// on a shared machine the ratio of two separate runs wanders.
	b.Run("interleaved", func(b *testing.B) {
		ctx := b.Context()
		var raw, verify time.Duration
		for b.Loop() {
			t0 := time.Now()
			if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			if a, err := v.Verify(ctx, token); err != nil || !a.Has("inventory.read") {
				b.Fatal("verify failed", err)
			}
			raw += t1.Sub(t0)
			verify += time.Since(t1)
		}
		b.ReportMetric(float64(raw.Nanoseconds())/float64(b.N), "raw_ns/op")
		b.ReportMetric(float64(verify.Nanoseconds())/float64(b.N), "verify_ns/op")
		b.ReportMetric(float64(verify)/float64(raw), "x_raw")
	})
}
