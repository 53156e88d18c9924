package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the gateway off the server: of this module it
// uses claims and gateway only, and no fosite or database driver, so that
// it builds and deploys apart from the IAM.
func TestDependencies(t *testing.T) {
	out, err := exec.CommandContext(t.Context(), "go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) == 0 {
		t.Fatal("go list -deps printed nothing")
	}
	allowed := map[string]bool{
		"github.com/gaia-platform/iam/cmd/gaia-gateway": true,
		"github.com/gaia-platform/iam/claims":           true,
		"github.com/gaia-platform/iam/gateway":          true,
	}
	var found bool
	for _, d := range deps {
		found = found || d == "github.com/gaia-platform/iam/gateway"
		for _, banned := range []string{"github.com/ory/fosite", "github.com/jackc/pgx", "modernc.org/sqlite"} {
			if d == banned || strings.HasPrefix(d, banned+"/") {
				t.Errorf("gaia-gateway depends on %s", d)
			}
		}
		if strings.HasPrefix(d, "github.com/gaia-platform/iam/") && !allowed[d] {
			t.Errorf("gaia-gateway depends on %s", d)
		}
	}
	if !found { // the check sees the module's own packages
		t.Error("go list -deps does not list package gateway")
	}
}
