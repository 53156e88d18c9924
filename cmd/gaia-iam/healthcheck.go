package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// healthcheck GETs /healthz of the server this environment configures and
// fails unless it answers 200: the HEALTHCHECK of an image with no curl in
// it. It reads GAIA_LISTEN and GAIA_TLS_CERT_FILE as serve does, and asks
// the loopback address when serve listens on every address.
func healthcheck(ctx context.Context, args []string, s sys) error {
	fs := flag.NewFlagSet("gaia-iam healthcheck", flag.ContinueOnError)
	fs.SetOutput(s.stderr)
	listen := s.getenv("GAIA_LISTEN")
	if listen == "" {
		listen = "127.0.0.1:8080"
	}
	target := fs.String("url", "", "the URL to GET (default http(s)://GAIA_LISTEN/healthz, on loopback for a wildcard address)")
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the answer")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(s.stderr, "gaia-iam healthcheck: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	u := *target
	if u == "" {
		host, port, err := net.SplitHostPort(listen)
		if err != nil {
			return fmt.Errorf("healthcheck: GAIA_LISTEN %q is not host:port", listen)
		}
		if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
			host = "127.0.0.1"
			if ip != nil && ip.To4() == nil {
				host = "::1"
			}
		}
		scheme := "http"
		if s.getenv("GAIA_TLS_CERT_FILE") != "" {
			scheme = "https"
		}
		u = scheme + "://" + net.JoinHostPort(host, port) + "/healthz"
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	// The certificate names the public host, not the loopback address
	// asked here; only the status is read, and nothing secret is sent.
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer c.CloseIdleConnections()
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: GET %s: %s", u, resp.Status)
	}
	fmt.Fprintln(s.stdout, "ok")
	return nil
}
