package audit_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gaia-platform/iam/audit"
	"github.com/gaia-platform/iam/storage"
)

// appender is a hand-written fake audit store that counts calls. A call
// first announces itself on entered (when set), then waits for gate to
// close (when set); the first failures calls fail. entered, when set, is
// buffered: a call does not wait for it to be read.
type appender struct {
	entered chan struct{}
	gate    chan struct{}

	// refuse, when set, is the error for a batch holding an event it
	// returns true for.
	refuse    func(storage.AuditEvent) bool
	refuseErr error

	mu       sync.Mutex
	calls    int // guarded by mu
	failures int // guarded by mu
	events   []storage.AuditEvent
}

func (a *appender) AppendAudit(ctx context.Context, events []storage.AuditEvent) error {
	select {
	case a.entered <- struct{}{}:
	default:
	}
	if a.gate != nil {
		select {
		case <-a.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls++
	if a.failures > 0 {
		a.failures--
		return errors.New("database unavailable")
	}
	if a.refuse != nil && slices.ContainsFunc(events, a.refuse) {
		return fmt.Errorf("append audit: %w", a.refuseErr)
	}
	a.events = append(a.events, events...)
	return nil
}

func (a *appender) written() (calls int, events []storage.AuditEvent) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls, append([]storage.AuditEvent(nil), a.events...)
}

// logBuffer collects a logger's output.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newRecorder(t *testing.T, a audit.Appender, opts audit.Options) (*audit.Recorder, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	r := audit.New(a, slog.New(slog.NewTextHandler(logs, nil)), opts)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r, logs
}

// event returns a failed login of a known user: not an unauthenticated
// failure, so it is never aggregated.
func event(i int) storage.AuditEvent {
	return storage.AuditEvent{ActorType: audit.ActorUser, ActorID: "u1", Action: audit.ActionAuthPassword, Outcome: audit.Failure,
		Details: map[string]string{"n": fmt.Sprint(i)}}
}

// TestBatching: events recorded while a write is under way are appended
// together, in the order recorded, in batches of at most BatchSize.
func TestBatching(t *testing.T) {
	a := &appender{entered: make(chan struct{}, 1), gate: make(chan struct{})}
	r, _ := newRecorder(t, a, audit.Options{BatchSize: 100})
	r.Record(t.Context(), event(0))
	<-a.entered // the writer holds event 0 in a call that waits for the gate
	const n = 1000
	for i := 1; i < n; i++ {
		r.Record(t.Context(), event(i))
	}
	close(a.gate)
	if err := r.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	calls, events := a.written()
	// One call for event 0, then ten full batches of the 999 queued meanwhile.
	if want := 1 + (n-1+99)/100; calls != want {
		t.Errorf("%d events took %d AppendAudit calls, want %d", n, calls, want)
	}
	if len(events) != n {
		t.Fatalf("%d events written, want %d", len(events), n)
	}
	ids := map[string]bool{}
	for i, e := range events {
		if e.Details["n"] != fmt.Sprint(i) {
			t.Fatalf("event %d written is event %s: order not kept", i, e.Details["n"])
		}
		if _, ok := storage.CanonicalID(e.ID); !ok || ids[e.ID] {
			t.Errorf("event %d has ID %q, want a fresh UUID", i, e.ID)
		}
		ids[e.ID] = true
		if e.Time.IsZero() || e.Time.Location() != time.UTC {
			t.Errorf("event %d has time %v, want now in UTC", i, e.Time)
		}
	}
}

// TestRecordKeepsIDAndTime: an event that has an ID and a time keeps them.
func TestRecordKeepsIDAndTime(t *testing.T) {
	a := &appender{}
	r, _ := newRecorder(t, a, audit.Options{})
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	e := event(0)
	e.ID, e.Time = "0190a000-0000-7000-8000-000000000001", at
	r.Record(t.Context(), e)
	if err := r.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, events := a.written()
	if len(events) != 1 || events[0].ID != e.ID || !events[0].Time.Equal(at) {
		t.Errorf("written %+v, want ID %s and time %v kept", events, e.ID, at)
	}
}

// TestFlush: Flush returns once every event recorded before it is written,
// and at once when nothing is queued.
func TestFlush(t *testing.T) {
	a := &appender{}
	r, _ := newRecorder(t, a, audit.Options{})
	if err := r.Flush(t.Context()); err != nil {
		t.Fatalf("Flush with nothing recorded: %v", err)
	}
	for round := 1; round <= 50; round++ {
		for i := range 7 {
			r.Record(t.Context(), event(i))
		}
		if err := r.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		if _, events := a.written(); len(events) != 7*round {
			t.Fatalf("round %d: %d events written after Flush, want %d", round, len(events), 7*round)
		}
	}
}

