// Command gaia-gateway is a forward-auth service for reverse proxies in
// front of services that do not verify Gaia tokens themselves: NGINX
// auth_request, Traefik ForwardAuth or Envoy's HTTP ext_authz ask it about
// each request, and it answers 200 with the caller's identity in X-Gaia-*
// headers, or 401/403 with an RFC 6750 challenge, from a rules file and
// the bearer token, verified locally (package claims: the IAM's JWKS and
// token status lists, fetched in the background, never per request).
//
//	gaia-gateway --issuer http://127.0.0.1:8080 --audience gaia --rules gateway-rules.example.yaml
//
// Settings (a flag wins over the environment):
//
//	--issuer      GAIA_GATEWAY_ISSUER      the IAM's issuer URL (required)
//	--rules       GAIA_GATEWAY_RULES       the rules file (required)
//	--listen      GAIA_GATEWAY_LISTEN      address to listen on (127.0.0.1:8082)
//	--proxy       GAIA_GATEWAY_PROXY       nginx, traefik or envoy: where the original request is read (nginx)
//	--audience    GAIA_GATEWAY_AUDIENCE    the audience of the services behind it: aud a token must hold (required)
//	--realm       GAIA_GATEWAY_REALM       realm of the challenges (gaia)
//	--status      GAIA_GATEWAY_STATUS      refuse tokens revoked in the IAM's token status lists (true)
//	--status-max-staleness GAIA_GATEWAY_STATUS_MAX_STALENESS
//	              how long a status list the IAM cannot serve is still used, then tokens are refused (5m)
//	--check       check the rules file and exit
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/gaia-platform/iam/claims"
	"github.com/gaia-platform/iam/gateway"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "gaia-gateway:", err)
		}
		os.Exit(1)
	}
}

// config is the gateway's settings, read once from flags and environment.
type config struct {
	Issuer             string
	Rules              string
	Listen             string
	Proxy              string
	Audience           string
	Realm              string
	Status             bool
	StatusMaxStaleness time.Duration
	Check              bool
}

const (
	shutdownTimeout = 10 * time.Second
	// maxHeaderBytes bounds a subrequest's headers: a token (at most
	// claims.MaxTokenSize, 16 KiB), the original URI (gateway.MaxURILength,
	// 8 KiB) and the rest. A larger one is answered 431 unread, which
	// NGINX turns into a 500: never a pass.
	maxHeaderBytes = 32 << 10
)

// parseConfig reads flags, falling back to GAIA_GATEWAY_* variables.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("gaia-gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	var c config
	fs.StringVar(&c.Issuer, "issuer", env("GAIA_GATEWAY_ISSUER", ""), "the Gaia IAM's issuer URL (env GAIA_GATEWAY_ISSUER)")
	fs.StringVar(&c.Rules, "rules", env("GAIA_GATEWAY_RULES", ""), "the rules file, YAML (env GAIA_GATEWAY_RULES)")
	fs.StringVar(&c.Listen, "listen", env("GAIA_GATEWAY_LISTEN", "127.0.0.1:8082"), "address to listen on (env GAIA_GATEWAY_LISTEN)")
	fs.StringVar(&c.Proxy, "proxy", env("GAIA_GATEWAY_PROXY", string(gateway.NGINX)), "nginx (X-Original-*), traefik (X-Forwarded-*) or envoy (the request line under /auth) (env GAIA_GATEWAY_PROXY)")
	fs.StringVar(&c.Audience, "audience", env("GAIA_GATEWAY_AUDIENCE", ""), "the audience of the services behind the gateway, which a token's aud must hold (env GAIA_GATEWAY_AUDIENCE)")
	fs.StringVar(&c.Realm, "realm", env("GAIA_GATEWAY_REALM", claims.DefaultRealm), "realm of the WWW-Authenticate challenges (env GAIA_GATEWAY_REALM)")
	status, err := strconv.ParseBool(env("GAIA_GATEWAY_STATUS", "true"))
	if err != nil {
		return config{}, fmt.Errorf("GAIA_GATEWAY_STATUS: %w", err)
	}
	stale, err := time.ParseDuration(env("GAIA_GATEWAY_STATUS_MAX_STALENESS", claims.DefaultStatusMaxStaleness.String()))
	if err != nil {
		return config{}, fmt.Errorf("GAIA_GATEWAY_STATUS_MAX_STALENESS: %w", err)
	}
	fs.BoolVar(&c.Status, "status", status, "refuse tokens revoked in the IAM's token status lists, fetched in the background (env GAIA_GATEWAY_STATUS)")
	fs.DurationVar(&c.StatusMaxStaleness, "status-max-staleness", stale, "how long a status list the IAM cannot serve is still used; then tokens are refused (env GAIA_GATEWAY_STATUS_MAX_STALENESS)")
	fs.BoolVar(&c.Check, "check", false, "check the rules file and exit")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	switch {
	case fs.NArg() > 0:
		return config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	case c.Rules == "":
		return config{}, errors.New("a rules file is required: --rules or GAIA_GATEWAY_RULES")
	case c.Issuer == "" && !c.Check:
		return config{}, errors.New("an issuer is required: --issuer or GAIA_GATEWAY_ISSUER")
	// A gateway accepting any audience would pass a token the IAM issued
	// for another service (RFC 8725 §3.9).
	case c.Audience == "" && !c.Check:
		return config{}, errors.New("an audience is required: --audience or GAIA_GATEWAY_AUDIENCE")
	case c.Proxy != string(gateway.NGINX) && c.Proxy != string(gateway.Traefik) && c.Proxy != string(gateway.Envoy):
		return config{}, fmt.Errorf("--proxy %q: want nginx, traefik or envoy", c.Proxy)
	case c.StatusMaxStaleness <= 0:
		return config{}, errors.New("--status-max-staleness must be positive")
	}
	return c, nil
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	rules, err := loadRules(cfg.Rules)
	if err != nil {
		return err
	}
	if cfg.Check {
		fmt.Fprintf(stdout, "%s: %d rules, ok\n", cfg.Rules, rules.Len())
		return nil
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	return serve(ctx, cfg, rules, log, nil)
}

// loadRules reads and checks the rules file at path.
func loadRules(path string) (*gateway.Rules, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, gateway.MaxRulesFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	rules, err := gateway.ParseRules(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rules, nil
}

// serve answers decisions until ctx ends, then shuts down gracefully.
// ready, if not nil, is told the address once the gateway listens.
func serve(ctx context.Context, cfg config, rules *gateway.Rules, log *slog.Logger, ready func(net.Addr)) error {
	// Fetches discovery and the JWKS now: a gateway that cannot reach its
	// IAM at start fails rather than refusing every request.
	v, err := claims.NewVerifier(ctx, claims.VerifierConfig{
		Issuer:             cfg.Issuer,
		Audience:           cfg.Audience,
		Logger:             log,
		CheckStatus:        cfg.Status,
		StatusMaxStaleness: cfg.StatusMaxStaleness,
	})
	if err != nil {
		return err
	}
	defer v.Close()
	h, err := gateway.New(gateway.Config{Rules: rules, Proxy: gateway.Proxy(cfg.Proxy), Realm: cfg.Realm}, v, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.InfoContext(ctx, "listening", "addr", ln.Addr().String(), "issuer", cfg.Issuer, "audience", cfg.Audience,
		"proxy", cfg.Proxy, "rules", cfg.Rules, "rule_count", rules.Len(),
		"status_lists", cfg.Status, "status_max_staleness", cfg.StatusMaxStaleness.String())
	if ready != nil {
		ready(ln.Addr())
	}
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
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
