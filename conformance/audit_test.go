package conformance

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gaia-platform/iam/audit"
	"github.com/gaia-platform/iam/storage"
)

// TestAuditAuthEvents: each login, refresh, refused concurrent refresh,
// reuse and revocation leaves exactly its audit event — who, to what, from
// where, with which client, and why a failure failed — and no event holds
// a password, secret or token that was sent.
func TestAuditAuthEvents(t *testing.T) {
	var clk *clock
	forEachLocal(t, clocked(&clk), func(t *testing.T, l *local) {
		admin, err := l.store.GetUserByUsername(ctx(t), "admin")
		if err != nil {
			t.Fatal(err)
		}
		web, service := l.client(t, "gaia-web"), l.client(t, "inventory-service")
		conf := webConfig(l.issuer)
		const (
			wrongPassword = "not the admin password at all"
			wrongSecret   = "not-the-service-secret-not-the-service-secret"
		)
		// Everything sent that must never be recorded.
		secrets := []string{adminPassword, wrongPassword, webSecret, serviceSecret, wrongSecret}
		var want []storage.AuditEvent
		ev := func(e storage.AuditEvent) {
			e.ClientIP = "127.0.0.1"
			want = append(want, e)
		}
		grant := func(g string, reason ...string) map[string]string {
			d := map[string]string{audit.DetailGrant: g}
			if len(reason) > 0 {
				d[audit.DetailReason] = reason[0]
			}
			return d
		}

		// A password login, and the refresh token it brings.
		tok, err := conf.PasswordCredentialsToken(ctx(t), "admin", adminPassword)
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, tokenSecrets(tok)...)
		family := sessionID(t, tok.AccessToken)
		ev(storage.AuditEvent{ActorType: audit.ActorUser, ActorID: admin.ID, ActorName: "admin", Action: audit.ActionAuthPassword,
			TargetType: audit.TargetUser, TargetID: admin.ID, Outcome: audit.Success, ClientID: "gaia-web", Details: grant("password")})

		// A wrong password for an existing user names the user.
		if _, err := conf.PasswordCredentialsToken(ctx(t), "admin", wrongPassword); !isInvalidGrant(err) {
			t.Fatalf("login with a wrong password: %v, want invalid_grant", err)
		}
		ev(storage.AuditEvent{ActorType: audit.ActorAnonymous, Action: audit.ActionAuthPassword, TargetType: audit.TargetUser, TargetID: admin.ID,
			Outcome: audit.Failure, ClientID: "gaia-web", Details: grant("password", "invalid_credentials")})

		// A password pasted into the username field names nobody, and is not kept.
		if _, err := conf.PasswordCredentialsToken(ctx(t), adminPassword, adminPassword); !isInvalidGrant(err) {
			t.Fatalf("login with the password as username: %v, want invalid_grant", err)
		}
		ev(storage.AuditEvent{ActorType: audit.ActorAnonymous, Action: audit.ActionAuthPassword,
			Outcome: audit.Failure, ClientID: "gaia-web", Details: grant("password", "unknown_user")})

		// Client credentials: success, a wrong secret, an unknown client.
		cc := clientcredentials.Config{ClientID: "inventory-service", ClientSecret: serviceSecret, TokenURL: l.issuer + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}
		svcTok, err := cc.Token(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, tokenSecrets(svcTok)...)
		ev(storage.AuditEvent{ActorType: audit.ActorService, ActorID: "inventory-service", ActorName: service.Name, Action: audit.ActionAuthClientCredentials,
			TargetType: audit.TargetClient, TargetID: "inventory-service", Outcome: audit.Success, ClientID: "inventory-service", Details: grant("client_credentials")})
		cc.ClientSecret = wrongSecret
		if _, err := cc.Token(ctx(t)); err == nil {
			t.Fatal("client credentials with a wrong secret succeeded")
		}
		ev(storage.AuditEvent{ActorType: audit.ActorAnonymous, Action: audit.ActionAuthClientCredentials, TargetType: audit.TargetClient, TargetID: "inventory-service",
			Outcome: audit.Failure, ClientID: "inventory-service", Details: grant("client_credentials", "invalid_client")})
		unknown := cc
		unknown.ClientID = "pasted-" + serviceSecret
		if _, err := unknown.Token(ctx(t)); err == nil {
			t.Fatal("client credentials of an unknown client succeeded")
		}
		ev(storage.AuditEvent{ActorType: audit.ActorAnonymous, Action: audit.ActionAuthClientCredentials,
			Outcome: audit.Failure, Details: grant("client_credentials", "unknown_client")})

		// A refresh rotates within the login's family.
		fresh, err := refresh(t, conf, tok)
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, tokenSecrets(fresh)...)
		ev(storage.AuditEvent{ActorType: audit.ActorUser, ActorID: admin.ID, ActorName: "admin", Action: audit.ActionAuthRefresh,
			TargetType: audit.TargetTokenFamily, TargetID: family, Outcome: audit.Success, ClientID: "gaia-web", Details: grant("refresh_token")})

		// The rotated token again at once: a concurrent refresh that lost,
		// not reuse.
		if _, err := refresh(t, conf, tok); !isInvalidGrant(err) {
			t.Fatalf("refresh with a token rotated just now: %v, want invalid_grant", err)
		}
		ev(storage.AuditEvent{ActorType: audit.ActorAnonymous, Action: audit.ActionAuthRefresh, TargetType: audit.TargetTokenFamily, TargetID: family,
			Outcome: audit.Failure, ClientID: "gaia-web", Details: grant("refresh_token", "concurrent_refresh")})

		// The rotated token again past the reuse interval: reuse, the
		// family revoked.
		clk.advance(time.Minute)
		if _, err := refresh(t, conf, tok); !isInvalidGrant(err) {
			t.Fatalf("refresh with a rotated token: %v, want invalid_grant", err)
		}
		ev(storage.AuditEvent{ActorType: audit.ActorAnonymous, Action: audit.ActionAuthRefreshReuse, TargetType: audit.TargetTokenFamily, TargetID: family,
			Outcome: audit.Failure, ClientID: "gaia-web", Details: grant("refresh_token", "reuse")})

		// The family's live token after that: refused as revoked, no second reuse.
		if _, err := refresh(t, conf, fresh); !isInvalidGrant(err) {
			t.Fatalf("refresh in a revoked family: %v, want invalid_grant", err)
		}
		ev(storage.AuditEvent{ActorType: audit.ActorAnonymous, Action: audit.ActionAuthRefresh, TargetType: audit.TargetTokenFamily, TargetID: family,
			Outcome: audit.Failure, ClientID: "gaia-web", Details: grant("refresh_token", "revoked")})

		// RFC 7009: revoking a refresh token revokes its family; an access
		// token, its jti.
		other, err := conf.PasswordCredentialsToken(ctx(t), "admin", adminPassword)
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, tokenSecrets(other)...)
		otherFamily := sessionID(t, other.AccessToken)
		ev(storage.AuditEvent{ActorType: audit.ActorUser, ActorID: admin.ID, ActorName: "admin", Action: audit.ActionAuthPassword,
			TargetType: audit.TargetUser, TargetID: admin.ID, Outcome: audit.Success, ClientID: "gaia-web", Details: grant("password")})
		if code := revoke(t, l.asIAM(), other.RefreshToken); code != 200 {
			t.Fatalf("revoke refresh token = %d", code)
		}
		ev(storage.AuditEvent{ActorType: audit.ActorService, ActorID: "gaia-web", ActorName: web.Name, Action: audit.ActionTokenRevoke,
			TargetType: audit.TargetTokenFamily, TargetID: otherFamily, Outcome: audit.Success, ClientID: "gaia-web"})
		if code := revoke(t, l.asIAM(), fresh.AccessToken); code != 200 {
			t.Fatalf("revoke access token = %d", code)
		}
		_, c := payload(t, fresh.AccessToken)
		ev(storage.AuditEvent{ActorType: audit.ActorService, ActorID: "gaia-web", ActorName: web.Name, Action: audit.ActionTokenRevoke,
			TargetType: audit.TargetAccessToken, TargetID: c["jti"].(string), Outcome: audit.Success, ClientID: "gaia-web"})
		// Another client's token is left alone, and the attempt recorded.
		if code := revoke(t, l.asIAM(), svcTok.AccessToken); code != 200 {
			t.Fatalf("revoke another client's token = %d", code)
		}
		_, c = payload(t, svcTok.AccessToken)
		ev(storage.AuditEvent{ActorType: audit.ActorService, ActorID: "gaia-web", ActorName: web.Name, Action: audit.ActionTokenRevoke,
			TargetType: audit.TargetAccessToken, TargetID: c["jti"].(string), Outcome: audit.Failure, ClientID: "gaia-web",
			Details: map[string]string{audit.DetailReason: "other_client"}})

		if err := l.srv.Audit().Flush(ctx(t)); err != nil {
			t.Fatal(err)
		}
		got, err := l.store.ListAudit(ctx(t), storage.AuditFilter{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		// The seed's own changes at start are not what this test is about.
		got = slices.DeleteFunc(got, func(e storage.AuditEvent) bool { return e.ActorName == audit.ActorNameSeed })
		slices.Reverse(got) // oldest first, as recorded
		if len(got) != len(want) {
			t.Errorf("%d audit events, want %d:", len(got), len(want))
			for _, e := range got {
				t.Logf("  %+v", e)
			}
		}
		for i := range min(len(got), len(want)) {
			g := got[i]
			if _, ok := storage.CanonicalID(g.ID); !ok {
				t.Errorf("event %d: ID %q is not a UUID", i, g.ID)
			}
			if age := time.Since(g.Time); age < 0 || age > time.Minute {
				t.Errorf("event %d: time %v is not now", i, g.Time)
			}
			g.ID, g.Time = "", time.Time{}
			if len(g.Details) == 0 {
				g.Details = nil
			}
			if !reflect.DeepEqual(g, want[i]) {
				t.Errorf("event %d:\n got %+v\nwant %+v", i, g, want[i])
			}
		}
		for _, e := range got {
			for _, s := range eventStrings(e) {
				for _, secret := range secrets {
					if strings.Contains(s, secret) {
						t.Errorf("event %s %s holds a secret, token or password sent (%.12s…) in %q", e.ID, e.Action, secret, s)
					}
				}
			}
		}
	})
}

