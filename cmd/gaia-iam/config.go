package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gaia-platform/iam/cors"
	"github.com/gaia-platform/iam/oauth"
	"github.com/gaia-platform/iam/oauth/guard"
	"github.com/gaia-platform/iam/oauth/statuslist"
	"github.com/gaia-platform/iam/server"
)

// Config is every setting of the server, read once from flags and GAIA_*
// variables.
type Config struct {
	Listen          string
	Issuer          string
	DatabaseURL     string
	SeedFile        string
	AccessTokenTTL  time.Duration
	RefreshTokenTTL time.Duration
	MaxSessionAge   time.Duration
	DefaultAudience string
	KeyRefresh      time.Duration
	KeyPublishDelay time.Duration
	ClientCacheTTL  time.Duration
	// RefreshReuseInterval is how long a rotated refresh token presented
	// again is a concurrent refresh that lost, not reuse; 0 disables it.
	RefreshReuseInterval time.Duration
	ShutdownTimeout      time.Duration
	LogLevel             slog.Level
	LogFormat            string // text or json
	// KEK is the key-encryption key (base64, 32 bytes), taken only from
	// GAIA_KEY_ENCRYPTION_KEY, never a flag (flags show in ps and in help);
	// or KEKFile a file holding it. See resolveKEK for neither.
	KEK     string
	KEKFile string
	// SeedCascade lets serve and seed remove the user role assignments a
	// seed breaks; without it such a seed is refused.
	SeedCascade bool
	// Limits bound connections, hashing and the database pool.
	Limits Limits
	// Login is login protection's policy.
	Login guard.Policy
	// Ops: metrics, request log, TLS.
	Ops Ops
	// StatusListTTL and StatusListCache: see server.Config.
	StatusListTTL   time.Duration
	StatusListCache time.Duration
	// AuditRetention is how long audit events are kept; 0 keeps them
	// forever. See parseRetention.
	AuditRetention time.Duration
	// CORSAllowedOrigins: see server.Config.
	CORSAllowedOrigins []string
	// AccessTokenMaxBytes is the access-token budget (bytes).
	AccessTokenMaxBytes int
}

// setting is one flag and its environment variable.
type setting struct {
	flag, env, def, help string
}

