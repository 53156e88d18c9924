package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/gaia-platform/iam/audit"
	"github.com/gaia-platform/iam/oauth/keys"
	"github.com/gaia-platform/iam/server"
	"github.com/gaia-platform/iam/storage"
)

const keysUsage = "usage: gaia-iam keys rotate|list|rewrap [flags]\n       gaia-iam keys revoke KID [flags]"

// keysCmd runs `gaia-iam keys rotate|revoke KID|list|rewrap`.
func keysCmd(ctx context.Context, args []string, s sys) error {
	if len(args) == 0 || (args[0] != "rotate" && args[0] != "list" && args[0] != "revoke" && args[0] != "rewrap") {
		fmt.Fprintln(s.stderr, keysUsage)
		return errUsage
	}
	op, rest, kid := args[0], args[1:], ""
	if op == "revoke" {
		if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
			fmt.Fprintln(s.stderr, keysUsage)
			return errUsage
		}
		kid, rest = rest[0], rest[1:]
	}
	cfg, err := parseConfig("keys "+op, rest, s, nil)
	if err != nil {
		return err
	}
	log := newLogger(cfg, s.stderr)
	if op == "rewrap" {
		return rewrapCmd(ctx, cfg, log, s)
	}
	store, err := openMigrated(ctx, cfg.DatabaseURL, log, args[0] == "list")
	if err != nil {
		return err
	}
	defer store.Close()
	if op != "list" {
		kek, err := resolveKEK(ctx, cfg, store, s.stderr, neverCreateKEK)
		if err != nil {
			return err
		}
		ring, err := server.KeyRing(ctx, server.Config{
			AccessTokenTTL: cfg.AccessTokenTTL, KeyRefresh: cfg.KeyRefresh, KeyPublishDelay: cfg.KeyPublishDelay, KEK: kek,
		}, store, log)
		if err != nil {
			return err
		}
		if op == "rotate" {
			err = rotateKey(ctx, ring, store, log, cfg, s)
		} else {
			err = revokeKey(ctx, ring, store, log, kid, cfg, s)
		}
		if err != nil {
			return err
		}
	}
	// Listing reads the rows as they are: it needs no key-encryption key and creates nothing.
	list, err := store.ListSigningKeys(ctx)
	if err != nil {
		return err
	}
	if len(list) == 0 {
		fmt.Fprintln(s.stdout, "no signing keys yet: the first 'gaia-iam serve' creates one")
	}
	printKeys(s.stdout, keys.Describe(list, time.Now()))
	return nil
}

// printKeys shows each key's state and the times of its life.
func printKeys(w io.Writer, infos []keys.KeyInfo) {
	at := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	for _, k := range infos {
		line := fmt.Sprintf("%s  %-7s  created %s  signs from %s", k.ID, k.State, at(k.CreatedAt), at(k.ActivatesAt))
		if !k.RetiredAt.IsZero() {
			line += "  retired " + at(k.RetiredAt)
		}
		if !k.RevokedAt.IsZero() {
			line += "  revoked " + at(k.RevokedAt)
		}
		fmt.Fprintln(w, line)
	}
}

func rotateKey(ctx context.Context, ring *keys.Ring, store storage.Store, log *slog.Logger, cfg Config, s sys) error {
	k, from, err := ring.Rotate(ctx)
	if err != nil {
		return err
	}
	err = auditKey(ctx, store, log, audit.ActionKeyRotate, k.ID, s.getenv,
		map[string]string{audit.DetailActivatesAt: from.UTC().Format(time.RFC3339)})
	if err != nil {
		return fmt.Errorf("signing key %s is published, but its audit event was not written: %w", k.ID, err)
	}
	fmt.Fprintf(s.stdout, "new signing key %s, published now; it signs from %s (in %v: --key-publish-delay), so every server and resource server has it first\n",
		k.ID, from.UTC().Format(time.RFC3339), cfg.KeyPublishDelay)
	return nil
}

