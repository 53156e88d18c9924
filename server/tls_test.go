package server_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gaia-platform/iam/server"
	"github.com/gaia-platform/iam/server/servertest"
	"github.com/gaia-platform/iam/storage/storagetest"
)

// TestTLS serves Gaia over HTTPS from certificate files, refuses TLS 1.1,
// and serves a replaced certificate on the next connection.
func TestTLS(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			dir := t.TempDir()
			certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
			first := servertest.WriteCert(t, certFile, keyFile, 1, time.Now().Add(-time.Minute))
			cfg, err := server.TLSConfig(certFile, keyFile, storagetest.Logger(t))
			if err != nil {
				t.Fatal(err)
			}
			iam := servertest.Start(t, b.Open(t), servertest.Options{})
			// As serve does (httptest.StartTLS would add its own certificate).
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			hs := &http.Server{Handler: iam.Server.Handler(), TLSConfig: cfg, ErrorLog: log.New(io.Discard, "", 0)}
			go func() { _ = hs.ServeTLS(ln, "", "") }()
			t.Cleanup(func() { _ = hs.Close() })
			base := "https://" + ln.Addr().String()

			get := func(trust *x509.Certificate, maxVersion uint16) (*http.Response, error) {
				pool := x509.NewCertPool()
				pool.AddCert(trust)
				c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: maxVersion}}}
				defer c.CloseIdleConnections()
				resp, err := c.Get(base + "/healthz")
				if err == nil {
					resp.Body.Close()
				}
				return resp, err
			}
			resp, err := get(first, 0)
			if err != nil {
				t.Fatalf("GET over TLS: %v", err)
			}
			if resp.StatusCode != http.StatusOK || resp.TLS.PeerCertificates[0].SerialNumber.Int64() != 1 {
				t.Errorf("GET over TLS = %d, serial %v; want 200 from certificate 1", resp.StatusCode, resp.TLS.PeerCertificates[0].SerialNumber)
			}
			if _, err := get(first, tls.VersionTLS11); err == nil {
				t.Errorf("a TLS 1.1 client was served")
			}

			second := servertest.WriteCert(t, certFile, keyFile, 2, time.Now())
			resp, err = get(second, 0)
			if err != nil {
				t.Fatalf("GET after the certificate was replaced: %v", err)
			}
			if got := resp.TLS.PeerCertificates[0].SerialNumber.Int64(); got != 2 {
				t.Errorf("after the replacement the server presents certificate %d, want 2", got)
			}

			// A broken renewal keeps the certificate that works.
			if err := os.WriteFile(keyFile, []byte("half written"), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := get(second, 0); err != nil {
				t.Errorf("GET with a broken key file on disk: %v, want the previous certificate served", err)
			}
		})
	}
}