var settings = []setting{
	{"listen", "GAIA_LISTEN", "127.0.0.1:8080", "address to listen on"},
	{"issuer", "GAIA_ISSUER", "", "issuer URL, exactly as in tokens and discovery (default http(s):// + listen address, unless a wildcard)"},
	{"database-url", "GAIA_DATABASE_URL", "sqlite:gaia-data/gaia.db", "sqlite:PATH or postgres://…"},
	{"seed-file", "GAIA_SEED_FILE", "seed.example.yaml", "the RBAC seed (YAML)"},
	{"access-token-ttl", "GAIA_ACCESS_TOKEN_TTL", "15m", "access token lifetime"},
	{"refresh-token-ttl", "GAIA_REFRESH_TOKEN_TTL", "720h", "refresh token lifetime"},
	{"max-session-age", "GAIA_MAX_SESSION_AGE", "720h", "absolute cap on a login, however often its refresh token rotates"},
	{"default-audience", "GAIA_DEFAULT_AUDIENCE", "gaia", "aud of tokens for clients that name no audience"},
	{"key-encryption-key-file", "GAIA_KEY_ENCRYPTION_KEY_FILE", "", "file holding the key-encryption key (mode 0600), or set " + kekEnv + " (base64 of 32 random bytes) in the environment; with neither, serve on a database without signing keys creates a development key in " + devKEKFile},
	{"key-refresh-interval", "GAIA_KEY_REFRESH_INTERVAL", "15s", "how often a server reloads the signing keys, so a rotation elsewhere reaches it"},
	{"key-publish-delay", "GAIA_KEY_PUBLISH_DELAY", "", "how long keys rotate publishes a new key before it signs; at least the key refresh interval + the JWKS max-age (60s), the default"},
	{"client-cache-ttl", "GAIA_CLIENT_CACHE_TTL", "2s", "how long a server trusts a client it read (disable, secret rotation and role changes reach it within this); 0 to read every time"},
	{"refresh-reuse-interval", "GAIA_REFRESH_REUSE_INTERVAL", oauth.DefaultRefreshReuseInterval.String(), "how long after a refresh token rotates presenting it again is refused as a concurrent refresh, without ending the login (later it is reuse and ends it); 0 to disable, at most " + oauth.MaxRefreshReuseInterval.String()},
	{"seed-cascade", "GAIA_SEED_CASCADE", "false", "let the seed take away access someone holds: remove the user role assignments it breaks (a department no longer allows the role) and delete roles, permissions and departments in use; without it such a seed is refused"},
	{"shutdown-timeout", "GAIA_SHUTDOWN_TIMEOUT", "15s", "how long in-flight requests get on SIGINT/SIGTERM"},
	{"log-level", "GAIA_LOG_LEVEL", "info", "debug, info, warn or error"},
	{"log-format", "GAIA_LOG_FORMAT", "text", "text or json"},
	{"login-protection", "GAIA_LOGIN_PROTECTION", "on", "on, or off to stop counting failed logins and throttling them (the block list still applies)"},
	{"login-lockout-threshold", "GAIA_LOGIN_LOCKOUT_THRESHOLD", "5", "consecutive failures that lock an account or a client"},
	{"login-lockout-delay", "GAIA_LOGIN_LOCKOUT_DELAY", "1m", "first lock; doubled at each further failure"},
	{"login-lockout-max-delay", "GAIA_LOGIN_LOCKOUT_MAX_DELAY", "15m", "longest lock"},
	{"login-failure-reset", "GAIA_LOGIN_FAILURE_RESET", "12h", "failures of an account or client are forgotten after this long without one"},
	{"login-permanent-lockout-after", "GAIA_LOGIN_PERMANENT_LOCKOUT_AFTER", "0", "make an account's Nth lock permanent, until an admin unlocks it; 0 never"},
	{"login-address-failures", "GAIA_LOGIN_ADDRESS_FAILURES", "50", "failures from one address (IPv6: one /64) that get it refused until the window ends"},
	{"login-address-window", "GAIA_LOGIN_ADDRESS_WINDOW", "5m", "window of --login-address-failures"},
	{"login-state-cache-ttl", "GAIA_LOGIN_STATE_CACHE_TTL", "1s", "how long a server trusts the failure counts of a client or address it read; 0 to read every time"},
	{"block-list-refresh", "GAIA_BLOCK_LIST_REFRESH", "5s", "how often a server reloads the block list, so changes made elsewhere reach it"},
	{"status-list-ttl", "GAIA_STATUS_LIST_TTL", statuslist.DefaultTTL.String(), "ttl of the token status lists: how often services fetch them (1s to 5m)"},
	{"status-list-cache", "GAIA_STATUS_LIST_CACHE", statuslist.DefaultCacheFor.String(), "how long a signed status list is served before it is built again (1s to 1m)"},
	{"access-token-max-bytes", "GAIA_ACCESS_TOKEN_MAX_BYTES", strconv.Itoa(oauth.DefaultAccessTokenMaxBytes), fmt.Sprintf("largest access token issued, in bytes (%d to %d); a larger one is refused with invalid_target, telling the client to ask for one service's token", oauth.MinAccessTokenMaxBytes, oauth.MaxAccessTokenMaxBytes)},
	{"audit-retention", "GAIA_AUDIT_RETENTION", "0", "how long audit events are kept, e.g. 365d or 8760h (at least 1d); older ones are purged hourly by serve and by 'gaia-iam audit purge'; 0 keeps them forever"},
	{"cors-allowed-origins", "GAIA_CORS_ALLOWED_ORIGINS", "", "comma-separated exact origins (scheme://host[:port]) of browser apps that may call token, revocation, userinfo, discovery and JWKS directly; no wildcard"},
}

