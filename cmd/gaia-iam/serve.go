package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/gaia-platform/iam/discovery"
	"github.com/gaia-platform/iam/oauth"
	"github.com/gaia-platform/iam/oauth/keys"
	"github.com/gaia-platform/iam/rbac/seed"
)

// keyRetentionSkew is how long past the access-token lifetime a retired
// signing key stays published: clock skew between us and resource servers.
const keyRetentionSkew = 5 * time.Minute

// serve migrates, reconciles the seed, and serves HTTP until ctx ends, then
// shuts down gracefully.
func serve(ctx context.Context, args []string, s sys) error {
	cfg, err := parseConfig("serve", args, s, nil)
	if err != nil {
		return err
	}
	log := newLogger(cfg, s.stderr)

	// Read the seed before touching the database: a bad seed changes nothing.
	file, err := seed.Load(cfg.SeedFile, s.getenv)
	if err != nil {
		return err
	}
	store, err := openStore(ctx, cfg.DatabaseURL, log)
	if err != nil {
		return err
	}
	defer store.Close()
	if _, err := migrateLogged(ctx, store, log); err != nil {
		return err
	}
	kek, err := loadKEK(cfg, s.stderr)
	if err != nil {
		return err
	}
	secrets, err := deriveSecrets(kek)
	if err != nil {
		return err
	}
	d, err := newDomain(store, secrets, log)
	if err != nil {
		return err
	}
	res, err := d.seeder.Apply(ctx, file)
	if err != nil {
		return err
	}
	for _, c := range res.Changes {
		log.InfoContext(ctx, "seed change", "change", c.String())
	}
	log.InfoContext(ctx, "seed reconciled", "file", cfg.SeedFile, "changes", len(res.Changes))
	printGenerated(s.stdout, res.Generated)

	ring, err := keys.New(ctx, keys.Config{Retention: cfg.AccessTokenTTL + cfg.KeyRefresh + keyRetentionSkew, RefreshInterval: cfg.KeyRefresh}, store, kek, log)
	if err != nil {
		return err
	}
	go ring.Run(ctx)
	o, err := oauth.New(oauth.Config{
		Issuer:          cfg.Issuer,
		AccessTokenTTL:  cfg.AccessTokenTTL,
		RefreshTokenTTL: cfg.RefreshTokenTTL,
		MaxSessionAge:   cfg.MaxSessionAge,
		DefaultAudience: cfg.DefaultAudience,
		TokenSecret:     secrets.refreshTokens,
	}, store, d.rbac, ring, d.clientSecrets, log)
	if err != nil {
		return err
	}
	disco, err := discovery.NewHandler(discovery.New(cfg.Issuer, file.Scopes()), ring.JWKS)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           routes(store, o, disco, log),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.InfoContext(ctx, "listening", "addr", ln.Addr().String(), "issuer", cfg.Issuer)

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("stopped")
	return nil
}
