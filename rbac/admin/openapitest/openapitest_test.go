package openapitest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

// shipped is the admin API's document, as rbac/admin embeds it.
func shipped(t testing.TB) []byte {
	t.Helper()
	doc, err := os.ReadFile("../openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// recorder is a testing.TB that keeps what Errorf reports instead of
// failing the test; every other method is the real test's.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string // guarded by mu
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recorder) reported() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.errs)
}

func TestShippedDocumentLoads(t *testing.T) {
	if _, err := load(shipped(t)); err != nil {
		t.Fatalf("load(openapi.json) = %v", err)
	}
	New(t, shipped(t)) // and through the public entry point
}

// TestDocumentMatchesContract pins every endpoint of the contract (issue 5)
// and the permission it requires.
func TestDocumentMatchesContract(t *testing.T) {
	want := map[string]string{
		"GET /openapi.json":                        "",
		"POST /users":                              "iam.user.create",
		"GET /users":                               "iam.user.read",
		"GET /users/{id}":                          "iam.user.read",
		"PATCH /users/{id}":                        "iam.user.update",
		"PUT /users/{id}/password":                 "iam.user.update",
		"DELETE /users/{id}":                       "iam.user.update",
		"POST /users/{id}/logout":                  "iam.session.revoke",
		"GET /users/{id}/departments":              "iam.user.read",
		"PUT /users/{id}/departments/{code}":       "iam.role.assign",
		"DELETE /users/{id}/departments/{code}":    "iam.role.assign",
		"GET /users/{id}/roles":                    "iam.user.read",
		"PUT /users/{id}/roles/{name}":             "iam.role.assign",
		"DELETE /users/{id}/roles/{name}":          "iam.role.assign",
		"GET /users/{id}/permissions":              "iam.user.read",
		"POST /clients":                            "iam.client.manage",
		"GET /clients":                             "iam.client.manage",
		"GET /clients/{client_id}":                 "iam.client.manage",
		"PATCH /clients/{client_id}":               "iam.client.manage",
		"POST /clients/{client_id}/secret":         "iam.client.manage",
		"DELETE /clients/{client_id}":              "iam.client.manage",
		"PUT /clients/{client_id}/roles/{name}":    "iam.client.manage",
		"DELETE /clients/{client_id}/roles/{name}": "iam.client.manage",
		"GET /roles":                               "iam.user.read",
		"GET /permissions":                         "iam.user.read",
		"GET /departments":                         "iam.user.read",
		"GET /audit":                               "iam.audit.read",
		"POST /users/{id}/unlock":                  "iam.security.manage",
		"GET /blocks":                              "iam.security.manage",
		"POST /blocks":                             "iam.security.manage",
		"DELETE /blocks/{id}":                      "iam.security.manage",
	}
	v := New(t, shipped(t))
	got := map[string]string{}
	for _, op := range v.Operations() {
		got[op.String()] = op.Permission
	}
	for key, perm := range want {
		if p, ok := got[key]; !ok {
			t.Errorf("%s is missing from the document", key)
		} else if p != perm {
			t.Errorf("%s: %s = %q, want %q", key, PermissionExtension, p, perm)
		}
	}
	for key := range got {
		if _, ok := want[key]; !ok {
			t.Errorf("%s is in the document but not in the contract", key)
		}
	}
}

