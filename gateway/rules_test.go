package gateway

import (
	"os"
	"strings"
	"testing"
)

func TestParseRulesRefuses(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"empty", "", "empty file"},
		{"no rules", "rules: []", "no rule"},
		{"unknown field", "rules:\n- {methods: [GET], path: /a, permission: x}", "field permission not found"},
		{"no kind", "rules:\n- {methods: [GET], path: /a}", "exactly one"},
		{"two kinds", "rules:\n- {methods: [GET], path: /a, public: true, permissions: [x]}", "exactly one"},
		{"no methods", "rules:\n- {path: /a, public: true}", "no methods"},
		{"lower-case method", "rules:\n- {methods: [get], path: /a, public: true}", "bad method"},
		{"star with others", "rules:\n- {methods: ['*', GET], path: /a, public: true}", "only method"},
		{"method twice", "rules:\n- {methods: [GET, GET], path: /a, public: true}", "twice"},
		{"relative path", "rules:\n- {methods: [GET], path: a, public: true}", "start with"},
		{"double star inside", "rules:\n- {methods: [GET], path: /**/a, public: true}", "last segment"},
		{"partial star", "rules:\n- {methods: [GET], path: /a*, public: true}", "whole segment"},
		{"dot dot", "rules:\n- {methods: [GET], path: /a/../b, public: true}", "canonical"},
		{"empty segment", "rules:\n- {methods: [GET], path: //a, public: true}", "canonical"},
		{"bad permission", "rules:\n- {methods: [GET], path: /a, permissions: ['a b']}", "bad permission"},
		{"comma permission", "rules:\n- {methods: [GET], path: /a, permissions: ['a,b']}", "bad permission"},
		{"unreachable", "rules:\n- {methods: [GET], path: /a, public: true}\n- {methods: [POST, GET], path: /a, permissions: [x]}", "rule 2 (/a): GET is already decided by rule 1"},
		{"too large", "rules:\n" + strings.Repeat("#", MaxRulesFileSize), "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRules([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseRules = %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	b, err := os.ReadFile("../gateway-rules.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rs, err := ParseRules(append(b, "\n  - {methods: ['*'], path: /any/*/x, authenticated: true}\n"...))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method, path string
		want         string // the rule's first permission, "public", "authenticated", or "" for none
	}{
		{"GET", "/healthz", "public"},
		{"HEAD", "/healthz", "public"},
		{"POST", "/healthz", ""},
		{"GET", "/items", "inventory.read"},
		{"GET", "/items/", "inventory.read"},
		{"GET", "/items/7/parts", "inventory.read"},
		{"GET", "/itemsx", ""},
		{"POST", "/items", "inventory.write"},
		{"POST", "/items/7", ""},
		{"PUT", "/items/7", "inventory.write"},
		{"DELETE", "/items/7", "inventory.write"},
		{"DELETE", "/items/", ""}, // "*" needs a non-empty segment
		{"DELETE", "/items/7/8", ""},
		{"PATCH", "/any/1/x", "authenticated"},
		{"PATCH", "/any/1/2/x", ""},
		{"GET", "/", ""},
	}
	for _, tt := range tests {
		r, ok := rs.Match(tt.method, tt.path)
		got := ""
		switch {
		case !ok:
		case r.Public:
			got = "public"
		case r.Authenticated:
			got = "authenticated"
		default:
			got = r.Permissions[0]
		}
		if got != tt.want {
			t.Errorf("Match(%s %s) = %q, want %q", tt.method, tt.path, got, tt.want)
		}
	}
}

func TestCanonicalPath(t *testing.T) {
	tests := []struct {
		uri, want string // want "" for a refusal
	}{
		{"/items", "/items"},
		{"/items/?a=b/../c", "/items/"},
		{"/caf%C3%A9", "/café"},
		{"/a%20b", "/a b"},
		{"/", "/"},
		{"items", ""},
		{"http://h/items", ""},
		{"*", ""},
		{"/items/../admin", ""},
		{"/items/%2e%2e/admin", ""},
		{"/items/%2E", ""},
		{"/items/.", ""},
		{"//items", ""},
		{"/items//7", ""},
		{"/items%2f7", ""},
		{"/items%5C7", ""},
		{`/items\7`, ""},
		{"/items%zz", ""},
		{"/items%00", ""},
		{"/items%0d%0a", ""},
		{"/" + strings.Repeat("a", MaxURILength), ""},
	}
	for _, tt := range tests {
		got, err := canonicalPath(tt.uri)
		if tt.want == "" && err == nil {
			t.Errorf("canonicalPath(%q) = %q, want a refusal", tt.uri, got)
		}
		if tt.want != "" && (err != nil || got != tt.want) {
			t.Errorf("canonicalPath(%q) = %q, %v, want %q", tt.uri, got, err, tt.want)
		}
	}
}
