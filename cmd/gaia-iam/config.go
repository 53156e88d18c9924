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
	ClientCacheTTL  time.Duration
	ShutdownTimeout time.Duration
	LogLevel        slog.Level
	LogFormat       string // text or json
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
}

// setting is one flag and its environment variable.
type setting struct {
	flag, env, def, help string
}

var settings = []setting{
	{"listen", "GAIA_LISTEN", "127.0.0.1:8080", "address to listen on"},
	{"issuer", "GAIA_ISSUER", "", "issuer URL, exactly as in tokens and discovery (default http:// + listen address)"},
	{"database-url", "GAIA_DATABASE_URL", "sqlite:gaia-data/gaia.db", "sqlite:PATH or postgres://…"},
	{"seed-file", "GAIA_SEED_FILE", "seed.example.yaml", "the RBAC seed (YAML)"},
	{"access-token-ttl", "GAIA_ACCESS_TOKEN_TTL", "15m", "access token lifetime"},
	{"refresh-token-ttl", "GAIA_REFRESH_TOKEN_TTL", "720h", "refresh token lifetime"},
	{"max-session-age", "GAIA_MAX_SESSION_AGE", "720h", "absolute cap on a login, however often its refresh token rotates"},
	{"default-audience", "GAIA_DEFAULT_AUDIENCE", "gaia", "aud of tokens for clients that name no audience"},
	{"key-encryption-key-file", "GAIA_KEY_ENCRYPTION_KEY_FILE", "", "file holding the key-encryption key (mode 0600), or set " + kekEnv + " (base64 of 32 random bytes) in the environment; with neither, serve on a database without signing keys creates a development key in " + devKEKFile},
	{"key-refresh-interval", "GAIA_KEY_REFRESH_INTERVAL", "15s", "how often a server reloads the signing keys, so a rotation elsewhere reaches it"},
	{"client-cache-ttl", "GAIA_CLIENT_CACHE_TTL", "2s", "how long a server trusts a client it read (disable, secret rotation and role changes reach it within this); 0 to read every time"},
	{"seed-cascade", "GAIA_SEED_CASCADE", "false", "let the seed take away access someone holds: remove the user role assignments it breaks (a department no longer allows the role) and delete roles, permissions and departments in use; without it such a seed is refused"},
	{"shutdown-timeout", "GAIA_SHUTDOWN_TIMEOUT", "15s", "how long in-flight requests get on SIGINT/SIGTERM"},
	{"log-level", "GAIA_LOG_LEVEL", "info", "debug, info, warn or error"},
	{"log-format", "GAIA_LOG_FORMAT", "text", "text or json"},
}

// parseConfig reads the settings from args (flags) over getenv over the
// defaults. extra registers a command's own flags on fs before parsing.
func parseConfig(command string, args []string, s sys, extra func(fs *flag.FlagSet)) (Config, error) {
	fs := flag.NewFlagSet("gaia-iam "+command, flag.ContinueOnError)
	fs.SetOutput(s.stderr)
	values := make(map[string]*string, len(settings)+len(limitSettings))
	own := commandSettings(command)
	for _, st := range append(settings[:len(settings):len(settings)], limitSettings...) {
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
	if d, err := time.ParseDuration(*values["client-cache-ttl"]); err != nil || d < 0 {
		errs = append(errs, fmt.Errorf("--client-cache-ttl: %q is not a duration ≥ 0", *values["client-cache-ttl"]))
	} else {
		cfg.ClientCacheTTL = d
	}
	if b, err := strconv.ParseBool(*values["seed-cascade"]); err != nil {
		errs = append(errs, fmt.Errorf("--seed-cascade: %q is neither true nor false", *values["seed-cascade"]))
	} else {
		cfg.SeedCascade = b
	}
	if err := cfg.LogLevel.UnmarshalText([]byte(*values["log-level"])); err != nil {
		errs = append(errs, fmt.Errorf("--log-level: %w", err))
	}
	if cfg.LogFormat != "text" && cfg.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("--log-format: %q is neither text nor json", cfg.LogFormat))
	}
	if cfg.Issuer == "" {
		cfg.Issuer = "http://" + cfg.Listen
	}
	if err := checkIssuer(cfg.Issuer); err != nil {
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
	if u, err := withPostgresLimits(cfg.DatabaseURL, cfg.Limits); err != nil {
		errs = append(errs, err)
	} else {
		cfg.DatabaseURL = u
	}
	return cfg, errors.Join(errs...)
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
	case "keys":
		// The retention of a rotated key follows the token lifetime and refresh interval.
		own = slices.Concat(database, kek, []string{"access-token-ttl", "key-refresh-interval"})
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
