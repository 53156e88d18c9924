package conformance

import (
	"testing"

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
