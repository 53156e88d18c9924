package guard

import (
	"net/netip"
	"testing"
	"time"
)

// TestAddressKey: IPv6 addresses count by /64 (rotating addresses inside
// one /64 is one source), IPv4 by address, mapped IPv4 as IPv4.
func TestAddressKey(t *testing.T) {
	same := [][2]string{
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff"},
		{"2001:db8:1:2::1%eth0", "2001:db8:1:2::2"},
		{"::ffff:203.0.113.9", "203.0.113.9"},
	}
	for _, p := range same {
		if a, b := AddressKey(netip.MustParseAddr(p[0])), AddressKey(netip.MustParseAddr(p[1])); a != b {
			t.Errorf("AddressKey(%s) = %s, AddressKey(%s) = %s; want one key", p[0], a, p[1], b)
		}
	}
	differ := [][2]string{
		{"2001:db8:1:2::1", "2001:db8:1:3::1"},
		{"203.0.113.9", "203.0.113.10"},
	}
	for _, p := range differ {
		if a, b := AddressKey(netip.MustParseAddr(p[0])), AddressKey(netip.MustParseAddr(p[1])); a == b {
			t.Errorf("AddressKey(%s) = AddressKey(%s) = %s; want two keys", p[0], p[1], a)
		}
	}
}

// TestDelay: the lock doubles from BaseDelay at each failure past the
// threshold, and stops at MaxDelay.
func TestDelay(t *testing.T) {
	g := &Guard{p: DefaultPolicy()}
	want := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 15 * time.Minute, 15 * time.Minute}
	for n, w := range want {
		if got := g.delay(n); got != w {
			t.Errorf("delay(%d) = %v, want %v", n, got, w)
		}
	}
	if got := g.delay(1 << 20); got != 15*time.Minute {
		t.Errorf("delay(huge) = %v, want the 15m cap", got)
	}
}

func TestPolicyCheck(t *testing.T) {
	if err := DefaultPolicy().Check(); err != nil {
		t.Fatalf("DefaultPolicy().Check() = %v", err)
	}
	for name, tune := range map[string]func(*Policy){
		"zero threshold":        func(p *Policy) { p.Threshold = 0 },
		"max below base":        func(p *Policy) { p.MaxDelay = p.BaseDelay / 2 },
		"no address window":     func(p *Policy) { p.AddressWindow = 0 },
		"negative permanent":    func(p *Policy) { p.PermanentAfter = -1 },
		"negative cache":        func(p *Policy) { p.CacheTTL = -time.Second },
		"zero address failures": func(p *Policy) { p.AddressFailures = 0 },
	} {
		p := DefaultPolicy()
		tune(&p)
		if p.Check() == nil {
			t.Errorf("%s: Check() = nil, want an error", name)
		}
	}
}
