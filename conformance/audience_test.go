package conformance

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/gaia-platform/iam/audit"
	"github.com/gaia-platform/iam/claims"
	"github.com/gaia-platform/iam/oauth"
	"github.com/gaia-platform/iam/rbac/admin"
	"github.com/gaia-platform/iam/rbac/admin/openapitest"
	"github.com/gaia-platform/iam/rbac/seed"
	"github.com/gaia-platform/iam/server"
	"github.com/gaia-platform/iam/server/servertest"
	"github.com/gaia-platform/iam/storage"
)

// The audience seed: 10 services of 50 permissions each, a user "big"
// holding all 500, an admin who may read users, and clients that may ask
// tokens for the services.
const (
	services        = 10
	permsPerService = 50
	narrowClient    = "svc0-caller"
)

func serviceAudience(i int) string { return fmt.Sprintf("https://svc%d.example.com", i) }

func audienceSeed(t *testing.T) *seed.File {
	t.Helper()
	var b strings.Builder
	b.WriteString("permissions:\n  - name: iam.user.read\n")
	var all []string
	for i := range services {
		for j := range permsPerService {
			p := fmt.Sprintf("svc%d.resource%02d.read", i, j)
			all = append(all, p)
			fmt.Fprintf(&b, "  - name: %s\n", p)
		}
	}
	fmt.Fprintf(&b, "roles:\n  - name: Everything\n    permissions: [%s]\n  - name: Reader\n    permissions: [iam.user.read]\n", strings.Join(all, ", "))
	b.WriteString("departments:\n  - code: ALL\n    name: All\n    allowed_roles: [Everything, Reader]\n")
	b.WriteString("services:\n")
	auds := []string{"gaia"}
	for i := range services {
		fmt.Fprintf(&b, "  - audience: %s\n    permissions: [svc%d.*]\n", serviceAudience(i), i)
		auds = append(auds, serviceAudience(i))
	}
	fmt.Fprintf(&b, `clients:
  - client_id: gaia-web
    name: Web
    secret_env: GAIA_WEB_CLIENT_SECRET
    grant_types: [password, refresh_token, authorization_code]
    scopes: [openid, profile, offline_access]
    audiences: [%s]
    redirect_uris: [%s]
  - client_id: %s
    name: A service that calls svc0 only
    secret_env: INVENTORY_SERVICE_SECRET
    grant_types: [client_credentials]
    audiences: [%s]
    roles: [Everything]
users:
  - username: admin
    password_env: GAIA_BOOTSTRAP_ADMIN_PASSWORD
    departments: [ALL]
    roles: [Reader]
  - username: big
    password_env: USER_PASSWORD
    departments: [ALL]
    roles: [Everything]
`, strings.Join(auds, ", "), spaRedirect, narrowClient, serviceAudience(0))
	env := map[string]string{
		"GAIA_WEB_CLIENT_SECRET":        webSecret,
		"INVENTORY_SERVICE_SECRET":      serviceSecret,
		"GAIA_BOOTSTRAP_ADMIN_PASSWORD": adminPassword,
		"USER_PASSWORD":                 servertest.UserPassword,
	}
	f, err := seed.Parse(strings.NewReader(b.String()), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// withAudienceSeed is a tune for forEachLocal.
func withAudienceSeed(t *testing.T) func(*server.Config) {
	f := audienceSeed(t)
	return func(cfg *server.Config) { cfg.Seed = f }
}

// bigLogin is a password login as big with extra form fields.
func bigLogin(t *testing.T, l *local, extra string) tokenResult {
	t.Helper()
	body := "grant_type=password&username=big&password=" + url.QueryEscape(servertest.UserPassword)
	if extra != "" {
		body += "&" + extra
	}
	return tokenCall{body: body, basic: web}.do(t, l.asIAM())
}

// verifierFor verifies tokens as the service of audience aud would.
func verifierFor(t *testing.T, issuer, aud string) *claims.Verifier {
	t.Helper()
	v, err := claims.NewVerifier(ctx(t), claims.VerifierConfig{Issuer: issuer, Audience: aud})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// wantServiceToken checks that r is a token for service i alone and
// returns its claims.
func wantServiceToken(t *testing.T, l *local, r tokenResult, i int) *claims.Access {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("token for %s: %d %s", serviceAudience(i), r.status, r.raw)
	}
	tok, _ := r.body["access_token"].(string)
	a, err := verifierFor(t, l.issuer, serviceAudience(i)).Verify(ctx(t), tok)
	if err != nil {
		t.Fatalf("the service it names refuses it: %v", err)
	}
	if !slices.Equal(a.Audience, []string{serviceAudience(i)}) || len(a.Permissions) != permsPerService {
		t.Errorf("aud %v with %d permissions, want [%s] with %d", a.Audience, len(a.Permissions), serviceAudience(i), permsPerService)
	}
	for _, p := range a.Permissions {
		if !strings.HasPrefix(p, fmt.Sprintf("svc%d.", i)) {
			t.Errorf("token for svc%d carries %s", i, p)
		}
	}
	if len(tok) > oauth.DefaultAccessTokenMaxBytes {
		t.Errorf("token for one service is %d bytes, over the budget", len(tok))
	}
	other := (i + 1) % services
	if _, err := verifierFor(t, l.issuer, serviceAudience(other)).Verify(ctx(t), tok); err == nil {
		t.Errorf("svc%d accepted a token for svc%d", other, i)
	}
	return a
}

// TestAudienceAndTokenSize: a user with 500 permissions across 10 services
// gets a small token per service, and is refused the token that would hold
// them all; asking for a service the client may not use is invalid_target.
func TestAudienceAndTokenSize(t *testing.T) {
	forEachLocal(t, withAudienceSeed(t), func(t *testing.T, l *local) {
		t.Run("unscoped token over budget", func(t *testing.T) {
			r := bigLogin(t, l, "")
			desc, _ := r.body["error_description"].(string)
			if r.status != http.StatusBadRequest || r.body["error"] != "invalid_target" || !strings.Contains(desc, "resource parameter") ||
				!strings.Contains(desc, fmt.Sprintf("limit of %d", oauth.DefaultAccessTokenMaxBytes)) || !rfc6749Chars.MatchString(desc) {
				t.Fatalf("unscoped login: %d %s, want 400 invalid_target telling to name a resource", r.status, r.raw)
			}
			if err := l.srv.Audit().Flush(ctx(t)); err != nil {
				t.Fatal(err)
			}
			evs, err := l.store.ListAudit(ctx(t), storage.AuditFilter{Action: audit.ActionAuthPassword, Outcome: audit.Failure})
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) == 0 || evs[0].Details[audit.DetailReason] != "token_too_large" || evs[0].TargetType != audit.TargetUser {
				t.Errorf("audit events %+v, want a failed password login of reason token_too_large", evs)
			}
		})

		t.Run("a small token per service", func(t *testing.T) {
			for i := range services {
				wantServiceToken(t, l, bigLogin(t, l, "resource="+url.QueryEscape(serviceAudience(i))), i)
			}
			// The audience parameter is the same request.
			wantServiceToken(t, l, bigLogin(t, l, "audience="+url.QueryEscape(serviceAudience(5))), 5)
			wantServiceToken(t, l, bigLogin(t, l, "audience="+url.QueryEscape(serviceAudience(5))+"&resource="+url.QueryEscape(serviceAudience(5))), 5)
		})

		t.Run("refresh keeps the service", func(t *testing.T) {
			r := bigLogin(t, l, "resource="+url.QueryEscape(serviceAudience(3)))
			wantServiceToken(t, l, r, 3)
			rt, _ := r.body["refresh_token"].(string)
			other := tokenCall{body: "grant_type=refresh_token&refresh_token=" + url.QueryEscape(rt) + "&resource=" + url.QueryEscape(serviceAudience(4)), basic: web}.do(t, l.asIAM())
			if other.status != http.StatusBadRequest || other.body["error"] != "invalid_target" {
				t.Errorf("refresh of a svc3 grant for svc4: %d %s, want invalid_target", other.status, other.raw)
			}
			// Refused before anything was written: the refresh token still works.
			fresh := tokenCall{body: "grant_type=refresh_token&refresh_token=" + url.QueryEscape(rt), basic: web}.do(t, l.asIAM())
			wantServiceToken(t, l, fresh, 3)
		})

		t.Run("invalid_target", func(t *testing.T) {
			for name, extra := range map[string]string{
				"a service the client may not use":  "resource=" + url.QueryEscape("https://svc99.example.com"),
				"a sub-path of an allowed audience": "resource=" + url.QueryEscape(serviceAudience(1)+"/admin"),
				"not an absolute URI":               "resource=svc1",
				"a fragment":                        "resource=" + url.QueryEscape(serviceAudience(1)+"#x"),
				"two resources":                     "resource=" + url.QueryEscape(serviceAudience(1)) + "&resource=" + url.QueryEscape(serviceAudience(2)),
				"two audiences in one":              "audience=" + url.QueryEscape(serviceAudience(1)+" "+serviceAudience(2)),
				"resource and audience disagree":    "resource=" + url.QueryEscape(serviceAudience(1)) + "&audience=" + url.QueryEscape(serviceAudience(2)),
				"empty resource":                    "resource=",
			} {
				r := bigLogin(t, l, extra)
				if r.status != http.StatusBadRequest || r.body["error"] != "invalid_target" || r.body["access_token"] != nil {
					t.Errorf("%s: %d %s, want 400 invalid_target", name, r.status, r.raw)
				}
			}
			cc := tokenCall{body: "grant_type=client_credentials&resource=" + url.QueryEscape(serviceAudience(1)), basic: [2]string{narrowClient, serviceSecret}}.do(t, l.asIAM())
			if cc.status != http.StatusBadRequest || cc.body["error"] != "invalid_target" {
				t.Errorf("client credentials for a service not the client's: %d %s", cc.status, cc.raw)
			}
		})

		t.Run("client credentials", func(t *testing.T) {
			// The client names one service: its unscoped token is for it,
			// with that service's permissions only, though its role has all.
			for _, body := range []string{"grant_type=client_credentials", "grant_type=client_credentials&resource=" + url.QueryEscape(serviceAudience(0))} {
				a := wantServiceToken(t, l, tokenCall{body: body, basic: [2]string{narrowClient, serviceSecret}}.do(t, l.asIAM()), 0)
				if a.Type != claims.Service {
					t.Errorf("type %s", a.Type)
				}
			}
		})

		t.Run("authorization code", func(t *testing.T) {
			f := newCodeFlow(t, l.issuer, "gaia-web", webSecret, spaRedirect)
			b := newBrowser(t)
			login := b.get(f.authURL(oauth2.SetAuthURLParam("resource", serviceAudience(2))))
			code := f.code(t, l.issuer, b.logIn(l.issuer, login, "big", servertest.UserPassword))
			tok, err := f.exchange(t, code)
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			wantServiceToken(t, l, tokenResult{status: http.StatusOK, body: map[string]any{"access_token": tok.AccessToken}}, 2)
			// The refresh token is bound to svc2 too.
			tok.Expiry = tok.Expiry.Add(-24 * 60 * 60 * 1e9)
			fresh, err := f.conf.TokenSource(ctx(t), tok).Token()
			if err != nil {
				t.Fatalf("refresh: %v", err)
			}
			wantServiceToken(t, l, tokenResult{status: http.StatusOK, body: map[string]any{"access_token": fresh.AccessToken}}, 2)

			// A service the client may not use goes back to it as invalid_target.
			p := b.get(f.authURL(oauth2.SetAuthURLParam("resource", "https://svc99.example.com")))
			wantRedirectError(t, p, spaRedirect, "invalid_target", f.state)
		})

		t.Run("admin view of the token size", func(t *testing.T) {
			v := openapitest.New(t, admin.Document)
			api := (&adminClient{t: t, base: l.issuer + "/admin/v1", http: &http.Client{Transport: v.Transport(t, http.DefaultTransport)}}).
				as(userToken(t, l.issuer, "admin", adminPassword).AccessToken)
			var page admin.Page[admin.User]
			want(t, api.do("GET", "/users?username_prefix=big", nil), http.StatusOK).decode(t, &page)
			if len(page.Items) != 1 {
				t.Fatalf("users named big: %v", page.Items)
			}
			var e admin.EffectivePermissions
			want(t, api.do("GET", "/users/"+page.Items[0].ID+"/permissions", nil), http.StatusOK).decode(t, &e)
			tb := e.Token
			if tb == nil || tb.MaxBytes != oauth.DefaultAccessTokenMaxBytes || tb.WithinBudget || tb.Bytes <= tb.MaxBytes || len(tb.Services) != services {
				t.Fatalf("token budget %+v, want the unscoped token over %d bytes and %d services", tb, oauth.DefaultAccessTokenMaxBytes, services)
			}
			for i, st := range tb.Services {
				if st.Audience != serviceAudience(i) || st.Permissions != permsPerService || !st.WithinBudget {
					t.Errorf("service %d: %+v", i, st)
				}
			}
			// The estimate is close to what is issued.
			r := bigLogin(t, l, "resource="+url.QueryEscape(serviceAudience(7)))
			issued := len(r.body["access_token"].(string))
			if d := tb.Services[7].Bytes - issued; d < 0 || d > 300 {
				t.Errorf("estimated %d bytes for svc7, issued %d: want an upper bound within 300 bytes", tb.Services[7].Bytes, issued)
			}
		})
	})
}

// TestAudienceAtTheService runs gaia-iam and the example inventory service
// as the service of https://inventory.example.com: it accepts a token
// asked for it, and refuses one for the default audience. The budget comes
// from GAIA_ACCESS_TOKEN_MAX_BYTES.
func TestAudienceAtTheService(t *testing.T) {
	const inventory = "https://inventory.example.com"
	example, err := os.ReadFile("../seed.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The example seed, the inventory service's client also allowed to
	// ask for the inventory audience.
	old := "    secret_env: INVENTORY_SERVICE_SECRET\n    grant_types: [client_credentials]\n    audiences: [gaia]\n"
	if !strings.Contains(string(example), old) {
		t.Fatal("the example seed's inventory-service entry changed")
	}
	seedFile := filepath.Join(t.TempDir(), "seed.yaml")
	edited := strings.Replace(string(example), old, strings.Replace(old, "[gaia]", "[gaia, "+inventory+"]", 1), 1)
	if err := os.WriteFile(seedFile, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	forEachBackend(t, func(t *testing.T, s *iam) {
		base := startInventoryFor(t, s.issuer, inventory)
		svc := [2]string{"inventory-service", serviceSecret}
		token := func(extra string) tokenResult {
			t.Helper()
			return tokenCall{body: "grant_type=client_credentials" + extra, basic: svc}.do(t, s)
		}
		scoped := token("&resource=" + url.QueryEscape(inventory))
		at, _ := scoped.body["access_token"].(string)
		if scoped.status != http.StatusOK || itemsStatus(t, base, at) != http.StatusOK {
			t.Fatalf("token asked for the inventory service: %d %s, or refused there", scoped.status, scoped.raw)
		}
		_, c := payload(t, at)
		if !slices.Equal(strs(c["aud"]), []string{inventory}) || !slices.Equal(strs(c["permissions"]), []string{"inventory.read"}) {
			t.Errorf("aud %v permissions %v", c["aud"], c["permissions"])
		}
		gaia := token("&audience=gaia")
		gt, _ := gaia.body["access_token"].(string)
		if gaia.status != http.StatusOK || itemsStatus(t, base, gt) != http.StatusUnauthorized {
			t.Errorf("a token for the default audience must be refused at the inventory service")
		}
		if r := token("&resource=" + url.QueryEscape("https://analytics.example.com")); r.status != http.StatusBadRequest || r.body["error"] != "invalid_target" {
			t.Errorf("a service not the client's: %d %s, want invalid_target", r.status, r.raw)
		}
		// The admin's token (eight permissions, every audience of
		// gaia-web) is over a 1024-byte budget; the service's fits.
		admin := tokenCall{body: "grant_type=password&scope=openid+profile+email+offline_access&username=admin&password=" + url.QueryEscape(adminPassword), basic: web}.do(t, s)
		if admin.status != http.StatusBadRequest || admin.body["error"] != "invalid_target" {
			t.Errorf("admin login over a 1024-byte budget: %d %s, want invalid_target", admin.status, admin.raw)
		}
	}, "GAIA_SEED_FILE="+seedFile, "GAIA_ACCESS_TOKEN_MAX_BYTES=1024")
}
