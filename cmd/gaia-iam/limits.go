package main

import (
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gaia-platform/iam/clientip"
	"github.com/gaia-platform/iam/password"
	"github.com/gaia-platform/iam/server"
)

// Limits are the bounds the server runs under: HTTP connections, password
// hashing, the PostgreSQL pool, and which proxies may say who the client is.
type Limits struct {
	HTTP    server.HTTPLimits
	Hashing password.Config
	// TrustedProxies and ForwardedHeader: see server.Config.
	TrustedProxies  []string
	ForwardedHeader string
	// PostgreSQL: set on the database URL unless it sets them itself.
	DatabaseConnectTimeout   time.Duration
	DatabaseStatementTimeout time.Duration
	DatabaseMaxConns         int // 0: pgx's default, max(4, cores)
}

var limitSettings = []setting{
	{"http-read-header-timeout", "GAIA_HTTP_READ_HEADER_TIMEOUT", "5s", "how long a client may take to send its request headers"},
	{"http-read-timeout", "GAIA_HTTP_READ_TIMEOUT", "15s", "how long a client may take to send a whole request"},
	{"http-write-timeout", "GAIA_HTTP_WRITE_TIMEOUT", "30s", "how long an answer may take, from the end of the request headers"},
	{"http-idle-timeout", "GAIA_HTTP_IDLE_TIMEOUT", "2m", "how long an idle keep-alive connection is kept"},
	{"http-max-header-bytes", "GAIA_HTTP_MAX_HEADER_BYTES", "32768", "the most request header bytes read (more: 431)"},
	{"password-hash-concurrency", "GAIA_PASSWORD_HASH_CONCURRENCY", "0", "argon2id hashes run at once; 0: CPU cores, capped by the memory budget"},
	{"password-hash-memory-budget", "GAIA_PASSWORD_HASH_MEMORY_BUDGET", "128", "MiB all running password hashes may hold (19 MiB each); sizes the default concurrency"},
	{"password-hash-wait", "GAIA_PASSWORD_HASH_WAIT", "1s", "how long a login waits for a hashing slot before 503 temporarily_unavailable"},
	{"password-hash-max-memory", "GAIA_PASSWORD_HASH_MAX_MEMORY", "64", "MiB a stored password hash may declare; costlier hashes fail the login unhashed"},
	{"trusted-proxies", "GAIA_TRUSTED_PROXIES", "", "comma-separated CIDRs of reverse proxies whose forwarding header is believed"},
	{"trusted-proxy-header", "GAIA_TRUSTED_PROXY_HEADER", clientip.XForwardedFor, "the header trusted proxies set: X-Forwarded-For or Forwarded"},
	{"database-connect-timeout", "GAIA_DATABASE_CONNECT_TIMEOUT", "5s", "PostgreSQL: how long to wait for a connection (whole seconds)"},
	{"database-statement-timeout", "GAIA_DATABASE_STATEMENT_TIMEOUT", "15s", "PostgreSQL: the longest a statement may run"},
	{"database-max-conns", "GAIA_DATABASE_MAX_CONNS", "0", "PostgreSQL: connection pool size; 0: max(4, CPU cores)"},
}

// readLimits fills l from the parsed settings.
func readLimits(values map[string]*string, l *Limits) []error {
	var errs []error
	duration := func(name string, dst *time.Duration) {
		d, err := time.ParseDuration(*values[name])
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("--%s: %q is not a positive duration", name, *values[name]))
		}
		*dst = d
	}
	count := func(name string, min int) int {
		n, err := strconv.Atoi(*values[name])
		if err != nil || n < min {
			errs = append(errs, fmt.Errorf("--%s: %q is not a whole number ≥ %d", name, *values[name], min))
		}
		return n
	}
	duration("http-read-header-timeout", &l.HTTP.ReadHeaderTimeout)
	duration("http-read-timeout", &l.HTTP.ReadTimeout)
	duration("http-write-timeout", &l.HTTP.WriteTimeout)
	duration("http-idle-timeout", &l.HTTP.IdleTimeout)
	l.HTTP.MaxHeaderBytes = count("http-max-header-bytes", 4096)
	l.Hashing.Concurrency = count("password-hash-concurrency", 0)
	l.Hashing.MemoryBudget = uint64(count("password-hash-memory-budget", 1)) * 1024
	duration("password-hash-wait", &l.Hashing.MaxWait)
	maxMemory := count("password-hash-max-memory", 19)
	if maxMemory > math.MaxUint32/1024 {
		errs = append(errs, fmt.Errorf("--password-hash-max-memory: %d MiB is too much", maxMemory))
	} else if maxMemory > 0 {
		l.Hashing.MaxStored = password.DefaultLimits(password.OWASP())
		l.Hashing.MaxStored.Memory = uint32(maxMemory) * 1024
	}
	for p := range strings.SplitSeq(*values["trusted-proxies"], ",") {
		if p = strings.TrimSpace(p); p != "" {
			l.TrustedProxies = append(l.TrustedProxies, p)
		}
	}
	l.ForwardedHeader = *values["trusted-proxy-header"]
	if _, err := clientip.New(l.TrustedProxies, l.ForwardedHeader); err != nil {
		errs = append(errs, fmt.Errorf("--trusted-proxies: %w", err))
	}
	duration("database-connect-timeout", &l.DatabaseConnectTimeout)
	duration("database-statement-timeout", &l.DatabaseStatementTimeout)
	l.DatabaseMaxConns = count("database-max-conns", 0)
	return errs
}

// withPostgresLimits sets connect_timeout, statement_timeout (sent to the
// server as a run-time parameter) and pool_max_conns on a postgres:// URL
// that does not set them itself; any other URL is returned as it is.
func withPostgresLimits(databaseURL string, l Limits) (string, error) {
	if !strings.HasPrefix(databaseURL, "postgres://") && !strings.HasPrefix(databaseURL, "postgresql://") {
		return databaseURL, nil
	}
	u, err := url.Parse(databaseURL)
	if err != nil {
		// The URL may hold a password: say only what is wrong.
		return "", fmt.Errorf("database URL: not a valid postgres:// URL")
	}
	q := u.Query()
	setDefault := func(k, v string) {
		if !q.Has(k) {
			q.Set(k, v)
		}
	}
	// pgx reads whole seconds; round up so that 500ms is not "no timeout".
	setDefault("connect_timeout", strconv.Itoa(int(math.Ceil(l.DatabaseConnectTimeout.Seconds()))))
	setDefault("statement_timeout", strconv.FormatInt(l.DatabaseStatementTimeout.Milliseconds(), 10))
	if l.DatabaseMaxConns > 0 {
		setDefault("pool_max_conns", strconv.Itoa(l.DatabaseMaxConns))
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}