func TestEveryOperationIsDescribed(t *testing.T) {
	permission := regexp.MustCompile(`^iam\.[a-z]+\.[a-z]+$`)
	ids := map[string]string{}
	for _, op := range New(t, shipped(t)).Operations() {
		if op.ID == "" {
			t.Errorf("%s has no operationId", op)
		} else if other, dup := ids[op.ID]; dup {
			t.Errorf("%s and %s share the operationId %q", op, other, op.ID)
		}
		ids[op.ID] = op.String()
		if op.Summary == "" {
			t.Errorf("%s has no summary", op)
		}
		if op.Path == "/openapi.json" {
			if !op.Public || op.Permission != "" {
				t.Errorf("%s: Public = %t, Permission = %q; want a public operation with no permission", op, op.Public, op.Permission)
			}
			continue
		}
		if op.Public {
			t.Errorf("%s needs no token; only /openapi.json may", op)
		}
		if !permission.MatchString(op.Permission) {
			t.Errorf("%s: %s = %q, want a permission like iam.user.read", op, PermissionExtension, op.Permission)
		}
		if !strings.Contains(op.Desc, "`"+op.Permission+"`") {
			t.Errorf("%s: the description does not name the permission %s", op, op.Permission)
		}
		for _, code := range []string{"400", "401", "403", "500"} {
			if !slices.Contains(op.Statuses, code) {
				t.Errorf("%s does not declare %s (it declares %v)", op, code, op.Statuses)
			}
		}
	}
}

const (
	userID = "0b7e4f3c-9d1a-4c2e-8f6b-1a2b3c4d5e6f"
	// user is a User as the contract defines it.
	user = `{"id":"` + userID + `","username":"alice","email":"","active":true,"has_password":true,` +
		`"created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05.123456Z"}`
	client = `{"client_id":"web","name":"Web","public":false,"active":true,"grant_types":["password","refresh_token"],` +
		`"scopes":["openid"],"audiences":["inventory"],"roles":[],"created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z"}`
	forbidden = `{"type":"urn:gaia-iam:problem:forbidden","title":"Forbidden","status":403,` +
		`"detail":"the token lacks iam.user.read","required_permission":"iam.user.read"}`
	etag        = `"3q2-7w_uLCo8qN5bZcVkBw"`
	jsonType    = "application/json"
	problemType = "application/problem+json"
	token       = "Bearer eyJ.e30.sig"
)

// exchange is one synthetic request and the answer to it.
type exchange struct {
	method, target, reqType, reqBody string
	noToken                          bool
	status                           int
	header                           http.Header // of the response
	respType, respBody               string
}

func (e exchange) build() (*http.Request, *http.Response) {
	var body io.Reader
	if e.reqBody != "" {
		body = strings.NewReader(e.reqBody)
	}
	req := httptest.NewRequest(e.method, e.target, body)
	if e.reqType != "" {
		req.Header.Set("Content-Type", e.reqType)
	}
	if !e.noToken {
		req.Header.Set("Authorization", token)
	}
	rec := httptest.NewRecorder()
	for k, vs := range e.header {
		rec.Header()[k] = vs
	}
	if e.respType != "" {
		rec.Header().Set("Content-Type", e.respType)
	}
	rec.WriteHeader(e.status)
	rec.WriteString(e.respBody)
	return req, rec.Result()
}

// tagged are the headers of a user or client as GET and PATCH answer it.
func tagged() http.Header {
	return http.Header{"Etag": {etag}, "Accept-Patch": {"application/json, application/merge-patch+json"}}
}

