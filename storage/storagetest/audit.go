package storagetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gaia-platform/iam/storage"
)

var auditCases = []testCase{
	{"AppendList", testAuditAppendList},
	{"ExplicitIDAndTime", testAuditExplicitIDAndTime},
	{"Filters", testAuditFilters},
	{"TimeRange", testAuditTimeRange},
	{"Pages", testAuditPages},
	{"Bounds", testAuditBounds},
	{"Invalid", testAuditInvalid},
	{"Conflict", testAuditConflict},
	{"Tx", testAuditTx},
	{"Batch", testAuditBatch},
	{"ListInvalid", testAuditListInvalid},
	{"Purge", testAuditPurge},
	{"PurgeTx", testAuditPurgeTx},
	{"PurgeInvalid", testAuditPurgeInvalid},
	{"PurgeConcurrent", testAuditPurgeConcurrent},
	{"Export", testAuditExport},
}

// auditEvent returns a valid event with every field set but ID and Time.
func auditEvent(action string) storage.AuditEvent {
	return storage.AuditEvent{
		ActorType:  "user",
		ActorID:    "0190f3a0-0000-7000-8000-00000000a11c",
		ActorName:  "alice",
		Action:     action,
		TargetType: "user",
		TargetID:   "0190f3a0-0000-7000-8000-000000000b0b",
		Outcome:    "success",
		ClientIP:   "2001:db8::1",
		ClientID:   "gaia-admin",
		Details:    map[string]string{"role": "Viewer", "reason": `quotes " and <html> & ünïcödé`},
	}
}

// appendAudit appends events and fails t now on an error.
func appendAudit(t *testing.T, s storage.Store, events ...storage.AuditEvent) []storage.AuditEvent {
	t.Helper()
	ok(t, fmt.Sprintf("AppendAudit(%d events)", len(events)), s.AppendAudit(t.Context(), events))
	return events
}

// listAudit lists the events ListAudit answers for f; it fails t on an
// error or a nil slice.
func listAudit(t *testing.T, s storage.Store, f storage.AuditFilter) []storage.AuditEvent {
	t.Helper()
	es, err := s.ListAudit(t.Context(), f)
	if err != nil {
		t.Fatalf("ListAudit(%+v): %v", f, err)
	}
	if es == nil {
		t.Fatalf("ListAudit(%+v) = nil, want a non-nil slice", f)
	}
	return es
}

// newestFirst returns events in the order ListAudit lists them.
func newestFirst(events ...storage.AuditEvent) []storage.AuditEvent {
	es := slices.Clone(events)
	slices.SortFunc(es, func(a, b storage.AuditEvent) int { return strings.Compare(b.ID, a.ID) })
	return es
}

// wantAudit fails t unless ListAudit(f) lists exactly want, field by field.
func wantAudit(t *testing.T, s storage.Store, what string, f storage.AuditFilter, want ...storage.AuditEvent) {
	t.Helper()
	got := listAudit(t, s, f)
	if want == nil {
		want = []storage.AuditEvent{}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ListAudit(%s) = %s, want %s", what, actions(got), actions(want))
		for i := range min(len(got), len(want)) {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Errorf("ListAudit(%s)[%d] = %+v, want %+v", what, i, got[i], want[i])
			}
		}
	}
}

// actions names events by action and ID, for messages.
func actions(es []storage.AuditEvent) string {
	ns := make([]string, len(es))
	for i, e := range es {
		ns[i] = e.Action + "/" + e.ID
	}
	return "[" + strings.Join(ns, " ") + "]"
}

