package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gaia-platform/iam/audit"
	"github.com/gaia-platform/iam/storage"
)

// TestAuditPurgeCommand: `audit purge --dry-run` counts and deletes
// nothing; `audit purge` deletes only what is older than the retention and
// audits its deletion; with no retention it refuses.
func TestAuditPurgeCommand(t *testing.T) {
	for name, db := range keyDBs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			dbURL, open := db(t)
			env := map[string]string{"GAIA_DATABASE_URL": dbURL, "USER": "cj"}
			if err := run(ctx, []string{"migrate"}, testEnv(env), &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
				t.Fatal(err)
			}
			store := open(t)
			now := time.Now()
			events := []storage.AuditEvent{
				{ActorType: "user", Action: "user.create", Outcome: "success", Time: now.Add(-400 * 24 * time.Hour)},
				{ActorType: "user", Action: "user.update", Outcome: "success", Time: now.Add(-366 * 24 * time.Hour)},
				{ActorType: "user", Action: "user.delete", Outcome: "success", Time: now.Add(-300 * 24 * time.Hour)},
				{ActorType: "user", Action: "user.enable", Outcome: "success"},
			}
			if err := store.AppendAudit(ctx, events); err != nil {
				t.Fatal(err)
			}

			var out, errOut bytes.Buffer
			err := run(ctx, []string{"audit", "purge"}, testEnv(env), &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), "GAIA_AUDIT_RETENTION") {
				t.Errorf("audit purge with no retention = %v, want a refusal naming GAIA_AUDIT_RETENTION", err)
			}
			env["GAIA_AUDIT_RETENTION"] = "365d"
			out.Reset()
			if err := run(ctx, []string{"audit", "purge", "--dry-run"}, testEnv(env), &out, &errOut); err != nil {
				t.Fatalf("audit purge --dry-run: %v\n%s", err, errOut.String())
			}
			if got := out.String(); !strings.HasPrefix(got, "2 audit events older than 365d would be deleted") {
				t.Errorf("audit purge --dry-run printed %q, want the count 2", got)
			}
			if got, _ := store.ListAudit(ctx, storage.AuditFilter{}); len(got) != 4 {
				t.Errorf("%d events after a dry run, want 4", len(got))
			}
			out.Reset()
			// The flag wins over the environment.
			if err := run(ctx, []string{"audit", "purge", "--audit-retention", "8760h"}, testEnv(env), &out, &errOut); err != nil {
				t.Fatalf("audit purge: %v\n%s", err, errOut.String())
			}
			if got := out.String(); !strings.HasPrefix(got, "2 audit events older than 365d deleted") {
				t.Errorf("audit purge printed %q, want 2 deleted", got)
			}
			got, err := store.ListAudit(ctx, storage.AuditFilter{})
			if err != nil {
				t.Fatal(err)
			}
			var actions []string
			for _, e := range got {
				actions = append(actions, e.Action)
			}
			if want := []string{audit.ActionAuditPurge, "user.enable", "user.delete"}; !reflect.DeepEqual(actions, want) {
				t.Fatalf("events after the purge: %v, want %v", actions, want)
			}
			p := got[0]
			if p.ActorType != audit.ActorOperator || p.ActorName != "cj" || p.Details[audit.DetailCount] != "2" || p.Details[audit.DetailRetention] != "8760h0m0s" {
				t.Errorf("the purge's audit event = %+v, want the operator cj, count 2, retention 8760h", p)
			}

			for _, bad := range []string{"1h", "-3d", "forever"} {
				err := run(ctx, []string{"audit", "purge", "--audit-retention", bad}, testEnv(env), &out, &errOut)
				if err == nil || !strings.Contains(err.Error(), "--audit-retention") {
					t.Errorf("audit purge --audit-retention %s = %v, want a refusal", bad, err)
				}
			}
		})
	}
}

