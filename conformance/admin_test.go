package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gaia-platform/iam/rbac/admin"
	"github.com/gaia-platform/iam/rbac/admin/openapitest"
	"github.com/gaia-platform/iam/storage"
)

// adminClient calls the admin API as one bearer, checking every exchange
// against the OpenAPI document.
type adminClient struct {
	t     *testing.T
	base  string
	token string
	http  *http.Client
}

// reply is an answer of the admin API.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// problem decodes a problem body and checks its type.
func (r reply) problem(t *testing.T, status int, kind string) admin.Problem {
	t.Helper()
	var p admin.Problem
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q, want application/problem+json", ct)
	}
	r.decode(t, &p)
	if p.Type != admin.ProblemTypePrefix+kind || p.Status != status || p.Title == "" || p.Detail == "" {
		t.Errorf("problem %+v, want type %s status %d with a title and detail", p, kind, status)
	}
	return p
}

func (c *adminClient) do(method, path string, body any) reply {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, ok := body.([]byte)
		if !ok {
			var err error
			if b, err = json.Marshal(body); err != nil {
				c.t.Fatal(err)
			}
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(c.t.Context(), method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

// want checks the status of a reply and returns it.
func want(t *testing.T, r reply, status int) reply {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	return r
}

// as returns a client of the same API for another bearer.
func (c *adminClient) as(token string) *adminClient {
	d := *c
	d.token = token
	return &d
}

func userToken(t *testing.T, issuer, username, password string) *oauth2.Token {
	t.Helper()
	tok, err := webConfig(issuer).PasswordCredentialsToken(ctx(t), username, password)
	if err != nil {
		t.Fatalf("log in as %s: %v", username, err)
	}
	return tok
}

// TestAdminAPI drives every admin endpoint over HTTP on every backend, with
// tokens from /oauth2/token, and checks each exchange against the OpenAPI
// document; at the end every documented operation must have been called.
func TestAdminAPI(t *testing.T) {
	forEachLocal(t, nil, func(t *testing.T, l *local) {
		v := openapitest.New(t, admin.Document)
		root := &adminClient{t: t, base: l.issuer + "/admin/v1", http: &http.Client{Transport: v.Transport(t, http.DefaultTransport)}}
		adminTok := userToken(t, l.issuer, "admin", adminPassword)
		api := root.as(adminTok.AccessToken)

		// A user whose token verifies but grants no admin permission.
		viewer := createUser(t, api, "viewer", "viewer's long password")
		want(t, api.do("PUT", "/users/"+viewer.ID+"/departments/INVENTORY", nil), http.StatusNoContent)
		want(t, api.do("PUT", "/users/"+viewer.ID+"/roles/InventoryViewer", nil), http.StatusNoContent)
		viewerAPI := root.as(userToken(t, l.issuer, "viewer", "viewer's long password").AccessToken)

		t.Run("authorization", func(t *testing.T) { testAdminAuthorization(t, v, root, viewerAPI) })
		t.Run("users", func(t *testing.T) { testAdminUsers(t, l, api) })
		t.Run("departments and roles", func(t *testing.T) { testAdminAssignments(t, l, api) })
		t.Run("sessions", func(t *testing.T) { testAdminSessions(t, l, api) })
		t.Run("clients", func(t *testing.T) { testAdminClients(t, l, api) })
		t.Run("code clients", func(t *testing.T) { testAdminCodeClients(t, l, api) })
		t.Run("catalog", func(t *testing.T) { testAdminCatalog(t, api) })
		t.Run("requests", func(t *testing.T) { testAdminRequests(t, api) })
		t.Run("concurrent updates", func(t *testing.T) { testAdminConcurrentUpdates(t, api) })
		t.Run("stale admin token", func(t *testing.T) { testAdminStaleToken(t, l, api) })
		t.Run("audit", func(t *testing.T) { testAdminAudit(t, l, api, viewer.ID) })
		t.Run("security", func(t *testing.T) { testAdminSecurity(t, l, api) })

		r := want(t, root.do("GET", "/openapi.json", nil), http.StatusOK)
		if !bytes.Equal(r.body, admin.Document) {
			t.Error("GET /admin/v1/openapi.json is not the embedded document")
		}
		if missing := v.Uncovered(); len(missing) > 0 {
			t.Errorf("documented operations never called: %v", missing)
		}
	})
}

func createUser(t *testing.T, api *adminClient, username, password string) admin.User {
	t.Helper()
	body := map[string]any{"username": username, "email": username + "@example.com"}
	if password != "" {
		body["password"] = password
	}
	r := want(t, api.do("POST", "/users", body), http.StatusCreated)
	var u admin.User
	r.decode(t, &u)
	if loc := r.header.Get("Location"); loc != "/admin/v1/users/"+u.ID {
		t.Errorf("Location %q, want /admin/v1/users/%s", loc, u.ID)
	}
	return u
}

// samplePath fills a documented path template with values that exist.
func samplePath(path, userID string) string {
	return strings.NewReplacer("{id}", userID, "{code}", "INVENTORY", "{name}", "InventoryViewer",
		"{client_id}", "inventory-service").Replace(path)
}

// testAdminAuthorization: every documented operation answers 401 without a
// token or with a bad one, and 403 naming its x-permission to a valid token
// that lacks it.
func testAdminAuthorization(t *testing.T, v *openapitest.Validator, anon, viewer *adminClient) {
	ops := v.Operations()
	if len(ops) < 20 {
		t.Fatalf("the document has %d operations", len(ops))
	}
	forged := anon.as("eyJhbGciOiJSUzI1NiIsImtpZCI6Im5vbmUiLCJ0eXAiOiJhdCtqd3QifQ.e30.c2ln")
	for _, op := range ops {
		if op.Public {
			continue
		}
		path := samplePath(op.Path, "00000000-0000-4000-8000-000000000000")
		var body any
		if op.Method == "POST" || op.Method == "PATCH" || op.Method == "PUT" {
			body = map[string]any{}
		}
		t.Run(op.String(), func(t *testing.T) {
			r := anon.do(op.Method, path, body)
			r.problem(t, http.StatusUnauthorized, admin.KindUnauthorized)
			if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, `Bearer realm="gaia-iam-admin"`) {
				t.Errorf("WWW-Authenticate %q", got)
			}
			r = forged.do(op.Method, path, body)
			r.problem(t, http.StatusUnauthorized, admin.KindUnauthorized)
			if got := r.header.Get("WWW-Authenticate"); !strings.Contains(got, `error="invalid_token"`) {
				t.Errorf("WWW-Authenticate %q, want error=invalid_token", got)
			}
			r = viewer.do(op.Method, path, body)
			p := r.problem(t, http.StatusForbidden, admin.KindForbidden)
			if p.RequiredPermission != op.Permission || op.Permission == "" {
				t.Errorf("required_permission %q, want %q", p.RequiredPermission, op.Permission)
			}
			if got := r.header.Get("WWW-Authenticate"); !strings.Contains(got, `error="insufficient_scope"`) || !strings.Contains(got, op.Permission) {
				t.Errorf("WWW-Authenticate %q, want insufficient_scope naming %s", got, op.Permission)
			}
		})
	}
}

func testAdminUsers(t *testing.T, l *local, api *adminClient) {
	alice := createUser(t, api, "Alice", "alice's long password")
	if alice.Username != "alice" || !alice.Active || !alice.HasPassword || alice.Email != "Alice@example.com" {
		t.Errorf("created %+v", alice)
	}
	var got admin.User
	want(t, api.do("GET", "/users/"+alice.ID, nil), http.StatusOK).decode(t, &got)
	if got != alice {
		t.Errorf("GET = %+v, want %+v", got, alice)
	}
	p := api.do("POST", "/users", map[string]any{"username": "ALICE"}).problem(t, http.StatusConflict, admin.KindConflict)
	if !strings.Contains(p.Detail, "taken") {
		t.Errorf("conflict detail %q", p.Detail)
	}
	p = api.do("POST", "/users", map[string]any{"username": "", "email": "not an address", "password": "short"}).
		problem(t, http.StatusBadRequest, admin.KindValidation)
	var fields []string
	for _, f := range p.Errors {
		fields = append(fields, f.Field)
	}
	if !slices.Contains(fields, "username") {
		t.Errorf("validation errors %+v, want one for username", p.Errors)
	}
	api.do("GET", "/users/"+storage.Now().Format("20060102"), nil).problem(t, http.StatusNotFound, admin.KindNotFound)
	api.do("GET", "/users/00000000-0000-4000-8000-000000000000", nil).problem(t, http.StatusNotFound, admin.KindNotFound)

	// A user with no password cannot log in until one is set.
	bob := createUser(t, api, "bob", "")
	if bob.HasPassword {
		t.Error("bob has a password")
	}
	if _, err := webConfig(l.issuer).PasswordCredentialsToken(ctx(t), "bob", "bob's long password"); err == nil {
		t.Error("bob logged in with no password set")
	}
	want(t, api.do("PUT", "/users/"+bob.ID+"/password", map[string]any{"password": "bob's long password"}), http.StatusNoContent)
	userToken(t, l.issuer, "bob", "bob's long password")
	want(t, api.do("PUT", "/users/"+bob.ID+"/password", map[string]any{"password": "bob's newer password"}), http.StatusNoContent)
	if _, err := webConfig(l.issuer).PasswordCredentialsToken(ctx(t), "bob", "bob's long password"); err == nil {
		t.Error("the old password still works")
	}
	api.do("PUT", "/users/"+bob.ID+"/password", map[string]any{"password": "short"}).problem(t, http.StatusBadRequest, admin.KindValidation)

	var patched admin.User
	want(t, api.do("PATCH", "/users/"+alice.ID, map[string]any{"email": "alice@corp.example"}), http.StatusOK).decode(t, &patched)
	if patched.Email != "alice@corp.example" || !patched.UpdatedAt.After(alice.UpdatedAt) {
		t.Errorf("patched %+v", patched)
	}
	api.do("PATCH", "/users/"+alice.ID, map[string]any{}).problem(t, http.StatusBadRequest, admin.KindValidation)

	// Listing: filters and cursor pagination.
	for _, name := range []string{"list-a", "list-b", "list-c", "list-d", "list-e"} {
		createUser(t, api, name, "")
	}
	var names []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		var page admin.Page[admin.User]
		want(t, api.do("GET", "/users?username_prefix=list-&limit=2"+cursor, nil), http.StatusOK).decode(t, &page)
		for _, u := range page.Items {
			names = append(names, u.Username)
		}
		if page.NextCursor == "" {
			break
		}
		cursor = "&cursor=" + page.NextCursor
	}
	if want := []string{"list-a", "list-b", "list-c", "list-d", "list-e"}; !slices.Equal(names, want) {
		t.Errorf("paged usernames %v, want %v", names, want)
	}
	var page admin.Page[admin.User]
	want(t, api.do("GET", "/users?department=PLATFORM&role=PlatformAdmin&active=true", nil), http.StatusOK).decode(t, &page)
	if len(page.Items) != 1 || page.Items[0].Username != "admin" || page.NextCursor != "" {
		t.Errorf("PlatformAdmin holders in PLATFORM: %+v", page)
	}
	p = api.do("GET", "/users?limit=0&colour=blue&active=maybe&cursor=!!", nil).problem(t, http.StatusBadRequest, admin.KindValidation)
	if len(p.Errors) != 4 {
		t.Errorf("errors %+v, want one each for limit, colour, active and cursor", p.Errors)
	}

	want(t, api.do("DELETE", "/users/"+bob.ID, nil), http.StatusNoContent)
	api.do("GET", "/users/"+bob.ID, nil).problem(t, http.StatusNotFound, admin.KindNotFound)
	api.do("DELETE", "/users/"+bob.ID, nil).problem(t, http.StatusNotFound, admin.KindNotFound)
}

func permissionsOf(t *testing.T, api *adminClient, id string) admin.EffectivePermissions {
	t.Helper()
	var e admin.EffectivePermissions
	want(t, api.do("GET", "/users/"+id+"/permissions", nil), http.StatusOK).decode(t, &e)
	return e
}

// testAdminAssignments: the department rule (422), the cascade refusal
// (409), and a role change visible in the next refreshed token.
func testAdminAssignments(t *testing.T, l *local, api *adminClient) {
	dana := createUser(t, api, "dana", "dana's long password")
	base := "/users/" + dana.ID
	p := api.do("PUT", base+"/roles/InventoryManager", nil).problem(t, http.StatusUnprocessableEntity, admin.KindRoleNotAllowed)
	if p.Role != "InventoryManager" || len(p.Departments) != 0 || strings.Contains(p.Detail, "InventoryManager") {
		t.Errorf("role-not-allowed problem %+v", p)
	}
	want(t, api.do("PUT", base+"/departments/SECURITY", nil), http.StatusNoContent)
	p = api.do("PUT", base+"/roles/InventoryManager", nil).problem(t, http.StatusUnprocessableEntity, admin.KindRoleNotAllowed)
	if !slices.Equal(p.Departments, []string{"SECURITY"}) {
		t.Errorf("departments %v, want [SECURITY]", p.Departments)
	}
	want(t, api.do("PUT", base+"/departments/INVENTORY", nil), http.StatusNoContent)
	api.do("PUT", base+"/departments/INVENTORY", nil).problem(t, http.StatusConflict, admin.KindConflict)
	api.do("PUT", base+"/departments/NOWHERE", nil).problem(t, http.StatusNotFound, admin.KindNotFound)
	want(t, api.do("PUT", base+"/roles/InventoryManager", nil), http.StatusNoContent)
	api.do("PUT", base+"/roles/InventoryManager", nil).problem(t, http.StatusConflict, admin.KindConflict)
	api.do("PUT", base+"/roles/NoSuchRole", nil).problem(t, http.StatusNotFound, admin.KindNotFound)

	var depts admin.Items[admin.Department]
	want(t, api.do("GET", base+"/departments", nil), http.StatusOK).decode(t, &depts)
	if len(depts.Items) != 2 || depts.Items[0].Code != "INVENTORY" || !slices.Contains(depts.Items[0].AllowedRoles, "InventoryManager") {
		t.Errorf("departments %+v", depts)
	}
	var roles admin.Items[admin.Role]
	want(t, api.do("GET", base+"/roles", nil), http.StatusOK).decode(t, &roles)
	if len(roles.Items) != 1 || roles.Items[0].Name != "InventoryManager" || !slices.Equal(roles.Items[0].Permissions, []string{"inventory.read", "inventory.write"}) {
		t.Errorf("roles %+v", roles)
	}
	e := permissionsOf(t, api, dana.ID)
	if !slices.Equal(e.Roles, []string{"InventoryManager"}) || !slices.Equal(e.Permissions, []string{"inventory.read", "inventory.write"}) || !e.Active {
		t.Errorf("permissions %+v", e)
	}

	conf := webConfig(l.issuer)
	tok := userToken(t, l.issuer, "dana", "dana's long password")
	if _, c := payload(t, tok.AccessToken); !slices.Equal(strs(c["permissions"]), e.Permissions) || !slices.Equal(strs(c["roles"]), e.Roles) {
		t.Errorf("token carries %v %v, the API said %+v", c["roles"], c["permissions"], e)
	}

	// Removing INVENTORY would orphan InventoryManager: refused, then cascaded.
	p = api.do("DELETE", base+"/departments/INVENTORY", nil).problem(t, http.StatusConflict, admin.KindDependentRoles)
	if !slices.Equal(p.Roles, []string{"InventoryManager"}) {
		t.Errorf("dependent roles %v", p.Roles)
	}
	var un admin.Unassigned
	want(t, api.do("DELETE", base+"/departments/INVENTORY?cascade=true", nil), http.StatusOK).decode(t, &un)
	if !slices.Equal(un.Roles, []string{"InventoryManager"}) {
		t.Errorf("unassigned %v", un.Roles)
	}
	api.do("DELETE", base+"/departments/INVENTORY", nil).problem(t, http.StatusNotFound, admin.KindNotFound)
	want(t, api.do("PUT", base+"/departments/PLATFORM", nil), http.StatusNoContent)
	want(t, api.do("PUT", base+"/roles/AnalyticsViewer", nil), http.StatusNoContent)

	// The change shows in the next refreshed token.
	next, err := refresh(t, conf, tok)
	if err != nil {
		t.Fatal(err)
	}
	if _, c := payload(t, next.AccessToken); !slices.Equal(strs(c["roles"]), []string{"AnalyticsViewer"}) ||
		!slices.Equal(strs(c["permissions"]), []string{"analytics.report.view"}) {
		t.Errorf("refreshed token carries %v %v", c["roles"], c["permissions"])
	}
	want(t, api.do("DELETE", base+"/roles/AnalyticsViewer", nil), http.StatusNoContent)
	api.do("DELETE", base+"/roles/AnalyticsViewer", nil).problem(t, http.StatusNotFound, admin.KindNotFound)
	if e := permissionsOf(t, api, dana.ID); len(e.Roles) != 0 || len(e.Permissions) != 0 || e.Roles == nil {
		t.Errorf("after unassigning: %+v, want empty lists", e)
	}
}

// testAdminSessions: logout ends refresh; disable ends refresh and login.
func testAdminSessions(t *testing.T, l *local, api *adminClient) {
	erin := createUser(t, api, "erin", "erin's long password")
	conf := webConfig(l.issuer)
	tok1 := userToken(t, l.issuer, "erin", "erin's long password")
	tok2 := userToken(t, l.issuer, "erin", "erin's long password")

	var out admin.Logout
	want(t, api.do("POST", "/users/"+erin.ID+"/logout", nil), http.StatusOK).decode(t, &out)
	if out.RevokedSessions != 2 {
		t.Errorf("revoked %d sessions, want 2", out.RevokedSessions)
	}
	for _, tok := range []*oauth2.Token{tok1, tok2} {
		if _, err := refresh(t, conf, tok); !isInvalidGrant(err) {
			t.Errorf("refresh after logout: %v, want invalid_grant", err)
		}
	}
	api.do("POST", "/users/"+erin.ID+"/logout", []byte(`{}`)).problem(t, http.StatusBadRequest, admin.KindMalformed)

	tok := userToken(t, l.issuer, "erin", "erin's long password")
	var u admin.User
	want(t, api.do("PATCH", "/users/"+erin.ID, map[string]any{"active": false}), http.StatusOK).decode(t, &u)
	if u.Active {
		t.Error("still active")
	}
	if _, err := refresh(t, conf, tok); !isInvalidGrant(err) {
		t.Errorf("refresh of a disabled user: %v, want invalid_grant", err)
	}
	if _, err := conf.PasswordCredentialsToken(ctx(t), "erin", "erin's long password"); !isInvalidGrant(err) {
		t.Errorf("login of a disabled user: %v, want invalid_grant", err)
	}
	if e := permissionsOf(t, api, erin.ID); e.Active {
		t.Error("permissions say active")
	}
	want(t, api.do("PATCH", "/users/"+erin.ID, map[string]any{"active": true}), http.StatusOK)
	userToken(t, l.issuer, "erin", "erin's long password")
}

func testAdminClients(t *testing.T, l *local, api *adminClient) {
	var created admin.NewClientSecret
	r := want(t, api.do("POST", "/clients", map[string]any{
		"client_id": "reports-service", "name": "Reports", "grant_types": []string{"client_credentials"},
		"roles": []string{"AnalyticsViewer"},
	}), http.StatusCreated)
	r.decode(t, &created)
	if created.ClientSecret == "" || created.ClientID != "reports-service" || created.Public || !created.Active ||
		!slices.Equal(created.Roles, []string{"AnalyticsViewer"}) || r.header.Get("Location") != "/admin/v1/clients/reports-service" {
		t.Fatalf("created %+v", created)
	}
	token := func(secret string) (*oauth2.Token, error) {
		cc := clientcredentials.Config{ClientID: "reports-service", ClientSecret: secret, TokenURL: l.issuer + "/oauth2/token"}
		return cc.Token(ctx(t))
	}
	tok, err := token(created.ClientSecret)
	if err != nil {
		t.Fatal(err)
	}
	if _, c := payload(t, tok.AccessToken); c["type"] != "service" || !slices.Equal(strs(c["permissions"]), []string{"analytics.report.view"}) {
		t.Errorf("service token %v", c)
	}
	var got admin.Client
	want(t, api.do("GET", "/clients/reports-service", nil), http.StatusOK).decode(t, &got)
	if got.ClientID != "reports-service" || strings.Contains(string(r.body), "hash") {
		t.Errorf("GET = %+v", got)
	}
	api.do("POST", "/clients", map[string]any{"client_id": "reports-service", "name": "Again", "grant_types": []string{"client_credentials"}}).
		problem(t, http.StatusConflict, admin.KindConflict)
	p := api.do("POST", "/clients", map[string]any{"client_id": "bad id!", "name": "", "public": true, "grant_types": []string{"client_credentials", "implicit"}}).
		problem(t, http.StatusBadRequest, admin.KindValidation)
	if len(p.Errors) < 3 {
		t.Errorf("validation errors %+v, want client_id, name and grant_types", p.Errors)
	}

	// Rotation: the old secret fails at once, the new one works.
	var s admin.Secret
	want(t, api.do("POST", "/clients/reports-service/secret", nil), http.StatusOK).decode(t, &s)
	if s.ClientSecret == "" || s.ClientSecret == created.ClientSecret {
		t.Fatalf("rotated secret %q", s.ClientSecret)
	}
	if _, err := token(created.ClientSecret); err == nil {
		t.Error("the old secret still works after rotation")
	}
	if _, err := token(s.ClientSecret); err != nil {
		t.Errorf("the new secret: %v", err)
	}
	api.do("POST", "/clients/gaia-cli/secret", nil).problem(t, http.StatusConflict, admin.KindConflict)

	// Roles: a change shows in the next token.
	want(t, api.do("PUT", "/clients/reports-service/roles/InventoryViewer", nil), http.StatusNoContent)
	want(t, api.do("DELETE", "/clients/reports-service/roles/AnalyticsViewer", nil), http.StatusNoContent)
	tok, err = token(s.ClientSecret)
	if err != nil {
		t.Fatal(err)
	}
	if _, c := payload(t, tok.AccessToken); !slices.Equal(strs(c["permissions"]), []string{"inventory.read"}) {
		t.Errorf("after the role change the token carries %v", c["permissions"])
	}

	want(t, api.do("PATCH", "/clients/reports-service", map[string]any{"name": "Reports v2", "scopes": []string{"reports"}}), http.StatusOK).decode(t, &got)
	if got.Name != "Reports v2" || !slices.Equal(got.Scopes, []string{"reports"}) {
		t.Errorf("patched %+v", got)
	}
	want(t, api.do("PATCH", "/clients/reports-service", map[string]any{"active": false}), http.StatusOK)
	if _, err := token(s.ClientSecret); err == nil {
		t.Error("a disabled client got a token")
	}
	var list admin.Items[admin.Client]
	want(t, api.do("GET", "/clients", nil), http.StatusOK).decode(t, &list)
	var ids []string
	for _, c := range list.Items {
		ids = append(ids, c.ClientID)
	}
	if !slices.Equal(ids, []string{"gaia-cli", "gaia-spa", "gaia-web", "inventory-service", "reports-service"}) {
		t.Errorf("clients %v", ids)
	}
	want(t, api.do("DELETE", "/clients/reports-service", nil), http.StatusNoContent)
	api.do("GET", "/clients/reports-service", nil).problem(t, http.StatusNotFound, admin.KindNotFound)

	// Deleting a client ends the logins made through it, even when its
	// client_id is given to a new client.
	kioskBody := map[string]any{"client_id": "kiosk", "name": "Kiosk", "public": true, "grant_types": []string{"password", "refresh_token"}}
	var kc admin.NewClientSecret
	want(t, api.do("POST", "/clients", kioskBody), http.StatusCreated).decode(t, &kc)
	if kc.ClientSecret != "" || !kc.Public {
		t.Errorf("public client created as %+v", kc)
	}
	kiosk := &oauth2.Config{ClientID: "kiosk", Endpoint: oauth2.Endpoint{TokenURL: l.issuer + "/oauth2/token", AuthStyle: oauth2.AuthStyleInParams}}
	ktok, err := kiosk.PasswordCredentialsToken(ctx(t), "admin", adminPassword)
	if err != nil {
		t.Fatal(err)
	}
	want(t, api.do("DELETE", "/clients/kiosk", nil), http.StatusNoContent)
	want(t, api.do("POST", "/clients", kioskBody), http.StatusCreated)
	if _, err := refresh(t, kiosk, ktok); !isInvalidGrant(err) {
		t.Errorf("refresh through a deleted and recreated client: %v, want invalid_grant", err)
	}
}

func testAdminCatalog(t *testing.T, api *adminClient) {
	var roles admin.Items[admin.Role]
	want(t, api.do("GET", "/roles", nil), http.StatusOK).decode(t, &roles)
	var perms admin.Items[admin.Permission]
	want(t, api.do("GET", "/permissions", nil), http.StatusOK).decode(t, &perms)
	var depts admin.Items[admin.Department]
	want(t, api.do("GET", "/departments", nil), http.StatusOK).decode(t, &depts)
	if len(roles.Items) != 6 || len(perms.Items) != 11 || len(depts.Items) != 3 {
		t.Errorf("%d roles, %d permissions, %d departments; the example seed has 6, 11, 3", len(roles.Items), len(perms.Items), len(depts.Items))
	}
	for _, r := range roles.Items {
		if r.Name == "PlatformAdmin" && len(r.Permissions) != 8 {
			t.Errorf("PlatformAdmin has %v", r.Permissions)
		}
	}
}

// testAdminRequests: malformed bodies, media types, sizes, methods and
// paths get problems, never a 500.
func testAdminRequests(t *testing.T, api *adminClient) {
	cases := []struct {
		name, method, path string
		body               any
		contentType        string
		status             int
		kind               string
	}{
		{"unknown field", "POST", "/users", []byte(`{"username":"x1","admin":true}`), "", 400, admin.KindMalformed},
		{"not an object", "POST", "/users", []byte(`["x"]`), "", 400, admin.KindMalformed},
		{"wrong type", "POST", "/users", []byte(`{"username":5}`), "", 400, admin.KindMalformed},
		{"null member", "PATCH", "/users/00000000-0000-4000-8000-000000000000", []byte(`{"email":null}`), "", 400, admin.KindMalformed},
		{"trailing data", "POST", "/users", []byte(`{"username":"x2"} {}`), "", 400, admin.KindMalformed},
		{"not JSON", "POST", "/users", []byte(`username=x3`), "", 400, admin.KindMalformed},
		{"form content type", "POST", "/users", []byte(`{"username":"x4"}`), "application/x-www-form-urlencoded", 415, admin.KindMediaType},
		{"too large", "POST", "/users", []byte(`{"username":"` + strings.Repeat("x", admin.MaxBodySize) + `"}`), "", 413, admin.KindTooLarge},
		{"unknown path", "GET", "/nothing", nil, "", 404, admin.KindNotFound},
		{"wrong method", "PUT", "/users", []byte(`{}`), "", 405, admin.KindMethodNotAllowed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body io.Reader
			if c.body != nil {
				body = bytes.NewReader(c.body.([]byte))
			}
			req, err := http.NewRequestWithContext(t.Context(), c.method, api.base+c.path, body)
			if err != nil {
				t.Fatal(err)
			}
			ct := c.contentType
			if ct == "" {
				ct = "application/json"
			}
			req.Header.Set("Content-Type", ct)
			req.Header.Set("Authorization", "Bearer "+api.token)
			resp, err := api.http.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			r := reply{status: resp.StatusCode, header: resp.Header, body: b}
			r.problem(t, c.status, c.kind)
			if c.status == 405 && r.header.Get("Allow") != "GET, POST" {
				t.Errorf("Allow %q, want GET, POST", r.header.Get("Allow"))
			}
		})
	}
}

