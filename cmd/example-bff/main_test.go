package main

import (
	"strings"
	"testing"
)

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		want    config
		wantErr string
	}{
		{"defaults", []string{"--issuer", "http://iam"}, map[string]string{"BFF_CLIENT_SECRET": "s"},
			config{Issuer: "http://iam", Listen: "127.0.0.1:8090", BaseURL: "http://127.0.0.1:8090", ClientID: "gaia-web", ClientSecret: "s",
				API: "http://127.0.0.1:8081", Audience: "gaia", SPADir: "web/demo-spa", SPAClientID: "gaia-spa", InventoryURL: "http://127.0.0.1:8081"}, ""},
		{"flag wins", []string{"--listen", "127.0.0.1:9000", "--base-url", "https://app.example"},
			map[string]string{"BFF_ISSUER": "http://iam", "BFF_LISTEN": "127.0.0.1:1", "BFF_CLIENT_SECRET": "s", "SPA_LISTEN": "127.0.0.1:5173"},
			config{Issuer: "http://iam", Listen: "127.0.0.1:9000", BaseURL: "https://app.example", ClientID: "gaia-web", ClientSecret: "s",
				API: "http://127.0.0.1:8081", Audience: "gaia", SPAListen: "127.0.0.1:5173", SPADir: "web/demo-spa", SPAClientID: "gaia-spa", InventoryURL: "http://127.0.0.1:8081"}, ""},
		{"no secret", []string{"--issuer", "http://iam"}, nil, config{}, "BFF_CLIENT_SECRET is not set"},
		{"secret is no flag", []string{"--issuer", "http://iam", "--client-secret", "s"}, nil, config{}, "flag provided but not defined"},
		{"no issuer", nil, map[string]string{"BFF_CLIENT_SECRET": "s"}, config{}, "an issuer is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr strings.Builder
			got, err := parseConfig(tc.args, func(k string) string { return tc.env[k] }, &stderr)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error()+stderr.String(), tc.wantErr) {
					t.Errorf("parseConfig = %v, want an error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("parseConfig = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}