func testAuditAppendList(t *testing.T, s storage.Store) {
	wantAudit(t, s, "empty log", storage.AuditFilter{})
	ok(t, "AppendAudit(nil)", s.AppendAudit(t.Context(), nil))

	full := auditEvent("user.create")
	minimal := storage.AuditEvent{ActorType: "anonymous", Action: "auth.password", Outcome: "failure"}
	empty := auditEvent("user.update")
	empty.Details = map[string]string{} // read back as nil
	before := storage.Now()
	events := appendAudit(t, s, full, minimal, empty)
	for i, e := range events {
		if id, err := uuid.Parse(e.ID); err != nil || id.Version() != 7 || id.String() != e.ID {
			t.Errorf("AppendAudit assigned event %d ID %q, want a canonical UUIDv7", i, e.ID)
		}
		if e.Time.Before(before) || time.Since(e.Time) > time.Minute {
			t.Errorf("AppendAudit stamped event %d with %v, want now (%v)", i, e.Time, before)
		}
		if e.Time.Location() != time.UTC || e.Time.Nanosecond()%1000 != 0 {
			t.Errorf("AppendAudit stamped event %d with %v, want UTC at microsecond precision", i, e.Time)
		}
	}
	if events[0].ID >= events[1].ID || events[1].ID >= events[2].ID {
		t.Errorf("AppendAudit assigned IDs %s, want them increasing", actions(events))
	}
	if events[2].Details == nil {
		t.Errorf("AppendAudit set the caller's empty Details to nil; it assigns only ID and Time")
	}
	events[2].Details = nil
	wantAudit(t, s, "all", storage.AuditFilter{}, events[2], events[1], events[0])
}

func testAuditExplicitIDAndTime(t *testing.T, s storage.Store) {
	id := uuid.Must(uuid.NewV7()).String()
	at := time.Date(2024, 2, 29, 23, 59, 58, 123456789, time.FixedZone("CET", 3600))
	e := auditEvent("client.create")
	e.ID, e.Time = strings.ToUpper(id), at
	events := appendAudit(t, s, e)
	want := e
	want.ID, want.Time = id, time.Date(2024, 2, 29, 22, 59, 58, 123456000, time.UTC)
	if !reflect.DeepEqual(events[0], want) {
		t.Errorf("AppendAudit left %+v, want %+v", events[0], want)
	}
	wantAudit(t, s, "all", storage.AuditFilter{}, want)
	// A v4 ID is stored too: callers choose.
	v4 := auditEvent("client.delete")
	v4.ID = uuid.NewString()
	appendAudit(t, s, v4)
	if got := listAudit(t, s, storage.AuditFilter{Action: "client.delete"}); len(got) != 1 || got[0].ID != v4.ID {
		t.Errorf("ListAudit(client.delete) = %s, want %s", actions(got), v4.ID)
	}
}

func testAuditFilters(t *testing.T, s storage.Store) {
	mk := func(action, actorID, targetID, outcome string) storage.AuditEvent {
		e := auditEvent(action)
		e.ActorID, e.TargetID, e.Outcome = actorID, targetID, outcome
		return e
	}
	events := appendAudit(t, s,
		mk("user.create", "alice", "bob", "success"),           // 0
		mk("user.role.assign", "alice", "carol", "failure"),    // 1
		mk("user", "alice", "bob", "success"),                  // 2
		mk("users.export", "dave", "", "success"),              // 3
		mk("auth.password", "", "bob", "failure"),              // 4
		mk("user.create", "dave", "erin", "success"),           // 5
		mk("user_create", "alice", "bob", "success"),           // 6: '_' is no wildcard
		mk("user.delete", "dave", "bob", "failure"),            // 7
		mk("auth.refresh.reuse", "svc-a", "family", "failure"), // 8
		mk("user(x)", "erin", "", "success"),                   // 9: between "user." and "user/" in some collations
	)
	pick := func(is ...int) []storage.AuditEvent {
		es := make([]storage.AuditEvent, len(is))
		for i, n := range is {
			es[i] = events[n]
		}
		return newestFirst(es...)
	}
	for _, c := range []struct {
		name string
		f    storage.AuditFilter
		want []storage.AuditEvent
	}{
		{"all", storage.AuditFilter{}, pick(0, 1, 2, 3, 4, 5, 6, 7, 8, 9)},
		{"actor", storage.AuditFilter{ActorID: "alice"}, pick(0, 1, 2, 6)},
		{"no such actor", storage.AuditFilter{ActorID: "ALICE"}, nil},
		{"action exact", storage.AuditFilter{Action: "user.create"}, pick(0, 5)},
		{"action exact, no prefix", storage.AuditFilter{Action: "user"}, pick(2)},
		{"action prefix", storage.AuditFilter{Action: "user."}, pick(0, 1, 5, 7)},
		{"action deeper prefix", storage.AuditFilter{Action: "user.role."}, pick(1)},
		{"action prefix of a prefix", storage.AuditFilter{Action: "auth."}, pick(4, 8)},
		{"action prefix, none", storage.AuditFilter{Action: "client."}, nil},
		{"action partial word", storage.AuditFilter{Action: "user.cr"}, nil},
		{"target", storage.AuditFilter{TargetID: "bob"}, pick(0, 2, 4, 6, 7)},
		{"outcome", storage.AuditFilter{Outcome: "failure"}, pick(1, 4, 7, 8)},
		{"actor and action prefix", storage.AuditFilter{ActorID: "dave", Action: "user."}, pick(5, 7)},
		{"action prefix and target and outcome", storage.AuditFilter{Action: "user.", TargetID: "bob", Outcome: "success"}, pick(0)},
		{"actor and target", storage.AuditFilter{ActorID: "alice", TargetID: "bob"}, pick(0, 2, 6)},
		{"limit", storage.AuditFilter{TargetID: "bob", Limit: 2}, pick(6, 7)},
	} {
		wantAudit(t, s, c.name, c.f, c.want...)
	}
}