// testAdminConcurrentUpdates: concurrent changes of different fields of one
// user are all kept.
func testAdminConcurrentUpdates(t *testing.T, api *adminClient) {
	u := createUser(t, api, "frank", "")
	for i := range 5 {
		var wg sync.WaitGroup
		email := fmt.Sprintf("frank%d@example.com", i)
		active := i%2 == 1
		wg.Go(func() { want(t, api.do("PATCH", "/users/"+u.ID, map[string]any{"email": email}), http.StatusOK) })
		wg.Go(func() { want(t, api.do("PATCH", "/users/"+u.ID, map[string]any{"active": active}), http.StatusOK) })
		wg.Wait()
		var got admin.User
		want(t, api.do("GET", "/users/"+u.ID, nil), http.StatusOK).decode(t, &got)
		if got.Email != email || got.Active != active {
			t.Fatalf("round %d: %+v, want email %s and active %v", i, got, email, active)
		}
	}
}

// testAdminStaleToken: an admin who is logged out or disabled loses the
// admin API at once, though their access token has not expired.
func testAdminStaleToken(t *testing.T, l *local, api *adminClient) {
	ops := createUser(t, api, "ops", "ops's long password")
	want(t, api.do("PUT", "/users/"+ops.ID+"/departments/PLATFORM", nil), http.StatusNoContent)
	want(t, api.do("PUT", "/users/"+ops.ID+"/roles/PlatformAdmin", nil), http.StatusNoContent)
	opsAPI := api.as(userToken(t, l.issuer, "ops", "ops's long password").AccessToken)
	want(t, opsAPI.do("GET", "/users/"+ops.ID, nil), http.StatusOK)
	want(t, api.do("POST", "/users/"+ops.ID+"/logout", nil), http.StatusOK)
	opsAPI.do("GET", "/users/"+ops.ID, nil).problem(t, http.StatusUnauthorized, admin.KindUnauthorized)

	opsAPI = api.as(userToken(t, l.issuer, "ops", "ops's long password").AccessToken)
	want(t, opsAPI.do("GET", "/users/"+ops.ID, nil), http.StatusOK)
	want(t, api.do("PATCH", "/users/"+ops.ID, map[string]any{"active": false}), http.StatusOK)
	opsAPI.do("GET", "/users/"+ops.ID, nil).problem(t, http.StatusUnauthorized, admin.KindUnauthorized)
}

