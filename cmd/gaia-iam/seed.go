package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

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
	file, err := seed.Load(cfg.SeedFile, s.getenv)
	if err != nil {
		return err
	}
	store, err := openStore(ctx, cfg.DatabaseURL, log)
	if err != nil {
		return err
	}
	defer store.Close()
	kek, err := loadKEK(cfg, s.stderr)
	if err != nil {
		return err
	}
	d, err := server.NewDomain(store, kek, log)
	if err != nil {
		return err
	}

	if dryRun {
		pending, err := store.PendingMigrations(ctx)
		if err != nil {
			return err
		}
		if pending {
			return errors.New("the database schema is not up to date: run 'gaia-iam migrate' first (a dry run writes nothing)")
		}
		changes, err := d.Seeder.Plan(ctx, file)
		if err != nil {
			return err
		}
		if len(changes) == 0 {
			fmt.Fprintln(s.stdout, "seed: up to date, no changes")
			return nil
		}
		fmt.Fprintf(s.stdout, "seed: %d changes would be applied (dry run, nothing written):\n", len(changes))
		for _, c := range changes {
			fmt.Fprintln(s.stdout, c)
		}
		return nil
	}

	if _, err := migrateLogged(ctx, store, log); err != nil {
		return err
	}
	res, err := d.Seeder.Apply(ctx, file)
	if err != nil {
		return err
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