func testAuditTimeRange(t *testing.T, s storage.Store) {
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	var events []storage.AuditEvent
	for i, d := range []time.Duration{0, time.Microsecond, time.Second, time.Hour, 24 * time.Hour} {
		e := auditEvent(fmt.Sprintf("key.rotate.%d", i))
		e.Time = t0.Add(d)
		events = append(events, e)
	}
	events = appendAudit(t, s, events...)
	at := func(is ...int) []storage.AuditEvent {
		es := make([]storage.AuditEvent, len(is))
		for i, n := range is {
			es[i] = events[n]
		}
		return newestFirst(es...)
	}
	for _, c := range []struct {
		name         string
		since, until time.Time
		want         []storage.AuditEvent
	}{
		{"since is inclusive", t0.Add(time.Second), time.Time{}, at(2, 3, 4)},
		{"until is exclusive", time.Time{}, t0.Add(time.Hour), at(0, 1, 2)},
		{"both", t0.Add(time.Microsecond), t0.Add(24 * time.Hour), at(1, 2, 3)},
		{"one instant", t0, t0.Add(time.Microsecond), at(0)},
		{"empty", t0.Add(time.Hour), t0.Add(time.Hour), nil},
		{"reversed", t0.Add(time.Hour), t0, nil},
		{"other zone", t0.Add(time.Hour).In(time.FixedZone("X", -7*3600)), time.Time{}, at(3, 4)},
		// Stored times are whole microseconds: a bound between two is
		// rounded up, as a comparison with it would.
		{"sub-microsecond since", t0.Add(time.Nanosecond), time.Time{}, at(1, 2, 3, 4)},
		{"sub-microsecond until", time.Time{}, t0.Add(time.Microsecond + time.Nanosecond), at(0, 1)},
		{"before everything", time.Time{}, t0, nil},
	} {
		wantAudit(t, s, c.name, storage.AuditFilter{Since: c.since, Until: c.until}, c.want...)
	}
}

func testAuditPages(t *testing.T, s storage.Store) {
	var events []storage.AuditEvent
	for i := range 23 {
		action := "user.update"
		if i%3 == 0 {
			action = "client.update"
		}
		events = append(events, auditEvent(action))
	}
	events = appendAudit(t, s, events...)
	for _, f := range []storage.AuditFilter{
		{Limit: 1},
		{Limit: 5},
		{Limit: 23},
		{Limit: 4, Action: "user."},
	} {
		all := listAudit(t, s, storage.AuditFilter{Action: f.Action, Limit: storage.MaxListLimit})
		var got []storage.AuditEvent
		for page := 0; page <= len(all); page++ {
			es := listAudit(t, s, f)
			if len(es) > f.Limit {
				t.Fatalf("ListAudit(%+v) listed %d, want at most %d", f, len(es), f.Limit)
			}
			got = append(got, es...)
			if len(es) < f.Limit {
				break
			}
			f.Before = es[len(es)-1].ID
		}
		if !reflect.DeepEqual(got, all) {
			t.Errorf("ListAudit in pages of %d of %q = %s, want %s", f.Limit, f.Action, actions(got), actions(all))
		}
	}
	all := listAudit(t, s, storage.AuditFilter{Limit: storage.MaxListLimit})
	if !reflect.DeepEqual(all, newestFirst(events...)) {
		t.Errorf("ListAudit() = %s, want %s", actions(all), actions(newestFirst(events...)))
	}
	// The cursor need not be an ID of the log, and may be in any case.
	got := listAudit(t, s, storage.AuditFilter{Before: strings.ToUpper(all[10].ID), Limit: 2})
	if !reflect.DeepEqual(got, all[11:13]) {
		t.Errorf("ListAudit(Before the 11th) = %s, want %s", actions(got), actions(all[11:13]))
	}
	wantAudit(t, s, "Before the oldest", storage.AuditFilter{Before: all[len(all)-1].ID})
	wantAudit(t, s, "Before a nil UUID", storage.AuditFilter{Before: uuid.Nil.String()})
	wantAudit(t, s, "Before a max UUID", storage.AuditFilter{Before: uuid.Max.String(), Limit: 1}, all[0])
}