func TestCheck(t *testing.T) {
	v := New(t, shipped(t))
	location := http.Header{"Location": {"/admin/v1/users/" + userID}, "Etag": {etag}}
	tests := []struct {
		name string
		ex   exchange
		want []string // substrings of the reports, in order; none for a conforming exchange
	}{
		{
			name: "conforming user",
			ex:   exchange{method: "GET", target: "/admin/v1/users/" + userID, status: 200, header: tagged(), respType: jsonType, respBody: user},
		},
		{
			name: "conforming content type with parameters",
			ex:   exchange{method: "GET", target: "/admin/v1/users/" + userID, status: 200, header: tagged(), respType: "application/json; charset=utf-8", respBody: user},
		},
		{
			name: "extra property on user",
			ex: exchange{method: "GET", target: "/admin/v1/users/" + userID, status: 200, header: tagged(), respType: jsonType,
				respBody: strings.Replace(user, `"active"`, `"password_hash":"x","active"`, 1)},
			want: []string{"GET /admin/v1/users/" + userID + " answered 200", "response does not match", "password_hash"},
		},
		{
			name: "missing required member",
			ex: exchange{method: "GET", target: "/admin/v1/users/" + userID, status: 200, header: tagged(), respType: jsonType,
				respBody: strings.Replace(user, `"has_password":true,`, "", 1)},
			want: []string{"response does not match", "has_password"},
		},
		{
			name: "null where an array is due",
			ex: exchange{method: "GET", target: "/admin/v1/clients/web", status: 200, header: tagged(), respType: jsonType,
				respBody: strings.Replace(client, `"roles":[]`, `"roles":null`, 1)},
			want: []string{"response does not match", "roles"},
		},
		{
			name: "time not in UTC",
			ex: exchange{method: "GET", target: "/admin/v1/users/" + userID, status: 200, header: tagged(), respType: jsonType,
				respBody: strings.Replace(user, `"2026-01-02T03:04:05Z"`, `"2026-01-02T04:04:05+01:00"`, 1)},
			want: []string{"response does not match", "created_at"},
		},
		{
			name: "undeclared status",
			ex:   exchange{method: "GET", target: "/admin/v1/users/" + userID, status: 201, respType: jsonType, respBody: user},
			want: []string{"answered 201", "201"},
		},
		{
			name: "wrong content type",
			ex:   exchange{method: "GET", target: "/admin/v1/users/" + userID, status: 200, header: tagged(), respType: "text/plain", respBody: user},
			want: []string{"response does not match", "text/plain"},
		},
		{
			name: "body on a 204",
			ex:   exchange{method: "DELETE", target: "/admin/v1/users/" + userID, status: 204, respType: jsonType, respBody: "{}"},
			want: []string{"declares no content", "DELETE /users/{id} 204"},
		},
		{
			name: "conforming 204",
			ex:   exchange{method: "DELETE", target: "/admin/v1/users/" + userID, status: 204},
		},
		{
			name: "conforming create",
			ex: exchange{method: "POST", target: "/admin/v1/users", reqType: jsonType, reqBody: `{"username":"alice","password":"correct horse"}`,
				status: 201, header: location, respType: jsonType, respBody: user},
		},
		{
			name: "user without its ETag",
			ex:   exchange{method: "GET", target: "/admin/v1/users/" + userID, status: 200, respType: jsonType, respBody: user},
			want: []string{"response does not match", "ETag"},
		},
		{
			name: "conforming 304",
			ex:   exchange{method: "GET", target: "/admin/v1/users/" + userID, status: 304, header: http.Header{"Etag": {etag}}},
		},
		{
			name: "conforming merge patch",
			ex: exchange{method: "PATCH", target: "/admin/v1/users/" + userID, reqType: "application/merge-patch+json", reqBody: `{"email":null}`,
				status: 200, header: tagged(), respType: jsonType, respBody: user},
		},
		{
			name: "null in a JSON body accepted",
			ex: exchange{method: "PATCH", target: "/admin/v1/users/" + userID, reqType: jsonType, reqBody: `{"email":null}`,
				status: 200, header: tagged(), respType: jsonType, respBody: user},
			want: []string{"request does not match", "server accepted it"},
		},
		{
			name: "conforming 412",
			ex: exchange{method: "DELETE", target: "/admin/v1/clients/web", status: 412, respType: problemType,
				respBody: `{"type":"urn:gaia-iam:problem:precondition-failed","title":"Precondition failed","status":412,"detail":"changed"}`},
		},
		{
			name: "415 of a PATCH without Accept-Patch",
			ex: exchange{method: "PATCH", target: "/admin/v1/users/" + userID, reqType: "text/plain", reqBody: `x`, status: 415, respType: problemType,
				respBody: `{"type":"urn:gaia-iam:problem:unsupported-media-type","title":"Unsupported media type","status":415,"detail":"json"}`},
			want: []string{"response does not match", "Accept-Patch"},
		},
		{
			name: "create without Location",
			ex: exchange{method: "POST", target: "/admin/v1/users", reqType: jsonType, reqBody: `{"username":"alice"}`,
				status: 201, header: http.Header{"Etag": {etag}}, respType: jsonType, respBody: user},
			want: []string{"response does not match", "Location"},
		},
		{
			name: "unknown request member accepted",
			ex: exchange{method: "POST", target: "/admin/v1/users", reqType: jsonType, reqBody: `{"username":"alice","admin":true}`,
				status: 201, header: location, respType: jsonType, respBody: user},
			want: []string{"request does not match", "server accepted it", "admin"},
		},
		{
			name: "unknown request member refused",
			ex: exchange{method: "POST", target: "/admin/v1/users", reqType: jsonType, reqBody: `{"username":"alice","admin":true}`,
				status: 400, respType: problemType,
				respBody: `{"type":"urn:gaia-iam:problem:malformed-request","title":"Malformed request","status":400,"detail":"unknown field \"admin\""}`},
		},
		{
			name: "validation problem without errors",
			ex: exchange{method: "POST", target: "/admin/v1/users", reqType: jsonType, reqBody: `{"username":""}`,
				status: 400, respType: problemType,
				respBody: `{"type":"urn:gaia-iam:problem:validation","title":"Invalid request","status":400,"detail":"1 field is invalid"}`},
			want: []string{"response does not match"},
		},
		{
			name: "problem with a member its kind does not carry",
			ex: exchange{method: "GET", target: "/admin/v1/users/" + userID, status: 404, respType: problemType,
				respBody: `{"type":"urn:gaia-iam:problem:not-found","title":"Not found","status":404,"detail":"user does not exist","role":"Admin"}`},
			want: []string{"response does not match"},
		},
		{
			name: "query parameter out of bounds accepted",
			ex: exchange{method: "GET", target: "/admin/v1/users?limit=500", status: 200, respType: jsonType,
				respBody: `{"items":[` + user + `]}`},
			want: []string{"request does not match", "limit"},
		},
		{
			name: "conforming page",
			ex: exchange{method: "GET", target: "/admin/v1/users?limit=1&active=true", status: 200, respType: jsonType,
				respBody: `{"items":[` + user + `],"next_cursor":"YWxpY2U"}`},
		},
		{
			name: "no token, 401",
			ex: exchange{method: "GET", target: "/admin/v1/users", noToken: true, status: 401, respType: problemType,
				header:   http.Header{"Www-Authenticate": {`Bearer realm="gaia-iam-admin"`}},
				respBody: `{"type":"urn:gaia-iam:problem:unauthorized","title":"Unauthorized","status":401,"detail":"no token"}`},
		},
		{
			name: "no token, 200",
			ex: exchange{method: "GET", target: "/admin/v1/users", noToken: true, status: 200, respType: jsonType,
				respBody: `{"items":[]}`},
			want: []string{"request does not match", "server accepted it"},
		},
		{
			name: "conforming 403",
			ex: exchange{method: "GET", target: "/admin/v1/users/" + userID, status: 403, respType: problemType,
				header: http.Header{"Www-Authenticate": {`Bearer realm="gaia-iam-admin", error="insufficient_scope"`}}, respBody: forbidden},
		},
		{
			name: "403 without WWW-Authenticate",
			ex:   exchange{method: "GET", target: "/admin/v1/users/" + userID, status: 403, respType: problemType, respBody: forbidden},
			want: []string{"response does not match", "WWW-Authenticate"},
		},
		{
			name: "403 with the wrong challenge",
			ex: exchange{method: "GET", target: "/admin/v1/users/" + userID, status: 403, respType: problemType,
				header: http.Header{"Www-Authenticate": {`Bearer error="invalid_token"`}}, respBody: forbidden},
			want: []string{"response does not match", `does not match pattern '^Bearer realm="gaia-iam-admin".*error="insufficient_scope"'`},
		},
		{
			name: "403 naming another permission",
			ex: exchange{method: "DELETE", target: "/admin/v1/users/" + userID, status: 403, respType: problemType,
				header: http.Header{"Www-Authenticate": {`Bearer realm="gaia-iam-admin", error="insufficient_scope"`}}, respBody: forbidden},
			want: []string{`required_permission is "iam.user.read", want "iam.user.update"`},
		},
		{
			name: "confidential client without its secret",
			ex: exchange{method: "POST", target: "/admin/v1/clients", reqType: jsonType,
				reqBody: `{"client_id":"web","name":"Web","grant_types":["password","refresh_token"]}`,
				status:  201, header: http.Header{"Location": {"/admin/v1/clients/web"}, "Etag": {etag}}, respType: jsonType, respBody: client},
			want: []string{"response does not match", "client_secret"},
		},
		{
			name: "conforming confidential client",
			ex: exchange{method: "POST", target: "/admin/v1/clients", reqType: jsonType,
				reqBody: `{"client_id":"web","name":"Web","grant_types":["password","refresh_token"]}`,
				status:  201, header: http.Header{"Location": {"/admin/v1/clients/web"}, "Etag": {etag}}, respType: jsonType,
				respBody: strings.Replace(client, `"roles"`, `"client_secret":"`+strings.Repeat("s", 43)+`","roles"`, 1)},
		},
		{
			name: "conforming audit page",
			ex: exchange{method: "GET", target: "/admin/v1/audit?action=user.&since=2026-01-01T00:00:00Z", status: 200, respType: jsonType,
				respBody: `{"items":[{"id":"` + userID + `","time":"2026-01-02T03:04:05Z","actor":{"type":"user","id":"` + userID + `","name":"alice"},` +
					`"action":"user.role.assign","target":{"type":"user","id":"` + userID + `"},"outcome":"failure","client_ip":"127.0.0.1",` +
					`"client_id":"web","details":{"reason":"forbidden"}}]}`},
		},
		{
			name: "audit event with an empty member not omitted",
			ex: exchange{method: "GET", target: "/admin/v1/audit", status: 200, respType: jsonType,
				respBody: `{"items":[{"id":"` + userID + `","time":"2026-01-02T03:04:05Z","actor":{"type":"system","id":"","name":"gaia-iam"},` +
					`"action":"key.rotate","outcome":"success","client_id":""}]}`},
			want: []string{"response does not match", "client_id"},
		},
		{
			name: "openapi.json needs no token",
			ex: exchange{method: "GET", target: "/admin/v1/openapi.json", noToken: true, status: 200, respType: jsonType,
				respBody: `{"openapi":"3.1.0","info":{"title":"t","version":"1"},"paths":{}}`},
		},
		{
			name: "unknown path, 404",
			ex: exchange{method: "GET", target: "/admin/v1/nope", status: 404, respType: problemType,
				respBody: `{"type":"urn:gaia-iam:problem:not-found","title":"Not found","status":404,"detail":"no such path"}`},
		},
		{
			name: "unknown method, 405",
			ex: exchange{method: "PUT", target: "/admin/v1/users", status: 405, respType: problemType,
				header:   http.Header{"Allow": {"GET, POST"}},
				respBody: `{"type":"urn:gaia-iam:problem:method-not-allowed","title":"Method not allowed","status":405,"detail":"PUT is not allowed"}`},
		},
		{
			name: "unknown method, 405 without Allow",
			ex: exchange{method: "PUT", target: "/admin/v1/users", status: 405, respType: problemType,
				respBody: `{"type":"urn:gaia-iam:problem:method-not-allowed","title":"Method not allowed","status":405,"detail":"PUT is not allowed"}`},
			want: []string{"Allow"},
		},
		{
			name: "unknown path answered 200",
			ex:   exchange{method: "GET", target: "/admin/v1/nope", status: 200, respType: jsonType, respBody: `{}`},
			want: []string{"GET /admin/v1/nope answered 200", "no operation in the document matches"},
		},
		{
			name: "handler tested bare, without the base path",
			ex:   exchange{method: "GET", target: "/users/" + userID, status: 200, header: tagged(), respType: jsonType, respBody: user},
		},
		{
			name: "handler tested bare, drifted",
			ex:   exchange{method: "GET", target: "/users/" + userID, status: 200, header: tagged(), respType: jsonType, respBody: `{}`},
			want: []string{"GET /users/" + userID + " answered 200", "response does not match", "(getUser, GET /users/{id})"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, resp := tt.ex.build()
			rec := &recorder{TB: t}
			v.Check(rec, req, nil, resp, nil)
			got := strings.Join(rec.reported(), "\n")
			if len(tt.want) == 0 {
				if got != "" {
					t.Errorf("Check reported, want nothing:\n%s", got)
				}
				return
			}
			rest := got
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Errorf("Check reported:\n%s\nwant it to say %q (after the earlier ones)", got, w)
					return
				}
				rest = rest[i+len(w):]
			}
		})
	}
}

