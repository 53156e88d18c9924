package rbac_test

import (
	"slices"
	"testing"

	"github.com/gaia-platform/iam/rbac"
)

func TestServicesPermissions(t *testing.T) {
	s, err := rbac.NewServices(map[string][]string{
		"https://inventory.example.com": {"inventory.*"},
		"https://reports.example.com":   {"analytics.report.view", "inventory.read"},
	})
	if err != nil {
		t.Fatal(err)
	}
	perms := []string{"analytics.report.view", "iam.user.read", "inventory.item.read", "inventory.read", "inventoryx.read"}
	tests := []struct {
		name string
		aud  []string
		want []string
	}{
		{"namespace at any depth, not a longer prefix", []string{"https://inventory.example.com"}, []string{"inventory.item.read", "inventory.read"}},
		{"exact names", []string{"https://reports.example.com"}, []string{"analytics.report.view", "inventory.read"}},
		{"several services: the union", []string{"https://reports.example.com", "https://inventory.example.com"}, []string{"analytics.report.view", "inventory.item.read", "inventory.read"}},
		{"an undeclared audience restricts nothing", []string{"gaia"}, perms},
		{"nor does one among services", []string{"https://reports.example.com", "gaia"}, perms},
		{"no audience", nil, perms},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := s.Permissions(tc.aud, perms); !slices.Equal(got, tc.want) {
				t.Errorf("Permissions(%q) = %v, want %v", tc.aud, got, tc.want)
			}
		})
	}
	if got := s.Audiences(); !slices.Equal(got, []string{"https://inventory.example.com", "https://reports.example.com"}) {
		t.Errorf("Audiences() = %v", got)
	}
	var none *rbac.Services
	if none.Declared("x") || len(none.Permissions([]string{"x"}, perms)) != len(perms) {
		t.Error("a nil Services must declare nothing and restrict nothing")
	}
}

func TestNewServicesRefuses(t *testing.T) {
	for name, m := range map[string]map[string][]string{
		"empty audience":   {"": {"inventory.*"}},
		"space":            {"a b": {"inventory.*"}},
		"no permissions":   {"svc": nil},
		"bare wildcard":    {"svc": {"*"}},
		"inner wildcard":   {"svc": {"inventory.*.read"}},
		"no namespace dot": {"svc": {"inventory"}},
		"upper case":       {"svc": {"Inventory.read"}},
	} {
		if _, err := rbac.NewServices(m); err == nil {
			t.Errorf("%s: NewServices(%v) = nil error", name, m)
		}
	}
}
