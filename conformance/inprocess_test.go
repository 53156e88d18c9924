package conformance

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/gaia-platform/iam/server"
	"github.com/gaia-platform/iam/server/servertest"
	"github.com/gaia-platform/iam/storage"
	"github.com/gaia-platform/iam/storage/storagetest"
)

// local is a Gaia IAM served in-process by httptest, with its store at hand
// so tests can change what the admin API will later change.
type local struct {
	issuer string
	store  storage.Store
	srv    *server.Server
	kek    []byte // the key-encryption key, to sign tokens with the server's keys
}

// forEachLocal runs test against a fresh in-process server on every
// backend. tune adjusts the configuration.
func forEachLocal(t *testing.T, tune func(*server.Config), test func(t *testing.T, l *local)) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name+"/inprocess", func(t *testing.T) { test(t, startLocal(t, b.Open(t), tune)) })
	}
}

func startLocal(t testing.TB, store storage.Store, tune func(*server.Config)) *local {
	t.Helper()
	iam := servertest.Start(t, store, servertest.Options{Tune: tune})
	return &local{issuer: iam.Issuer, store: iam.Store, srv: iam.Server, kek: iam.KEK}
}

// asIAM lets the shared flow helpers (introspect, revoke, tokenCall) talk
// to an in-process server.
func (l *local) asIAM() *iam { return &iam{issuer: l.issuer} }

// clock is a server clock that a test moves forward, so that it never
// sleeps through an interval. It follows the real time from an offset.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// clocked is a tune for forEachLocal that gives each server a fresh clock
// and leaves it in *clk for the test.
func clocked(clk **clock) func(*server.Config) {
	return func(cfg *server.Config) {
		*clk = &clock{}
		cfg.Now = (*clk).now
	}
}
