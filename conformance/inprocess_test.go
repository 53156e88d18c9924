package conformance

import (
	"context"
	"crypto/rand"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gaia-platform/iam/rbac/seed"
	"github.com/gaia-platform/iam/server"
	"github.com/gaia-platform/iam/storage"
	"github.com/gaia-platform/iam/storage/storagetest"
)

// local is a Gaia IAM served in-process by httptest, with its store at hand
// so tests can change what the admin API will later change.
type local struct {
	issuer string
	store  storage.Store
	srv    *server.Server
}

// forEachLocal runs test against a fresh in-process server on every
// backend. tune adjusts the configuration.
func forEachLocal(t *testing.T, tune func(*server.Config), test func(t *testing.T, l *local)) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name+"/inprocess", func(t *testing.T) { test(t, startLocal(t, b.Open(t), tune)) })
	}
}

func startLocal(t testing.TB, store storage.Store, tune func(*server.Config)) *local {
	return startLocalTB(t, store, tune)
}

func startLocalTB(t testing.TB, store storage.Store, tune ...func(*server.Config)) *local {
	t.Helper()
	env := map[string]string{
		"GAIA_WEB_CLIENT_SECRET":        webSecret,
		"INVENTORY_SERVICE_SECRET":      serviceSecret,
		"GAIA_BOOTSTRAP_ADMIN_PASSWORD": adminPassword,
	}
	file, err := seed.Load("../seed.example.yaml", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(nil)
	kek := make([]byte, 32)
	_, _ = rand.Read(kek)
	cfg := server.Config{
		Issuer:          "http://" + hs.Listener.Addr().String(),
		AccessTokenTTL:  15 * time.Minute,
		RefreshTokenTTL: 720 * time.Hour,
		MaxSessionAge:   720 * time.Hour,
		DefaultAudience: "gaia",
		KeyRefresh:      200 * time.Millisecond,
		ClientCacheTTL:  2 * time.Second, // the production default
		KEK:             kek,
		Seed:            file,
	}
	for _, f := range tune {
		if f != nil {
			f(&cfg)
		}
	}
	srv, err := server.New(t.Context(), cfg, store, storagetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	hs.Config.Handler = srv.Handler()
	hs.Start()
	ctx, cancel := context.WithCancel(context.Background())
	go srv.Run(ctx)
	t.Cleanup(func() { cancel(); hs.Close() })
	return &local{issuer: cfg.Issuer, store: store, srv: srv}
}

// asIAM lets the shared flow helpers (introspect, revoke, tokenCall) talk
// to an in-process server.
func (l *local) asIAM() *iam { return &iam{issuer: l.issuer} }