func (l *local) client(t *testing.T, id string) *storage.Client {
	t.Helper()
	c, err := l.store.GetClient(ctx(t), id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sessionID is the token family an access token belongs to (its sid).
func sessionID(t *testing.T, accessToken string) string {
	t.Helper()
	_, c := payload(t, accessToken)
	sid, _ := c["sid"].(string)
	if sid == "" {
		t.Fatalf("access token has no sid: %v", c)
	}
	return sid
}

// tokenSecrets lists what of tok must never be recorded: the tokens and
// each of their dot-separated parts (a refresh token's signature is its
// storage key; a JWS's signature identifies it).
func tokenSecrets(tok *oauth2.Token) []string {
	var out []string
	for _, s := range []string{tok.AccessToken, tok.RefreshToken} {
		if s == "" {
			continue
		}
		out = append(out, s)
		for p := range strings.SplitSeq(s, ".") {
			if len(p) >= 16 {
				out = append(out, p)
			}
		}
	}
	return out
}

// eventStrings is every string an event holds.
func eventStrings(e storage.AuditEvent) []string {
	out := []string{e.ID, e.ActorType, e.ActorID, e.ActorName, e.Action, e.TargetType, e.TargetID, e.Outcome, e.ClientIP, e.ClientID, fmt.Sprint(e.Time)}
	for k, v := range e.Details {
		out = append(out, k, v)
	}
	return out
}