// parseConfig reads the settings from args (flags) over getenv over the
// defaults. extra registers a command's own flags on fs before parsing.
func parseConfig(command string, args []string, s sys, extra func(fs *flag.FlagSet)) (Config, error) {
	fs := flag.NewFlagSet("gaia-iam "+command, flag.ContinueOnError)
	fs.SetOutput(s.stderr)
	values := make(map[string]*string, len(settings)+len(limitSettings)+len(opsSettings))
	own := commandSettings(command)
	for _, st := range slices.Concat(settings, limitSettings, opsSettings) {
		v := &settingValue{value: st.def}
		if e := s.getenv(st.env); e != "" {
			v.value = e
		}
		values[st.flag] = &v.value
		if !own(st.flag) {
			continue // read from the environment, not offered as a flag
		}
		help := st.help + " [" + st.env + "]"
		if st.flag == "database-url" {
			v.redact = redactURL
		}
		if st.flag == "key-encryption-key-file" && s.getenv(kekEnv) != "" {
			help += " (" + kekEnv + " [set])"
		}
		fs.Var(v, st.flag, help)
	}
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return Config{}, errHelp
		}
		return Config{}, errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(s.stderr, "gaia-iam %s: unexpected argument %q\n", command, fs.Arg(0))
		return Config{}, errUsage
	}

	cfg := Config{
		Listen:          *values["listen"],
		Issuer:          *values["issuer"],
		DatabaseURL:     *values["database-url"],
		SeedFile:        *values["seed-file"],
		LogFormat:       *values["log-format"],
		DefaultAudience: *values["default-audience"],
		KEK:             s.getenv(kekEnv),
		KEKFile:         *values["key-encryption-key-file"],
	}
	var errs []error
	duration := func(name string, dst *time.Duration) {
		d, err := time.ParseDuration(*values[name])
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("--%s: %q is not a positive duration", name, *values[name]))
		}
		*dst = d
	}
	duration("access-token-ttl", &cfg.AccessTokenTTL)
	duration("refresh-token-ttl", &cfg.RefreshTokenTTL)
	duration("shutdown-timeout", &cfg.ShutdownTimeout)
	duration("max-session-age", &cfg.MaxSessionAge)
	duration("key-refresh-interval", &cfg.KeyRefresh)
	cfg.KeyPublishDelay = server.MinKeyPublishDelay(cfg.KeyRefresh)
	if v := *values["key-publish-delay"]; v != "" {
		// Shorter, a replica or a resource server could meet a kid it
		// has not loaded yet.
		if d, err := time.ParseDuration(v); err != nil || d < cfg.KeyPublishDelay {
			errs = append(errs, fmt.Errorf("--key-publish-delay: %q is not a duration ≥ %v (--key-refresh-interval + the JWKS max-age)", v, cfg.KeyPublishDelay))
		} else {
			cfg.KeyPublishDelay = d
		}
	}
	// upTo reads a duration that may be 0, and at most max when max > 0.
	upTo := func(name string, max time.Duration, dst *time.Duration) {
		d, err := time.ParseDuration(*values[name])
		switch {
		case err != nil || d < 0:
			errs = append(errs, fmt.Errorf("--%s: %q is not a duration ≥ 0", name, *values[name]))
		case max > 0 && d > max:
			errs = append(errs, fmt.Errorf("--%s: %q is longer than %v", name, *values[name], max))
		}
		*dst = d
	}
	upTo("client-cache-ttl", 0, &cfg.ClientCacheTTL)
	upTo("refresh-reuse-interval", oauth.MaxRefreshReuseInterval, &cfg.RefreshReuseInterval)
	upTo("status-list-ttl", 5*time.Minute, &cfg.StatusListTTL)
	upTo("status-list-cache", time.Minute, &cfg.StatusListCache)
	if cfg.StatusListTTL < time.Second || cfg.StatusListCache < time.Second {
		errs = append(errs, errors.New("--status-list-ttl and --status-list-cache: at least 1s"))
	}
	if b, err := strconv.ParseBool(*values["seed-cascade"]); err != nil {
		errs = append(errs, fmt.Errorf("--seed-cascade: %q is neither true nor false", *values["seed-cascade"]))
	} else {
		cfg.SeedCascade = b
	}
	errs = append(errs, parseLogin(values, &cfg.Login)...)
	if err := cfg.LogLevel.UnmarshalText([]byte(*values["log-level"])); err != nil {
		errs = append(errs, fmt.Errorf("--log-level: %w", err))
	}
	if cfg.LogFormat != "text" && cfg.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("--log-format: %q is neither text nor json", cfg.LogFormat))
	}
	errs = append(errs, readOps(values, &cfg.Ops)...)
	if d, err := parseRetention(*values["audit-retention"]); err != nil {
		errs = append(errs, fmt.Errorf("--audit-retention: %w", err))
	} else {
		cfg.AuditRetention = d
	}
	if n, err := strconv.Atoi(*values["access-token-max-bytes"]); err != nil || n < oauth.MinAccessTokenMaxBytes || n > oauth.MaxAccessTokenMaxBytes {
		errs = append(errs, fmt.Errorf("--access-token-max-bytes: %q is not a number of bytes from %d to %d", *values["access-token-max-bytes"], oauth.MinAccessTokenMaxBytes, oauth.MaxAccessTokenMaxBytes))
	} else {
		cfg.AccessTokenMaxBytes = n
	}
	if cfg.Issuer == "" {
		var err error
		if cfg.Issuer, err = defaultIssuer(cfg.Listen, cfg.Ops.TLSCertFile != ""); err != nil {
			errs = append(errs, err)
		}
	} else if err := checkIssuer(cfg.Issuer); err != nil {
		errs = append(errs, fmt.Errorf("--issuer: %w", err))
	}
	if cfg.KEK != "" && cfg.KEKFile != "" {
		errs = append(errs, errors.New("set "+kekEnv+" or "+kekEnv+"_FILE (--key-encryption-key-file), not both"))
	}
	if cfg.DefaultAudience == "" {
		errs = append(errs, errors.New("--default-audience is empty"))
	}
	if cfg.AccessTokenTTL > cfg.RefreshTokenTTL {
		errs = append(errs, errors.New("--access-token-ttl is longer than --refresh-token-ttl"))
	}
	errs = append(errs, readLimits(values, &cfg.Limits)...)
	if o, err := cors.ParseList(*values["cors-allowed-origins"]); err != nil {
		errs = append(errs, fmt.Errorf("--cors-allowed-origins: %w", err))
	} else {
		cfg.CORSAllowedOrigins = o
	}
	if u, err := withPostgresLimits(cfg.DatabaseURL, cfg.Limits); err != nil {
		errs = append(errs, err)
	} else {
		cfg.DatabaseURL = u
	}
	return cfg, errors.Join(errs...)
}