func TestCheckRestoresBodies(t *testing.T) {
	v := New(t, shipped(t))
	reqBody := `{"username":"alice"}`
	req, resp := exchange{method: "POST", target: "/admin/v1/users", reqType: jsonType, reqBody: reqBody,
		status: 201, header: http.Header{"Location": {"/admin/v1/users/" + userID}, "Etag": {etag}}, respType: jsonType, respBody: user}.build()
	v.Check(t, req, nil, resp, nil)
	for name, r := range map[string]struct {
		body io.Reader
		want string
	}{"request": {req.Body, reqBody}, "response": {resp.Body, user}} {
		got, err := io.ReadAll(r.body)
		if err != nil || string(got) != r.want {
			t.Errorf("%s body after Check = %q, %v; want %q", name, got, err, r.want)
		}
	}
}

func TestCoverage(t *testing.T) {
	v := New(t, shipped(t))
	all := v.Uncovered()
	if len(all) != len(v.Operations()) {
		t.Fatalf("Uncovered() before any Check = %d operations, want all %d", len(all), len(v.Operations()))
	}
	for _, ex := range []exchange{
		{method: "GET", target: "/admin/v1/users/" + userID, status: 200, header: tagged(), respType: jsonType, respBody: user},
		{method: "GET", target: "/admin/v1/users/" + userID, status: 403, respType: problemType,
			header: http.Header{"Www-Authenticate": {`Bearer realm="gaia-iam-admin", error="insufficient_scope"`}}, respBody: forbidden},
		{method: "DELETE", target: "/admin/v1/users/" + userID, status: 204},
	} {
		req, resp := ex.build()
		v.Check(t, req, nil, resp, nil)
	}
	if got, want := v.Covered(), []string{"DELETE /users/{id} 204", "GET /users/{id} 200", "GET /users/{id} 403"}; !slices.Equal(got, want) {
		t.Errorf("Covered() = %q, want %q", got, want)
	}
	uncovered := v.Uncovered()
	if len(uncovered) != len(all)-2 || slices.Contains(uncovered, "GET /users/{id}") || !slices.Contains(uncovered, "PATCH /users/{id}") {
		t.Errorf("Uncovered() = %q, want every operation but GET and DELETE /users/{id}", uncovered)
	}
	responses := v.UncoveredResponses()
	for _, r := range []string{"GET /users/{id} 200", "GET /users/{id} 403", "DELETE /users/{id} 204"} {
		if slices.Contains(responses, r) {
			t.Errorf("UncoveredResponses() lists %q, which Check saw", r)
		}
	}
	for _, r := range []string{"GET /users/{id} 404", "DELETE /users/{id} 401", "POST /users 201"} {
		if !slices.Contains(responses, r) {
			t.Errorf("UncoveredResponses() does not list %q", r)
		}
	}
}

