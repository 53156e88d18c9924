// Package servertest runs a real Gaia IAM in-process for tests: the example
// seed, plus any users a test adds, reconciled on the caller's store and
// served by httptest. End-to-end tests, the claims library's tests and
// example services use it, so that all of them test the same server.
package servertest

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gaia-platform/iam/oauth"
	"github.com/gaia-platform/iam/rbac/seed"
	"github.com/gaia-platform/iam/server"
	"github.com/gaia-platform/iam/storage"
	"github.com/gaia-platform/iam/storage/storagetest"
)

// Secrets of the example seed's clients and users in tests.
const (
	WebSecret     = "web-secret-web-secret-web-secret-0123" // client gaia-web
	ServiceSecret = "svc-secret-svc-secret-svc-secret-0123" // client inventory-service
	AdminPassword = "correct horse battery staple"          // user admin
	// UserPassword is the password of users added through Options.Users
	// whose password_env is USER_PASSWORD.
	UserPassword = "user horse battery staple"
)

// Options adjust the server.
type Options struct {
	// Users is YAML appended to the example seed's users list.
	Users string
	// Tune adjusts the configuration before the server is made.
	Tune func(*server.Config)
	// Log receives the server's log; nil: the test's output, warnings and
	// above.
	Log *slog.Logger
}

// IAM is a running in-process Gaia IAM.
type IAM struct {
	Issuer string
	Store  storage.Store
	Server *server.Server
	KEK    []byte
	HTTP   *httptest.Server
}

// Start serves a Gaia IAM on store until t ends. The configuration is the
// production default but for a 200 ms key refresh interval, so rotations
// show quickly.
func Start(t testing.TB, store storage.Store, opts Options) *IAM {
	t.Helper()
	env := map[string]string{
		"GAIA_WEB_CLIENT_SECRET":        WebSecret,
		"INVENTORY_SERVICE_SECRET":      ServiceSecret,
		"GAIA_BOOTSTRAP_ADMIN_PASSWORD": AdminPassword,
		"USER_PASSWORD":                 UserPassword,
	}
	example, err := os.ReadFile(exampleSeed())
	if err != nil {
		t.Fatal(err)
	}
	file, err := seed.Parse(strings.NewReader(string(example)+opts.Users), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(nil)
	kek := make([]byte, 32)
	_, _ = rand.Read(kek)
	cfg := server.Config{
		Issuer:               "http://" + hs.Listener.Addr().String(),
		AccessTokenTTL:       15 * time.Minute,
		RefreshTokenTTL:      720 * time.Hour,
		MaxSessionAge:        720 * time.Hour,
		DefaultAudience:      "gaia",
		KeyRefresh:           200 * time.Millisecond,
		ClientCacheTTL:       2 * time.Second,
		RefreshReuseInterval: oauth.DefaultRefreshReuseInterval,
		KEK:                  kek,
		Seed:                 file,
	}
	if opts.Tune != nil {
		opts.Tune(&cfg)
	}
	log := opts.Log
	if log == nil {
		log = storagetest.Logger(t)
	}
	srv, err := server.New(t.Context(), cfg, store, log)
	if err != nil {
		t.Fatal(err)
	}
	hs.Config.Handler = srv.Handler()
	server.DefaultHTTPLimits().Apply(hs.Config)
	hs.Start()
	ctx, cancel := context.WithCancel(context.Background())
	go srv.Run(ctx)
	t.Cleanup(func() {
		cancel()
		hs.Close()
		if err := srv.Close(context.Background()); err != nil {
			t.Errorf("close server: %v", err)
		}
	})
	return &IAM{Issuer: cfg.Issuer, Store: store, Server: srv, KEK: kek, HTTP: hs}
}

// exampleSeed is the path of seed.example.yaml, found from this file so
// that tests in any directory can use it.
func exampleSeed() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "seed.example.yaml")
}