// testAuditBounds checks that values at the bounds are stored: the schema's
// checks count bytes, as PrepareAudit does.
func testAuditBounds(t *testing.T, s storage.Store) {
	long := strings.Repeat("é", storage.MaxAuditFieldLen/2) + "x" // 255 bytes, 128 characters
	e := storage.AuditEvent{
		ActorType:  long,
		ActorID:    long,
		ActorName:  long,
		Action:     long,
		TargetType: long,
		TargetID:   long,
		Outcome:    long,
		ClientIP:   strings.Repeat("é", storage.MaxAuditClientIPLen/2), // 64 bytes
		ClientID:   long,
		// {"k":"…"} is 8 bytes of JSON around the value.
		Details: map[string]string{"k": strings.Repeat("v", storage.MaxAuditDetailsLen-8)},
	}
	events := appendAudit(t, s, e)
	wantAudit(t, s, "all", storage.AuditFilter{}, events...)
}

func testAuditInvalid(t *testing.T, s storage.Store) {
	ctx := t.Context()
	tooLong := strings.Repeat("é", storage.MaxAuditFieldLen/2+1) // 256 bytes, 128 characters
	for _, c := range []struct {
		name string
		edit func(e *storage.AuditEvent)
	}{
		{"no action", func(e *storage.AuditEvent) { e.Action = "" }},
		{"no actor type", func(e *storage.AuditEvent) { e.ActorType = "" }},
		{"no outcome", func(e *storage.AuditEvent) { e.Outcome = "" }},
		{"long actor type", func(e *storage.AuditEvent) { e.ActorType = tooLong }},
		{"long actor id", func(e *storage.AuditEvent) { e.ActorID = tooLong }},
		{"long actor name", func(e *storage.AuditEvent) { e.ActorName = tooLong }},
		{"long action", func(e *storage.AuditEvent) { e.Action = tooLong }},
		{"long target type", func(e *storage.AuditEvent) { e.TargetType = tooLong }},
		{"long target id", func(e *storage.AuditEvent) { e.TargetID = tooLong }},
		{"long outcome", func(e *storage.AuditEvent) { e.Outcome = tooLong }},
		{"long client ip", func(e *storage.AuditEvent) { e.ClientIP = strings.Repeat("1", storage.MaxAuditClientIPLen+1) }},
		{"long client id", func(e *storage.AuditEvent) { e.ClientID = tooLong }},
		{"long details", func(e *storage.AuditEvent) {
			e.Details = map[string]string{"k": strings.Repeat("v", storage.MaxAuditDetailsLen-7)}
		}},
		{"long details, escaped", func(e *storage.AuditEvent) {
			e.Details = map[string]string{"k": strings.Repeat("<", storage.MaxAuditDetailsLen/6)} // 6 bytes each as JSON
		}},
		{"id not a uuid", func(e *storage.AuditEvent) { e.ID = "not-a-uuid" }},
		{"not utf-8", func(e *storage.AuditEvent) { e.ActorName = "al\xffce" }},
		{"nul", func(e *storage.AuditEvent) { e.TargetID = "a\x00b" }},
		{"details not utf-8", func(e *storage.AuditEvent) { e.Details = map[string]string{"k": "\xc3"} }},
		{"year 10000", func(e *storage.AuditEvent) { e.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }},
	} {
		bad := auditEvent("user.create")
		c.edit(&bad)
		for _, batch := range [][]storage.AuditEvent{
			{bad},
			{auditEvent("user.update"), auditEvent("user.delete"), bad, auditEvent("user.enable")},
		} {
			err := s.AppendAudit(ctx, batch)
			is(t, fmt.Sprintf("AppendAudit(%s, %d events)", c.name, len(batch)), err, storage.ErrInvalid)
			if batch[0].ID != "" && batch[0].ID != bad.ID {
				t.Errorf("AppendAudit(%s) failing assigned ID %q", c.name, batch[0].ID)
			}
		}
	}
	wantAudit(t, s, "after invalid appends", storage.AuditFilter{Limit: storage.MaxListLimit})
}