func revokeKey(ctx context.Context, ring *keys.Ring, store storage.Store, log *slog.Logger, kid string, cfg Config, s sys) error {
	rev, err := ring.Revoke(ctx, kid)
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrInvalid) {
		// The kid is the operator's own input: quoting it back is safe.
		return fmt.Errorf("no signing key %q: 'gaia-iam keys list' shows them", kid)
	}
	if err != nil {
		return err
	}
	details := map[string]string{audit.DetailAlready: strconv.FormatBool(rev.Already)}
	if rev.Fresh != "" {
		details[audit.DetailFreshKey] = rev.Fresh
	}
	if err := auditKey(ctx, store, log, audit.ActionKeyRevoke, kid, s.getenv, details); err != nil {
		return fmt.Errorf("signing key %s is revoked, but its audit event was not written: %w", kid, err)
	}
	if rev.Already {
		fmt.Fprintf(s.stdout, "signing key %s was revoked already\n", kid)
		return nil
	}
	fmt.Fprintf(s.stdout, "revoked signing key %s: its tokens are refused now by introspection, userinfo and the admin API; "+
		"running servers stop publishing it within %v (--key-refresh-interval), resource servers refuse it within %v more (the JWKS max-age) and a fetch\n",
		kid, cfg.KeyRefresh, server.MinKeyPublishDelay(0))
	if rev.Fresh != "" {
		fmt.Fprintf(s.stdout, "it was signing: new signing key %s signs now\n", rev.Fresh)
	}
	return nil
}

// auditKey writes a key event of the operator (see operatorName) on kid.
// It is written after the change, not in its transaction: that would hold
// the database's write lock (SQLite) while a new RSA key is generated.
func auditKey(ctx context.Context, store storage.Store, log *slog.Logger, action, kid string, getenv func(string) string, details map[string]string) error {
	rec := audit.New(store, log, audit.Options{})
	defer rec.Close(ctx)
	return rec.Write(ctx, storage.AuditEvent{
		ActorType: audit.ActorOperator, ActorName: operatorName(getenv),
		Action: action, Outcome: audit.Success,
		TargetType: audit.TargetSigningKey, TargetID: kid, Details: details,
	})
}

// rewrapCmd replaces the key-encryption key: the old one as every command
// takes it, the new one from newKEKEnv(_FILE). Both are checked before
// anything is written, and the audit event is written in the rewrap's
// transaction.
func rewrapCmd(ctx context.Context, cfg Config, log *slog.Logger, s sys) error {
	newKEK, err := resolveNewKEK(s.getenv)
	if err != nil {
		return err
	}
	defer clear(newKEK)
	store, err := openMigrated(ctx, cfg.DatabaseURL, log, false)
	if err != nil {
		return err
	}
	defer store.Close()
	oldKEK, err := resolveKEK(ctx, cfg, store, s.stderr, neverCreateKEK)
	if err != nil {
		return err
	}
	rec := audit.New(store, log, audit.Options{})
	defer rec.Close(ctx)
	res, err := keys.Rewrap(ctx, store, oldKEK, newKEK, func(ctx context.Context, r keys.Rewrapped) error {
		return rec.Write(ctx, storage.AuditEvent{
			ActorType: audit.ActorOperator, ActorName: operatorName(s.getenv),
			Action: audit.ActionKeyRewrap, Outcome: audit.Success,
			TargetType: audit.TargetKEK, TargetID: r.NewKEK,
			Details: map[string]string{
				audit.DetailOldKEK:      r.OldKEK,
				audit.DetailSigningKeys: strconv.Itoa(r.SigningKeys),
				audit.DetailDataKeys:    strconv.Itoa(r.DataKeys),
			},
		})
	})
	switch {
	case errors.Is(err, keys.ErrSameKEK):
		return fmt.Errorf("%s(_FILE) holds the key-encryption key in use: make a new one (openssl rand -base64 32); nothing was written", newKEKEnv)
	case errors.Is(err, keys.ErrWrongKEK):
		return fmt.Errorf("%w; %s to the key in use (nothing was written)", err, kekHow)
	case err != nil:
		return fmt.Errorf("%w (nothing was written)", err)
	}
	fmt.Fprintf(s.stdout, "key-encryption key %s replaced by %s: %d signing keys and %d data keys re-sealed; "+
		"refresh tokens and client secrets stay valid.\n", res.OldKEK, res.NewKEK, res.SigningKeys, res.DataKeys)
	fmt.Fprintf(s.stdout, "Now set %s(_FILE) to the new key on every server and command, unset %s(_FILE), and restart the servers "+
		"before the next 'keys rotate': running servers keep the keys they loaded, but only the new key opens keys made from now on, "+
		"and the old key no longer starts a server. Keep a backup of the new key; the old one opens only backups taken before this.\n",
		kekEnv, newKEKEnv)
	if cfg.KEK == "" && cfg.KEKFile == "" {
		fmt.Fprintf(s.stdout, "The old key came from the development key file %s: replace its content with the new key.\n", devKEKFile)
	}
	return nil
}
