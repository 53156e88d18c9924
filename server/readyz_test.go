package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/gaia-platform/iam/migrations"
	"github.com/gaia-platform/iam/storage/sqlite"
	"github.com/gaia-platform/iam/storage/sqlstore"
	"github.com/gaia-platform/iam/storage/storagetest"
)

// TestReadyz: not ready while migrations are pending, ready once they ran,
// not ready once the database is gone.
func TestReadyz(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			var store interface {
				pinger
				migrator
				Migrate(ctx context.Context) (migrations.Result, error)
				Close() error
			}
			if b.Name == "sqlite" {
				s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "gaia.db"), storagetest.Logger(t))
				if err != nil {
					t.Fatal(err)
				}
				store = s
			} else {
				u, _ := storagetest.PostgresURL(t)
				store = storagetest.OpenPostgres(t, storagetest.PostgresSchema(t, u))
			}
			h := readyz(store, storagetest.Logger(t))
			get := func() int {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
				return w.Code
			}
			if got := get(); got != http.StatusServiceUnavailable {
				t.Errorf("readyz with migrations pending = %d, want 503", got)
			}
			if _, err := store.Migrate(t.Context()); err != nil {
				t.Fatal(err)
			}
			if got := get(); got != http.StatusOK {
				t.Errorf("readyz migrated = %d, want 200", got)
			}
			if err := store.Close(); err != nil {
				t.Fatal(err)
			}
			if got := get(); got != http.StatusServiceUnavailable {
				t.Errorf("readyz with the database closed = %d, want 503", got)
			}
		})
	}
}

var (
	_ migrator = (*sqlstore.Store)(nil)
	_ statser  = (*sqlstore.Store)(nil)
)
