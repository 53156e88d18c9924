package main

import (
	"fmt"
	"io"
	"log/slog"
	"runtime"

	"github.com/gaia-platform/iam/oauth"
	"github.com/gaia-platform/iam/password"
	"github.com/gaia-platform/iam/rbac"
	"github.com/gaia-platform/iam/rbac/seed"
	"github.com/gaia-platform/iam/storage"
)

// newLogger writes to w in the configured format and level.
func newLogger(cfg Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// domain is the RBAC service and the seeder over one store.
type domain struct {
	rbac          *rbac.Service
	seeder        *seed.Seeder
	clientSecrets *oauth.SecretHasher
}

func newDomain(store storage.Store, secrets serverSecrets, log *slog.Logger) (domain, error) {
	// One argon2id hash per core at a time bounds memory at 19 MiB × cores.
	hasher, err := password.NewHasher(password.OWASP(), runtime.NumCPU())
	if err != nil {
		return domain{}, err
	}
	svc, err := rbac.New(store, hasher, log)
	if err != nil {
		return domain{}, err
	}
	clientSecrets, err := oauth.NewSecretHasher(secrets.clientSecrets)
	if err != nil {
		return domain{}, err
	}
	seeder, err := seed.New(store, svc, clientSecrets.HashString, log)
	if err != nil {
		return domain{}, err
	}
	return domain{rbac: svc, seeder: seeder, clientSecrets: clientSecrets}, nil
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
