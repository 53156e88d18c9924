package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/gaia-platform/iam/audit"
	"github.com/gaia-platform/iam/oauth/keys"
	"github.com/gaia-platform/iam/server"
	"github.com/gaia-platform/iam/storage"
)

// keysCmd runs `gaia-iam keys rotate|list`.
func keysCmd(ctx context.Context, args []string, s sys) error {
	if len(args) == 0 || (args[0] != "rotate" && args[0] != "list") {
		fmt.Fprintln(s.stderr, "usage: gaia-iam keys rotate|list [flags]")
		return errUsage
	}
	cfg, err := parseConfig("keys "+args[0], args[1:], s, nil)
	if err != nil {
		return err
	}
	log := newLogger(cfg, s.stderr)
	store, err := openMigrated(ctx, cfg.DatabaseURL, log, args[0] == "list")
	if err != nil {
		return err
	}
	defer store.Close()
	if args[0] == "rotate" {
		kek, err := resolveKEK(ctx, cfg, store, s.stderr, neverCreateKEK)
		if err != nil {
			return err
		}
		ring, err := keys.New(ctx, keys.Config{Retention: cfg.AccessTokenTTL + cfg.KeyRefresh + server.KeyRetentionSkew, RefreshInterval: cfg.KeyRefresh}, store, kek, log)
		if err != nil {
			return err
		}
		k, err := ring.Rotate(ctx)
		if err != nil {
			return err
		}
		if err := auditRotation(ctx, store, log, k.ID, s.getenv); err != nil {
			return fmt.Errorf("signing key %s is current, but its audit event was not written: %w", k.ID, err)
		}
		fmt.Fprintf(s.stdout, "new current signing key %s; running servers switch to it within their refresh interval\n", k.ID)
	}
	// Listing reads the rows as they are: it needs no key-encryption key and creates nothing.
	list, err := store.ListSigningKeys(ctx)
	if err != nil {
		return err
	}
	if len(list) == 0 {
		fmt.Fprintln(s.stdout, "no signing keys yet: the first 'gaia-iam serve' creates one")
	}
	for _, k := range list {
		state := "current"
		if !k.RetiredAt.IsZero() {
			state = "retired " + k.RetiredAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(s.stdout, "%s  %s  created %s  %s\n", k.ID, k.Algorithm, k.CreatedAt.UTC().Format(time.RFC3339), state)
	}
	return nil
}

// auditRotation writes the key.rotate event of the operator (see
// operatorName) who rotated to kid. It is written after the rotation, not
// in its transaction: that would hold the database's write lock (SQLite)
// while the new RSA key is generated.
func auditRotation(ctx context.Context, store storage.Store, log *slog.Logger, kid string, getenv func(string) string) error {
	rec := audit.New(store, log, audit.Options{})
	defer rec.Close(ctx)
	return rec.Write(ctx, storage.AuditEvent{
		ActorType: audit.ActorOperator, ActorName: operatorName(getenv),
		Action: audit.ActionKeyRotate, Outcome: audit.Success,
		TargetType: audit.TargetSigningKey, TargetID: kid,
	})
}
