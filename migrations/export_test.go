package migrations

import (
	"context"
	"database/sql"
	"log/slog"
)

// UpTo is Up, stopping at version: tests fill an older schema and then
// migrate it.
func UpTo(ctx context.Context, db *sql.DB, d Dialect, log *slog.Logger, version int64) error {
	p, err := newProvider(db, d, log)
	if err == nil {
		_, err = p.UpTo(ctx, version)
	}
	return err
}

// UsernameSkeletonVersion is the version of the username skeleton migration.
const UsernameSkeletonVersion = usernameSkeletonVersion