func testAuditConflict(t *testing.T, s storage.Store) {
	ctx := t.Context()
	first := appendAudit(t, s, auditEvent("user.create"))[0]
	again := auditEvent("user.delete")
	again.ID = first.ID
	is(t, "AppendAudit with a stored ID", s.AppendAudit(ctx, []storage.AuditEvent{auditEvent("user.update"), again}), storage.ErrConflict)
	twice := auditEvent("user.enable")
	twice.ID = uuid.NewString()
	is(t, "AppendAudit with one ID twice", s.AppendAudit(ctx, []storage.AuditEvent{twice, twice}), storage.ErrConflict)
	wantAudit(t, s, "after conflicts", storage.AuditFilter{}, first)
}

func testAuditTx(t *testing.T, s storage.Store) {
	ctx := t.Context()
	errStop := errors.New("stop")
	err := s.InTx(ctx, func(ctx context.Context) error {
		if err := s.CreateUser(ctx, &storage.User{Username: "alice"}); err != nil {
			return err
		}
		if err := s.AppendAudit(ctx, []storage.AuditEvent{auditEvent("user.create"), auditEvent("user.role.assign")}); err != nil {
			return err
		}
		// Reads in the transaction see its writes.
		if es, err := s.ListAudit(ctx, storage.AuditFilter{}); err != nil || len(es) != 2 {
			t.Errorf("ListAudit in the transaction = %s, %v, want 2 events", actions(es), err)
		}
		return errStop
	})
	is(t, "InTx", err, errStop)
	wantAudit(t, s, "after rollback", storage.AuditFilter{})

	var events []storage.AuditEvent
	ok(t, "InTx", s.InTx(ctx, func(ctx context.Context) error {
		events = []storage.AuditEvent{auditEvent("user.create")}
		if err := s.AppendAudit(ctx, events); err != nil {
			return err
		}
		more := []storage.AuditEvent{auditEvent("user.update")}
		if err := s.AppendAudit(ctx, more); err != nil {
			return err
		}
		events = append(events, more...)
		return nil
	}))
	wantAudit(t, s, "after commit", storage.AuditFilter{}, newestFirst(events...)...)

	// A failed append inside a transaction leaves it usable: the events are
	// checked before any statement runs.
	ok(t, "InTx", s.InTx(ctx, func(ctx context.Context) error {
		bad := auditEvent("")
		is(t, "AppendAudit(no action)", s.AppendAudit(ctx, []storage.AuditEvent{bad}), storage.ErrInvalid)
		more := []storage.AuditEvent{auditEvent("user.delete")}
		if err := s.AppendAudit(ctx, more); err != nil {
			return err
		}
		events = append(events, more...)
		return nil
	}))
	wantAudit(t, s, "after a failed append in a transaction", storage.AuditFilter{}, newestFirst(events...)...)
}

// testAuditBatch appends a batch of 500, as a busy minute might, in one call.
func testAuditBatch(t *testing.T, s storage.Store) {
	events := make([]storage.AuditEvent, 500)
	for i := range events {
		events[i] = auditEvent("auth.password")
		events[i].TargetID = fmt.Sprintf("user-%03d", i)
		if i%2 == 0 {
			events[i].Details = nil
		}
	}
	start := time.Now()
	appendAudit(t, s, events...)
	t.Logf("AppendAudit(%d events) took %v", len(events), time.Since(start))
	wantAudit(t, s, "all", storage.AuditFilter{Limit: storage.MaxListLimit}, newestFirst(events...)...)
	wantAudit(t, s, "default limit", storage.AuditFilter{}, newestFirst(events...)[:storage.DefaultListLimit]...)
	wantAudit(t, s, "one target", storage.AuditFilter{TargetID: "user-250"}, events[250])
}

