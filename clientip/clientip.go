// Package clientip decides which address a request came from. Behind a
// reverse proxy the peer is the proxy, and the client's address is in a
// forwarding header; but anyone can send such a header, so it is believed
// only from proxies the operator names (RFC 9700 §4.13: proxies strip or
// append, the server trusts only them).
package clientip

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// The forwarding headers a Resolver can read.
const (
	XForwardedFor = "X-Forwarded-For"
	Forwarded     = "Forwarded" // RFC 7239
)

// maxHops bounds how many forwarding entries are read: a header longer
// than any real proxy chain is an attacker's, and Go already caps the
// header's size.
const maxHops = 32

// Resolver finds the client address of requests. The zero value trusts no
// proxy: the peer address is the client address.
type Resolver struct {
	trusted []netip.Prefix
	header  string // XForwardedFor or Forwarded
}

// New returns a Resolver that believes header (XForwardedFor or Forwarded)
// when, and as far as, it was written by the proxies in trusted (CIDRs or
// single addresses). Only the one header is read: a proxy that appends to
// X-Forwarded-For passes a client's own Forwarded header on untouched, and
// believing that would let the client choose its address.
func New(trusted []string, header string) (*Resolver, error) {
	switch http.CanonicalHeaderKey(header) {
	case XForwardedFor:
		header = XForwardedFor
	case Forwarded:
		header = Forwarded
	default:
		return nil, fmt.Errorf("forwarding header %q: want %s or %s", header, XForwardedFor, Forwarded)
	}
	r := &Resolver{header: header}
	for _, s := range trusted {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		p, err := parsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: %w", s, err)
		}
		r.trusted = append(r.trusted, p)
	}
	return r, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if p.Addr().Is4In6() {
			return netip.Prefix{}, errors.New("write an IPv4 range in IPv4 form")
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap().WithZone("")
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Trusts reports whether a is one of the trusted proxies.
func (r *Resolver) Trusts(a netip.Addr) bool {
	if r == nil {
		return false
	}
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientIP returns the address req came from. When the peer is not a
// trusted proxy, that is the peer. Otherwise the forwarding header is
// walked from the right (the entry the nearest proxy appended) past every
// trusted proxy; the first untrusted address is the client. An entry that
// is not an address (RFC 7239's "unknown" or an obfuscated name, or
// garbage) ends the walk: what is left of it was written by someone we do
// not trust, so the last address believed is the answer. The zero Addr
// means RemoteAddr held no address.
func (r *Resolver) ClientIP(req *http.Request) netip.Addr {
	peer := parseHost(req.RemoteAddr)
	if !peer.IsValid() || !r.Trusts(peer) {
		return peer
	}
	hops := r.hops(req.Header.Values(r.header))
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a := hops[i]
		if !a.IsValid() {
			break
		}
		client = a
		if !r.Trusts(a) {
			break
		}
	}
	return client
}

// hops lists the addresses of the header's entries, left to right, the
// zero Addr for an entry that is not one. Of a header with more than
// maxHops entries only the rightmost maxHops are kept, preceded by an
// invalid entry so that the walk cannot run past them.
func (r *Resolver) hops(lines []string) []netip.Addr {
	var entries []string
	for _, line := range lines {
		entries = append(entries, strings.Split(line, ",")...)
	}
	var out []netip.Addr
	if len(entries) > maxHops {
		entries = entries[len(entries)-maxHops:]
		out = append(out, netip.Addr{})
	}
	for _, e := range entries {
		if r.header == Forwarded {
			out = append(out, forwardedFor(e))
		} else {
			out = append(out, parseHost(strings.TrimSpace(e)))
		}
	}
	return out
}

// forwardedFor returns the address of the for= parameter of one RFC 7239
// forwarded-element (for=192.0.2.60;proto=http;by=203.0.113.43), or the
// zero Addr.
func forwardedFor(element string) netip.Addr {
	var found netip.Addr
	seen := false
	for pair := range strings.SplitSeq(element, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok || !strings.EqualFold(k, "for") {
			continue
		}
		if seen { // a repeated parameter makes the element invalid (RFC 7239 §4)
			return netip.Addr{}
		}
		seen = true
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		found = parseHost(v)
	}
	return found
}

// parseHost parses "ip", "ip:port", "[ipv6]" or "[ipv6]:port", and returns
// the address unmapped and without zone, or the zero Addr.
func parseHost(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone("")
	}
	if inner, ok := strings.CutPrefix(s, "["); ok {
		if inner, ok = strings.CutSuffix(inner, "]"); !ok {
			return netip.Addr{}
		}
		if a, err := netip.ParseAddr(inner); err == nil && a.Is6() {
			return a.Unmap().WithZone("")
		}
		return netip.Addr{}
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone("")
	}
	return netip.Addr{}
}

// Handler sets each request's RemoteAddr to its client address (port 0
// when it came through a proxy), so that everything after it — the audit
// log, and later the login throttle — sees the client, never a forwarding
// header it would have to judge itself.
func (r *Resolver) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		peer := parseHost(req.RemoteAddr)
		if client := r.ClientIP(req); client.IsValid() && client != peer {
			shallow := *req
			shallow.RemoteAddr = netip.AddrPortFrom(client, 0).String()
			req = &shallow
		}
		next.ServeHTTP(w, req)
	})
}

// Group returns the block an address is counted in by per-address limits:
// the address itself for IPv4, its /64 for IPv6, because one IPv6
// subscriber usually holds a whole /64 and can pick any address in it.
func Group(a netip.Addr) netip.Prefix {
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return netip.PrefixFrom(a, 32)
	}
	p, err := a.Prefix(64)
	if err != nil {
		return netip.Prefix{}
	}
	return p
}
