package conformance

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gaia-platform/iam/oauth/guard"
)

// enumerationBound is the stated bound on what a password login's timing
// may tell: each failure case takes, in the median of its rounds, within
// this fraction of the time of the same round's wrong password for an
// existing, active account. Every case costs one argon2id hash; one that
// skipped it would be a small fraction of the reference and fail by far.
const enumerationBound = 0.5

// TestNoEnumeration: an unknown username, a wrong password, a disabled
// account (with its right password) and a locked account (with its right
// password) get the same status, body and headers, and take the same time
// within enumerationBound (checklist rows 23, 24, 33, 34). Samples are
// taken round-robin and compared round by round, so that load on the
// machine falls on every case alike.
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
		// Each round's case is compared with the same round's wrong
		// password, so that load on this shared machine, which drifts over
		// seconds, cancels out; the median of those ratios is the figure.
		// A case that skipped the hash reads far below 1 in every attempt;
		// noise rarely lasts three, so only three failed attempts fail.
		const rounds, attempts = 21, 3
		var ref answer
		measure := func() (ratios []float64, medians []time.Duration) {
			samples := make([][]time.Duration, len(cases))
			for i := range rounds {
				for j, tc := range cases {
					start := time.Now()
					r := passwordAttempt(t, s, tc.username, tc.password)
					samples[j] = append(samples[j], time.Since(start))
					got := answerOf(r)
					if ref == (answer{}) {
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
			for j := range cases {
				rs := make([]float64, rounds)
				for i := range rounds {
					rs[i] = float64(samples[j][i]) / float64(samples[0][i])
				}
				slices.Sort(rs)
				ratios = append(ratios, rs[rounds/2])
				ds := slices.Clone(samples[j])
				slices.Sort(ds)
				medians = append(medians, ds[rounds/2])
			}
			return ratios, medians
		}
		for attempt := 1; ; attempt++ {
			ratios, medians := measure()
			var apart []string
			for j, tc := range cases[1:] {
				r := ratios[j+1]
				t.Logf("attempt %d: %s: median %v, %.2f× the same round's wrong password (median %v)", attempt, tc.name, medians[j+1], r, medians[0])
				if r < 1-enumerationBound || r > 1+enumerationBound {
					apart = append(apart, fmt.Sprintf("%s: %.2f× a wrong password's time", tc.name, r))
				}
			}
			if len(apart) == 0 {
				break
			}
			if attempt == attempts {
				t.Errorf("in %d attempts the gap exceeds %.0f%% and tells the cases apart: %s",
					attempts, 100*enumerationBound, strings.Join(apart, "; "))
				break
			}
		}
	})
}
