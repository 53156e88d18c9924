package audit_test

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gaia-platform/iam/audit"
	"github.com/gaia-platform/iam/server"
	"github.com/gaia-platform/iam/server/servertest"
	"github.com/gaia-platform/iam/storage"
	"github.com/gaia-platform/iam/storage/storagetest"
)

// TestTokenEndpointStalledAudit: on a real PostgreSQL whose audit table is
// locked (the audit writer stuck on it) and a full audit queue, the token
// endpoint still issues every token, each within the bounded wait plus the
// request's own work, and counts the dropped events in /metrics.
func TestTokenEndpointStalledAudit(t *testing.T) {
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
	iam := servertest.Start(t, store, servertest.Options{Tune: func(c *server.Config) { c.AuditQueueSize = 4 }})
	cc := clientcredentials.Config{ClientID: "inventory-service", ClientSecret: servertest.ServiceSecret,
		TokenURL: iam.Issuer + "/oauth2/token"}
	if _, err := cc.Token(ctx); err != nil { // warm up: keys, client cache
		t.Fatal(err)
	}
	if err := iam.Server.Audit().Flush(ctx); err != nil {
		t.Fatal(err)
	}

	conn, err := pgx.Connect(ctx, schema)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var unlock sync.Once
	release := func() { unlock.Do(func() { _ = tx.Rollback(context.Background()) }) }
	defer release() // before the server's Close, which writes what is queued
	if _, err := tx.Exec(ctx, `LOCK TABLE audit_events IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}

	const n = 40
	var slowest time.Duration
	for range n {
		start := time.Now()
		if _, err := cc.Token(ctx); err != nil {
			t.Fatalf("token with the audit table locked: %v", err)
		}
		slowest = max(slowest, time.Since(start))
	}
	// 50 ms of bounded wait, and the request's own work on a loaded
	// two-core machine; a blocked endpoint would wait for the lock, for
	// ever.
	if slowest > 2*time.Second {
		t.Errorf("slowest token request with the audit table locked took %v", slowest)
	}
	resp, err := http.Get(iam.Issuer + server.MetricsPath)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`(?m)^gaia_audit_events_dropped_total (\d+)`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("no gaia_audit_events_dropped_total in /metrics:\n%s", body)
	}
	dropped, _ := strconv.Atoi(string(m[1]))
	if dropped == 0 {
		t.Errorf("gaia_audit_events_dropped_total = 0 after %d tokens past a queue of 4", n)
	}
	t.Logf("%d tokens with the audit table locked: slowest %v, %d dropped", n, slowest, dropped)
	release()
	if err := iam.Server.Audit().Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// Every event is either stored or counted as dropped.
	stored, err := store.ListAudit(ctx, storage.AuditFilter{Action: audit.ActionAuthClientCredentials, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(stored)+dropped != n+1 {
		t.Errorf("%d token events stored + %d dropped, want %d", len(stored), dropped, n+1)
	}
}
