package main

import (
	"context"
	"fmt"
)

// migrate brings the database schema up to date.
func migrate(ctx context.Context, args []string, s sys) error {
	cfg, err := parseConfig("migrate", args, s, nil)
	if err != nil {
		return err
	}
	log := newLogger(cfg, s.stderr)
	store, err := openStore(ctx, cfg.DatabaseURL, log)
	if err != nil {
		return err
	}
	defer store.Close()
	res, err := migrateLogged(ctx, store, log)
	if err != nil {
		return err
	}
	if res.Applied == 0 {
		fmt.Fprintf(s.stdout, "schema up to date at version %d\n", res.To)
	} else {
		fmt.Fprintf(s.stdout, "schema migrated from version %d to %d (%d applied)\n", res.From, res.To, res.Applied)
	}
	return nil
}
