package postgres_test

import (
	"sync"
	"testing"
	"time"

	"github.com/gaia-platform/iam/migrations"
	"github.com/gaia-platform/iam/storage"
	"github.com/gaia-platform/iam/storage/postgres"
	"github.com/gaia-platform/iam/storage/storagetest"
)

// postgresURL returns the test database, or skips the test as
// storagetest.PostgresURL says.
func postgresURL(t *testing.T) string {
	t.Helper()
	u, ok := storagetest.PostgresURL(t)
	if !ok {
		t.SkipNow()
	}
	return u
}

func TestStore(t *testing.T) {
	u := postgresURL(t)
	storagetest.Run(t, func(t *testing.T) storage.Store { return storagetest.Postgres(t, u) })
}

// TestMigrateConcurrently migrates one fresh schema from two stores at once,
// as two processes starting together would: goose's advisory lock makes one
// wait, then find nothing left to do.
func TestMigrateConcurrently(t *testing.T) {
	storagetest.PanicAfter(t, 2*time.Minute)
	schema := storagetest.PostgresSchema(t, postgresURL(t))
	stores := []*postgres.Store{storagetest.OpenPostgres(t, schema), storagetest.OpenPostgres(t, schema)}
	if pending, err := stores[0].PendingMigrations(t.Context()); err != nil || !pending {
		t.Errorf("PendingMigrations before Migrate = %v, %v, want true", pending, err)
	}
	results := make([]migrations.Result, len(stores))
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() {
			var err error
			if results[i], err = s.Migrate(t.Context()); err != nil {
				t.Errorf("Migrate #%d: %v", i, err)
			}
		})
	}
	wg.Wait()
	a, b := results[0], results[1]
	if a.To == 0 || a.To != b.To {
		t.Errorf("Migrate results %+v and %+v, want both at the same, newest version", a, b)
	}
	if (a.Applied == 0) == (b.Applied == 0) {
		t.Errorf("Migrate results %+v and %+v, want one to apply everything and the other nothing", a, b)
	}
	again, err := stores[0].Migrate(t.Context())
	if err != nil || again.Applied != 0 || again.From != a.To || again.To != a.To {
		t.Errorf("Migrate once more = %+v, %v, want nothing applied at version %d", again, err, a.To)
	}
	if pending, err := stores[1].PendingMigrations(t.Context()); err != nil || pending {
		t.Errorf("PendingMigrations after Migrate = %v, %v, want false", pending, err)
	}
	if err := stores[1].CreateUser(t.Context(), &storage.User{Username: "alice"}); err != nil {
		t.Errorf("CreateUser after migrating: %v", err)
	}
}
