// Command example-inventory is an example service protected by Gaia IAM: a
// small inventory API whose routes need the inventory.read and
// inventory.write permissions. It verifies access tokens locally with
// package claims, against the IAM's published keys; it never calls the IAM
// per request.
//
//	example-inventory --issuer http://127.0.0.1:8080 --audience https://inventory.example.com
//
//	GET    /items        inventory.read    list items
//	GET    /items/{id}   inventory.read    one item
//	POST   /items        inventory.write   create an item {"name": "…", "quantity": 3}
//	PUT    /items/{id}   inventory.write   replace an item
//	DELETE /items/{id}   inventory.write   delete an item
//	GET    /healthz      —                 liveness
//
// Settings (a flag wins over the environment):
//
//	--issuer        INVENTORY_ISSUER        the IAM's issuer URL (required)
//	--audience      INVENTORY_AUDIENCE      this service's audience: aud a token must hold (required)
//	--insecure-any-audience INVENTORY_INSECURE_ANY_AUDIENCE
//	                accept tokens for any audience instead (false; logs a warning)
//	--listen        INVENTORY_LISTEN        address to listen on (127.0.0.1:8081)
//	--token-cookie  INVENTORY_TOKEN_COOKIE  also read tokens from this cookie (optional)
//	--status        INVENTORY_STATUS        refuse tokens revoked in the IAM's token status lists (true)
//	--status-max-staleness INVENTORY_STATUS_MAX_STALENESS
//	                how long a status list the IAM cannot serve is still used, then tokens are refused (5m)
//	--cors-allowed-origins  INVENTORY_CORS_ALLOWED_ORIGINS  comma-separated origins of
//	                browser apps that may call the API with a Bearer token (optional)
//
// Items live in memory: it is an example.
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
	"github.com/gaia-platform/iam/cors"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "example-inventory:", err)
		}
		os.Exit(1)
	}
}

// config is the service's settings, read once from flags and environment.
type config struct {
	Issuer      string
	Audience    string
	Listen      string
	TokenCookie string
	// InsecureAnyAudience accepts tokens for any service when Audience is
	// empty.
	InsecureAnyAudience bool
	// Status turns on the token status lists; StatusMaxStaleness bounds
	// how long a list is used while the IAM cannot be reached.
	Status             bool
	StatusMaxStaleness time.Duration
	// CORSAllowedOrigins are the exact origins of browser apps that call
	// the API directly with fetch and a Bearer header.
	CORSAllowedOrigins []string
}

const shutdownTimeout = 10 * time.Second

