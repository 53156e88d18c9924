package clientip

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func request(remote string, header map[string][]string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = remote
	for k, vs := range header {
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
	return r
}

func TestClientIP(t *testing.T) {
	xff := func(v ...string) map[string][]string { return map[string][]string{XForwardedFor: v} }
	fwd := func(v ...string) map[string][]string { return map[string][]string{Forwarded: v} }
	tests := []struct {
		name    string
		trusted []string
		header  string
		remote  string
		hdr     map[string][]string
		want    string
	}{
		{"no proxies: the peer", nil, XForwardedFor, "203.0.113.9:4000", xff("198.51.100.1"), "203.0.113.9"},
		{"untrusted peer: header ignored", []string{"10.0.0.0/8"}, XForwardedFor, "203.0.113.9:4000", xff("198.51.100.1"), "203.0.113.9"},
		{"trusted peer, one hop", []string{"10.0.0.0/8"}, XForwardedFor, "10.1.2.3:4000", xff("198.51.100.1"), "198.51.100.1"},
		{"client-sent entries left of the proxy's are skipped", []string{"10.0.0.0/8"}, XForwardedFor, "10.1.2.3:4000", xff("1.1.1.1, 198.51.100.1"), "198.51.100.1"},
		{"two trusted hops", []string{"10.0.0.0/8", "192.0.2.7"}, XForwardedFor, "10.1.2.3:4000", xff("198.51.100.1, 192.0.2.7"), "198.51.100.1"},
		{"several header lines read as one list", []string{"10.0.0.0/8"}, XForwardedFor, "10.1.2.3:4000", xff("1.1.1.1", "198.51.100.1"), "198.51.100.1"},
		{"all hops trusted: the leftmost", []string{"10.0.0.0/8"}, XForwardedFor, "10.1.2.3:4000", xff("10.9.9.9, 10.8.8.8"), "10.9.9.9"},
		{"garbage stops the walk", []string{"10.0.0.0/8"}, XForwardedFor, "10.1.2.3:4000", xff("198.51.100.1, nonsense, 10.7.7.7"), "10.7.7.7"},
		{"trusted peer, no header", []string{"10.0.0.0/8"}, XForwardedFor, "10.1.2.3:4000", nil, "10.1.2.3"},
		{"IPv6 entry with port", []string{"::1"}, XForwardedFor, "[::1]:4000", xff("[2001:db8::5]:1234"), "2001:db8::5"},
		{"mapped IPv4 unmapped", []string{"10.0.0.0/8"}, XForwardedFor, "[::ffff:10.1.2.3]:4000", xff("::ffff:198.51.100.1"), "198.51.100.1"},
		{"Forwarded not read when X-Forwarded-For is the header", []string{"10.0.0.0/8"}, XForwardedFor, "10.1.2.3:4000", fwd("for=198.51.100.1"), "10.1.2.3"},
		{"Forwarded", []string{"10.0.0.0/8"}, Forwarded, "10.1.2.3:4000", fwd(`for=1.1.1.1, for="[2001:db8:cafe::17]:4711";proto=https`), "2001:db8:cafe::17"},
		{"Forwarded with by and case", []string{"10.0.0.0/8"}, Forwarded, "10.1.2.3:4000", fwd(`For=198.51.100.1;by=10.1.2.3`), "198.51.100.1"},
		{"Forwarded obfuscated stops the walk", []string{"10.0.0.0/8"}, Forwarded, "10.1.2.3:4000", fwd(`for=198.51.100.1, for=_hidden`), "10.1.2.3"},
		{"Forwarded unknown", []string{"10.0.0.0/8"}, Forwarded, "10.1.2.3:4000", fwd(`for=unknown`), "10.1.2.3"},
		{"Forwarded repeated for is invalid", []string{"10.0.0.0/8"}, Forwarded, "10.1.2.3:4000", fwd(`for=198.51.100.1;for=198.51.100.2`), "10.1.2.3"},
		{"X-Forwarded-For not read when Forwarded is the header", []string{"10.0.0.0/8"}, Forwarded, "10.1.2.3:4000", xff("198.51.100.1"), "10.1.2.3"},
		{"half a bracket", []string{"10.0.0.0/8"}, XForwardedFor, "10.1.2.3:4000", xff("198.51.100.1]"), "10.1.2.3"},
		{"no address at all", nil, XForwardedFor, "pipe", nil, "invalid IP"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := New(tc.trusted, tc.header)
			if err != nil {
				t.Fatal(err)
			}
			if got := r.ClientIP(request(tc.remote, tc.hdr)).String(); got != tc.want {
				t.Errorf("ClientIP(%s, %v) = %s, want %s", tc.remote, tc.hdr, got, tc.want)
			}
		})
	}
}

