package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/gaia-platform/iam/audit"
	"github.com/gaia-platform/iam/server"
)

// serve migrates, reconciles the seed, and serves HTTP until ctx ends, then
// shuts down gracefully.
func serve(ctx context.Context, args []string, s sys) error {
	cfg, err := parseConfig("serve", args, s, nil)
	if err != nil {
		return err
	}
	log := newLogger(cfg, s.stderr)

	// Read the seed before touching the database: a bad seed changes nothing.
	file, err := loadSeed(cfg, s.getenv)
	if err != nil {
		return err
	}
	// Tracing is read before the database too: a wrong OTEL_* setting
	// fails at once. Off (no OTEL_* set), tracer is nil.
	tracer, stopTracing, err := startTracing(ctx, s.getenv, log)
	if err != nil {
		return err
	}
	defer func() { // after the HTTP server, so its last spans are sent
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
		defer cancel()
		if err := stopTracing(closeCtx); err != nil {
			log.Warn("tracing shutdown", "error", err)
		}
	}()
	var tlsConfig *tls.Config
	if cfg.Ops.TLSCertFile != "" {
		if tlsConfig, err = server.TLSConfig(cfg.Ops.TLSCertFile, cfg.Ops.TLSKeyFile, log); err != nil {
			return err
		}
	}
	// Bind before touching the database: a port in use fails at once, not
	// after a migration. Connections queue until the server is ready.
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	var metricsLn net.Listener
	if cfg.Ops.Metrics && cfg.Ops.MetricsListen != "" {
		if metricsLn, err = net.Listen("tcp", cfg.Ops.MetricsListen); err != nil {
			return fmt.Errorf("metrics listen: %w", err)
		}
		defer metricsLn.Close()
	}

	// Each step that waits on the database says so first, so that a
	// database that accepts connections and never answers shows in the log
	// as what serve is waiting for (bounded by the connect and statement
	// timeouts), not as silence.
	log.InfoContext(ctx, "waiting for the database", databaseAttrs(cfg)...)
	store, err := openStore(ctx, cfg.DatabaseURL, log)
	if err != nil {
		return err
	}
	defer store.Close()
	log.InfoContext(ctx, "database connected; migrating the schema (waits for another server migrating)")
	if _, err := migrateLogged(ctx, store, log); err != nil {
		return err
	}
	kek, err := resolveKEK(ctx, cfg, store, s.stderr, mayCreateDevKEK)
	if err != nil {
		return err
	}
	log.InfoContext(ctx, "reconciling the seed and loading the signing keys")
	gaia, err := server.New(ctx, server.Config{
		Issuer:               cfg.Issuer,
		AccessTokenTTL:       cfg.AccessTokenTTL,
		RefreshTokenTTL:      cfg.RefreshTokenTTL,
		MaxSessionAge:        cfg.MaxSessionAge,
		DefaultAudience:      cfg.DefaultAudience,
		KeyRefresh:           cfg.KeyRefresh,
		KeyPublishDelay:      cfg.KeyPublishDelay,
		ClientCacheTTL:       cfg.ClientCacheTTL,
		RefreshReuseInterval: cfg.RefreshReuseInterval,
		KEK:                  kek,
		Seed:                 file,
		Login:                cfg.Login,
		SeedCascade:          cfg.SeedCascade,
		Hashing:              cfg.Limits.Hashing,
		TrustedProxies:       cfg.Limits.TrustedProxies,
		ForwardedHeader:      cfg.Limits.ForwardedHeader,
		NoMetrics:            !cfg.Ops.Metrics,
		MetricsElsewhere:     cfg.Ops.MetricsListen != "",
		NoRequestLog:         !cfg.Ops.RequestLog,
		StatusListTTL:        cfg.StatusListTTL,
		StatusListCache:      cfg.StatusListCache,
		Tracer:               tracer,
		CORSAllowedOrigins:   cfg.CORSAllowedOrigins,
		AccessTokenMaxBytes:  cfg.AccessTokenMaxBytes,
	}, store, log)
	if err != nil {
		return cascadeHint(err)
	}
	printGenerated(s.stdout, gaia.Seeded().Generated)
	go gaia.Run(ctx)
	if cfg.AuditRetention > 0 {
		go audit.RunPurge(ctx, store, cfg.AuditRetention, audit.PurgeInterval, log)
	}
	// Runs once the HTTP server has stopped (and before the store closes):
	// writes the audit events still queued.
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
		defer cancel()
		if err := gaia.Close(closeCtx); err != nil {
			log.Error("writing the last audit events failed", "error", err)
		}
	}()

	srv := &http.Server{Handler: gaia.Handler(), TLSConfig: tlsConfig}
	cfg.Limits.HTTP.Apply(srv)
	servers := []*http.Server{srv}
	served := make(chan error, 2)
	go func() {
		if tlsConfig != nil {
			served <- srv.ServeTLS(ln, "", "") // the certificate comes from TLSConfig
			return
		}
		served <- srv.Serve(ln)
	}()
	log.InfoContext(ctx, "listening", "addr", ln.Addr().String(), "issuer", cfg.Issuer, "tls", tlsConfig != nil)
	if plainNonLoopback(cfg.Issuer) {
		log.WarnContext(ctx, "the issuer is http:// on a network address: tokens and passwords cross it in clear; serve TLS (GAIA_TLS_CERT_FILE) or put a TLS proxy in front and set an https GAIA_ISSUER", "issuer", cfg.Issuer)
	}
	if metricsLn != nil {
		msrv := &http.Server{Handler: gaia.MetricsHandler()}
		cfg.Limits.HTTP.Apply(msrv)
		servers = append(servers, msrv)
		go func() { served <- msrv.Serve(metricsLn) }()
		log.InfoContext(ctx, "serving metrics", "addr", metricsLn.Addr().String(), "path", server.MetricsPath)
	}

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	for _, srv := range servers {
		if err := srv.Shutdown(shutdownCtx); err != nil {
			return fmt.Errorf("shutdown: %w", err)
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
	}
	log.Info("stopped")
	return nil
}

// databaseAttrs says which database serve waits for and how long it will
// wait, without the URL's password.
func databaseAttrs(cfg Config) []any {
	if path, ok := strings.CutPrefix(cfg.DatabaseURL, "sqlite:"); ok {
		return []any{"backend", "sqlite", "path", path}
	}
	attrs := []any{"backend", "postgres", "connect_timeout", cfg.Limits.DatabaseConnectTimeout.String(),
		"statement_timeout", cfg.Limits.DatabaseStatementTimeout.String()}
	if u, err := url.Parse(cfg.DatabaseURL); err == nil {
		attrs = append(attrs, "host", u.Host, "database", strings.TrimPrefix(u.Path, "/"))
	}
	return attrs
}