// parseConfig reads flags, falling back to INVENTORY_* variables.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("example-inventory", flag.ContinueOnError)
	fs.SetOutput(stderr)
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	var c config
	fs.StringVar(&c.Issuer, "issuer", env("INVENTORY_ISSUER", ""), "the Gaia IAM's issuer URL (env INVENTORY_ISSUER)")
	fs.StringVar(&c.Audience, "audience", env("INVENTORY_AUDIENCE", ""), "this service's audience, which a token's aud must hold; clients ask the IAM for it with resource= (env INVENTORY_AUDIENCE)")
	anyAud, err := strconv.ParseBool(env("INVENTORY_INSECURE_ANY_AUDIENCE", "false"))
	if err != nil {
		return config{}, fmt.Errorf("INVENTORY_INSECURE_ANY_AUDIENCE: %w", err)
	}
	fs.BoolVar(&c.InsecureAnyAudience, "insecure-any-audience", anyAud, "accept tokens for any audience, those for other services too (env INVENTORY_INSECURE_ANY_AUDIENCE)")
	fs.StringVar(&c.Listen, "listen", env("INVENTORY_LISTEN", "127.0.0.1:8081"), "address to listen on (env INVENTORY_LISTEN)")
	fs.StringVar(&c.TokenCookie, "token-cookie", env("INVENTORY_TOKEN_COOKIE", ""), "also read the access token from this HttpOnly cookie (env INVENTORY_TOKEN_COOKIE)")
	status, err := strconv.ParseBool(env("INVENTORY_STATUS", "true"))
	if err != nil {
		return config{}, fmt.Errorf("INVENTORY_STATUS: %w", err)
	}
	stale, err := time.ParseDuration(env("INVENTORY_STATUS_MAX_STALENESS", claims.DefaultStatusMaxStaleness.String()))
	if err != nil {
		return config{}, fmt.Errorf("INVENTORY_STATUS_MAX_STALENESS: %w", err)
	}
	fs.BoolVar(&c.Status, "status", status, "refuse tokens revoked in the IAM's token status lists, fetched in the background (env INVENTORY_STATUS)")
	fs.DurationVar(&c.StatusMaxStaleness, "status-max-staleness", stale, "how long a status list the IAM cannot serve is still used; then tokens are refused (env INVENTORY_STATUS_MAX_STALENESS)")
	origins := fs.String("cors-allowed-origins", env("INVENTORY_CORS_ALLOWED_ORIGINS", ""), "comma-separated exact origins of browser apps that may call the API (env INVENTORY_CORS_ALLOWED_ORIGINS)")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if c.CORSAllowedOrigins, err = cors.ParseList(*origins); err != nil {
		return config{}, fmt.Errorf("--cors-allowed-origins: %w", err)
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if c.Issuer == "" {
		return config{}, errors.New("an issuer is required: --issuer or INVENTORY_ISSUER")
	}
	if c.Audience == "" && !c.InsecureAnyAudience {
		return config{}, errors.New("an audience is required: --audience or INVENTORY_AUDIENCE (or --insecure-any-audience)")
	}
	if c.StatusMaxStaleness <= 0 {
		return config{}, errors.New("--status-max-staleness must be positive")
	}
	return c, nil
}

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	return serve(ctx, cfg, log, nil)
}

// serve verifies tokens of cfg.Issuer and serves the API until ctx ends,
// then shuts down gracefully. ready, if not nil, is told the address once
// the service listens.
func serve(ctx context.Context, cfg config, log *slog.Logger, ready func(net.Addr)) error {
	// Fetches discovery and the JWKS now: a service that cannot reach its
	// IAM at start fails rather than refusing every request.
	v, err := claims.NewVerifier(ctx, claims.VerifierConfig{
		Issuer:   cfg.Issuer,
		Audience: cfg.Audience,
		Logger:   log,
		// Only with no audience set: the verifier logs that it is insecure.
		InsecureAcceptAnyAudience: cfg.InsecureAnyAudience && cfg.Audience == "",
		CheckStatus:               cfg.Status,
		StatusMaxStaleness:        cfg.StatusMaxStaleness,
	})
	if err != nil {
		return err
	}
	defer v.Close()
	var opts []claims.MiddlewareOption
	if cfg.TokenCookie != "" {
		opts = append(opts, claims.WithCookie(cfg.TokenCookie))
	}
	opts = append(opts, claims.WithRealm("inventory"), claims.WithLogger(log))

	h := routes(v, newStore(), log, opts...)
	if len(cfg.CORSAllowedOrigins) > 0 {
		p, err := cors.New(cors.Config{
			AllowedOrigins: cfg.CORSAllowedOrigins,
			Methods:        []string{http.MethodPut, http.MethodDelete},
			Headers:        []string{"Authorization", "Content-Type"},
			Expose:         []string{"WWW-Authenticate"},
		})
		if err != nil {
			return err
		}
		// Outside the router: a preflight is answered before routing,
		// which knows no OPTIONS.
		h = p.Handler(h)
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
		// Bounds the Authorization header too: a larger request gets 431
		// before any token is parsed.
		MaxHeaderBytes: 32 << 10,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.InfoContext(ctx, "listening", "addr", ln.Addr().String(), "issuer", cfg.Issuer, "audience", cfg.Audience,
		"status_lists", cfg.Status, "status_max_staleness", cfg.StatusMaxStaleness.String())
	if ready != nil {
		ready(ln.Addr())
	}

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", shutdownTimeout)
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
