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

// printGenerated shows generated passwords once, on stdout and never in the
// log, so that log shipping does not carry them.
func printGenerated(w io.Writer, creds []seed.Credential) {
	for _, c := range creds {
		fmt.Fprintf(w, `
================================================================
Created user %q with a generated password. It is shown only
this once; store it now, then change it:

    %s

================================================================

`, c.Username, c.Password)
	}
}