// parseLogin reads login protection's settings into p.
func parseLogin(values map[string]*string, p *guard.Policy) []error {
	var errs []error
	durations := []struct {
		name string
		dst  *time.Duration
		zero bool // 0 allowed
	}{
		{"login-lockout-delay", &p.BaseDelay, false},
		{"login-lockout-max-delay", &p.MaxDelay, false},
		{"login-failure-reset", &p.ResetAfter, false},
		{"login-address-window", &p.AddressWindow, false},
		{"login-state-cache-ttl", &p.CacheTTL, true},
		{"block-list-refresh", &p.BlockRefresh, false},
	}
	for _, d := range durations {
		v, err := time.ParseDuration(*values[d.name])
		if err != nil || v < 0 || (v == 0 && !d.zero) {
			errs = append(errs, fmt.Errorf("--%s: %q is not a positive duration", d.name, *values[d.name]))
		}
		*d.dst = v
	}
	ints := []struct {
		name string
		dst  *int
		min  int
	}{
		{"login-lockout-threshold", &p.Threshold, 1},
		{"login-permanent-lockout-after", &p.PermanentAfter, 0},
		{"login-address-failures", &p.AddressFailures, 1},
	}
	for _, n := range ints {
		v, err := strconv.Atoi(*values[n.name])
		if err != nil || v < n.min {
			errs = append(errs, fmt.Errorf("--%s: %q is not a whole number ≥ %d", n.name, *values[n.name], n.min))
		}
		*n.dst = v
	}
	switch *values["login-protection"] {
	case "on":
	case "off":
		p.Off = true
	default:
		errs = append(errs, fmt.Errorf("--login-protection: %q is neither on nor off", *values["login-protection"]))
	}
	if len(errs) == 0 {
		if err := p.Check(); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// commandSettings says which settings command (its first word) offers as
// flags: those it uses, so that its help lists only its own. The others
// still come from the environment or their defaults.
func commandSettings(command string) func(flag string) bool {
	database := []string{"database-url", "database-connect-timeout", "database-statement-timeout", "database-max-conns", "log-level", "log-format"}
	kek := []string{"key-encryption-key-file"}
	var own []string
	switch first, _, _ := strings.Cut(command, " "); first {
	case "serve":
		return func(string) bool { return true }
	case "migrate":
		own = database
	case "seed":
		own = slices.Concat(database, kek, []string{"seed-file", "seed-cascade"})
	case "audit":
		own = database
		if command == "audit purge" {
			own = slices.Concat(database, []string{"audit-retention"})
		}
	case "keys":
		// The retention of a rotated key follows the token lifetime and refresh interval.
		own = slices.Concat(database, kek, []string{"access-token-ttl", "key-refresh-interval", "key-publish-delay"})
	default: // user, client
		own = slices.Concat(database, kek)
	}
	return func(flag string) bool { return slices.Contains(own, flag) }
}

// settingValue is a setting's flag. Its String is what help shows as the
// default, and the default is the environment's value when set: redact, when
// not nil, keeps a secret in that value out of the help.
type settingValue struct {
	value  string
	redact func(string) string
}

func (v *settingValue) String() string {
	switch {
	case v == nil: // flag's zero value, to tell whether a default is shown
		return ""
	case v.redact != nil:
		return v.redact(v.value)
	}
	return v.value
}

func (v *settingValue) Set(s string) error {
	v.value = s
	return nil
}

// redactURL returns a database URL with its password, in the user
// information or the query, replaced by "xxxxx"; a URL it cannot parse is
// shown only as "[set]".
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "[set]"
	}
	if u.Opaque != "" {
		return raw // sqlite:PATH
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	q := u.Query()
	for k := range q {
		if strings.Contains(strings.ToLower(k), "password") {
			q[k] = []string{"xxxxx"}
			u.RawQuery = q.Encode()
		}
	}
	return u.String()
}

// checkIssuer enforces RFC 8414 §2: an http(s) URL with no query or
// fragment. A trailing slash is refused because "iss" is compared byte for
// byte and "https://x/" ≠ "https://x".
func checkIssuer(issuer string) error {
	u, err := url.Parse(issuer)
	switch {
	case err != nil:
		return fmt.Errorf("%q is not a URL: %w", issuer, err)
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("%q must be an https (or, for development, http) URL", issuer)
	case u.Host == "" || u.User != nil:
		return fmt.Errorf("%q must name a host and no user", issuer)
	case u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(issuer, "?") || strings.HasSuffix(issuer, "#"):
		return fmt.Errorf("%q must have no query or fragment", issuer)
	case strings.HasSuffix(issuer, "/"):
		return fmt.Errorf("%q must not end with a slash", issuer)
	}
	return nil
}

// listFlag is a flag that may be given several times: --role A --role B.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}
