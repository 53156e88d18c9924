package server

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// TLSConfig serves the certificate and key in certFile and keyFile (PEM),
// TLS 1.2 and later. The files are checked at each handshake and read
// again when either one's modification time or size changed, so a renewed
// certificate (certbot, cert-manager) is served without a restart; a
// renewal that fails to load keeps the previous certificate and is logged.
func TLSConfig(certFile, keyFile string, log *slog.Logger) (*tls.Config, error) {
	c := &certFiles{cert: certFile, key: keyFile, log: log}
	if err := c.load(); err != nil {
		return nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: c.get}, nil
}

// certFiles is a certificate loaded from files, with what the files looked
// like when it was.
type certFiles struct {
	cert, key string
	log       *slog.Logger

	mu      sync.Mutex
	current *tls.Certificate
	stamp   [2]fileStamp
}

type fileStamp struct {
	mod  time.Time
	size int64
}

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{fi.ModTime(), fi.Size()}, nil
}

// load reads the pair if the files changed since the last load.
func (c *certFiles) load() error {
	cs, err := stampOf(c.cert)
	if err != nil {
		return fmt.Errorf("tls certificate: %w", err)
	}
	ks, err := stampOf(c.key)
	if err != nil {
		return fmt.Errorf("tls key: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.current != nil && c.stamp == [2]fileStamp{cs, ks} {
		return nil
	}
	pair, err := tls.LoadX509KeyPair(c.cert, c.key)
	if err != nil {
		return fmt.Errorf("tls certificate %s and key %s: %w", c.cert, c.key, err)
	}
	if c.current != nil {
		c.log.Info("tls certificate reloaded", "cert_file", c.cert, "not_after", pair.Leaf.NotAfter)
	}
	c.current, c.stamp = &pair, [2]fileStamp{cs, ks}
	return nil
}

func (c *certFiles) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if err := c.load(); err != nil {
		// Half-written files during a renewal: keep serving the last pair.
		c.log.Warn("tls certificate reload failed; serving the previous one", "error", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.current, nil
}
