package audit

import (
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/gaia-platform/iam/storage"
)

// Detail keys of a summary of unauthenticated failures.
const (
	// DetailCount is how many failures a summary stands for.
	DetailCount = "count"
	// DetailLastAt is the time of the last of them (RFC 3339); the
	// summary's Time is that of the first.
	DetailLastAt = "last_at"
	// DetailNetwork is the network they came from (192.0.2.0/24,
	// 2001:db8::/64), or "any" past MaxAggregates; the summary's ClientIP
	// is the first one's address.
	DetailNetwork = "network"
)

// Count returns how many occurrences e stands for: its DetailCount when
// it is a summary of unauthenticated failures, else 1.
func Count(e storage.AuditEvent) int {
	if n, err := strconv.Atoi(e.Details[DetailCount]); err == nil && n > 0 {
		return n
	}
	return 1
}

// aggregator folds unauthenticated failures: per window, the first of a
// kind passes, the others are counted into one summary. Safe for
// concurrent use.
type aggregator struct {
	window time.Duration
	max    int

	mu    sync.Mutex
	start time.Time           // guarded by mu: the current window's start
	kinds map[kind]*aggregate // guarded by mu: the current window's kinds
	// ended holds the summaries of windows that ended, until expired or
	// all takes them: Record never writes them itself, so a request
	// waits for at most its own event. Guarded by mu.
	ended []storage.AuditEvent
}

// kind is what failures aggregate by. network is the address's /24 (IPv4)
// or /64 (IPv6), the unit an attacker holds.
type kind struct {
	action, reason, clientID, network, targetType, targetID string
}

// aggregate is a kind's failures of a window after the first.
type aggregate struct {
	summary storage.AuditEvent // the second failure, the summary's template; unset while count is 0
	network string             // DetailNetwork of the summary
	count   int
	last    time.Time
}

func newAggregator(window time.Duration, max int) *aggregator {
	return &aggregator{window: window, max: max, kinds: map[kind]*aggregate{}}
}

// admit reports whether e, an unauthenticated failure, is to be written as
// it is; if not, it is counted into its kind's summary. When e's time
// starts a new window, the summaries of the one that ended are kept for
// expired.
func (a *aggregator) admit(e storage.AuditEvent) (write bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if w := e.Time.Truncate(a.window); w.After(a.start) {
		a.ended = append(a.ended, a.takeLocked()...)
		a.start = w
	}
	k := kind{action: e.Action, reason: e.Details[DetailReason], clientID: e.ClientID,
		network: network(e.ClientIP), targetType: e.TargetType, targetID: e.TargetID}
	agg, ok := a.kinds[k]
	if !ok && len(a.kinds) >= a.max {
		// Too many kinds this window: fold by action and reason alone,
		// a bounded set.
		k = kind{action: e.Action, reason: k.reason, network: "*"}
		agg, ok = a.kinds[k]
	}
	if !ok {
		a.kinds[k] = &aggregate{}
		return true
	}
	if agg.count == 0 {
		agg.summary = e
		agg.network = k.network
		if k.network == "*" {
			agg.network = "any"
			agg.summary.ClientIP, agg.summary.ClientID, agg.summary.TargetType, agg.summary.TargetID = "", "", "", ""
		}
	}
	agg.count++
	agg.last = e.Time
	return false
}

// expired returns the summaries of the windows that ended before now's,
// and forgets them.
func (a *aggregator) expired(now time.Time) []storage.AuditEvent {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := a.ended
	a.ended = nil
	if w := now.Truncate(a.window); w.After(a.start) {
		out = append(out, a.takeLocked()...)
	}
	return out
}

// all returns the summaries of the current window so far, for Flush: the
// window goes on, and the failures that follow in it make a new summary
// (not a first failure again), so that flushing often makes few rows.
func (a *aggregator) all() []storage.AuditEvent {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := append(a.ended, a.summariesLocked(false)...)
	a.ended = nil
	return out
}

// takeLocked returns the summaries and forgets every kind.
func (a *aggregator) takeLocked() []storage.AuditEvent {
	return a.summariesLocked(true)
}

// summariesLocked returns the summaries of the kinds that have one, and
// resets their counts; forget forgets the kinds too.
func (a *aggregator) summariesLocked(forget bool) []storage.AuditEvent {
	var out []storage.AuditEvent
	for _, agg := range a.kinds {
		if agg.count == 0 {
			continue
		}
		e := agg.summary
		d := make(map[string]string, len(e.Details)+3)
		for k, v := range e.Details {
			d[k] = v
		}
		d[DetailCount] = strconv.Itoa(agg.count)
		d[DetailLastAt] = agg.last.UTC().Format(time.RFC3339Nano)
		if agg.network != "" {
			d[DetailNetwork] = agg.network
		}
		e.Details = d
		out = append(out, e)
		agg.count = 0
	}
	if forget {
		clear(a.kinds)
	}
	return out
}

// network returns the /24 of an IPv4 address, the /64 of an IPv6 one, or
// ip itself when it is no address.
func network(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	bits := 64
	if addr.Is4() {
		bits = 24
	}
	p, err := addr.Prefix(bits)
	if err != nil {
		return ip
	}
	return p.String()
}
