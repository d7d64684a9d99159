package main

import (
	"context"
	"embed"
	"io/fs"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parley-chat/parley/knative/stores"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLock is the advisory lock key that serialises migrations when
// several instances start at once.
const migrationLock = 7_261_001

// migrate applies the embedded migrations that have not run yet.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	files, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return err
	}
	return stores.Migrate(ctx, pool, files, migrationLock, "auth")
}
