package conformance

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gaia-platform/iam/rbac/admin"
	"github.com/gaia-platform/iam/rbac/admin/openapitest"
)

// TestProvisioning drives the admin API as a provisioning system does (a
// SCIM bridge, Terraform, a nightly sync): repeated PUTs, conditional
// updates with ETag and If-Match, and JSON merge patches, on every
// backend, each exchange checked against the OpenAPI document.
func TestProvisioning(t *testing.T) {
	forEachLocal(t, nil, func(t *testing.T, l *local) {
		v := openapitest.New(t, admin.Document)
		root := &adminClient{t: t, base: l.issuer + "/admin/v1", http: &http.Client{Transport: v.Transport(t, http.DefaultTransport)}}
		api := root.as(userToken(t, l.issuer, "admin", adminPassword).AccessToken)

		t.Run("idempotent PUT", func(t *testing.T) { testIdempotentPut(t, api) })
		t.Run("no storage internals", func(t *testing.T) { testNoStorageInternals(t, api) })
		t.Run("user ETag and If-Match", func(t *testing.T) { testUserPreconditions(t, api) })
		t.Run("client ETag and If-Match", func(t *testing.T) { testClientPreconditions(t, api) })
		t.Run("concurrent If-Match", func(t *testing.T) { testConcurrentIfMatch(t, api) })
		t.Run("merge patch", func(t *testing.T) { testMergePatch(t, api) })
	})
}

