package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gaia-platform/iam/gateway"
)

// BenchmarkDecision reports the gateway's decisions per second through its
// HTTP handler (an NGINX subrequest for GET /items/7 with a token holding
// the permission: parse the original request, match the rules, verify,
// check, write the identity headers), next to claims' Verify and a
// permission check on the same token, as claims.BenchmarkVerify measures
// it. interleaved alternates the two op by op, so that both see the same
// machine, and reports the decision's cost in multiples of the verify's
// (x_verify); the network hop from NGINX is not included.
func BenchmarkDecision(b *testing.B) {
	iss := newIssuer(b)
	v := iss.verifier(b)
	h, err := gateway.New(gateway.Config{Rules: exampleRules(b), Proxy: gateway.NGINX}, v, nil)
	if err != nil {
		b.Fatal(err)
	}
	token := iss.mint(b, "iam.audit.read", "iam.client.manage", "iam.role.assign", "iam.session.revoke",
		"iam.user.create", "iam.user.read", "iam.user.update", "inventory.read")
	req := httptest.NewRequest(http.MethodGet, "/auth", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("X-Original-Method", "GET")
	req.Header.Set("X-Original-URI", "/items/7?fields=name")
	decide := func(b *testing.B) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("decision %d, want 200", w.Code)
		}
	}
	verify := func(b *testing.B) {
		a, err := v.Verify(b.Context(), token)
		if err != nil || !a.Has("inventory.read") {
			b.Fatal("verify failed", err)
		}
	}
	b.Run("verify+check", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			verify(b)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifies/s")
	})
	b.Run("decision", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			decide(b)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
	})
	b.Run("interleaved", func(b *testing.B) {
		var dv, dd time.Duration
		for b.Loop() {
			t0 := time.Now()
			verify(b)
			t1 := time.Now()
			decide(b)
			dv += t1.Sub(t0)
			dd += time.Since(t1)
		}
		b.ReportMetric(float64(b.N)/dv.Seconds(), "verifies/s")
		b.ReportMetric(float64(b.N)/dd.Seconds(), "decisions/s")
		b.ReportMetric(float64(dd)/float64(dv), "x_verify")
	})
}