func TestTooManyHops(t *testing.T) {
	r, err := New([]string{"10.0.0.0/8"}, XForwardedFor)
	if err != nil {
		t.Fatal(err)
	}
	// 40 trusted hops: the walk may not go past the 32 it reads.
	hops := []string{"198.51.100.1"}
	for range 40 {
		hops = append(hops, "10.0.0.1")
	}
	got := r.ClientIP(request("10.1.2.3:1", map[string][]string{XForwardedFor: {strings.Join(hops, ",")}}))
	if got.String() != "10.0.0.1" {
		t.Errorf("ClientIP(41 hops) = %s, want 10.0.0.1 (the walk stops after %d)", got, maxHops)
	}
}

func TestNew(t *testing.T) {
	for _, bad := range [][]string{{"10.0.0.0/33"}, {"example.com"}, {"::ffff:10.0.0.0/104"}} {
		if _, err := New(bad, XForwardedFor); err == nil {
			t.Errorf("New(%q) = nil error, want one", bad)
		}
	}
	if _, err := New(nil, "X-Real-IP"); err == nil {
		t.Error(`New(header "X-Real-IP") = nil error, want one`)
	}
	r, err := New([]string{" 10.0.0.1 ", "", "2001:db8::/32"}, "x-forwarded-for")
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{"10.0.0.1": true, "10.0.0.2": false, "2001:db8:1::1": true, "2001:db9::1": false} {
		if got := r.Trusts(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Trusts(%s) = %v, want %v", addr, got, want)
		}
	}
}

func TestGroup(t *testing.T) {
	for addr, want := range map[string]string{
		"198.51.100.7":               "198.51.100.7/32",
		"::ffff:198.51.100.7":        "198.51.100.7/32",
		"2001:db8:1:2:3:4:5:6":       "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff:ffff:0:1": "2001:db8:1:2::/64",
		"fe80::1%eth0":               "fe80::/64",
	} {
		if got := Group(netip.MustParseAddr(addr)).String(); got != want {
			t.Errorf("Group(%s) = %s, want %s", addr, got, want)
		}
	}
}

func TestHandler(t *testing.T) {
	r, err := New([]string{"10.0.0.0/8"}, XForwardedFor)
	if err != nil {
		t.Fatal(err)
	}
	var seen string
	h := r.Handler(http.HandlerFunc(func(_ http.ResponseWriter, req *http.Request) { seen = req.RemoteAddr }))
	for _, tc := range []struct{ remote, xff, want string }{
		{"10.1.2.3:4000", "198.51.100.1", "198.51.100.1:0"},
		{"203.0.113.9:4000", "198.51.100.1", "203.0.113.9:4000"},
	} {
		h.ServeHTTP(httptest.NewRecorder(), request(tc.remote, map[string][]string{XForwardedFor: {tc.xff}}))
		if seen != tc.want {
			t.Errorf("RemoteAddr after Handler(%s, XFF %s) = %s, want %s", tc.remote, tc.xff, seen, tc.want)
		}
	}
}

// FuzzClientIP checks what must hold whatever the headers say: an
// untrusted peer is always the answer, and otherwise the answer is the
// peer or an address the chosen header holds, never one from the other.
func FuzzClientIP(f *testing.F) {
	f.Add(false, "10.1.2.3:1", "198.51.100.1, 10.0.0.9")
	f.Add(true, "10.1.2.3:1", `for="[2001:db8::1]:80";by=x, for=unknown`)
	f.Add(false, "[::1]:1", "[::1], ::ffff:1.2.3.4, 1.2.3.4]")
	trusted := []string{"10.0.0.0/8", "::1"}
	f.Fuzz(func(t *testing.T, forwarded bool, remote, value string) {
		header, other := XForwardedFor, Forwarded
		if forwarded {
			header, other = Forwarded, XForwardedFor
		}
		r, err := New(trusted, header)
		if err != nil {
			t.Fatal(err)
		}
		got := r.ClientIP(request(remote, map[string][]string{header: {value}, other: {"192.0.2.66"}}))
		peer := parseHost(remote)
		if !r.Trusts(peer) {
			if got != peer {
				t.Fatalf("untrusted peer %q: ClientIP = %s, want the peer", remote, got)
			}
			return
		}
		if got == peer {
			return
		}
		for _, a := range r.hops([]string{value}) {
			if a == got {
				return
			}
		}
		t.Fatalf("ClientIP(%q, %s %q) = %s: neither the peer nor in the header", remote, header, value, got)
	})
}
