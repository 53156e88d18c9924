package conformance

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/gaia-platform/iam/oauth/guard"
)

// enumerationBound is the stated bound on what a password login's timing
// may tell: the median of each failure case is within this fraction of the
// median of a wrong password for an existing, active account. Every case
// costs one argon2id hash; one that skipped it would be a small fraction
// of the reference and fail by far.
const enumerationBound = 0.5

// TestNoEnumeration: an unknown username, a wrong password, a disabled
// account (with its right password) and a locked account (with its right
// password) get the same status, body and headers, and take the same time
// within enumerationBound (checklist rows 23, 24, 33, 34). Samples are
// taken round-robin, so that load on the machine falls on every case alike.
// After five rounds the wrong-password, unknown and disabled names lock
// too, as they would for an attacker: the answers must not change then
// either.
func TestNoEnumeration(t *testing.T) {
	if testing.Short() {
		t.Skip("timing")
	}
	c := newFrozenClock()
	// No address limit here: it would answer 429 to every case alike and
	// hide what this test measures.
	forEachLocal(t, protected(c, func(p *guard.Policy) { p.AddressFailures = 100000 }), func(t *testing.T, l *local) {
		s := l.asIAM()
		api := (&adminClient{t: t, base: l.issuer + "/admin/v1", http: http.DefaultClient}).
			as(userToken(t, l.issuer, "admin", adminPassword).AccessToken)
		const right = "correct horse battery staple"
		createUser(t, api, "enum-active", right)
		disabled := createUser(t, api, "enum-disabled", right)
		want(t, api.do("PATCH", "/users/"+disabled.ID, map[string]any{"active": false}), http.StatusOK)
		createUser(t, api, "enum-locked", right)
		for range 6 { // past the default threshold of 5
			passwordAttempt(t, s, "enum-locked", "wrong password")
		}

		cases := []struct{ name, username, password string }{
			{"wrong password", "enum-active", "wrong password"}, // the reference
			{"unknown user", "enum-nobody-at-all", "wrong password"},
			{"disabled user, right password", "enum-disabled", right},
			{"locked user, right password", "enum-locked", right},
		}
		const rounds = 15
		samples := make([][]time.Duration, len(cases))
		var ref answer
		for i := range rounds {
			for j, tc := range cases {
				start := time.Now()
				r := passwordAttempt(t, s, tc.username, tc.password)
				samples[j] = append(samples[j], time.Since(start))
				got := answerOf(r)
				if i == 0 && j == 0 {
					ref = got
					if got.status != http.StatusBadRequest || r.body["error"] != "invalid_grant" {
						t.Fatalf("%s: %d %s, want 400 invalid_grant", tc.name, r.status, r.raw)
					}
				}
				if got != ref {
					t.Fatalf("%s (round %d): %+v, want what a wrong password gets: %+v", tc.name, i, got, ref)
				}
			}
		}
		median := func(ds []time.Duration) time.Duration {
			ds = slices.Clone(ds)
			slices.Sort(ds)
			return ds[len(ds)/2]
		}
		refMedian := median(samples[0])
		for j, tc := range cases[1:] {
			m := median(samples[j+1])
			gap := m - refMedian
			if gap < 0 {
				gap = -gap
			}
			t.Logf("%s: median %v (wrong password %v)", tc.name, m, refMedian)
			if float64(gap) > enumerationBound*float64(refMedian) {
				t.Errorf("%s: median %v against %v for a wrong password: the gap exceeds %.0f%% and tells the cases apart",
					tc.name, m, refMedian, 100*enumerationBound)
			}
		}
	})
}
