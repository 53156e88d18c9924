package audit_test

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gaia-platform/iam/audit"
	"github.com/gaia-platform/iam/storage"
	"github.com/gaia-platform/iam/storage/storagetest"
)

// failure returns an unauthenticated failure from ip.
func failure(ip, reason string) storage.AuditEvent {
	return storage.AuditEvent{ActorType: audit.ActorAnonymous, Action: audit.ActionAuthClientCredentials, Outcome: audit.Failure,
		ClientIP: ip, Details: map[string]string{audit.DetailReason: reason, audit.DetailGrant: "client_credentials"}}
}

// clock is a settable clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// counted sums the failures events stand for: their count, else 1.
func counted(t *testing.T, events []storage.AuditEvent) int {
	t.Helper()
	n := 0
	for _, e := range events {
		c := e.Details[audit.DetailCount]
		if c == "" {
			n++
			continue
		}
		k, err := strconv.Atoi(c)
		if err != nil || k < 1 {
			t.Fatalf("event %+v has count %q", e, c)
		}
		n += k
	}
	return n
}

// TestFullQueueDropsAfterMaxWait: with the writer stalled and the queue
// full, Record waits no longer than MaxWait, then drops the event, counts
// it and logs one line for many drops.
func TestFullQueueDropsAfterMaxWait(t *testing.T) {
	a := &appender{entered: make(chan struct{}, 1), gate: make(chan struct{})}
	var dropped atomic.Int64
	const maxWait = 30 * time.Millisecond
	r, logs := newRecorder(t, a, audit.Options{QueueSize: 4, MaxWait: maxWait, Dropped: func(n int) { dropped.Add(int64(n)) }})
	r.Record(t.Context(), event(0))
	<-a.entered // the writer is stuck with event 0
	for i := 1; i <= 4; i++ {
		r.Record(t.Context(), event(i))
	}
	const n = 50
	var slowest time.Duration
	for i := range n {
		start := time.Now()
		r.Record(t.Context(), event(100+i))
		slowest = max(slowest, time.Since(start))
	}
	// The bound, with room for a loaded machine's scheduling.
	if slowest < maxWait || slowest > maxWait+250*time.Millisecond {
		t.Errorf("slowest Record on a full queue took %v, want about %v", slowest, maxWait)
	}
	if got := dropped.Load(); got != n {
		t.Errorf("Dropped told of %d events, want %d", got, n)
	}
	out := logs.String()
	if c := strings.Count(out, "audit events dropped"); c != 1 || !strings.Contains(out, "level=ERROR") {
		t.Errorf("%d log lines of dropped events, want 1 at ERROR (rate-limited):\n%s", c, out)
	}
	close(a.gate)
	if err := r.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, events := a.written(); len(events) != 5 {
		t.Errorf("%d events written, want the 5 queued", len(events))
	}
}