// TestFlushConcurrent: with many goroutines recording and flushing, each
// Flush sees its own goroutine's events written.
func TestFlushConcurrent(t *testing.T) {
	a := &appender{}
	r, _ := newRecorder(t, a, audit.Options{QueueSize: 16, BatchSize: 4})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				e := event(i)
				e.ActorID = fmt.Sprintf("g%d-%d", g, i)
				r.Record(t.Context(), e)
				if err := r.Flush(t.Context()); err != nil {
					t.Error(err)
					return
				}
				_, events := a.written()
				found := false
				for _, w := range events {
					found = found || w.ActorID == e.ActorID
				}
				if !found {
					t.Errorf("event %s not written when Flush returned", e.ActorID)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestFlushTimeout: Flush gives up when ctx ends before the writer is done.
func TestFlushTimeout(t *testing.T) {
	a := &appender{gate: make(chan struct{})}
	r, _ := newRecorder(t, a, audit.Options{})
	defer close(a.gate)
	r.Record(t.Context(), event(0))
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := r.Flush(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Flush while the store hangs = %v, want DeadlineExceeded", err)
	}
}

// TestCloseFlushes: Close writes what is queued; events recorded after
// Close are written at once; Flush after Close returns.
func TestCloseFlushes(t *testing.T) {
	a := &appender{entered: make(chan struct{}, 1), gate: make(chan struct{})}
	logs := &logBuffer{}
	r := audit.New(a, slog.New(slog.NewTextHandler(logs, nil)), audit.Options{})
	r.Record(t.Context(), event(0))
	<-a.entered
	for i := 1; i < 100; i++ {
		r.Record(t.Context(), event(i))
	}
	closed := make(chan error, 1)
	go func() { closed <- r.Close(t.Context()) }()
	close(a.gate)
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, events := a.written(); len(events) != 100 {
		t.Fatalf("%d events written by Close, want 100", len(events))
	}
	r.Record(t.Context(), event(100))
	if _, events := a.written(); len(events) != 101 {
		t.Errorf("event recorded after Close not written at once: %d events", len(events))
	}
	if err := r.Flush(t.Context()); err != nil {
		t.Errorf("Flush after Close: %v", err)
	}
	if err := r.Close(t.Context()); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("errors logged:\n%s", logs)
	}
}

// TestCloseTimeout: when the store hangs, Close returns at ctx's end and
// the events left are logged as lost.
func TestCloseTimeout(t *testing.T) {
	a := &appender{gate: make(chan struct{})} // never opens
	logs := &logBuffer{}
	r := audit.New(a, slog.New(slog.NewTextHandler(logs, nil)), audit.Options{Backoff: time.Millisecond})
	r.Record(t.Context(), event(0))
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := r.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close = %v, want DeadlineExceeded", err)
	}
	if !strings.Contains(logs.String(), `msg="audit events lost" count=1`) {
		t.Errorf("lost event not logged:\n%s", logs)
	}
}

// TestFullQueueBlocks: Record waits while the queue is full, up to
// MaxWait, and proceeds when the writer makes room; nothing is dropped.
func TestFullQueueBlocks(t *testing.T) {
	a := &appender{entered: make(chan struct{}, 1), gate: make(chan struct{})}
	r, _ := newRecorder(t, a, audit.Options{QueueSize: 2, BatchSize: 2, MaxWait: time.Hour})
	r.Record(t.Context(), event(0))
	<-a.entered // event 0 is with the writer, which waits for the gate
	r.Record(t.Context(), event(1))
	r.Record(t.Context(), event(2)) // the queue is full
	returned := make(chan struct{})
	go func() {
		r.Record(t.Context(), event(3))
		close(returned)
	}()
	select {
	case <-returned:
		t.Fatal("Record returned while the queue was full")
	case <-time.After(100 * time.Millisecond):
	}
	close(a.gate)
	<-returned
	if err := r.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, events := a.written(); len(events) != 4 {
		t.Errorf("%d events written, want 4", len(events))
	}
}

