package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/gaia-platform/iam/storage"
)

// Appender stores audit events: the write half of storage.Audit.
type Appender interface {
	// AppendAudit stores events, in the transaction ctx carries if any.
	AppendAudit(ctx context.Context, events []storage.AuditEvent) error
}

// Options tune a Recorder; zero values take the defaults.
type Options struct {
	// QueueSize bounds the events waiting for the writer (default 8192).
	// When it is full, Record waits up to MaxWait.
	QueueSize int
	// MaxWait bounds how long Record waits for room in a full queue (the
	// database stalled or too slow) before it drops the event, counts it
	// (Dropped) and logs it, at most one line per DropLogInterval: the
	// token endpoint never waits on the audit log longer than this
	// (default 50ms; negative: no wait).
	MaxWait time.Duration
	// AggregateWindow is the window of unauthenticated failures: the
	// first anonymous failure of a kind (action, reason, client_id,
	// target, and address network: IPv4 /24, IPv6 /64) in a window is
	// written as it is; the others of the window become one summary
	// event with their count and network (DetailCount, DetailNetwork). The table then grows by at most two rows
	// per kind and window, however many failures there are (default 1m;
	// negative: write each one).
	AggregateWindow time.Duration
	// MaxAggregates bounds the kinds aggregated in one window (default
	// 1024); beyond it, failures aggregate by action and reason alone, so
	// that no sweep of addresses or clients makes more rows.
	MaxAggregates int
	// BatchSize bounds the events appended in one call (default 512).
	BatchSize int
	// Retries is how many times a failed batch is tried again before its
	// events are given up and logged as lost (default 3).
	Retries int
	// Backoff is the wait before the first retry, doubled before each
	// next one (default 100ms).
	Backoff time.Duration
	// Linger is how long the writer, woken by an event, waits for more
	// before it writes, unless a batch is full or Flush or Close waits
	// (default 10ms; negative: no wait). Batches then stay few when events
	// trickle in, and recording an event seldom has to wake the writer.
	Linger time.Duration
	// Now stamps events (default storage.Now).
	Now func() time.Time
	// Dropped, if set, is told of every n events given up, so that
	// metrics can count what the log reports.
	Dropped func(n int)
}

// Defaults of Options.
const (
	DefaultQueueSize = 8192
	DefaultBatchSize = 512
	DefaultRetries   = 3
	DefaultBackoff   = 100 * time.Millisecond
	DefaultLinger    = 10 * time.Millisecond
	DefaultMaxWait   = 50 * time.Millisecond
	// DefaultAggregateWindow and DefaultMaxAggregates: see Options.
	DefaultAggregateWindow = time.Minute
	DefaultMaxAggregates   = 1024
	// DropLogInterval is the least time between two log lines of dropped
	// events; each says how many were dropped since the last.
	DropLogInterval = 10 * time.Second
)

// Recorder records audit events; see the package documentation. Its
// methods are safe for concurrent use.
type Recorder struct {
	store Appender
	log   *slog.Logger
	opts  Options

	queue  chan item     // events and flush requests, in the order recorded
	kick   chan struct{} // ends the writer's linger: Flush waits
	stop   chan struct{} // closed once closed is set and no send is in flight
	done   chan struct{} // closed when the writer has exited
	cancel context.CancelFunc

	mu       sync.RWMutex
	closed   bool           // guarded by mu; set by Close
	inflight sync.WaitGroup // sends to queue in progress; Add only under mu.RLock with closed unset
	once     sync.Once

	// lost counts the events given up since the last flush request was
	// answered; owned by the writer goroutine.
	lost int

	agg *aggregator // nil when AggregateWindow is negative

	dropMu       sync.Mutex
	dropUnsaid   int       // guarded by dropMu: dropped and not yet logged
	dropLoggedAt time.Time // guarded by dropMu
}

// item is a queued event, or a flush request when flushed is set.
type item struct {
	event   storage.AuditEvent
	flushed chan error // answered once every earlier item is written
}

// New returns a Recorder appending to store, and starts its writer; Close
// stops it.
func New(store Appender, log *slog.Logger, opts Options) *Recorder {
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.Retries < 0 {
		opts.Retries = 0
	} else if opts.Retries == 0 {
		opts.Retries = DefaultRetries
	}
	if opts.Backoff <= 0 {
		opts.Backoff = DefaultBackoff
	}
	if opts.Linger == 0 {
		opts.Linger = DefaultLinger
	}
	if opts.Now == nil {
		opts.Now = storage.Now
	}
	if opts.MaxWait == 0 {
		opts.MaxWait = DefaultMaxWait
	}
	if opts.AggregateWindow == 0 {
		opts.AggregateWindow = DefaultAggregateWindow
	}
	if opts.MaxAggregates <= 0 {
		opts.MaxAggregates = DefaultMaxAggregates
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Recorder{
		store:  store,
		log:    log,
		opts:   opts,
		queue:  make(chan item, opts.QueueSize),
		kick:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		cancel: cancel,
	}
	if opts.AggregateWindow > 0 {
		r.agg = newAggregator(opts.AggregateWindow, opts.MaxAggregates)
		go r.expire()
	}
	go r.run(ctx)
	return r
}

// expire writes the summaries of the windows that have ended, once a
// window, until Close.
func (r *Recorder) expire() {
	t := time.NewTicker(r.opts.AggregateWindow)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			r.queueAll(context.Background(), r.agg.expired(r.opts.Now()))
		case <-r.stop:
			return
		}
	}
}

