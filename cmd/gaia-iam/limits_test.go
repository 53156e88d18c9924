package main

import (
	"bytes"
	"context"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gaia-platform/iam/server/servertest"
)

func TestLimitsConfig(t *testing.T) {
	s := sys{getenv: testEnv(map[string]string{
		"GAIA_DATABASE_URL":              "postgres://u:pw@db.example:5432/gaia?sslmode=disable",
		"GAIA_DATABASE_MAX_CONNS":        "7",
		"GAIA_TRUSTED_PROXIES":           "10.0.0.0/8, 192.0.2.1",
		"GAIA_PASSWORD_HASH_CONCURRENCY": "3",
	}), stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	cfg, err := parseConfig("serve", []string{"--database-statement-timeout", "2500ms", "--http-read-timeout", "9s"}, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if q.Get("connect_timeout") != "5" || q.Get("statement_timeout") != "2500" || q.Get("pool_max_conns") != "7" || q.Get("sslmode") != "disable" {
		t.Errorf("database URL parameters %v, want connect_timeout 5, statement_timeout 2500, pool_max_conns 7 and the URL's own", q)
	}
	l := cfg.Limits
	if l.HTTP.ReadTimeout != 9*time.Second || l.HTTP.ReadHeaderTimeout != 5*time.Second || l.HTTP.MaxHeaderBytes != 32<<10 {
		t.Errorf("HTTP limits %+v, want the flag and the defaults", l.HTTP)
	}
	if l.Hashing.Concurrency != 3 || l.Hashing.MaxWait != time.Second || l.Hashing.MaxStored.Memory != 64*1024 || l.Hashing.MemoryBudget != 128*1024 {
		t.Errorf("hashing %+v, want concurrency 3 and the defaults", l.Hashing)
	}
	if len(l.TrustedProxies) != 2 || l.ForwardedHeader != "X-Forwarded-For" {
		t.Errorf("trusted proxies %q via %q", l.TrustedProxies, l.ForwardedHeader)
	}

	// What the URL sets itself wins; SQLite URLs are left alone.
	s.getenv = testEnv(map[string]string{"GAIA_DATABASE_URL": "postgres://db.example/gaia?connect_timeout=1&statement_timeout=0"})
	if cfg, err = parseConfig("serve", nil, s, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cfg.DatabaseURL, "connect_timeout=1&") || !strings.Contains(cfg.DatabaseURL, "statement_timeout=0") || strings.Contains(cfg.DatabaseURL, "pool_max_conns") {
		t.Errorf("database URL %q, want its own timeouts kept and no pool size", cfg.DatabaseURL)
	}
	s.getenv = testEnv(nil)
	if cfg, err = parseConfig("serve", nil, s, nil); err != nil || cfg.DatabaseURL != "sqlite:gaia-data/gaia.db" {
		t.Errorf("SQLite URL %q, %v; want it untouched", cfg.DatabaseURL, err)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--database-connect-timeout", "0s"}, "not a positive duration"},
		{[]string{"--database-max-conns", "-1"}, "--database-max-conns"},
		{[]string{"--http-max-header-bytes", "10"}, "--http-max-header-bytes"},
		{[]string{"--password-hash-max-memory", "4"}, "--password-hash-max-memory"},
		{[]string{"--trusted-proxies", "10.0.0.0/40"}, "--trusted-proxies"},
		{[]string{"--trusted-proxy-header", "X-Real-IP"}, "--trusted-proxies"},
	} {
		if _, err := parseConfig("serve", tc.args, s, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseConfig(%v) = %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}

// TestServeSilentDatabase: a "database" that accepts connections and never
// answers. serve says in its log what it is waiting for, and gives up after
// the connect timeout with an error saying so, rather than hanging.
func TestServeSilentDatabase(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never answered
		}
	}()
	// The guard only keeps a broken serve from hanging the test run.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stderr servertest.LogBuffer
	err = run(ctx, []string{"serve", "--listen", freeAddr(t), "--database-connect-timeout", "1s",
		"--database-url", "postgres://gaia@" + ln.Addr().String() + "/gaia?sslmode=disable"}, testEnv(nil), &bytes.Buffer{}, &stderr)
	if err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "timeout") {
		t.Errorf("serve against a silent database = %v, want a timeout error before the guard", err)
	}
	if log := stderr.String(); !strings.Contains(log, "waiting for the database") || !strings.Contains(log, "connect_timeout=1s") || !strings.Contains(log, "host="+ln.Addr().String()) {
		t.Errorf("serve log %q, want it to say what it waits for", log)
	}
}
