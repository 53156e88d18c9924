package main

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/gaia-platform/iam/rbac/seed"
)

// newLogger writes to w in the configured format and level.
func newLogger(cfg Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// printGenerated shows the passwords the seed generated, once each (see
// printOnce).
func printGenerated(w io.Writer, creds []seed.Credential) {
	for _, c := range creds {
		printOnce(w, fmt.Sprintf("Created user %q with a generated password; change it after the first login", c.Username), c.Password)
	}
}
