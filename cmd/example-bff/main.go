// Command example-bff runs the two browser demos of Gaia IAM. It serves a
// backend-for-frontend (package bff) with a small demo page, which logs in
// through /bff/login, calls the example inventory service through /api/…,
// and never sees a token. With --spa-listen it also serves the demo
// single-page app of web/demo-spa, which logs in itself with
// oidc-client-ts (a public client with PKCE) and calls the inventory
// service directly.
//
//	BFF_CLIENT_SECRET=… example-bff --issuer http://127.0.0.1:8080 --spa-listen 127.0.0.1:5173
//
// Settings (a flag wins over the environment):
//
//	--issuer         BFF_ISSUER         the IAM's issuer URL (required)
//	--listen         BFF_LISTEN         address of the BFF (127.0.0.1:8090)
//	--base-url       BFF_BASE_URL       the BFF's external origin (http:// + listen)
//	--client-id      BFF_CLIENT_ID      the BFF's confidential client (gaia-web)
//	                 BFF_CLIENT_SECRET  its secret (environment only: required)
//	--audience       BFF_AUDIENCE       the aud its access tokens carry (gaia)
//	--api            BFF_API_URL        the API proxied under /api/ (http://127.0.0.1:8081)
//	--spa-listen     SPA_LISTEN         serve the demo SPA on this address (off when empty)
//	--spa-dir        SPA_DIR            the SPA's directory, built with npm (web/demo-spa)
//	--spa-client-id  SPA_CLIENT_ID      the SPA's public client (gaia-spa)
//	--inventory-url  SPA_INVENTORY_URL  the inventory service the SPA calls (http://127.0.0.1:8081)
package main

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/gaia-platform/iam/bff"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "example-bff:", err)
		}
		os.Exit(1)
	}
}

// config is the demo's settings, read once from flags and environment.
type config struct {
	Issuer       string
	Listen       string
	BaseURL      string
	ClientID     string
	ClientSecret string
	API          string
	Audience     string
	SPAListen    string
	SPADir       string
	SPAClientID  string
	InventoryURL string
}

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("example-bff", flag.ContinueOnError)
	fs.SetOutput(stderr)
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	var c config
	fs.StringVar(&c.Issuer, "issuer", env("BFF_ISSUER", ""), "the Gaia IAM's issuer URL (env BFF_ISSUER)")
	fs.StringVar(&c.Listen, "listen", env("BFF_LISTEN", "127.0.0.1:8090"), "address of the BFF (env BFF_LISTEN)")
	fs.StringVar(&c.BaseURL, "base-url", env("BFF_BASE_URL", ""), "the BFF's external origin; default http:// + --listen (env BFF_BASE_URL)")
	fs.StringVar(&c.ClientID, "client-id", env("BFF_CLIENT_ID", "gaia-web"), "the BFF's confidential client; its secret is read from BFF_CLIENT_SECRET (env BFF_CLIENT_ID)")
	fs.StringVar(&c.Audience, "audience", env("BFF_AUDIENCE", "gaia"), "the audience the BFF's access tokens carry, checked when it reads them (env BFF_AUDIENCE)")
	fs.StringVar(&c.API, "api", env("BFF_API_URL", "http://127.0.0.1:8081"), "the API proxied under /api/ (env BFF_API_URL)")
	fs.StringVar(&c.SPAListen, "spa-listen", env("SPA_LISTEN", ""), "serve the demo SPA on this address; empty: no SPA (env SPA_LISTEN)")
	fs.StringVar(&c.SPADir, "spa-dir", env("SPA_DIR", "web/demo-spa"), "the demo SPA's directory, after npm ci && npm run build (env SPA_DIR)")
	fs.StringVar(&c.SPAClientID, "spa-client-id", env("SPA_CLIENT_ID", "gaia-spa"), "the SPA's public client (env SPA_CLIENT_ID)")
	fs.StringVar(&c.InventoryURL, "inventory-url", env("SPA_INVENTORY_URL", "http://127.0.0.1:8081"), "the inventory service the SPA calls (env SPA_INVENTORY_URL)")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	// Never a flag: ps and shell history would show it.
	c.ClientSecret = getenv("BFF_CLIENT_SECRET")
	switch {
	case c.Issuer == "":
		return config{}, errors.New("an issuer is required: --issuer or BFF_ISSUER")
	case c.ClientSecret == "":
		return config{}, errors.New("BFF_CLIENT_SECRET is not set")
	}
	if c.BaseURL == "" {
		c.BaseURL = "http://" + c.Listen
	}
	return c, nil
}

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	return serve(ctx, cfg, slog.New(slog.NewTextHandler(stderr, nil)), nil)
}

