package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gaia-platform/iam/oauth"
)

func TestAccessTokenMaxBytesConfig(t *testing.T) {
	s := sys{getenv: testEnv(nil), stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	cfg, err := parseConfig("serve", nil, s, nil)
	if err != nil || cfg.AccessTokenMaxBytes != oauth.DefaultAccessTokenMaxBytes {
		t.Errorf("default budget %d, %v; want %d", cfg.AccessTokenMaxBytes, err, oauth.DefaultAccessTokenMaxBytes)
	}
	s.getenv = testEnv(map[string]string{"GAIA_ACCESS_TOKEN_MAX_BYTES": "6000"})
	if cfg, err = parseConfig("serve", []string{"--access-token-max-bytes", "8000"}, s, nil); err != nil || cfg.AccessTokenMaxBytes != 8000 {
		t.Errorf("flag over environment: %d, %v; want 8000", cfg.AccessTokenMaxBytes, err)
	}
	for _, bad := range []string{"100", "16385", "4k", "-1"} {
		if _, err := parseConfig("serve", []string{"--access-token-max-bytes", bad}, s, nil); err == nil || !strings.Contains(err.Error(), "--access-token-max-bytes") {
			t.Errorf("--access-token-max-bytes %s: %v, want a refusal naming the flag", bad, err)
		}
	}
}
