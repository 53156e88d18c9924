package conformance

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// introspectCall posts an introspection request with the given client
// authentication and returns the status and the decoded body.
func introspectCall(t *testing.T, issuer string, form url.Values, auth func(*http.Request)) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, issuer+"/oauth2/introspect", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if auth != nil {
		auth(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

// TestIntrospectionCallers (RFC 7662 §2.1, §4): only an authenticated
// confidential client may introspect, and it learns only about tokens
// issued to it or whose aud names it. Any client used to learn about any
// token that shared one of its audiences — every login client shares the
// default one — and a public client, presenting no secret, about all.
func TestIntrospectionCallers(t *testing.T) {
	forEachLocal(t, nil, func(t *testing.T, l *local) {
		s := l.asIAM()
		web := userToken(t, l.issuer, "admin", adminPassword)
		api := &adminClient{t: t, base: l.issuer + "/admin/v1", http: http.DefaultClient, token: web.AccessToken}
		login := func(clientID string, audiences []string) (secret string, tok *oauth2.Token) {
			var created struct {
				ClientSecret string `json:"client_secret"`
			}
			body := map[string]any{"client_id": clientID, "name": clientID, "grant_types": []string{"password", "refresh_token"},
				"scopes": []string{"openid"}}
			if audiences != nil {
				body["audiences"] = audiences
			}
			want(t, api.do("POST", "/clients", body), http.StatusCreated).decode(t, &created)
			conf := &oauth2.Config{ClientID: clientID, ClientSecret: created.ClientSecret,
				Endpoint: oauth2.Endpoint{TokenURL: l.issuer + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}}
			tok, err := conf.PasswordCredentialsToken(ctx(t), "admin", adminPassword)
			if err != nil {
				t.Fatal(err)
			}
			return created.ClientSecret, tok
		}
		// A second login client on the default audience, and one whose
		// tokens name the inventory service, a resource server.
		deskSecret, desk := login("gaia-desk", nil)
		_, portal := login("gaia-portal", []string{"gaia", "inventory-service"})

		for _, tc := range []struct {
			name           string
			caller, secret string
			token          string
			active         bool
		}{
			{"own access token", "gaia-desk", deskSecret, desk.AccessToken, true},
			{"own refresh token", "gaia-desk", deskSecret, desk.RefreshToken, true},
			{"another login client's access token, same default audience", "gaia-web", webSecret, desk.AccessToken, false},
			{"another login client's refresh token", "gaia-web", webSecret, desk.RefreshToken, false},
			{"the other way round", "gaia-desk", deskSecret, web.AccessToken, false},
			{"resource server named in aud", "inventory-service", serviceSecret, portal.AccessToken, true},
			{"resource server not named in aud", "inventory-service", serviceSecret, web.AccessToken, false},
			{"resource server, a refresh token naming it", "inventory-service", serviceSecret, portal.RefreshToken, false},
		} {
			got := introspectAs(t, s, tc.caller, tc.secret, tc.token)
			if got["active"] != tc.active || (!tc.active && len(got) != 1) {
				t.Errorf("%s: %s introspects %v, want active %v (and nothing else when false)", tc.name, tc.caller, got, tc.active)
			}
		}

		token := url.Values{"token": {web.AccessToken}}
		withID := url.Values{"token": {web.AccessToken}, "client_id": {"gaia-cli"}}
		for _, tc := range []struct {
			name string
			form url.Values
			auth func(*http.Request)
		}{
			{"public client, client_id in the body", withID, nil},
			{"public client, Basic with no secret", token, func(r *http.Request) { r.SetBasicAuth("gaia-cli", "") }},
			{"no client authentication", token, nil},
			{"the introspected token as Bearer", token, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+web.AccessToken) }},
			{"wrong secret", token, func(r *http.Request) { r.SetBasicAuth("gaia-web", "wrong") }},
		} {
			status, body := introspectCall(t, l.issuer, tc.form, tc.auth)
			if status != http.StatusUnauthorized || body["error"] != "invalid_client" {
				t.Errorf("%s: %d %v, want 401 invalid_client", tc.name, status, body)
			}
		}
	})
}

// TestIntrospectionAuthMethods: discovery lists exactly the client
// authentication methods the introspection endpoint accepts.
func TestIntrospectionAuthMethods(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *iam) {
		resp, err := http.Get(s.issuer + "/.well-known/openid-configuration")
		if err != nil {
			t.Fatal(err)
		}
		var meta struct {
			Methods []string `json:"introspection_endpoint_auth_methods_supported"`
		}
		err = json.NewDecoder(resp.Body).Decode(&meta)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		tok, err := webConfig(s.issuer).PasswordCredentialsToken(ctx(t), "admin", adminPassword)
		if err != nil {
			t.Fatal(err)
		}
		cliConf := &oauth2.Config{ClientID: "gaia-cli", Endpoint: oauth2.Endpoint{TokenURL: s.issuer + "/oauth2/token", AuthStyle: oauth2.AuthStyleInParams}}
		cli, err := cliConf.PasswordCredentialsToken(ctx(t), "admin", adminPassword)
		if err != nil {
			t.Fatal(err)
		}
		// Each method introspects a token of its own client.
		methods := map[string]struct {
			form url.Values
			auth func(*http.Request)
		}{
			"client_secret_basic": {url.Values{"token": {tok.AccessToken}}, func(r *http.Request) { r.SetBasicAuth("gaia-web", webSecret) }},
			"client_secret_post":  {url.Values{"token": {tok.AccessToken}, "client_id": {"gaia-web"}, "client_secret": {webSecret}}, nil},
			"none":                {url.Values{"token": {cli.AccessToken}, "client_id": {"gaia-cli"}}, nil},
		}
		var accepted []string
		for name, m := range methods {
			if status, body := introspectCall(t, s.issuer, m.form, m.auth); status == http.StatusOK && body["active"] == true {
				accepted = append(accepted, name)
			}
		}
		slices.Sort(accepted)
		listed := slices.Sorted(slices.Values(meta.Methods))
		if !slices.Equal(listed, accepted) {
			t.Errorf("discovery lists %v, the endpoint accepts %v", listed, accepted)
		}
	})
}