// TestFullQueueContextEnds: a Record waiting for room gives up when its
// context ends, and logs the lost event by action, without its details.
func TestFullQueueContextEnds(t *testing.T) {
	a := &appender{entered: make(chan struct{}, 1), gate: make(chan struct{})}
	var dropped atomic.Int64
	r, logs := newRecorder(t, a, audit.Options{QueueSize: 1, Dropped: func(n int) { dropped.Add(int64(n)) }})
	defer close(a.gate)
	r.Record(t.Context(), event(0))
	<-a.entered
	r.Record(t.Context(), event(1)) // fills the queue
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	e := event(2)
	e.Details["n"] = "detail-not-for-logs"
	r.Record(ctx, e)
	got := logs.String()
	if !strings.Contains(got, "level=ERROR") || !strings.Contains(got, "action="+audit.ActionAuthPassword) {
		t.Errorf("lost event not logged at ERROR with its action:\n%s", got)
	}
	if strings.Contains(got, "detail-not-for-logs") {
		t.Errorf("log holds the event's details:\n%s", got)
	}
	if n := dropped.Load(); n != 1 {
		t.Errorf("Dropped told of %d events, want 1", n)
	}
}

// TestRetry: a failed write is retried with backoff, and succeeds once the
// store is back.
func TestRetry(t *testing.T) {
	a := &appender{failures: 2}
	r, logs := newRecorder(t, a, audit.Options{Backoff: time.Millisecond})
	for i := range 3 {
		r.Record(t.Context(), event(i))
	}
	if err := r.Flush(t.Context()); err != nil {
		t.Fatalf("Flush = %v, want the write to succeed on retry", err)
	}
	calls, events := a.written()
	if len(events) != 3 || calls < 3 {
		t.Errorf("%d calls wrote %d events, want 3 events after 2 failures", calls, len(events))
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("ERROR logged though the retry succeeded:\n%s", logs)
	}
}

// TestRetryGivesUp: after Retries retries a batch is lost; Flush reports
// it and the log counts it, without the events' details.
func TestRetryGivesUp(t *testing.T) {
	a := &appender{failures: 1 << 30, entered: make(chan struct{}, 1), gate: make(chan struct{})}
	var dropped atomic.Int64
	r, logs := newRecorder(t, a, audit.Options{Retries: 2, Backoff: time.Millisecond, Dropped: func(n int) { dropped.Add(int64(n)) }})
	r.Record(t.Context(), event(0))
	<-a.entered // event 0 is with the writer: the next two make one batch
	e := event(1)
	e.Details["n"] = "detail-not-for-logs"
	r.Record(t.Context(), e)
	r.Record(t.Context(), event(2))
	close(a.gate)
	err := r.Flush(t.Context())
	if err == nil || !strings.Contains(err.Error(), "3 audit events") {
		t.Errorf("Flush = %v, want an error counting 3 lost events", err)
	}
	if calls, _ := a.written(); calls != 6 {
		t.Errorf("%d calls, want 2 batches of 1 try and 2 retries", calls)
	}
	if n := dropped.Load(); n != 3 {
		t.Errorf("Dropped told of %d events, want 3", n)
	}
	got := logs.String()
	if !strings.Contains(got, `level=ERROR msg="audit events lost" count=2`) {
		t.Errorf("lost batch not logged at ERROR with its count:\n%s", got)
	}
	if strings.Contains(got, "detail-not-for-logs") {
		t.Errorf("log holds the event's details:\n%s", got)
	}
	// The next Flush reports only what was lost since.
	a.mu.Lock()
	a.failures = 0
	a.mu.Unlock()
	r.Record(t.Context(), event(3))
	if err := r.Flush(t.Context()); err != nil {
		t.Errorf("Flush after the store recovered = %v", err)
	}
}

// TestSpoiledBatch: an event the store refuses (storage.ErrInvalid) is
// lost alone: the rest of its batch is written one by one. An event
// already stored (storage.ErrConflict, an earlier try that went through)
// is not lost.
func TestSpoiledBatch(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		lost int
	}{
		{"invalid", storage.ErrInvalid, 1},
		{"stored already", storage.ErrConflict, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &appender{entered: make(chan struct{}, 1), gate: make(chan struct{}),
				refuse: func(e storage.AuditEvent) bool { return e.Details["n"] == "2" }, refuseErr: tc.err}
			r, logs := newRecorder(t, a, audit.Options{})
			r.Record(t.Context(), event(0))
			<-a.entered // events 1 to 3 make one batch
			for i := 1; i <= 3; i++ {
				r.Record(t.Context(), event(i))
			}
			close(a.gate)
			err := r.Flush(t.Context())
			if tc.lost > 0 && (err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%d audit events", tc.lost))) {
				t.Errorf("Flush = %v, want %d lost", err, tc.lost)
			}
			if tc.lost == 0 && err != nil {
				t.Errorf("Flush = %v, want nil", err)
			}
			calls, events := a.written()
			var got []string
			for _, e := range events {
				got = append(got, e.Details["n"])
			}
			if want := []string{"0", "1", "3"}; !slices.Equal(got, want) {
				t.Errorf("written %v, want %v", got, want)
			}
			if calls != 5 { // event 0; the batch; then 1, 2, 3 alone
				t.Errorf("%d calls, want 5 (no retry of a refused event)", calls)
			}
			if l := logs.String(); strings.Contains(l, "level=ERROR") != (tc.lost > 0) {
				t.Errorf("lost %d events; log:\n%s", tc.lost, l)
			}
		})
	}
}