func testAuditListInvalid(t *testing.T, s storage.Store) {
	appendAudit(t, s, auditEvent("user.create"))
	for _, f := range []storage.AuditFilter{
		{Limit: storage.MaxListLimit + 1},
		{Limit: -1},
		{Before: "not-a-uuid"},
		{Action: "user.\xff"},
		{ActorID: "a\x00"},
	} {
		es, err := s.ListAudit(t.Context(), f)
		is(t, fmt.Sprintf("ListAudit(%+v)", f), err, storage.ErrInvalid)
		if es != nil {
			t.Errorf("ListAudit(%+v) = %s, want nil", f, actions(es))
		}
	}
	if es := listAudit(t, s, storage.AuditFilter{Limit: storage.MaxListLimit}); len(es) != 1 {
		t.Errorf("ListAudit(Limit MaxListLimit) = %s, want 1 event", actions(es))
	}
}

// aged returns an event of action that happened age ago.
func aged(action string, age time.Duration) storage.AuditEvent {
	e := auditEvent(action)
	e.Time = time.Now().Add(-age)
	return e
}

const (
	day  = 24 * time.Hour
	year = 365 * day
)

func testAuditPurge(t *testing.T, s storage.Store) {
	ctx := t.Context()
	events := appendAudit(t, s,
		aged("old.2", year+30*day),
		aged("old.1", year+60*day),
		aged("old.3", year+day),
		aged("edge", year-time.Hour), // younger than the retention, if not by much
		auditEvent("young"),
	)
	n, err := s.ExpiredAudit(ctx, year)
	if err != nil || n != 3 {
		t.Errorf("ExpiredAudit(1 year) = %d, %v, want 3", n, err)
	}
	// Oldest first, limit at a time.
	for _, want := range []struct {
		n    int64
		left []storage.AuditEvent
	}{
		{2, []storage.AuditEvent{events[2], events[3], events[4]}},
		{1, []storage.AuditEvent{events[3], events[4]}},
		{0, []storage.AuditEvent{events[3], events[4]}},
	} {
		n, err := s.PurgeAudit(ctx, year, 2)
		if err != nil || n != want.n {
			t.Fatalf("PurgeAudit(1 year, 2) = %d, %v, want %d", n, err, want.n)
		}
		wantAudit(t, s, "after a purge", storage.AuditFilter{}, newestFirst(want.left...)...)
	}
	if n, err := s.ExpiredAudit(ctx, year); err != nil || n != 0 {
		t.Errorf("ExpiredAudit(1 year) after the purge = %d, %v, want 0", n, err)
	}
	// A shorter retention takes the edge too; the minimum keeps a day.
	if n, err := s.PurgeAudit(ctx, storage.MinAuditRetention, 100); err != nil || n != 1 {
		t.Errorf("PurgeAudit(1 day) = %d, %v, want 1", n, err)
	}
	wantAudit(t, s, "after a purge of a day", storage.AuditFilter{}, events[4])
}

func testAuditPurgeTx(t *testing.T, s storage.Store) {
	ctx := t.Context()
	events := appendAudit(t, s, aged("old", 2*year), auditEvent("young"))
	errStop := errors.New("stop")
	err := s.InTx(ctx, func(ctx context.Context) error {
		if n, err := s.PurgeAudit(ctx, year, 10); err != nil || n != 1 {
			t.Errorf("PurgeAudit in a transaction = %d, %v, want 1", n, err)
		}
		return errStop
	})
	is(t, "InTx", err, errStop)
	wantAudit(t, s, "after a rolled back purge", storage.AuditFilter{}, newestFirst(events...)...)
}