func TestTransport(t *testing.T) {
	v := New(t, shipped(t))
	var gotBody string // what the server read; guarded by the exchange order
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		gotBody = string(b)
		w.Header().Set("Content-Type", jsonType)
		w.Header().Set("ETag", etag)
		w.Header().Set("Accept-Patch", "application/json, application/merge-patch+json")
		switch r.URL.Path {
		case "/admin/v1/users":
			w.Header().Set("Location", "/admin/v1/users/"+userID)
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, user)
		default: // drifted: a member the document does not have
			io.WriteString(w, strings.Replace(user, `"active"`, `"role":"Admin","active"`, 1))
		}
	}))
	defer srv.Close()
	rec := &recorder{TB: t}
	c := &http.Client{Transport: v.Transport(rec, srv.Client().Transport)}

	for _, tt := range []struct {
		method, path, body string
		reported           bool
	}{
		{"POST", "/admin/v1/users", `{"username":"alice"}`, false},
		{"GET", "/admin/v1/users/" + userID, "", true},
	} {
		before := len(rec.reported())
		req, _ := http.NewRequest(tt.method, srv.URL+tt.path, bytes.NewReader([]byte(tt.body)))
		req.Header.Set("Authorization", token)
		if tt.body != "" {
			req.Header.Set("Content-Type", jsonType)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", tt.method, tt.path, err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || len(got) == 0 {
			t.Errorf("%s %s: reading the body after the transport = %q, %v", tt.method, tt.path, got, err)
		}
		if gotBody != tt.body {
			t.Errorf("%s %s: the server read %q, want %q", tt.method, tt.path, gotBody, tt.body)
		}
		if reported := len(rec.reported()) > before; reported != tt.reported {
			t.Errorf("%s %s: reported = %t, want %t; reports: %q", tt.method, tt.path, reported, tt.reported, rec.reported())
		}
	}
	if covered := v.Covered(); !slices.Equal(covered, []string{"GET /users/{id} 200", "POST /users 201"}) {
		t.Errorf("Covered() = %q after the transport's exchanges", covered)
	}
}

