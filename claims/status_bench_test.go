package claims_test

import (
	"testing"
	"time"

	"github.com/gaia-platform/iam/claims"
)

// BenchmarkVerifyStatus is BenchmarkVerify's token with a status claim,
// verified with the status check (CheckStatus) and without it, alternated
// op by op so that both see the same machine. x_without is the cost with
// the check in multiples of the cost without; the aim is at most 1.1.
func BenchmarkVerifyStatus(b *testing.B) {
	k := keyA()
	li := newLocalIssuer(k)
	defer li.Close()
	li.publishStatus(k, "0", make([]bool, 1<<16), nil)
	plain := newVerifier(b, claims.VerifierConfig{Issuer: li.URL, Audience: "gaia"})
	checked := newVerifier(b, claims.VerifierConfig{Issuer: li.URL, Audience: "gaia", CheckStatus: true})
	defer checked.Close()
	c := li.claimsOf("iam.audit.read", "iam.client.manage", "iam.role.assign", "iam.session.revoke",
		"iam.user.create", "iam.user.read", "iam.user.update", "inventory.read")
	c["type"], c["sub"], c["client_id"] = "user", "0190a8c2-7f5e-7c3b-9d4e-2f1a6b8c9d0e", "gaia-web"
	c["username"], c["sid"], c["scope"] = "admin", "0190a8c2-7f5e-7c3b-9d4e-2f1a6b8c9d0f", "openid profile"
	c["roles"] = []string{"InventoryViewer", "PlatformAdmin"}
	c["status"] = map[string]any{"status_list": map[string]any{"idx": 40000, "uri": li.URL + "/statuslists/0"}}
	token := k.sign(header(k), c)
	ctx := b.Context()
	if _, err := checked.Verify(ctx, token); err != nil { // the list's first fetch
		b.Fatal(err)
	}
	var without, with time.Duration
	for b.Loop() {
		t0 := time.Now()
		if a, err := plain.Verify(ctx, token); err != nil || !a.Has("inventory.read") {
			b.Fatal("verify failed", err)
		}
		t1 := time.Now()
		if a, err := checked.Verify(ctx, token); err != nil || !a.Has("inventory.read") {
			b.Fatal("verify with status failed", err)
		}
		without += t1.Sub(t0)
		with += time.Since(t1)
	}
	b.ReportMetric(float64(without.Nanoseconds())/float64(b.N), "without_ns/op")
	b.ReportMetric(float64(with.Nanoseconds())/float64(b.N), "with_ns/op")
	b.ReportMetric(float64(with)/float64(without), "x_without")
}