// TestAggregate: per window, the first failure of a kind is written as it
// is and the rest of the kind become one summary with their count; its
// address is the network's.
func TestAggregate(t *testing.T) {
	a := &appender{}
	clk := &clock{t: time.Date(2026, 3, 1, 10, 0, 5, 0, time.UTC)}
	r, _ := newRecorder(t, a, audit.Options{Now: clk.now})
	ctx := t.Context()
	const n = 3000
	for i := range n {
		var ip string
		switch i % 3 {
		case 0:
			ip = fmt.Sprintf("192.0.2.%d", i%256)
		case 1:
			ip = fmt.Sprintf("198.51.100.%d", i%256)
		case 2:
			ip = fmt.Sprintf("2001:db8::%x", i)
		}
		r.Record(ctx, failure(ip, []string{"unknown_client", "invalid_client"}[i%2]))
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	_, events := a.written()
	// 3 networks × 2 reasons, each a first failure and a summary.
	if len(events) != 12 {
		t.Fatalf("%d failures made %d rows, want 12", n, len(events))
	}
	if got := counted(t, events); got != n {
		t.Errorf("rows count %d failures, want %d", got, n)
	}
	nets := map[string]bool{}
	for _, e := range events {
		if e.Details[audit.DetailCount] != "" {
			nets[e.Details[audit.DetailNetwork]] = true
			if !strings.HasPrefix(e.ClientIP, strings.TrimSuffix(strings.TrimSuffix(e.Details[audit.DetailNetwork], "0/24"), "/64")) {
				t.Errorf("summary of %s has the address %s, want one of that network", e.Details[audit.DetailNetwork], e.ClientIP)
			}
			if e.Details[audit.DetailReason] == "" || e.Details[audit.DetailLastAt] == "" {
				t.Errorf("summary %+v lacks its reason or last_at", e)
			}
		}
	}
	for _, want := range []string{"192.0.2.0/24", "198.51.100.0/24", "2001:db8::/64"} {
		if !nets[want] {
			t.Errorf("no summary for %s among %v", want, nets)
		}
	}

	// Later in the window, a failure of a kind seen is counted, not
	// written; in the next window it is a first failure again.
	r.Record(ctx, failure("192.0.2.1", "unknown_client"))
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if _, events = a.written(); len(events) != 13 || events[12].Details[audit.DetailCount] != "1" {
		t.Errorf("a failure of a known kind wrote %+v, want a summary of 1", events[12:])
	}
	clk.add(time.Minute)
	e := failure("192.0.2.1", "unknown_client")
	r.Record(ctx, e)
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if _, events = a.written(); len(events) != 14 || events[13].Details[audit.DetailCount] != "" || events[13].ClientIP != "192.0.2.1" {
		t.Errorf("the first failure of a new window wrote %+v, want it as it is", events[13:])
	}
	// Authenticated failures and successes are never aggregated.
	for range 10 {
		r.Record(ctx, event(0))
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if _, events = a.written(); len(events) != 24 {
		t.Errorf("%d rows after 10 failures of a known user, want 24", len(events))
	}
}

// TestAggregateCap: a sweep over more networks than MaxAggregates folds
// the excess by action and reason alone.
func TestAggregateCap(t *testing.T) {
	a := &appender{}
	clk := &clock{t: time.Date(2026, 3, 1, 10, 0, 5, 0, time.UTC)}
	r, _ := newRecorder(t, a, audit.Options{Now: clk.now, MaxAggregates: 10})
	const n = 5000
	for i := range n {
		r.Record(t.Context(), failure(fmt.Sprintf("10.%d.%d.1", i/256, i%256), "unknown_client"))
	}
	if err := r.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, events := a.written()
	if len(events) != 12 { // 10 kinds, then the overflow's first and its summary
		t.Errorf("%d failures from %d networks made %d rows, want 12", n, n, len(events))
	}
	if got := counted(t, events); got != n {
		t.Errorf("rows count %d failures, want %d", got, n)
	}
}

// TestAggregateOnStore: on each real backend, thousands of unauthenticated
// failures make a bounded number of rows that still count them all.
func TestAggregateOnStore(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			store := b.Open(t)
			r, _ := newRecorder(t, store, audit.Options{})
			ctx := t.Context()
			const n = 5000
			for i := range n {
				e := failure(fmt.Sprintf("203.0.113.%d", i%250), "unknown_client")
				if i%2 == 1 {
					e.ClientIP = fmt.Sprintf("2001:db8:0:%x::%x", i%4, i)
				}
				r.Record(ctx, e)
			}
			if err := r.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			events, err := store.ListAudit(ctx, storage.AuditFilter{Outcome: audit.Failure, Limit: storage.MaxListLimit})
			if err != nil {
				t.Fatal(err)
			}
			// One IPv4 /24 and four IPv6 /64s, over at most two windows
			// (the run may cross a minute): at most 2 × 5 × 2 rows.
			if len(events) > 20 {
				t.Errorf("%d failures made %d rows, want at most 20", n, len(events))
			}
			if got := counted(t, events); got != n {
				t.Errorf("rows count %d failures, want %d", got, n)
			}
		})
	}
}

// TestStalledDatabase: with the audit table locked on a real PostgreSQL
// (the writer stuck on it) and the queue full, Record returns within
// MaxWait and counts the drops; once the lock goes, what was queued is
// written.
func TestStalledDatabase(t *testing.T) {
	u, ok := storagetest.PostgresURL(t)
	if !ok {
		t.Skip("needs PostgreSQL to lock the audit table")
	}
	ctx := t.Context()
	schema := storagetest.PostgresSchema(t, u)
	store := storagetest.OpenPostgres(t, schema)
	if _, err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, schema)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE audit_events IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	var dropped atomic.Int64
	const maxWait = 20 * time.Millisecond
	r, _ := newRecorder(t, store, audit.Options{QueueSize: 8, BatchSize: 4, MaxWait: maxWait, Linger: -1,
		Dropped: func(n int) { dropped.Add(int64(n)) }})
	const n = 200
	var slowest time.Duration
	start := time.Now()
	for i := range n {
		s := time.Now()
		r.Record(ctx, event(i))
		slowest = max(slowest, time.Since(s))
	}
	total := time.Since(start)
	if slowest > maxWait+250*time.Millisecond {
		t.Errorf("slowest Record with the database stalled took %v, want at most about %v", slowest, maxWait)
	}
	if d := dropped.Load(); d < n-8-4 {
		t.Errorf("%d of %d events dropped, want all but the queued ones", d, n)
	}
	t.Logf("%d Record calls with the audit table locked: %v, slowest %v, %d dropped", n, total, slowest, dropped.Load())
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	events, err := store.ListAudit(ctx, storage.AuditFilter{Limit: storage.MaxListLimit})
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(events))+dropped.Load() != n {
		t.Errorf("%d written + %d dropped, want %d", len(events), dropped.Load(), n)
	}
}
