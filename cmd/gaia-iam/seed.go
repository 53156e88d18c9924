package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"

	"github.com/gaia-platform/iam/rbac/seed"
	"github.com/gaia-platform/iam/server"
)

// seedCmd reconciles the database with the seed file, or with --dry-run
// prints the changes it would make and writes nothing.
func seedCmd(ctx context.Context, args []string, s sys) error {
	var dryRun bool
	cfg, err := parseConfig("seed", args, s, func(fs *flag.FlagSet) {
		fs.BoolVar(&dryRun, "dry-run", false, "print the changes the seed would make; write nothing")
	})
	if err != nil {
		return err
	}
	log := newLogger(cfg, s.stderr)
	file, err := loadSeed(cfg, s.getenv)
	if err != nil {
		return err
	}
	store, err := openMigrated(ctx, cfg.DatabaseURL, log, dryRun)
	if err != nil {
		return err
	}
	defer store.Close()
	kek, err := resolveKEK(ctx, cfg, store, s.stderr, neverCreateKEK)
	if err != nil {
		return err
	}
	// A dry run on a store without a data key makes one only in memory.
	dk, err := server.DataKey(ctx, store, kek, !dryRun)
	if err != nil {
		return err
	}
	d, err := server.NewDomain(store, dk, log)
	if err != nil {
		return err
	}

	if dryRun {
		changes, err := d.Seeder.Plan(ctx, file)
		if err != nil {
			return err
		}
		if len(changes) == 0 {
			fmt.Fprintln(s.stdout, "seed: up to date, no changes")
			return nil
		}
		fmt.Fprintf(s.stdout, "seed: %d changes would be applied (dry run, nothing written):\n", len(changes))
		cascades := 0
		for _, c := range changes {
			mark := ""
			if c.Cascade {
				cascades++
				mark = "  [takes away access: needs --seed-cascade]"
			}
			fmt.Fprintln(s.stdout, c.String()+mark)
		}
		if cascades > 0 && !cfg.SeedCascade {
			fmt.Fprintf(s.stdout, "seed: %d changes take away access someone holds (role assignments the department rule "+
				"no longer allows, or roles, permissions and departments in use): serve and seed refuse this seed unless %s\n", cascades, cascadeHow)
		}
		return nil
	}

	apply := d.Seeder.Apply
	if cfg.SeedCascade {
		apply = d.Seeder.ApplyCascading
	}
	res, err := apply(ctx, file)
	if err != nil {
		return cascadeHint(err)
	}
	if len(res.Changes) == 0 {
		fmt.Fprintln(s.stdout, "seed: up to date, no changes")
		return nil
	}
	fmt.Fprintf(s.stdout, "seed: %d changes applied:\n", len(res.Changes))
	for _, c := range res.Changes {
		fmt.Fprintln(s.stdout, c)
	}
	printGenerated(s.stdout, res.Generated)
	return nil
}

// loadSeed reads the seed file, naming in its errors the setting that
// chose it: an operator who installed the binary alone meets the default
// path first.
func loadSeed(cfg Config, getenv func(string) string) (*seed.File, error) {
	f, err := seed.Load(cfg.SeedFile, getenv)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w\nthe seed file is GAIA_SEED_FILE (or --seed-file), now %q; "+
			"no seed yet? 'gaia-iam init' writes a starter seed and settings", err, cfg.SeedFile)
	}
	if err != nil {
		return nil, fmt.Errorf("%w\nthe seed file is GAIA_SEED_FILE (or --seed-file), now %q", err, cfg.SeedFile)
	}
	return f, nil
}

// cascadeHow tells the operator how to let a seed remove the assignments
// it breaks.
const cascadeHow = "--seed-cascade is given (or GAIA_SEED_CASCADE=true), which removes them"

// The one switch covers both refusals: each is the seed taking away
// access someone holds, and an operator allowing one would not expect the
// other to still stop the start.

// cascadeHint adds to a seed refused for the assignments it breaks how to
// apply it anyway.
func cascadeHint(err error) error {
	if errors.Is(err, seed.ErrBreaksAssignments) || errors.Is(err, seed.ErrRemovesInUse) {
		return fmt.Errorf("%w\nthe seed is refused unless %s", err, cascadeHow)
	}
	return err
}