// queueAll records summaries as Record records an event.
func (r *Recorder) queueAll(ctx context.Context, summaries []storage.AuditEvent) {
	for _, e := range summaries {
		r.queue1(ctx, e)
	}
}

// Record stamps e with an ID and the time, unless it has them, and queues
// it for the writer. It returns at once unless the queue is full; then it
// waits for room up to Options.MaxWait or until ctx ends, and then the
// event is dropped: counted and logged (at most one line per
// DropLogInterval). An unauthenticated failure (actor anonymous, outcome
// failure) may be folded into a summary instead; see
// Options.AggregateWindow. After Close, Record writes e itself.
func (r *Recorder) Record(ctx context.Context, e storage.AuditEvent) {
	r.stamp(&e)
	if r.agg != nil && e.ActorType == ActorAnonymous && e.Outcome == Failure {
		if !r.agg.admit(e) {
			return
		}
	}
	r.queue1(ctx, e)
}

// queue1 queues e, or writes it itself after Close; a failure drops it.
func (r *Recorder) queue1(ctx context.Context, e storage.AuditEvent) {
	err := r.enqueueBounded(ctx, item{event: e})
	if errors.Is(err, errClosed) {
		err = r.store.AppendAudit(ctx, []storage.AuditEvent{e})
	}
	if err != nil {
		r.dropped(1)
		r.logDrop(ctx, e, err)
	}
}

// enqueueBounded is enqueue waiting at most Options.MaxWait.
func (r *Recorder) enqueueBounded(ctx context.Context, it item) error {
	if r.opts.MaxWait < 0 {
		ctx, cancel := context.WithCancel(ctx)
		cancel()
		return r.enqueue(ctx, it)
	}
	ctx, cancel := context.WithTimeout(ctx, r.opts.MaxWait)
	defer cancel()
	return r.enqueue(ctx, it)
}

// logDrop logs a dropped event: at once if no line was logged in the last
// DropLogInterval, with the number dropped since the last line; else it
// only counts it for the next line. It names the event by ID and action.
func (r *Recorder) logDrop(ctx context.Context, e storage.AuditEvent, err error) {
	r.dropMu.Lock()
	r.dropUnsaid++
	now := time.Now()
	if !r.dropLoggedAt.IsZero() && now.Sub(r.dropLoggedAt) < DropLogInterval {
		r.dropMu.Unlock()
		return
	}
	n := r.dropUnsaid
	r.dropUnsaid, r.dropLoggedAt = 0, now
	r.dropMu.Unlock()
	r.log.ErrorContext(ctx, "audit events dropped", "count", n, "action", e.Action, "event_id", e.ID, "error", err)
}

// Write stamps each event as Record does and appends them at once, in the
// transaction ctx carries: an admin change and its audit entry then commit
// together. It changes events in place.
func (r *Recorder) Write(ctx context.Context, events ...storage.AuditEvent) error {
	for i := range events {
		r.stamp(&events[i])
	}
	if err := r.store.AppendAudit(ctx, events); err != nil {
		return fmt.Errorf("write audit events: %w", err)
	}
	return nil
}

