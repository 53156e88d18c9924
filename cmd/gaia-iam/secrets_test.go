package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// The secrets an operator's environment holds, each unlike anything else in
// the output.
const (
	testDBPassword = "Db-Pass-7f3c9e"
	testKEK        = "S2VrU2VjcmV0S2VrU2VjcmV0S2VrU2VjcmV0MTIzNDU="
)

// TestNoSecretInHelpOrErrors runs every command's help, a mistyped flag, a
// bad value and a database that does not answer, with the secrets set in
// the environment, and finds none of them in what is printed.
func TestNoSecretInHelpOrErrors(t *testing.T) {
	env := testEnv(map[string]string{
		"GAIA_DATABASE_URL":       "postgres://gaia:" + testDBPassword + "@127.0.0.1:1/gaia?sslpassword=" + testDBPassword + "q",
		"GAIA_KEY_ENCRYPTION_KEY": testKEK,
		// keys rewrap's new key.
		"GAIA_NEW_KEY_ENCRYPTION_KEY": otherKEK,
	})
	secrets := []string{testDBPassword, testKEK, testKEK[:16], otherKEK, otherKEK[:16], "web-secret-web-secret", "svc-secret-svc-secret"}
	commands := [][]string{
		{"serve"}, {"migrate"}, {"seed"}, {"seed", "--dry-run"}, {"keys", "rotate"}, {"keys", "list"}, {"keys", "rewrap"},
		{"user", "create", "--username", "ann"}, {"user", "set-password", "--username", "ann"},
		{"user", "disable", "--username", "ann"},
		{"client", "create", "--client-id", "c", "--name", "C", "--grant-type", "client_credentials"},
		{"client", "rotate-secret", "--client-id", "c"},
	}
	for _, cmd := range commands {
		for _, tail := range [][]string{{"-h"}, {"--no-such-flag"}, {"--log-level", "loud"}, {"--database-connect-timeout", "1s"}} {
			args := append(append([]string{}, cmd...), tail...)
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), args, env, &stdout, &stderr)
			out := stdout.String() + stderr.String()
			if err != nil {
				out += err.Error()
			}
			for _, sec := range secrets {
				if strings.Contains(out, sec) {
					t.Errorf("gaia-iam %s: a secret (%.6s…) is in the output:\n%s", strings.Join(args, " "), sec, out)
				}
			}
			if tail[0] == "-h" {
				if !strings.Contains(out, "postgres://gaia:xxxxx@127.0.0.1:1/gaia") {
					t.Errorf("gaia-iam %s: help does not show the database URL, password masked:\n%s", strings.Join(args, " "), out)
				}
				if cmd[0] != "migrate" && !strings.Contains(out, "GAIA_KEY_ENCRYPTION_KEY [set]") {
					t.Errorf("gaia-iam %s: help does not say the key-encryption key is set:\n%s", strings.Join(args, " "), out)
				}
			}
		}
	}
}

// TestNoKEKFlag: the key-encryption key itself is never a flag, where ps
// and shell history would show it.
func TestNoKEKFlag(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"migrate", "--key-encryption-key", testKEK}, testEnv(nil), &stdout, &stderr)
	if err == nil || !strings.Contains(stderr.String(), "flag provided but not defined: -key-encryption-key") {
		t.Fatalf("--key-encryption-key accepted: err %v, stderr %s", err, stderr.String())
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"sqlite:gaia-data/gaia.db":                "sqlite:gaia-data/gaia.db",
		"postgres://u:p@h:5432/d?sslmode=disable": "postgres://u:xxxxx@h:5432/d?sslmode=disable",
		"postgres://u@h/d?password=p":             "postgres://u@h/d?password=xxxxx",
		"postgres://u:p@h:port/d":                 "[set]",
		"postgresql://h/d":                        "postgresql://h/d",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestHelpListsOwnFlags: each command's help offers the settings it uses,
// not every setting of serve.
func TestHelpListsOwnFlags(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		has, hasn []string
	}{
		{[]string{"serve"}, []string{"-listen", "-http-read-timeout", "-seed-file", "-key-encryption-key-file"}, nil},
		{[]string{"migrate"}, []string{"-database-url"}, []string{"-listen", "-seed-file", "-key-encryption-key-file", "-password-hash-wait"}},
		{[]string{"seed"}, []string{"-seed-file", "-seed-cascade", "-dry-run"}, []string{"-listen", "-issuer", "-http-idle-timeout"}},
		{[]string{"keys", "list"}, []string{"-key-refresh-interval"}, []string{"-listen", "-seed-file"}},
		{[]string{"user", "create"}, []string{"-username", "-database-url"}, []string{"-listen", "-seed-file", "-trusted-proxies"}},
		{[]string{"client", "rotate-secret"}, []string{"-client-id"}, []string{"-listen", "-access-token-ttl"}},
	} {
		var stderr bytes.Buffer
		if err := run(context.Background(), append(tc.args, "-h"), testEnv(nil), &bytes.Buffer{}, &stderr); err != nil {
			t.Fatal(err)
		}
		lists := func(f string) bool {
			return strings.Contains(stderr.String(), "  "+f+" ") || strings.Contains(stderr.String(), "  "+f+"\n")
		}
		for _, f := range tc.has {
			if !lists(f) {
				t.Errorf("gaia-iam %s -h lacks %s", strings.Join(tc.args, " "), f)
			}
		}
		for _, f := range tc.hasn {
			if lists(f) {
				t.Errorf("gaia-iam %s -h lists %s, not its own", strings.Join(tc.args, " "), f)
			}
		}
	}
}

func TestVersion(t *testing.T) {
	var stdout bytes.Buffer
	if err := run(context.Background(), []string{"--version"}, testEnv(nil), &stdout, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stdout.String(), "gaia-iam ") || !strings.Contains(stdout.String(), "(go1.") {
		t.Errorf("--version printed %q", stdout.String())
	}
}
