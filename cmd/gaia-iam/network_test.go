package main

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gaia-platform/iam/server/servertest"
)

// TestServeWarnsPlainIssuer: serve warns, once listening, when its issuer is
// http:// on a network address, and not when it is loopback.
func TestServeWarnsPlainIssuer(t *testing.T) {
	const warning = "tokens and passwords cross it in clear"
	for _, tc := range []struct {
		issuer string
		warn   bool
	}{
		{"http://iam.example.com", true},
		{"http://10.0.0.5:8080", true},
		{"", false}, // the default: http:// + the loopback listen address
		{"https://iam.example.com", false},
	} {
		t.Run(tc.issuer, func(t *testing.T) {
			env := map[string]string{}
			if tc.issuer != "" {
				env["GAIA_ISSUER"] = tc.issuer
			}
			srv := startServe(t, "sqlite:"+filepath.Join(t.TempDir(), "gaia.db"), testEnv(env))
			waitFor(t, "http://"+srv.addr+"/readyz", http.StatusOK)
			if err := srv.stop(); err != nil {
				t.Fatal(err)
			}
			logs := srv.stderr.String()
			var warned bool
			for line := range strings.SplitSeq(logs, "\n") {
				if strings.Contains(line, warning) {
					warned = strings.Contains(line, "level=WARN")
				}
			}
			if warned != tc.warn {
				t.Errorf("issuer %q: warned = %v, want %v\n%s", tc.issuer, warned, tc.warn, logs)
			}
		})
	}
}

// TestHealthcheckTLS: gaia-iam healthcheck asks a server that serves HTTPS
// over https, as GAIA_TLS_CERT_FILE says, and fails when none answers.
func TestHealthcheckTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	servertest.WriteCert(t, certFile, keyFile, 3, time.Now())
	env := map[string]string{"GAIA_TLS_CERT_FILE": certFile, "GAIA_TLS_KEY_FILE": keyFile}
	srv := startServe(t, "sqlite:"+filepath.Join(dir, "gaia.db"), testEnv(env))
	env["GAIA_LISTEN"] = srv.addr
	check := func() (string, error) {
		var out bytes.Buffer
		err := run(context.Background(), []string{"healthcheck", "--timeout", "2s"}, testEnv(env), &out, &out)
		return out.String(), err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := check()
		if err == nil && strings.TrimSpace(out) == "ok" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("healthcheck over TLS: %v %s", err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
	if out, err := check(); err == nil || !strings.Contains(err.Error(), "https://") {
		t.Errorf("healthcheck with the server stopped = %v %s, want a failure over https", err, out)
	}
}
