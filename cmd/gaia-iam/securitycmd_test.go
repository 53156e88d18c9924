package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gaia-platform/iam/oauth/guard"
	"github.com/gaia-platform/iam/oauth/keys"
	"github.com/gaia-platform/iam/server"
	"github.com/gaia-platform/iam/storage"
)

// blocked reports whether a fresh server's login protection refuses addr:
// what every server sees once its block list refresh comes round.
func (o *operatorTest) blocked(addr string) bool {
	o.t.Helper()
	kek, err := keys.ParseKEK(o.getenv("GAIA_KEY_ENCRYPTION_KEY"))
	if err != nil {
		o.t.Fatal(err)
	}
	dk, err := server.DataKey(o.t.Context(), o.store, kek, keys.StoreDataKey)
	if err != nil {
		o.t.Fatal(err)
	}
	g, err := server.NewGuard(o.store, dk, guard.DefaultPolicy(), nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		o.t.Fatal(err)
	}
	v, err := g.Check(context.Background(), guard.Attempt{Addr: netip.MustParseAddr(addr)})
	if err != nil {
		o.t.Fatal(err)
	}
	return v.Blocked
}

func TestBlockCommands(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, o *operatorTest) {
		r := o.mustRun("", "block", "add", "203.0.113.7/24", "--reason", "stuffing", "--expires-in", "1h")
		if !strings.Contains(r.stdout, "blocked 203.0.113.0/24 (id ") || !strings.Contains(r.stdout, " until ") {
			t.Errorf("block add printed %q, want the masked CIDR, its id and expiry", r.stdout)
		}
		if !o.blocked("203.0.113.200") || o.blocked("203.0.114.1") {
			t.Error("after block add: 203.0.113.200 not blocked, or 203.0.114.1 blocked; want only the /24")
		}
		bs, err := o.store.ListBlocks(context.Background())
		if err != nil || len(bs) != 1 {
			t.Fatalf("ListBlocks = %v, %v; want one", bs, err)
		}
		o.checkAudit(o.audit("security.block.add", bs[0].ID), "block", bs[0].ID, [2]string{"security.block.add", "cidr=203.0.113.0/24"})

		r = o.mustRun("", "block", "list")
		if !strings.Contains(r.stdout, "203.0.113.0/24") || !strings.Contains(r.stdout, `"stuffing"`) || !strings.Contains(r.stdout, bs[0].ID) {
			t.Errorf("block list printed %q, want the entry with its reason and id", r.stdout)
		}
		if r := o.run("", "block", "add", "203.0.113.0/24"); r.err == nil || !strings.Contains(r.err.Error(), "already") {
			t.Errorf("block add of a listed CIDR = %v, want an error saying it is listed already", r.err)
		}
		for _, bad := range [][]string{{"block", "add"}, {"block", "add", "nonsense"}, {"block", "remove"}, {"block", "frobnicate"}} {
			if r := o.run("", bad...); !errors.Is(r.err, errUsage) {
				t.Errorf("gaia-iam %s = %v, want a usage error", strings.Join(bad, " "), r.err)
			}
		}

		r = o.mustRun("", "block", "remove", "203.0.113.0/24")
		if !strings.Contains(r.stdout, "unblocked 203.0.113.0/24") {
			t.Errorf("block remove printed %q", r.stdout)
		}
		if o.blocked("203.0.113.200") {
			t.Error("after block remove the address is still blocked")
		}
		o.checkAudit(o.audit("security.block.remove", bs[0].ID), "block", bs[0].ID, [2]string{"security.block.remove", "cidr=203.0.113.0/24"})
		if r := o.run("", "block", "remove", "203.0.113.0/24"); r.err == nil || !strings.Contains(r.err.Error(), "not on the block list") {
			t.Errorf("block remove of an unlisted CIDR = %v, want an error", r.err)
		}
	})
}

func TestUserUnlock(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, o *operatorTest) {
		ctx := context.Background()
		key := o.domain.Guard.AccountKey("admin")
		_, err := o.store.UpdateThrottle(ctx, key, func(th *storage.Throttle) error {
			th.Failures, th.Lockouts, th.Permanent = 10, 3, true
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		r := o.mustRun("", "user", "unlock", "Admin")
		if !strings.Contains(r.stdout, `user "admin" unlocked`) {
			t.Errorf("user unlock printed %q", r.stdout)
		}
		if got, _ := o.store.GetThrottles(ctx, key); len(got) != 0 {
			t.Errorf("after unlock the account still has %v", got)
		}
		admin := o.user("admin")
		o.checkAudit(o.audit("user.unlock", admin.ID), "user", admin.ID, [2]string{"user.unlock", "had_failures=true"})

		r = o.mustRun("", "user", "unlock", "admin")
		if !strings.Contains(r.stdout, "nothing to unlock") {
			t.Errorf("second unlock printed %q, want nothing to unlock", r.stdout)
		}
		if r := o.run("", "user", "unlock", "ghost"); r.err == nil || !errors.Is(r.err, storage.ErrNotFound) {
			t.Errorf("unlock of an unknown user = %v, want not found", r.err)
		}
		if r := o.run("", "user", "unlock"); !errors.Is(r.err, errUsage) {
			t.Errorf("unlock without a username = %v, want a usage error", r.err)
		}
	})
}

func TestLoginConfig(t *testing.T) {
	s := sys{getenv: testEnv(map[string]string{
		"GAIA_LOGIN_LOCKOUT_THRESHOLD":       "7",
		"GAIA_LOGIN_PERMANENT_LOCKOUT_AFTER": "3",
		"GAIA_LOGIN_ADDRESS_WINDOW":          "10m",
	}), stdout: io.Discard, stderr: io.Discard}
	cfg, err := parseConfig("serve", []string{"--login-lockout-threshold", "9", "--login-state-cache-ttl", "0"}, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := guard.DefaultPolicy()
	want.Threshold, want.PermanentAfter, want.AddressWindow, want.CacheTTL = 9, 3, 10*time.Minute, 0
	if cfg.Login != want {
		t.Errorf("login policy = %+v, want %+v (flags over env over defaults)", cfg.Login, want)
	}
	off, err := parseConfig("serve", []string{"--login-protection", "off"}, s, nil)
	if err != nil || !off.Login.Off {
		t.Errorf("--login-protection off: Off = %t, %v; want true", off.Login.Off, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--login-protection", "maybe"}, "neither on nor off"},
		{[]string{"--login-lockout-threshold", "0"}, "--login-lockout-threshold"},
		{[]string{"--login-lockout-delay", "0s"}, "--login-lockout-delay"},
		{[]string{"--login-lockout-max-delay", "10s"}, "maximum delay"},
		{[]string{"--login-address-failures", "many"}, "--login-address-failures"},
	} {
		if _, err := parseConfig("serve", tc.args, s, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseConfig(%v) = %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}