// TestLongActorName: a display name too long to store is cut to fit, on a
// character boundary.
func TestLongActorName(t *testing.T) {
	a := &appender{}
	r, _ := newRecorder(t, a, audit.Options{})
	e := event(0)
	e.ActorName = strings.Repeat("é", storage.MaxAuditFieldLen) // 2 bytes each
	r.Record(t.Context(), e)
	if err := r.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, events := a.written()
	if got := events[0].ActorName; got != strings.Repeat("é", storage.MaxAuditFieldLen/2) {
		t.Errorf("ActorName cut to %d bytes %q, want %d whole characters", len(got), got, storage.MaxAuditFieldLen/2)
	}
}

// TestWrite: Write appends synchronously, stamping the events.
func TestWrite(t *testing.T) {
	a := &appender{}
	r, _ := newRecorder(t, a, audit.Options{})
	if err := r.Write(t.Context(), event(0), event(1)); err != nil {
		t.Fatal(err)
	}
	calls, events := a.written()
	if calls != 1 || len(events) != 2 || events[0].ID == "" || events[1].Time.IsZero() {
		t.Errorf("Write: %d calls, events %+v; want one call with 2 stamped events", calls, events)
	}
	a.mu.Lock()
	a.failures = 1
	a.mu.Unlock()
	if err := r.Write(t.Context(), event(2)); err == nil {
		t.Error("Write to a failing store returned nil")
	}
}

func TestClientIP(t *testing.T) {
	for _, tc := range []struct{ name, remote, want string }{
		{"ipv4", "192.0.2.7:5555", "192.0.2.7"},
		{"ipv6", "[2001:db8::1]:443", "2001:db8::1"},
		{"ipv4-mapped", "[::ffff:192.0.2.7]:80", "192.0.2.7"},
		{"zone", "[fe80::1%eth0]:80", "fe80::1"},
		{"no port", "192.0.2.7", "192.0.2.7"},
		{"not an address", "@", ""},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			r.Header.Set("X-Forwarded-For", "203.0.113.9")
			if got := audit.ClientIP(r); got != tc.want {
				t.Errorf("ClientIP(RemoteAddr %q) = %q, want %q", tc.remote, got, tc.want)
			}
		})
	}
}

// discard is an Appender that keeps nothing.
type discard struct{}

func (discard) AppendAudit(context.Context, []storage.AuditEvent) error { return nil }

// BenchmarkRecord is what an auth event costs the request that records
// it: stamping (a UUIDv7 and the time) and queueing; the writer drains in
// the background into a store that keeps nothing. The event is built once:
// its details map is the caller's cost. "serial" is one request at a time;
// "parallel" records from every core at once, the writer competing for them.
func BenchmarkRecord(b *testing.B) {
	e := storage.AuditEvent{
		ActorType: audit.ActorUser, ActorID: "0190a000-0000-7000-8000-000000000001", ActorName: "cj",
		Action: audit.ActionAuthPassword, TargetType: audit.TargetUser, TargetID: "0190a000-0000-7000-8000-000000000001",
		Outcome: audit.Success, ClientIP: "192.0.2.7", ClientID: "gaia-web",
		Details: map[string]string{audit.DetailGrant: "password"},
	}
	ctx := context.Background()
	newRecorder := func(b *testing.B) *audit.Recorder {
		r := audit.New(discard{}, slog.New(slog.NewTextHandler(io.Discard, nil)), audit.Options{})
		b.Cleanup(func() { _ = r.Close(ctx) })
		return r
	}
	b.Run("serial", func(b *testing.B) {
		r := newRecorder(b)
		b.ReportAllocs()
		for b.Loop() {
			r.Record(ctx, e)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		r := newRecorder(b)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				r.Record(ctx, e)
			}
		})
	})
}
