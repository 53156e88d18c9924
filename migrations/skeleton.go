package migrations

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/pressly/goose/v3"

	"github.com/gaia-platform/iam/storage"
)

// usernameSkeletonVersion adds users.username_skeleton, unique: the
// UTS #39 skeleton of the username (storage.UsernameSkeleton), so that a
// username confusable with a stored one is refused by one index lookup,
// race-free, instead of a scan of every username under a lock. It is a
// Go migration because the skeleton is computed in Go: the column is
// added, filled for every existing user and only then made unique, in
// the one transaction goose runs it in, so a store is never left with a
// user the check cannot see.
const usernameSkeletonVersion = 9

// usernameSkeleton is migration 00009 for dialect d.
func usernameSkeleton(d Dialect) *goose.Migration {
	// SQLite cannot add a NOT NULL column without a default, nor drop
	// the default later; the store always writes the column.
	add, notNull := `ALTER TABLE users ADD COLUMN username_skeleton TEXT NOT NULL DEFAULT ''`, ""
	if d == Postgres {
		add, notNull = `ALTER TABLE users ADD COLUMN username_skeleton text`,
			`ALTER TABLE users ALTER COLUMN username_skeleton SET NOT NULL`
	}
	up := func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, add); err != nil {
			return fmt.Errorf("add username_skeleton: %w", err)
		}
		if err := fillSkeletons(ctx, tx); err != nil {
			return err
		}
		for _, q := range []string{notNull, `CREATE UNIQUE INDEX users_username_skeleton_key ON users (username_skeleton)`} {
			if q == "" {
				continue
			}
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("constrain username_skeleton: %w", err)
			}
		}
		return nil
	}
	down := func(ctx context.Context, tx *sql.Tx) error {
		for _, q := range []string{`DROP INDEX users_username_skeleton_key`, `ALTER TABLE users DROP COLUMN username_skeleton`} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("drop username_skeleton: %w", err)
			}
		}
		return nil
	}
	return goose.NewGoMigration(usernameSkeletonVersion, &goose.GoFunc{RunTx: up}, &goose.GoFunc{RunTx: down})
}

// fillSkeletons sets the skeleton of every user. Users created before
// look-alikes were refused may share one: the oldest keeps it, so that a
// new look-alike of any of them is refused, and each later one gets it
// suffixed with a unit separator and its ID, which no username's skeleton
// can be (a username holds no control character).
func fillSkeletons(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT id, username FROM users ORDER BY created_at, id`)
	if err != nil {
		return fmt.Errorf("read usernames: %w", err)
	}
	type user struct{ id, skeleton string }
	var users []user
	taken := map[string]bool{}
	for rows.Next() {
		var id, username string
		if err := rows.Scan(&id, &username); err != nil {
			rows.Close()
			return fmt.Errorf("read usernames: %w", err)
		}
		skel := storage.UsernameSkeleton(username)
		if taken[skel] {
			skel += "\x1f" + id
		}
		taken[skel] = true
		users = append(users, user{id, skel})
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("read usernames: %w", err)
	}
	for _, u := range users {
		if _, err := tx.ExecContext(ctx, `UPDATE users SET username_skeleton = $1 WHERE id = $2`, u.skeleton, u.id); err != nil {
			return fmt.Errorf("set username_skeleton: %w", err)
		}
	}
	return nil
}