// testAdminAudit: every change above left an entry, refusals included, with
// the admin as actor; the log pages newest first and holds no secret.
func testAdminAudit(t *testing.T, l *local, api *adminClient, viewerID string) {
	var all []admin.AuditEvent
	cursor := ""
	for {
		var page admin.Page[admin.AuditEvent]
		want(t, api.do("GET", "/audit?limit=200"+cursor, nil), http.StatusOK).decode(t, &page)
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			break
		}
		cursor = "&cursor=" + page.NextCursor
	}
	seen := map[string]bool{}
	for i, e := range all {
		seen[e.Action+" "+e.Outcome] = true
		if i > 0 && !(e.ID < all[i-1].ID) {
			t.Fatalf("events not newest first at %d", i)
		}
		if strings.HasPrefix(e.Action, "user.") || strings.HasPrefix(e.Action, "client.") {
			if e.Actor.Type == "user" && e.Actor.Name != "admin" && e.Actor.Name != "ops" && e.Actor.Name != "viewer" {
				t.Errorf("event %+v has actor %+v", e, e.Actor)
			}
			if e.ClientIP == "" || e.ClientID != "gaia-web" {
				t.Errorf("event %s lacks client ip or id: %+v", e.Action, e)
			}
		}
		for _, secret := range []string{"long password", "newer password"} {
			b, _ := json.Marshal(e)
			if strings.Contains(string(b), secret) {
				t.Errorf("event %s holds a password: %s", e.Action, b)
			}
		}
	}
	for _, a := range []string{
		"user.create success", "user.create failure", "user.update success", "user.disable success", "user.enable success",
		"user.delete success", "user.password.set success", "user.logout success",
		"user.department.add success", "user.department.remove success", "user.department.remove failure",
		"user.role.assign success", "user.role.assign failure", "user.role.unassign success",
		"client.create success", "client.update success", "client.disable success", "client.delete success",
		"client.secret.rotate success", "client.role.assign success", "client.role.unassign success",
		"auth.password success", "auth.password failure", "auth.refresh success", "auth.refresh failure",
		"auth.client_credentials success", "auth.client_credentials failure",
	} {
		if !seen[a] {
			t.Errorf("no %q event", a)
		}
	}

	// Filters: the viewer's forbidden attempts, by actor and action prefix.
	var page admin.Page[admin.AuditEvent]
	want(t, api.do("GET", "/audit?actor="+viewerID+"&action=user.&outcome=failure", nil), http.StatusOK).decode(t, &page)
	if len(page.Items) == 0 {
		t.Fatal("no refused change by the viewer")
	}
	for _, e := range page.Items {
		if e.Actor.ID != viewerID || e.Outcome != "failure" || e.Details["reason"] != admin.KindForbidden || !strings.HasPrefix(e.Action, "user.") {
			t.Errorf("filtered event %+v", e)
		}
	}
	api.do("GET", "/audit?since=yesterday", nil).problem(t, http.StatusBadRequest, admin.KindValidation)
}