// TestCheckConcurrently runs Checks from many goroutines, for the race
// detector.
func TestCheckConcurrently(t *testing.T) {
	v := New(t, shipped(t))
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 5 {
				ex := exchange{method: "GET", target: "/admin/v1/users/" + userID, status: 200, header: tagged(), respType: jsonType, respBody: user}
				if i%2 == 1 {
					ex.respBody = strings.Replace(user, `"email":""`, `"email":1`, 1)
				}
				req, resp := ex.build()
				rec := &recorder{TB: t}
				v.Check(rec, req, nil, resp, nil)
				if got := len(rec.reported()) > 0; got != (i%2 == 1) {
					t.Errorf("goroutine %d: reported = %t: %q", i, got, rec.reported())
				}
			}
		})
	}
	wg.Wait()
	if got := v.Covered(); !slices.Equal(got, []string{"GET /users/{id} 200"}) {
		t.Errorf("Covered() = %q", got)
	}
}

func TestLoadRejectsBadDocuments(t *testing.T) {
	doc := string(shipped(t))
	tests := []struct {
		name, old, new, want string
	}{
		{"OpenAPI 3.0", `"openapi": "3.1.0"`, `"openapi": "3.0.3"`, "not an OpenAPI 3.1 document"},
		{"dangling reference", `"$ref": "#/components/schemas/User"`, `"$ref": "#/components/schemas/Usr"`, "Usr"},
		{"unknown type", `"type": "boolean"`, `"type": "bool"`, "GET /users parameter active"},
		{"response without description", `"description": "The user."`, `"summary": "The user."`, "OpenAPI 3.1 schema"},
		{"bad pattern", `"pattern": "^[A-Z][A-Z0-9_]{0,63}$"`, `"pattern": "^[A-Z"`, "DepartmentCode"},
		{"not JSON", `"openapi": "3.1.0",`, `"openapi": "3.1.0",,`, "parse document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(doc, tt.old) {
				t.Fatalf("the shipped document has no %s", tt.old)
			}
			_, err := load([]byte(strings.Replace(doc, tt.old, tt.new, 1)))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("load() = %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}