const shutdownTimeout = 10 * time.Second

// serve runs the BFF, and the SPA server when configured, until ctx ends.
// ready, if not nil, is told the BFF's and the SPA's addresses (nil when
// off) once both listen.
func serve(ctx context.Context, cfg config, log *slog.Logger, ready func(bffAddr, spaAddr net.Addr)) error {
	b, err := bff.New(ctx, bff.Config{
		Issuer: cfg.Issuer, ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret,
		BaseURL: cfg.BaseURL, API: cfg.API, Audience: cfg.Audience, Logger: log,
	})
	if err != nil {
		return err
	}
	servers := []*http.Server{newServer(bffRoutes(b.Handler()), log)}
	listens := []string{cfg.Listen}
	if cfg.SPAListen != "" {
		h, err := spaRoutes(cfg)
		if err != nil {
			return err
		}
		servers = append(servers, newServer(h, log))
		listens = append(listens, cfg.SPAListen)
	}
	var addrs []net.Addr
	served := make(chan error, len(servers))
	for i, srv := range servers {
		ln, err := net.Listen("tcp", listens[i])
		if err != nil {
			for _, s := range servers[:i] {
				_ = s.Close()
			}
			return fmt.Errorf("listen: %w", err)
		}
		addrs = append(addrs, ln.Addr())
		go func() { served <- srv.Serve(ln) }()
		log.InfoContext(ctx, "listening", "addr", ln.Addr().String(), "issuer", cfg.Issuer)
	}
	if ready != nil {
		var spa net.Addr
		if len(addrs) > 1 {
			spa = addrs[1]
		}
		ready(addrs[0], spa)
	}
	select {
	case err := <-served:
		for _, s := range servers {
			_ = s.Close()
		}
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	var errs []error
	for _, s := range servers {
		errs = append(errs, s.Shutdown(shutdownCtx))
	}
	return errors.Join(errs...)
}

func newServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

//go:embed static
var static embed.FS

// bffRoutes serves the demo page and the BFF.
func bffRoutes(b http.Handler) http.Handler {
	page, _ := fs.Sub(static, "static")
	mux := http.NewServeMux()
	mux.Handle("/bff/", b)
	mux.Handle("/api/", b)
	mux.Handle("GET /{$}", staticFile(page, "index.html", "text/html; charset=utf-8"))
	mux.Handle("GET /app.js", staticFile(page, "app.js", "text/javascript; charset=utf-8"))
	return securityHeaders(mux, "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
}

// spaRoutes serves the demo SPA's page, bundle and settings.
func spaRoutes(cfg config) (http.Handler, error) {
	bundle := filepath.Join(cfg.SPADir, "dist", "app.js")
	if _, err := os.Stat(bundle); err != nil {
		return nil, fmt.Errorf("the demo SPA is not built (cd %s && npm ci && npm run build): %w", cfg.SPADir, err)
	}
	settings, err := json.Marshal(map[string]string{
		"authority": cfg.Issuer, "client_id": cfg.SPAClientID, "inventory_url": cfg.InventoryURL,
	})
	if err != nil {
		return nil, err
	}
	dir := os.DirFS(cfg.SPADir)
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", staticFile(dir, "index.html", "text/html; charset=utf-8"))
	// The redirect URI: the same page, which finishes the login.
	mux.Handle("GET /callback", staticFile(dir, "index.html", "text/html; charset=utf-8"))
	mux.Handle("GET /app.js", staticFile(dir, "dist/app.js", "text/javascript; charset=utf-8"))
	mux.HandleFunc("GET /config.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(settings)
	})
	// The SPA fetches the IAM (discovery, token, revocation) and the
	// inventory service itself.
	csp := fmt.Sprintf("default-src 'self'; connect-src 'self' %s %s; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
		origin(cfg.Issuer), origin(cfg.InventoryURL))
	return securityHeaders(mux, csp), nil
}

// origin is scheme://host of u, for a CSP source.
func origin(u string) string {
	for i, n := 0, 0; i < len(u); i++ {
		if u[i] == '/' {
			if n++; n == 3 {
				return u[:i]
			}
		}
	}
	return u
}

func staticFile(fsys fs.FS, name, contentType string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(b)
	})
}

func securityHeaders(next http.Handler, csp string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}
