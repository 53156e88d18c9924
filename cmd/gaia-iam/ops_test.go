package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gaia-platform/iam/server/servertest"
)

func TestOpsConfig(t *testing.T) {
	s := sys{getenv: testEnv(nil), stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	for _, listen := range []string{":8080", "0.0.0.0:8080", "[::]:8080"} {
		if _, err := parseConfig("serve", []string{"--listen", listen}, s, nil); err == nil || !strings.Contains(err.Error(), "GAIA_ISSUER") {
			t.Errorf("--listen %s without an issuer = %v, want a refusal naming GAIA_ISSUER", listen, err)
		}
		cfg, err := parseConfig("serve", []string{"--listen", listen, "--issuer", "https://iam.example.com"}, s, nil)
		if err != nil || cfg.Issuer != "https://iam.example.com" {
			t.Errorf("--listen %s with an issuer = %q, %v", listen, cfg.Issuer, err)
		}
	}
	if _, err := parseConfig("serve", []string{"--tls-cert-file", "c.pem"}, s, nil); err == nil || !strings.Contains(err.Error(), "--tls-key-file") {
		t.Errorf("a certificate without a key = %v, want a refusal", err)
	}
	cfg, err := parseConfig("serve", []string{"--listen", "127.0.0.1:8443", "--tls-cert-file", "c.pem", "--tls-key-file", "k.pem"}, s, nil)
	if err != nil || cfg.Issuer != "https://127.0.0.1:8443" {
		t.Errorf("default issuer with TLS = %q, %v; want https://127.0.0.1:8443", cfg.Issuer, err)
	}
	for issuer, want := range map[string]bool{
		"http://127.0.0.1:8080": false, "http://localhost:8080": false, "http://[::1]:8080": false,
		"https://iam.example.com": false, "http://iam.example.com": true, "http://10.0.0.5:8080": true,
	} {
		if got := plainNonLoopback(issuer); got != want {
			t.Errorf("plainNonLoopback(%q) = %v, want %v", issuer, got, want)
		}
	}
}

// TestServeBindsFirst: a port in use fails serve before it touches the
// database.
func TestServeBindsFirst(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	db := filepath.Join(t.TempDir(), "data", "gaia.db")
	err = run(context.Background(), []string{"serve", "--listen", ln.Addr().String(), "--database-url", "sqlite:" + db},
		testEnv(nil), &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "listen") {
		t.Errorf("serve on a port in use = %v, want a listen error", err)
	}
	if _, err := os.Stat(db); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("serve on a port in use created the database (stat: %v)", err)
	}
}

// TestServeTLS runs serve over HTTPS with its metrics on a listener of
// their own.
func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	cert := servertest.WriteCert(t, certFile, keyFile, 7, time.Now())
	metricsAddr := freeAddr(t)
	srv := startServe(t, "sqlite:"+filepath.Join(dir, "gaia.db"), testEnv(map[string]string{
		"GAIA_TLS_CERT_FILE": certFile, "GAIA_TLS_KEY_FILE": keyFile, "GAIA_METRICS_LISTEN": metricsAddr,
	}))
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer c.CloseIdleConnections()
	get := func(u string) int {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, err := c.Get(u)
			if err == nil {
				resp.Body.Close()
				return resp.StatusCode
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET %s: %v", u, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if code := get("https://" + srv.addr + "/.well-known/openid-configuration"); code != http.StatusOK {
		t.Errorf("discovery over HTTPS: %d", code)
	}
	if code := get("https://" + srv.addr + "/metrics"); code != http.StatusNotFound {
		t.Errorf("/metrics on the main listener with GAIA_METRICS_LISTEN set: %d, want 404", code)
	}
	if code := get("http://" + metricsAddr + "/metrics"); code != http.StatusOK {
		t.Errorf("/metrics on GAIA_METRICS_LISTEN: %d, want 200", code)
	}
	if resp, err := http.Get("http://" + srv.addr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("plain HTTP answered 200 on the TLS listener")
		}
	}
	if !strings.Contains(srv.stderr.String(), `issuer=https://`+srv.addr) {
		t.Errorf("serve did not default the issuer to https://%s:\n%s", srv.addr, srv.stderr.String())
	}
}
