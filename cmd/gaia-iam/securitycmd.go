package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gaia-platform/iam/audit"
	"github.com/gaia-platform/iam/storage"
)

// blockCmd runs `gaia-iam block add|list|remove`: the block list of login
// protection, which refuses every token request from an address range.
func blockCmd(ctx context.Context, args []string, s sys) error {
	if len(args) > 0 {
		switch args[0] {
		case "add":
			return blockAdd(ctx, args[1:], s)
		case "list":
			return blockList(ctx, args[1:], s)
		case "remove":
			return blockRemove(ctx, args[1:], s)
		}
	}
	fmt.Fprintln(s.stderr, "usage: gaia-iam block add CIDR [--reason TEXT] [--expires-in DURATION] | list | remove CIDR")
	return errUsage
}

// leadingArg takes the operand that precedes the flags: `block add CIDR --reason …`.
func leadingArg(args []string) (string, []string) {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return args[0], args[1:]
	}
	return "", args
}

// blockArgs reads `gaia-iam block add|remove CIDR [flags]`; extra
// registers the command's own flags.
func blockArgs(command string, args []string, s sys, extra func(fs *flag.FlagSet)) (Config, netip.Prefix, error) {
	cidr, args := leadingArg(args)
	cfg, err := parseConfig(command, args, s, extra)
	if err != nil {
		return cfg, netip.Prefix{}, err
	}
	if cidr == "" {
		return cfg, netip.Prefix{}, usageError(s, command, "a CIDR is required: gaia-iam "+command+" 203.0.113.0/24")
	}
	p, err := storage.ParseBlockPrefix(cidr)
	if err != nil {
		return cfg, netip.Prefix{}, usageError(s, command, err.Error())
	}
	return cfg, p, nil
}

func blockAdd(ctx context.Context, args []string, s sys) error {
	var (
		reason    string
		expiresIn time.Duration
	)
	cfg, p, err := blockArgs("block add", args, s, func(fs *flag.FlagSet) {
		fs.StringVar(&reason, "reason", "", "why, for the list and the audit log")
		fs.DurationVar(&expiresIn, "expires-in", 0, "lift the block after this long; 0 never")
	})
	if err != nil {
		return err
	}
	if expiresIn < 0 {
		return usageError(s, "block add", "--expires-in must not be negative")
	}
	b := storage.Block{Prefix: p, Reason: reason}
	if expiresIn > 0 {
		b.ExpiresAt = time.Now().Add(expiresIn)
	}
	op, err := openOperator(ctx, cfg, s)
	if err != nil {
		return err
	}
	defer op.close(ctx)
	err = op.store.InTx(ctx, func(ctx context.Context) error {
		if err := op.domain.Guard.AddBlock(ctx, &b); err != nil {
			if errors.Is(err, storage.ErrConflict) {
				return fmt.Errorf("%s is on the block list already: %w", p.Masked(), err)
			}
			return err
		}
		return op.audit(ctx, audit.ActionBlockAdd, audit.TargetBlock, b.ID, map[string]string{"cidr": b.Prefix.String()})
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(s.stdout, "blocked %s (id %s)%s; servers apply it within their block list refresh interval\n",
		b.Prefix, b.ID, expiry(b.ExpiresAt))
	return nil
}

func expiry(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return " until " + t.UTC().Format(time.RFC3339)
}

func blockList(ctx context.Context, args []string, s sys) error {
	op, err := openCommand(ctx, "block list", args, s, nil)
	if err != nil {
		return err
	}
	defer op.close(ctx)
	bs, err := op.domain.Guard.Blocks(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(s.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CIDR\tEXPIRES\tREASON\tID")
	for _, b := range bs {
		exp := "never"
		if !b.ExpiresAt.IsZero() {
			exp = b.ExpiresAt.UTC().Format(time.RFC3339)
			if !b.ExpiresAt.After(time.Now()) {
				exp += " (expired)"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", b.Prefix, exp, strconv.Quote(b.Reason), b.ID)
	}
	return tw.Flush()
}

func blockRemove(ctx context.Context, args []string, s sys) error {
	cfg, p, err := blockArgs("block remove", args, s, nil)
	if err != nil {
		return err
	}
	p = p.Masked()
	op, err := openOperator(ctx, cfg, s)
	if err != nil {
		return err
	}
	defer op.close(ctx)
	err = op.store.InTx(ctx, func(ctx context.Context) error {
		bs, err := op.domain.Guard.Blocks(ctx)
		if err != nil {
			return err
		}
		for _, b := range bs {
			if b.Prefix == p {
				if err := op.domain.Guard.RemoveBlock(ctx, b.ID); err != nil {
					return err
				}
				return op.audit(ctx, audit.ActionBlockRemove, audit.TargetBlock, b.ID, map[string]string{"cidr": b.Prefix.String()})
			}
		}
		return fmt.Errorf("%s is not on the block list", p)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(s.stdout, "unblocked %s\n", p)
	return nil
}

// userUnlock runs `gaia-iam user unlock USERNAME`: it lifts login
// protection's lock of an account, temporary or permanent.
func userUnlock(ctx context.Context, args []string, s sys) error {
	username, args := leadingArg(args)
	cfg, err := parseConfig("user unlock", args, s, nil)
	if err != nil {
		return err
	}
	if username == "" {
		return usageError(s, "user unlock", "a username is required: gaia-iam user unlock USERNAME")
	}
	op, err := openOperator(ctx, cfg, s)
	if err != nil {
		return err
	}
	defer op.close(ctx)
	u, err := op.user(ctx, username)
	if err != nil {
		return err
	}
	var had bool
	err = op.store.InTx(ctx, func(ctx context.Context) error {
		if had, err = op.domain.Guard.Unlock(ctx, u.Username); err != nil {
			return err
		}
		return op.audit(ctx, audit.ActionUserUnlock, audit.TargetUser, u.ID, map[string]string{"had_failures": strconv.FormatBool(had)})
	})
	if err != nil {
		return err
	}
	if had {
		fmt.Fprintf(s.stdout, "user %q unlocked; their failed logins are forgotten\n", u.Username)
	} else {
		fmt.Fprintf(s.stdout, "user %q had no failed logins counted; nothing to unlock\n", u.Username)
	}
	return nil
}