// TestAuditExportCommand: `audit export` writes the range's events as
// JSON lines with the stable field names, to stdout or to a new file.
func TestAuditExportCommand(t *testing.T) {
	for name, db := range keyDBs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			dbURL, open := db(t)
			env := map[string]string{"GAIA_DATABASE_URL": dbURL}
			if err := run(ctx, []string{"migrate"}, testEnv(env), &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
				t.Fatal(err)
			}
			store := open(t)
			t0 := time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC)
			var events []storage.AuditEvent
			for i := range 1200 {
				events = append(events, storage.AuditEvent{ActorType: "user", ActorID: "u1", ActorName: "alice",
					Action: "user.update", TargetType: "user", TargetID: "u2", Outcome: "success",
					ClientIP: "192.0.2.1", ClientID: "gaia-web", Time: t0.Add(time.Duration(i) * time.Minute),
					Details: map[string]string{"i": "<" + strconv.Itoa(i) + ">"}})
			}
			if err := store.AppendAudit(ctx, events); err != nil {
				t.Fatal(err)
			}

			var out, errOut bytes.Buffer
			args := []string{"audit", "export", "--since", "2026-01-31T10:00:00Z", "--until", "2026-01-31T20:00:00+00:00"}
			if err := run(ctx, args, testEnv(env), &out, &errOut); err != nil {
				t.Fatalf("audit export: %v\n%s", err, errOut.String())
			}
			lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			if len(lines) != 600 {
				t.Fatalf("audit export wrote %d lines, want 600", len(lines))
			}
			var first map[string]any
			if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{
				"id": events[600].ID, "time": "2026-01-31T10:00:00Z", "actor_type": "user", "actor_id": "u1",
				"actor_name": "alice", "action": "user.update", "target_type": "user", "target_id": "u2",
				"outcome": "success", "client_ip": "192.0.2.1", "client_id": "gaia-web",
				"details": map[string]any{"i": "<600>"},
			}
			if !reflect.DeepEqual(first, want) {
				t.Errorf("first line = %v, want %v", first, want)
			}
			if !strings.Contains(lines[0], `"<600>"`) {
				t.Errorf("first line %s escapes HTML, want the text as it is", lines[0])
			}

			// A duration: everything from a long time ago, into a new file.
			file := filepath.Join(t.TempDir(), "audit.jsonl")
			if err := run(ctx, []string{"audit", "export", "--since", "87600h", "--out", file}, testEnv(env), &out, &errOut); err != nil {
				t.Fatalf("audit export --out: %v\n%s", err, errOut.String())
			}
			f, err := os.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			n := 0
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				var e audit.Entry
				if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.ID != events[n].ID {
					t.Fatalf("line %d of the file = %s, %v, want event %s", n+1, sc.Text(), err, events[n].ID)
				}
				n++
			}
			if n != len(events) {
				t.Errorf("the file holds %d lines, want %d", n, len(events))
			}
			if fi, err := f.Stat(); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("the file's mode is %v, %v, want 0600", fi.Mode(), err)
			}
			err = run(ctx, []string{"audit", "export", "--since", "1d", "--out", file}, testEnv(env), &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), "exists already") {
				t.Errorf("audit export onto an existing file = %v, want a refusal", err)
			}
			for _, args := range [][]string{
				{"audit", "export"},
				{"audit", "export", "--since", "yesterday"},
				{"audit", "export", "--since", "1d", "--until", "soon"},
			} {
				if err := run(ctx, args, testEnv(env), &out, &errOut); err == nil {
					t.Errorf("%v = nil error, want a usage error", args)
				}
			}
		})
	}
}

// TestAuditHelp: each audit command's help lists its own flags only.
func TestAuditHelp(t *testing.T) {
	for _, c := range []struct {
		cmd       string
		want, not []string
	}{
		{"purge", []string{"-dry-run", "-audit-retention", "GAIA_AUDIT_RETENTION", "-database-url"}, []string{"-since", "-listen"}},
		{"export", []string{"-since", "-until", "-out", "-database-url"}, []string{"-audit-retention", "-dry-run", "-listen"}},
	} {
		var out, errOut bytes.Buffer
		if err := run(context.Background(), []string{"audit", c.cmd, "-h"}, testEnv(nil), &out, &errOut); err != nil {
			t.Fatalf("audit %s -h: %v", c.cmd, err)
		}
		help := errOut.String()
		for _, w := range c.want {
			if !strings.Contains(help, w) {
				t.Errorf("audit %s -h lacks %s:\n%s", c.cmd, w, help)
			}
		}
		for _, n := range c.not {
			if strings.Contains(help, n+" ") {
				t.Errorf("audit %s -h lists %s, not its own:\n%s", c.cmd, n, help)
			}
		}
	}
	var errOut bytes.Buffer
	if err := run(context.Background(), []string{"audit"}, testEnv(nil), &bytes.Buffer{}, &errOut); err == nil || !strings.Contains(errOut.String(), "usage: gaia-iam audit") {
		t.Errorf("audit with no command = %v, %q, want its usage", err, errOut.String())
	}
}
