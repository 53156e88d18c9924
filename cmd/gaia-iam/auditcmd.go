package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gaia-platform/iam/audit"
	"github.com/gaia-platform/iam/storage"
)

const auditUsage = "usage: gaia-iam audit purge [--dry-run] [flags]\n       gaia-iam audit export --since TIME|DURATION [--until TIME|DURATION] [--out FILE] [flags]"

// auditCmd runs `gaia-iam audit purge|export`.
func auditCmd(ctx context.Context, args []string, s sys) error {
	if len(args) == 0 || (args[0] != "purge" && args[0] != "export") {
		fmt.Fprintln(s.stderr, auditUsage)
		return errUsage
	}
	if args[0] == "purge" {
		return auditPurge(ctx, args[1:], s)
	}
	return auditExport(ctx, args[1:], s)
}

// auditPurge deletes the events older than the retention, or with
// --dry-run counts them and writes nothing.
func auditPurge(ctx context.Context, args []string, s sys) error {
	var dryRun bool
	cfg, err := parseConfig("audit purge", args, s, func(fs *flag.FlagSet) {
		fs.BoolVar(&dryRun, "dry-run", false, "count the events a purge would delete; delete nothing")
	})
	if err != nil {
		return err
	}
	if cfg.AuditRetention == 0 {
		return errors.New("the audit retention is 0, keep forever: set GAIA_AUDIT_RETENTION or --audit-retention (e.g. 365d) to purge")
	}
	log := newLogger(cfg, s.stderr)
	store, err := openMigrated(ctx, cfg.DatabaseURL, log, dryRun)
	if err != nil {
		return err
	}
	defer store.Close()
	if dryRun {
		n, err := store.ExpiredAudit(ctx, cfg.AuditRetention)
		if err != nil {
			return err
		}
		fmt.Fprintf(s.stdout, "%d audit events older than %s would be deleted (dry run: nothing deleted)\n", n, formatRetention(cfg.AuditRetention))
		return nil
	}
	n, err := audit.Purge(ctx, store, cfg.AuditRetention, audit.ActorOperator, operatorName(s.getenv), log)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.stdout, "%d audit events older than %s deleted\n", n, formatRetention(cfg.AuditRetention))
	return nil
}

// auditExport writes the events of a time range as JSON lines, to stdout
// or to a file that appears whole or not at all.
func auditExport(ctx context.Context, args []string, s sys) error {
	var since, until, out string
	cfg, err := parseConfig("audit export", args, s, func(fs *flag.FlagSet) {
		fs.StringVar(&since, "since", "", "first time to export: RFC 3339 (2026-01-31T00:00:00Z) or a duration before now (24h, 7d); required")
		fs.StringVar(&until, "until", "", "time to export up to, excluded: RFC 3339 or a duration before now; default now")
		fs.StringVar(&out, "out", "", "file to write (created, never overwritten); default standard output")
	})
	if err != nil {
		return err
	}
	now := time.Now()
	if since == "" {
		return usageError(s, "audit export", "--since is required")
	}
	f := storage.AuditFilter{}
	if f.Since, err = parseWhen(since, now); err != nil {
		return usageError(s, "audit export", "--since: "+err.Error())
	}
	if until != "" {
		if f.Until, err = parseWhen(until, now); err != nil {
			return usageError(s, "audit export", "--until: "+err.Error())
		}
	}
	log := newLogger(cfg, s.stderr)
	store, err := openMigrated(ctx, cfg.DatabaseURL, log, true)
	if err != nil {
		return err
	}
	defer store.Close()
	if out == "" {
		_, err := audit.Export(ctx, store, f, s.stdout)
		return err
	}
	return exportToFile(ctx, store, f, out, s.stderr)
}

// exportToFile exports into a temporary file beside path, readable by its
// owner only, and renames it to path once complete: a failed export
// leaves nothing. An existing path is refused, not overwritten.
func exportToFile(ctx context.Context, store audit.Exporter, f storage.AuditFilter, path string, stderr io.Writer) error {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("--out %s exists already: choose a new file", path)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	n, err := audit.Export(ctx, store, f, tmp)
	if err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	// Link, not rename: it fails, rather than replace, if path appeared
	// meanwhile.
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	done = true
	os.Remove(tmp.Name())
	fmt.Fprintf(stderr, "%d audit events written to %s\n", n, path)
	return nil
}

// parseWhen reads a time: RFC 3339, or a duration before now (Go's, or
// whole days as "7d").
func parseWhen(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	d, err := parseDays(v)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a duration like 24h or 7d", v)
	}
	return now.Add(-d), nil
}

// parseRetention reads GAIA_AUDIT_RETENTION: 0 (keep forever), or a
// duration of at least storage.MinAuditRetention, in Go's form (8760h) or
// whole days (365d).
func parseRetention(v string) (time.Duration, error) {
	d, err := parseDays(v)
	switch {
	case err != nil || d < 0:
		return 0, fmt.Errorf("%q is neither 0 nor a duration like 365d or 8760h", v)
	case d > 0 && d < storage.MinAuditRetention:
		return 0, fmt.Errorf("%q is shorter than the least retention, 1d", v)
	}
	return d, nil
}

// parseDays is time.ParseDuration that also takes whole days, "7d".
func parseDays(v string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.ParseUint(n, 10, 16)
		if err != nil {
			return 0, err
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(v)
}

// formatRetention shows a retention in days when it is whole days.
func formatRetention(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}