// send is do with the request's headers and raw body given.
func (c *adminClient) send(method, path string, header http.Header, body string) reply {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(c.t.Context(), method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
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

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// auditCount counts the audit events of action on target, by outcome.
func auditCount(t *testing.T, api *adminClient, target, action string) map[string]int {
	t.Helper()
	var page admin.Page[admin.AuditEvent]
	want(t, api.do("GET", "/audit?limit=200&target="+target+"&action="+action, nil), http.StatusOK).decode(t, &page)
	n := map[string]int{}
	for _, e := range page.Items {
		if e.Action == action {
			n[e.Outcome]++
		}
	}
	return n
}

// testIdempotentPut: a PUT of a membership already held is 204, like the
// first, and leaves no second audit entry; refusals stay refusals.
func testIdempotentPut(t *testing.T, api *adminClient) {
	u := createUser(t, api, "prov-idem", "")
	base := "/users/" + u.ID
	for range 3 {
		want(t, api.do("PUT", base+"/departments/INVENTORY", nil), http.StatusNoContent)
		want(t, api.do("PUT", base+"/roles/InventoryViewer", nil), http.StatusNoContent)
	}
	api.do("PUT", base+"/roles/PlatformAdmin", nil).problem(t, http.StatusUnprocessableEntity, admin.KindRoleNotAllowed)
	api.do("PUT", base+"/departments/NOWHERE", nil).problem(t, http.StatusNotFound, admin.KindNotFound)
	var roles admin.Items[admin.Role]
	want(t, api.do("GET", base+"/roles", nil), http.StatusOK).decode(t, &roles)
	if len(roles.Items) != 1 || roles.Items[0].Name != "InventoryViewer" {
		t.Errorf("roles after repeated PUTs: %+v", roles.Items)
	}
	for _, action := range []string{"user.department.add", "user.role.assign"} {
		if n := auditCount(t, api, u.ID, action); n["success"] != 1 || (action == "user.department.add" && n["failure"] != 1) {
			t.Errorf("%s audited %v, want one success (and for the unknown department one failure)", action, n)
		}
	}

	want(t, api.do("POST", "/clients", map[string]any{
		"client_id": "prov-idem-service", "name": "Idempotent", "grant_types": []string{"client_credentials"},
	}), http.StatusCreated)
	for range 3 {
		want(t, api.do("PUT", "/clients/prov-idem-service/roles/InventoryViewer", nil), http.StatusNoContent)
	}
	if n := auditCount(t, api, "prov-idem-service", "client.role.assign"); n["success"] != 1 || n["failure"] != 0 {
		t.Errorf("client.role.assign audited %v, want one success", n)
	}
	api.do("PUT", "/clients/no-such-client/roles/InventoryViewer", nil).problem(t, http.StatusNotFound, admin.KindNotFound)
}

// storageWords are what a driver's error would bring into a message.
var storageWords = regexp.MustCompile(`(?i)unique|constraint|sqlite|sqlstate|23505|duplicate key|users_|clients_|violat|\(2067\)`)

// testNoStorageInternals: conflicts are problems in the API's words, never
// the database's.
func testNoStorageInternals(t *testing.T, api *adminClient) {
	createUser(t, api, "prov-dup", "")
	for _, r := range []reply{
		api.do("POST", "/users", map[string]any{"username": "prov-dup"}),
		api.do("POST", "/users", map[string]any{"username": "PROV-DUP"}),
	} {
		r.problem(t, http.StatusConflict, admin.KindConflict)
		if storageWords.Match(r.body) {
			t.Errorf("a duplicate username shows storage internals: %s", r.body)
		}
	}
	newClient := map[string]any{"client_id": "prov-dup-service", "name": "Dup", "grant_types": []string{"client_credentials"}}
	want(t, api.do("POST", "/clients", newClient), http.StatusCreated)
	r := api.do("POST", "/clients", newClient)
	r.problem(t, http.StatusConflict, admin.KindConflict)
	if storageWords.Match(r.body) {
		t.Errorf("a duplicate client_id shows storage internals: %s", r.body)
	}
}

var strongETag = regexp.MustCompile(`^"[A-Za-z0-9_-]{16,}"$`)

// etagOf checks the reply's ETag is a strong validator and returns it.
func etagOf(t *testing.T, r reply) string {
	t.Helper()
	e := r.header.Get("ETag")
	if !strongETag.MatchString(e) {
		t.Fatalf("ETag %q, want a strong entity tag; status %d", e, r.status)
	}
	return e
}

func testUserPreconditions(t *testing.T, api *adminClient) {
	u := createUser(t, api, "prov-etag", "")
	path := "/users/" + u.ID
	r := want(t, api.do("GET", path, nil), http.StatusOK)
	e1 := etagOf(t, r)
	if got := etagOf(t, want(t, api.do("GET", path, nil), http.StatusOK)); got != e1 {
		t.Errorf("ETag changed with no change: %s then %s", e1, got)
	}
	if !strings.Contains(r.header.Get("Accept-Patch"), "application/merge-patch+json") {
		t.Errorf("Accept-Patch %q", r.header.Get("Accept-Patch"))
	}

	// If-None-Match: 304 while it matches, with the validator and no body.
	r = want(t, api.send("GET", path, hdr("If-None-Match", e1), ""), http.StatusNotModified)
	if len(r.body) != 0 || r.header.Get("ETag") != e1 {
		t.Errorf("304 with body %q and ETag %q", r.body, r.header.Get("ETag"))
	}
	want(t, api.send("GET", path, hdr("If-None-Match", `"other", `+e1), ""), http.StatusNotModified)
	want(t, api.send("GET", path, hdr("If-None-Match", "*"), ""), http.StatusNotModified)
	want(t, api.send("GET", path, hdr("If-None-Match", `"other"`), ""), http.StatusOK)

	// If-Match with the current tag: the change is made and the answer
	// carries the new tag, the one a GET then shows.
	jsonType := hdr("Content-Type", "application/json", "If-Match", e1)
	r = want(t, api.send("PATCH", path, jsonType, `{"email":"etag1@example.com"}`), http.StatusOK)
	e2 := etagOf(t, r)
	if e2 == e1 {
		t.Fatal("ETag unchanged by a change")
	}
	if got := etagOf(t, want(t, api.do("GET", path, nil), http.StatusOK)); got != e2 {
		t.Errorf("GET ETag %s, want the PATCH's %s", got, e2)
	}

	// A stale tag, a weak one (If-Match compares strongly) and a list
	// without the current one: 412, and nothing changed.
	for _, cond := range []string{e1, "W/" + e2, `"a", "b"`} {
		p := api.send("PATCH", path, hdr("Content-Type", "application/json", "If-Match", cond), `{"email":"lost@example.com"}`).
			problem(t, http.StatusPreconditionFailed, admin.KindPreconditionFailed)
		if strings.Contains(p.Detail, e2) {
			t.Errorf("the 412 quotes the current tag: %q", p.Detail)
		}
	}
	var got admin.User
	want(t, api.do("GET", path, nil), http.StatusOK).decode(t, &got)
	if got.Email != "etag1@example.com" {
		t.Errorf("email %q after refused changes", got.Email)
	}
	if n := auditCount(t, api, u.ID, "user.update"); n["success"] != 1 || n["failure"] != 3 {
		t.Errorf("user.update audited %v, want 1 success and 3 failures", n)
	}
	// "*" matches any current representation; a list holding the current
	// tag matches.
	want(t, api.send("PATCH", path, hdr("Content-Type", "application/json", "If-Match", "*"), `{"email":"etag2@example.com"}`), http.StatusOK)
	r = want(t, api.do("GET", path, nil), http.StatusOK)
	e3 := etagOf(t, r)
	want(t, api.send("PATCH", path, hdr("Content-Type", "application/json", "If-Match", `"x", `+e3), `{"active":false}`), http.StatusOK)
	api.send("PATCH", path, hdr("Content-Type", "application/json", "If-Match", "bogus"), `{"active":true}`).
		problem(t, http.StatusBadRequest, admin.KindMalformed)

	// A user that does not exist is 404, whatever the condition.
	missing := "/users/00000000-0000-4000-8000-000000000000"
	api.send("PATCH", missing, hdr("Content-Type", "application/json", "If-Match", "*"), `{"active":true}`).
		problem(t, http.StatusNotFound, admin.KindNotFound)
	api.send("DELETE", missing, hdr("If-Match", e3), "").problem(t, http.StatusNotFound, admin.KindNotFound)

	// DELETE honours If-Match too.
	api.send("DELETE", path, hdr("If-Match", e3), "").problem(t, http.StatusPreconditionFailed, admin.KindPreconditionFailed)
	want(t, api.do("GET", path, nil), http.StatusOK)
	cur := etagOf(t, want(t, api.do("GET", path, nil), http.StatusOK))
	want(t, api.send("DELETE", path, hdr("If-Match", cur), ""), http.StatusNoContent)
	api.do("GET", path, nil).problem(t, http.StatusNotFound, admin.KindNotFound)
}

func testClientPreconditions(t *testing.T, api *adminClient) {
	r := want(t, api.do("POST", "/clients", map[string]any{
		"client_id": "prov-etag-service", "name": "ETag", "grant_types": []string{"client_credentials"}, "scopes": []string{"a"},
	}), http.StatusCreated)
	created := etagOf(t, r)
	path := "/clients/prov-etag-service"
	e1 := etagOf(t, want(t, api.do("GET", path, nil), http.StatusOK))
	if e1 != created {
		t.Errorf("GET ETag %s, want the one of the 201, %s", e1, created)
	}
	want(t, api.send("GET", path, hdr("If-None-Match", e1), ""), http.StatusNotModified)

	// The roles are part of the client: assigning one changes the tag.
	want(t, api.do("PUT", path+"/roles/InventoryViewer", nil), http.StatusNoContent)
	e2 := etagOf(t, want(t, api.do("GET", path, nil), http.StatusOK))
	if e2 == e1 {
		t.Error("ETag unchanged by a role assignment")
	}
	api.send("PATCH", path, hdr("Content-Type", "application/json", "If-Match", e1), `{"name":"Lost"}`).
		problem(t, http.StatusPreconditionFailed, admin.KindPreconditionFailed)
	r = want(t, api.send("PATCH", path, hdr("Content-Type", "application/json", "If-Match", e2), `{"name":"Kept"}`), http.StatusOK)
	e3 := etagOf(t, r)
	var c admin.Client
	r.decode(t, &c)
	if c.Name != "Kept" || e3 == e2 {
		t.Errorf("patched %+v with ETag %s", c, e3)
	}
	api.send("DELETE", path, hdr("If-Match", e2), "").problem(t, http.StatusPreconditionFailed, admin.KindPreconditionFailed)
	want(t, api.send("DELETE", path, hdr("If-Match", e3), ""), http.StatusNoContent)
	api.send("PATCH", path, hdr("Content-Type", "application/json", "If-Match", "*"), `{"name":"Gone"}`).
		problem(t, http.StatusNotFound, admin.KindNotFound)
}

// testConcurrentIfMatch: of many updates made from one read, with its tag,
// exactly one wins; the others get 412 and change nothing (no lost update).
func testConcurrentIfMatch(t *testing.T, api *adminClient) {
	const n = 8
	u := createUser(t, api, "prov-race", "")
	want(t, api.do("POST", "/clients", map[string]any{
		"client_id": "prov-race-service", "name": "Race", "grant_types": []string{"client_credentials"},
	}), http.StatusCreated)
	for _, tc := range []struct{ path, member, format string }{
		{"/users/" + u.ID, "email", "race%d@example.com"},
		{"/clients/prov-race-service", "name", "Race %d"},
	} {
		e := etagOf(t, want(t, api.do("GET", tc.path, nil), http.StatusOK))
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			statuses []int
			winner   string
		)
		for i := range n {
			wg.Go(func() {
				value := fmt.Sprintf(tc.format, i)
				r := api.send("PATCH", tc.path, hdr("Content-Type", "application/json", "If-Match", e),
					fmt.Sprintf(`{%q:%q}`, tc.member, value))
				mu.Lock()
				defer mu.Unlock()
				statuses = append(statuses, r.status)
				if r.status == http.StatusOK {
					winner = value
				}
			})
		}
		wg.Wait()
		slices.Sort(statuses)
		wantStatuses := append([]int{http.StatusOK}, slices.Repeat([]int{http.StatusPreconditionFailed}, n-1)...)
		if !slices.Equal(statuses, wantStatuses) {
			t.Fatalf("%s: statuses %v, want one 200 and %d 412", tc.path, statuses, n-1)
		}
		r := want(t, api.do("GET", tc.path, nil), http.StatusOK)
		if !bytes.Contains(r.body, []byte(fmt.Sprintf("%q:%q", tc.member, winner))) {
			t.Errorf("%s: stored %s, want the winner's %s %q", tc.path, r.body, tc.member, winner)
		}
	}
}

// testMergePatch: RFC 7396 bodies, where null removes what may be removed
// and is refused, naming the member, where nothing may be.
func testMergePatch(t *testing.T, api *adminClient) {
	merge := hdr("Content-Type", "application/merge-patch+json")
	u := createUser(t, api, "prov-merge", "")
	path := "/users/" + u.ID
	var got admin.User
	r := want(t, api.send("PATCH", path, merge, `{"email":null}`), http.StatusOK)
	r.decode(t, &got)
	if got.Email != "" || !got.Active {
		t.Errorf("after removing the email: %+v", got)
	}
	etagOf(t, r)
	want(t, api.send("PATCH", path, merge, `{"email":"merged@example.com","active":false}`), http.StatusOK).decode(t, &got)
	if got.Email != "merged@example.com" || got.Active {
		t.Errorf("after a merge patch: %+v", got)
	}
	p := api.send("PATCH", path, merge, `{"active":null}`).problem(t, http.StatusBadRequest, admin.KindValidation)
	if len(p.Errors) != 1 || p.Errors[0].Field != "active" {
		t.Errorf("errors %+v, want one for active", p.Errors)
	}
	api.send("PATCH", path, merge, `["email"]`).problem(t, http.StatusBadRequest, admin.KindMalformed)
	api.send("PATCH", path, merge, `{"username":"x"}`).problem(t, http.StatusBadRequest, admin.KindMalformed)
	// application/json keeps its rule: a member is given or left out.
	api.send("PATCH", path, hdr("Content-Type", "application/json"), `{"email":null}`).problem(t, http.StatusBadRequest, admin.KindMalformed)
	r = api.send("PATCH", path, hdr("Content-Type", "text/plain"), `email=x`)
	r.problem(t, http.StatusUnsupportedMediaType, admin.KindMediaType)
	if ap := r.header.Get("Accept-Patch"); !strings.Contains(ap, "application/merge-patch+json") || !strings.Contains(ap, "application/json") {
		t.Errorf("415 Accept-Patch %q", ap)
	}

	want(t, api.do("POST", "/clients", map[string]any{
		"client_id": "prov-merge-service", "name": "Merge", "grant_types": []string{"client_credentials"},
		"scopes": []string{"a", "b"}, "audiences": []string{"inventory"},
	}), http.StatusCreated)
	cpath := "/clients/prov-merge-service"
	var c admin.Client
	r = want(t, api.send("PATCH", cpath, merge, `{"scopes":null,"audiences":null,"name":"Merged"}`), http.StatusOK)
	r.decode(t, &c)
	if len(c.Scopes) != 0 || len(c.Audiences) != 0 || c.Name != "Merged" {
		t.Errorf("after a merge patch: %+v", c)
	}
	if !strings.Contains(r.header.Get("Accept-Patch"), "application/merge-patch+json") {
		t.Errorf("Accept-Patch %q", r.header.Get("Accept-Patch"))
	}
	p = api.send("PATCH", cpath, merge, `{"name":null,"active":null}`).problem(t, http.StatusBadRequest, admin.KindValidation)
	var fields []string
	for _, f := range p.Errors {
		fields = append(fields, f.Field)
	}
	slices.Sort(fields)
	if !slices.Equal(fields, []string{"active", "name"}) {
		t.Errorf("errors %+v, want active and name", p.Errors)
	}
}
