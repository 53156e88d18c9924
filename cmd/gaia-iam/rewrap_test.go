package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gaia-platform/iam/audit"
)

// tokenRequest posts form to the token endpoint of addr as client id with
// secret, and returns the status and the decoded body.
func tokenRequest(t *testing.T, addr, id, secret string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("token response: %v", err)
	}
	return resp.StatusCode, body
}

// TestKeysRewrap: a refresh token and a client secret issued under one
// key-encryption key still work after keys rewrap, with the new key; the
// old key is then refused before anything is written; the rewrap is
// audited.
func TestKeysRewrap(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, o *operatorTest) {
		ctx := t.Context()
		dbURL := o.getenv("GAIA_DATABASE_URL")
		const userPassword = "correct horse battery staple 42"
		o.mustRun(userPassword+"\n", "user", "create", "--username", "rewrap-user", "--password-stdin")
		secret := o.printedOnce(o.mustRun("", "client", "create", "--client-id", "rewrap-svc", "--name", "Rewrap",
			"--grant-type", "client_credentials"))

		srv := startServe(t, dbURL, o.getenv)
		waitFor(t, "http://"+srv.addr+"/readyz", http.StatusOK)
		status, body := tokenRequest(t, srv.addr, "gaia-web", o.getenv("GAIA_WEB_CLIENT_SECRET"), url.Values{
			"grant_type": {"password"}, "username": {"rewrap-user"}, "password": {userPassword}, "scope": {"openid offline_access"},
		})
		refresh, _ := body["refresh_token"].(string)
		if status != http.StatusOK || refresh == "" {
			t.Fatalf("password grant = %d %v, want 200 with a refresh token", status, body)
		}
		if status, body := tokenRequest(t, srv.addr, "rewrap-svc", secret, url.Values{"grant_type": {"client_credentials"}}); status != http.StatusOK {
			t.Fatalf("client credentials before rewrap = %d %v", status, body)
		}
		if err := srv.stop(); err != nil {
			t.Fatal(err)
		}

		oldKEK := o.getenv("GAIA_KEY_ENCRYPTION_KEY")
		rewrap := testEnv(map[string]string{"GAIA_DATABASE_URL": dbURL, "GAIA_NEW_KEY_ENCRYPTION_KEY": otherKEK, "USER": "ops-jane"})
		r := (&operatorTest{t: t, getenv: rewrap}).mustRun("", "keys", "rewrap")
		if !strings.Contains(r.stdout, "re-sealed") || strings.Contains(r.stdout+r.stderr, oldKEK) || strings.Contains(r.stdout+r.stderr, otherKEK) {
			t.Errorf("keys rewrap printed (no key may show):\n%s\n%s", r.stdout, r.stderr)
		}
		events := o.audit(audit.ActionKeyRewrap, "")
		if len(events) != 1 || events[0].ActorName != "ops-jane" || events[0].TargetType != audit.TargetKEK ||
			events[0].Details[audit.DetailSigningKeys] != "1" || events[0].Details[audit.DetailDataKeys] != "1" {
			t.Errorf("key.rewrap events = %+v, want one by ops-jane, 1 signing and 1 data key", events)
		}

		// The old key is refused now, before any write.
		sealed, err := o.store.ListSigningKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		allEvents := len(o.audit("", ""))
		for _, args := range [][]string{{"keys", "rewrap"}, {"keys", "rotate"}, {"serve", "--listen", "127.0.0.1:0"},
			{"client", "rotate-secret", "--client-id", "rewrap-svc"}} {
			r := (&operatorTest{t: t, getenv: rewrap}).run("", args...) // GAIA_KEY_ENCRYPTION_KEY is still the old key
			if r.err == nil || !strings.Contains(r.err.Error(), "not the one") || !strings.Contains(r.err.Error(), "nothing was written") {
				t.Errorf("gaia-iam %s with the old key after rewrap = %v, want a refusal", strings.Join(args, " "), r.err)
			}
		}
		after, err := o.store.ListSigningKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(after) != len(sealed) || !bytes.Equal(after[0].PrivateKey, sealed[0].PrivateKey) || len(o.audit("", "")) != allEvents {
			t.Error("a command refused for the old key wrote something")
		}

		// With the new key, the refresh token and the client secret work.
		newEnv := testEnv(map[string]string{"GAIA_DATABASE_URL": dbURL, "GAIA_KEY_ENCRYPTION_KEY": otherKEK})
		srv = startServe(t, dbURL, newEnv)
		waitFor(t, "http://"+srv.addr+"/readyz", http.StatusOK)
		status, body = tokenRequest(t, srv.addr, "gaia-web", o.getenv("GAIA_WEB_CLIENT_SECRET"), url.Values{
			"grant_type": {"refresh_token"}, "refresh_token": {refresh},
		})
		if status != http.StatusOK || body["access_token"] == nil {
			t.Errorf("refresh after rewrap = %d %v, want 200", status, body)
		}
		if status, body := tokenRequest(t, srv.addr, "rewrap-svc", secret, url.Values{"grant_type": {"client_credentials"}}); status != http.StatusOK {
			t.Errorf("client credentials after rewrap = %d %v, want 200", status, body)
		}
		if status, _ := tokenRequest(t, srv.addr, "rewrap-svc", secret+"x", url.Values{"grant_type": {"client_credentials"}}); status != http.StatusUnauthorized {
			t.Errorf("a wrong secret after rewrap = %d, want 401", status)
		}
	})
}

// TestKeysRewrapNeedsANewKey: without a new key, or with the one in use,
// keys rewrap refuses and writes nothing; never a flag.
func TestKeysRewrapNeedsANewKey(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, o *operatorTest) {
		dbURL := o.getenv("GAIA_DATABASE_URL")
		o.mustRun("", "keys", "rotate")
		for _, c := range []struct {
			env  map[string]string
			want string
		}{
			{map[string]string{}, "no new key-encryption key"},
			{map[string]string{"GAIA_NEW_KEY_ENCRYPTION_KEY": o.getenv("GAIA_KEY_ENCRYPTION_KEY")}, "the key-encryption key in use"},
			{map[string]string{"GAIA_NEW_KEY_ENCRYPTION_KEY": "short"}, "GAIA_NEW_KEY_ENCRYPTION_KEY"},
			{map[string]string{"GAIA_NEW_KEY_ENCRYPTION_KEY": otherKEK, "GAIA_NEW_KEY_ENCRYPTION_KEY_FILE": "/nonexistent"}, "not both"},
		} {
			c.env["GAIA_DATABASE_URL"] = dbURL
			r := (&operatorTest{t: t, getenv: testEnv(c.env)}).run("", "keys", "rewrap")
			if r.err == nil || !strings.Contains(r.err.Error(), c.want) || strings.Contains(r.err.Error(), "short") {
				t.Errorf("keys rewrap with %v = %v, want %q", c.env, r.err, c.want)
			}
		}
		if n := len(o.audit(audit.ActionKeyRewrap, "")); n != 0 {
			t.Errorf("%d key.rewrap events after refusals", n)
		}
		r := o.run("", "keys", "rewrap", "--new-key-encryption-key", otherKEK)
		if r.err == nil {
			t.Error("keys rewrap took the new key as a flag")
		}
	})
}
