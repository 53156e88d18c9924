package claims_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps claims importable by services without the
// server: no fosite, no database driver, no other package of this module.
func TestDependencies(t *testing.T) {
	const self = "github.com/gaia-platform/iam/claims"
	if bad := forbiddenDeps(t, self); len(bad) > 0 {
		t.Errorf("claims depends on %v", bad)
	}
	// The check itself finds what it looks for.
	if bad := forbiddenDeps(t, "github.com/gaia-platform/iam/server"); len(bad) == 0 {
		t.Error("no forbidden dependency found in package server")
	}
}

// forbiddenDeps returns the dependencies of pkg that claims must not have.
func forbiddenDeps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "go", "list", "-deps", pkg).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, ee.Stderr)
		}
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	deps := strings.Fields(string(out))
	if len(deps) == 0 {
		t.Fatalf("go list -deps %s printed nothing", pkg)
	}
	var bad []string
	for _, d := range deps {
		for _, banned := range []string{"github.com/ory/fosite", "github.com/jackc/pgx", "modernc.org/sqlite"} {
			if d == banned || strings.HasPrefix(d, banned+"/") {
				bad = append(bad, d)
			}
		}
		if strings.HasPrefix(d, "github.com/gaia-platform/iam/") && d != pkg && d != "github.com/gaia-platform/iam/claims" {
			bad = append(bad, d)
		}
	}
	return bad
}
