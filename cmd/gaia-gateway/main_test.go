package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParseConfig(t *testing.T) {
	c, err := parseConfig([]string{"--listen", "127.0.0.1:9999", "--status=false"}, env(map[string]string{
		"GAIA_GATEWAY_ISSUER": "http://iam", "GAIA_GATEWAY_RULES": "r.yaml", "GAIA_GATEWAY_AUDIENCE": "gaia", "GAIA_GATEWAY_LISTEN": "127.0.0.1:1",
		"GAIA_GATEWAY_STATUS": "true", "GAIA_GATEWAY_STATUS_MAX_STALENESS": "1m", "GAIA_GATEWAY_PROXY": "traefik",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := config{Issuer: "http://iam", Rules: "r.yaml", Audience: "gaia", Listen: "127.0.0.1:9999", Proxy: "traefik", Realm: "gaia",
		Status: false, StatusMaxStaleness: time.Minute}
	if c != want {
		t.Errorf("parseConfig = %+v, want %+v (flags win over the environment)", c, want)
	}
	c, err = parseConfig([]string{"--issuer", "http://iam", "--audience", "gaia", "--rules", "r.yaml"}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:8082" || c.Proxy != "nginx" || !c.Status || c.StatusMaxStaleness != 5*time.Minute {
		t.Errorf("defaults %+v: want 127.0.0.1:8082, nginx, status on, 5m", c)
	}

	for name, args := range map[string][]string{
		"no issuer":       {"--rules", "r.yaml", "--audience", "gaia"},
		"no rules":        {"--issuer", "http://iam", "--audience", "gaia"},
		"no audience":     {"--issuer", "http://iam", "--rules", "r.yaml"},
		"bad proxy":       {"--issuer", "http://iam", "--audience", "gaia", "--rules", "r.yaml", "--proxy", "haproxy"},
		"zero staleness":  {"--issuer", "http://iam", "--audience", "gaia", "--rules", "r.yaml", "--status-max-staleness", "0s"},
		"extra arguments": {"--issuer", "http://iam", "--audience", "gaia", "--rules", "r.yaml", "serve"},
	} {
		if _, err := parseConfig(args, env(nil), io.Discard); err == nil {
			t.Errorf("%s: parseConfig succeeded", name)
		}
	}
}

func TestCheck(t *testing.T) {
	var out strings.Builder
	if err := run(t.Context(), []string{"--check", "--rules", "../../gateway-rules.example.yaml"}, env(nil), &out, io.Discard); err != nil {
		t.Fatalf("--check on the example rules: %v", err)
	}
	if !strings.Contains(out.String(), "4 rules, ok") {
		t.Errorf("--check said %q", out.String())
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("rules:\n- {methods: [GET], path: /a}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := run(t.Context(), []string{"--check", "--rules", bad}, env(nil), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "rule 1") {
		t.Errorf("--check on a bad file: %v, want an error naming rule 1", err)
	}
	// A bad file stops the gateway before it contacts the IAM.
	err = run(t.Context(), []string{"--issuer", "http://127.0.0.1:1", "--audience", "gaia", "--rules", bad}, env(nil), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "rule 1") {
		t.Errorf("serve with a bad file: %v, want an error naming rule 1", err)
	}
}