func testAuditPurgeInvalid(t *testing.T, s storage.Store) {
	ctx := t.Context()
	appendAudit(t, s, aged("old", 2*year))
	for _, c := range []struct {
		retention time.Duration
		limit     int
	}{
		{0, 10},
		{-year, 10},
		{storage.MinAuditRetention - time.Second, 10},
		{year, 0},
		{year, -1},
	} {
		n, err := s.PurgeAudit(ctx, c.retention, c.limit)
		is(t, fmt.Sprintf("PurgeAudit(%v, %d)", c.retention, c.limit), err, storage.ErrInvalid)
		if n != 0 {
			t.Errorf("PurgeAudit(%v, %d) = %d, want 0", c.retention, c.limit, n)
		}
	}
	_, err := s.ExpiredAudit(ctx, time.Hour)
	is(t, "ExpiredAudit(1h)", err, storage.ErrInvalid)
	if got := listAudit(t, s, storage.AuditFilter{}); len(got) != 1 {
		t.Errorf("ListAudit after invalid purges = %s, want the old event", actions(got))
	}
}

// testAuditExport exports more than a page, with events sharing a time
// and IDs out of time order, in (time, ID) order.
func testAuditExport(t *testing.T, s storage.Store) {
	ctx := t.Context()
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var events []storage.AuditEvent
	for i := range 1203 {
		e := auditEvent("user.update")
		e.Time = t0.Add(time.Duration(i/3) * time.Second) // three at each time
		e.ID = uuid.NewString()                           // v4: ID order is not time order
		e.Details = map[string]string{"n": fmt.Sprint(i)}
		events = append(events, e)
	}
	events = appendAudit(t, s, events...)
	ordered := slices.Clone(events)
	slices.SortFunc(ordered, func(a, b storage.AuditEvent) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	export := func(f storage.AuditFilter) []storage.AuditEvent {
		var got []storage.AuditEvent
		ok(t, fmt.Sprintf("ExportAudit(%v, %v)", f.Since, f.Until), s.ExportAudit(ctx, f, func(e *storage.AuditEvent) error {
			got = append(got, *e)
			return nil
		}))
		return got
	}
	if got := export(storage.AuditFilter{}); !reflect.DeepEqual(got, ordered) {
		t.Errorf("ExportAudit(all) = %d events, want %d in time order", len(got), len(ordered))
	}
	since, until := t0.Add(100*time.Second), t0.Add(300*time.Second)
	if got := export(storage.AuditFilter{Since: since, Until: until, Action: "ignored", Limit: 1}); !reflect.DeepEqual(got, ordered[300:900]) {
		t.Errorf("ExportAudit(100s, 300s) = %d events, want the 600 from the 301st", len(got))
	}
	if got := export(storage.AuditFilter{Since: t0.Add(time.Hour)}); len(got) != 0 {
		t.Errorf("ExportAudit(after everything) = %d events, want none", len(got))
	}
	errStop := errors.New("stop")
	calls := 0
	err := s.ExportAudit(ctx, storage.AuditFilter{}, func(*storage.AuditEvent) error {
		calls++
		if calls == 10 {
			return errStop
		}
		return nil
	})
	if !errors.Is(err, errStop) || calls != 10 {
		t.Errorf("ExportAudit stopped by its function after %d calls: %v, want %v after 10", calls, err, errStop)
	}
}

// testAuditPurgeConcurrent purges from several goroutines at once, as
// replicas do: together they delete each expired event once, and fail
// nowhere.
func testAuditPurgeConcurrent(t *testing.T, s storage.Store) {
	ctx := t.Context()
	const n = 2000
	for start := 0; start < n; start += 500 {
		events := make([]storage.AuditEvent, 500)
		for i := range events {
			events[i] = aged("old", year+time.Duration(start+i)*time.Minute)
		}
		appendAudit(t, s, events...)
	}
	young := appendAudit(t, s, auditEvent("young"))
	var total atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k, err := s.PurgeAudit(ctx, year, 300)
				if err != nil {
					t.Errorf("PurgeAudit concurrently: %v", err)
					return
				}
				total.Add(k)
				if k == 0 {
					return
				}
			}
		}()
	}
	wg.Wait()
	if got := total.Load(); got != n {
		t.Errorf("concurrent purges deleted %d events, want %d", got, n)
	}
	wantAudit(t, s, "after concurrent purges", storage.AuditFilter{}, young...)
}
