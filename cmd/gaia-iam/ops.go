package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
)

// Ops are the operator's views into a running server: metrics and the
// request log.
type Ops struct {
	// Metrics serves Prometheus metrics; on MetricsListen if set, else at
	// /metrics on the main listener.
	Metrics       bool
	MetricsListen string
	// RequestLog writes one log line per request, at info.
	RequestLog bool
	// TLSCertFile and TLSKeyFile, both or neither, serve HTTPS.
	TLSCertFile, TLSKeyFile string
}

var opsSettings = []setting{
	{"metrics", "GAIA_METRICS", "true", "serve Prometheus metrics at /metrics"},
	{"metrics-listen", "GAIA_METRICS_LISTEN", "", "serve /metrics on this address instead of the main listener (e.g. 127.0.0.1:9090)"},
	{"request-log", "GAIA_REQUEST_LOG", "true", "log one line per HTTP request (at info)"},
	{"tls-cert-file", "GAIA_TLS_CERT_FILE", "", "PEM certificate chain: serve HTTPS (TLS 1.2+), reloaded when the file changes"},
	{"tls-key-file", "GAIA_TLS_KEY_FILE", "", "PEM private key of --tls-cert-file"},
}

// readOps reads the opsSettings from values into o.
func readOps(values map[string]*string, o *Ops) []error {
	var errs []error
	boolean := func(name string, dst *bool) {
		b, err := strconv.ParseBool(*values[name])
		if err != nil {
			errs = append(errs, fmt.Errorf("--%s: %q is neither true nor false", name, *values[name]))
		}
		*dst = b
	}
	boolean("metrics", &o.Metrics)
	boolean("request-log", &o.RequestLog)
	o.MetricsListen = *values["metrics-listen"]
	o.TLSCertFile, o.TLSKeyFile = *values["tls-cert-file"], *values["tls-key-file"]
	if (o.TLSCertFile == "") != (o.TLSKeyFile == "") {
		errs = append(errs, errors.New("set both --tls-cert-file and --tls-key-file, or neither"))
	}
	return errs
}

// defaultIssuer is the issuer when none is set: the listen address, over
// https when serving TLS. A wildcard address names no host a client can
// use, and would put "0.0.0.0" in every token: it is refused.
func defaultIssuer(listen string, tls bool) (string, error) {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("--listen: %q is not host:port: %w", listen, err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		return "", fmt.Errorf("--listen %q listens on every address, so it cannot be the issuer: set GAIA_ISSUER (--issuer) to the URL clients use, e.g. https://iam.example.com", listen)
	}
	if tls {
		return "https://" + listen, nil
	}
	return "http://" + listen, nil
}

// plainNonLoopback reports whether issuer is http:// on an address that is
// not loopback: tokens and passwords would cross a network in clear,
// unless a TLS proxy fronts the server (then the issuer should be https).
func plainNonLoopback(issuer string) bool {
	u, err := url.Parse(issuer)
	if err != nil || u.Scheme != "http" {
		return false
	}
	if u.Hostname() == "localhost" {
		return false
	}
	ip := net.ParseIP(u.Hostname())
	return ip == nil || !ip.IsLoopback()
}