// Flush waits until every event recorded before the call has been written,
// or given up after retries, which is an error; or until ctx ends.
func (r *Recorder) Flush(ctx context.Context) error {
	if r.agg != nil {
		r.queueAll(ctx, r.agg.all())
	}
	flushed := make(chan error, 1)
	err := r.enqueue(ctx, item{flushed: flushed})
	if errors.Is(err, errClosed) {
		return r.wait(ctx) // Close writes everything queued
	}
	if err != nil {
		return err
	}
	select {
	case r.kick <- struct{}{}:
	default: // the writer has been kicked already
	}
	select {
	case err := <-flushed:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops taking events, writes those queued and stops the writer. If
// ctx ends first, the writer gives up what is left, logging how many
// events were lost, and Close returns ctx's error. Events recorded after
// Close are written one by one, synchronously.
func (r *Recorder) Close(ctx context.Context) error {
	r.once.Do(func() {
		if r.agg != nil {
			r.queueAll(ctx, r.agg.all())
		}
		r.mu.Lock()
		r.closed = true
		r.mu.Unlock()
		go func() {
			r.inflight.Wait()
			close(r.stop)
		}()
	})
	err := r.wait(ctx)
	if ctx.Err() != nil {
		r.cancel()
		<-r.done
	}
	return err
}

// wait waits for the writer to exit.
func (r *Recorder) wait(ctx context.Context) error {
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var errClosed = errors.New("audit recorder closed")

// enqueue adds it to the queue, waiting for room until ctx ends.
func (r *Recorder) enqueue(ctx context.Context, it item) error {
	r.mu.RLock()
	if r.closed {
		r.mu.RUnlock()
		return errClosed
	}
	r.inflight.Add(1)
	r.mu.RUnlock()
	defer r.inflight.Done()
	select {
	case r.queue <- it:
		return nil
	default:
	}
	select {
	case r.queue <- it:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("audit queue full: %w", ctx.Err())
	}
}

// stamp gives e an ID and the time, where it has none, and cuts an
// ActorName (a display name) that storage would refuse as too long.
func (r *Recorder) stamp(e *storage.AuditEvent) {
	if len(e.ActorName) > storage.MaxAuditFieldLen {
		e.ActorName = strings.ToValidUTF8(e.ActorName[:storage.MaxAuditFieldLen], "")
	}
	if e.ID == "" {
		// NewID fails only if the system's randomness does; AppendAudit
		// then assigns the ID.
		e.ID, _ = storage.NewID("")
	}
	if e.Time.IsZero() {
		e.Time = r.opts.Now()
	}
}

// run is the writer: it appends queued events in batches of up to
// BatchSize until stop is closed and the queue is empty.
func (r *Recorder) run(ctx context.Context) {
	defer close(r.done)
	defer r.cancel()
	batch := make([]storage.AuditEvent, 0, r.opts.BatchSize)
	var flushes []chan error
	stopping := false
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	for {
		// Wait for the first item, linger for more, then take what is
		// queued, up to a full batch, without waiting.
		var it item
		select {
		case it = <-r.queue:
		default:
			if stopping {
				return
			}
			select {
			case it = <-r.queue:
			case <-r.stop:
				stopping = true // the queue gets no more items: drain it
				continue
			}
			if r.opts.Linger > 0 && it.flushed == nil && len(r.queue) < r.opts.BatchSize-1 {
				linger.Reset(r.opts.Linger)
				select {
				case <-linger.C:
				case <-r.kick:
					linger.Stop()
				case <-r.stop:
					linger.Stop()
					stopping = true
				}
			}
		}
		for {
			if it.flushed != nil {
				flushes = append(flushes, it.flushed)
			} else {
				batch = append(batch, it.event)
			}
			if len(batch) == cap(batch) {
				break
			}
			var ok bool
			select {
			case it, ok = <-r.queue:
			default:
			}
			if !ok {
				break
			}
		}
		if len(batch) > 0 {
			r.write(ctx, batch)
			clear(batch) // let the details maps go
			batch = batch[:0]
		}
		if len(flushes) > 0 {
			var err error
			if r.lost > 0 {
				err = fmt.Errorf("%d audit events could not be written", r.lost)
				r.lost = 0
			}
			for _, f := range flushes {
				f <- err
			}
			clear(flushes)
			flushes = flushes[:0]
		}
	}
}

// write appends batch. When one event spoils the batch — it breaks a
// bound (storage.ErrInvalid), or its ID is stored already
// (storage.ErrConflict: an earlier try was stored after all, its answer
// lost) — it writes the events one by one, so that only that one is lost.
// Events it cannot write are lost: it logs their number and actions.
func (r *Recorder) write(ctx context.Context, batch []storage.AuditEvent) {
	err := r.append(ctx, batch)
	switch {
	case err == nil:
		return
	case len(batch) == 1 && errors.Is(err, storage.ErrConflict):
		return // stored already
	case len(batch) > 1 && (errors.Is(err, storage.ErrInvalid) || errors.Is(err, storage.ErrConflict)):
		for i := range batch {
			r.write(ctx, batch[i:i+1])
		}
		return
	}
	r.lost += len(batch)
	r.dropped(len(batch))
	r.log.ErrorContext(ctx, "audit events lost", "count", len(batch),
		"first_event_id", batch[0].ID, "last_event_id", batch[len(batch)-1].ID,
		"actions", actions(batch), "error", err)
}

// append appends batch, trying again Retries times with exponential
// backoff while the store fails for a reason that may pass.
func (r *Recorder) append(ctx context.Context, batch []storage.AuditEvent) error {
	backoff := r.opts.Backoff
	for attempt := 0; ; attempt++ {
		err := r.store.AppendAudit(ctx, batch)
		if err == nil || attempt == r.opts.Retries || ctx.Err() != nil ||
			errors.Is(err, storage.ErrInvalid) || errors.Is(err, storage.ErrConflict) {
			return err
		}
		r.log.WarnContext(ctx, "writing audit events failed, retrying", "count", len(batch), "attempt", attempt+1, "error", err)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		backoff *= 2
	}
}

// dropped reports n events given up to Options.Dropped.
func (r *Recorder) dropped(n int) {
	if r.opts.Dropped != nil {
		r.opts.Dropped(n)
	}
}

// actions lists the distinct actions of events, for the log.
func actions(events []storage.AuditEvent) []string {
	var out []string
	seen := map[string]bool{}
	for _, e := range events {
		if !seen[e.Action] {
			seen[e.Action] = true
			out = append(out, e.Action)
		}
	}
	return out
}
