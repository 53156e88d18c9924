package conformance

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gaia-platform/iam/rbac/admin"
	"github.com/gaia-platform/iam/rbac/admin/openapitest"
)

// marker starts every hostile value these tests send, so that a response
// quoting what was sent is easy to spot.
const marker = "zq9"

// hostileSegments are path segments, as written in the URL, that decode to
// text no store can hold: invalid UTF-8 (a lone byte, an overlong '.') or a
// NUL. The lower-case escape makes Go keep a RawPath, which the router
// matches on.
var hostileSegments = []string{marker + "%FF", marker + "%C0%AE", marker + "%00x", marker + "%c0%ae"}

// docOperation is what these tests read of an operation in the OpenAPI
// document beyond what openapitest gives: its query parameters and whether
// it takes a body.
type docOperation struct {
	query []string
	body  bool
}

// documentOperations reads the query parameters and request bodies of every
// operation from the OpenAPI document, keyed "METHOD /path".
func documentOperations(t *testing.T) map[string]docOperation {
	t.Helper()
	type param struct {
		Ref  string `json:"$ref"`
		Name string `json:"name"`
		In   string `json:"in"`
	}
	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Parameters map[string]param `json:"parameters"`
		} `json:"components"`
	}
	if err := json.Unmarshal(admin.Document, &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]docOperation{}
	for path, item := range doc.Paths {
		for method, raw := range item {
			var op struct {
				Parameters  []param         `json:"parameters"`
				RequestBody json.RawMessage `json:"requestBody"`
			}
			if method == "parameters" || json.Unmarshal(raw, &op) != nil {
				continue
			}
			d := docOperation{body: len(op.RequestBody) > 0}
			for _, p := range op.Parameters {
				if p.Ref != "" {
					p = doc.Components.Parameters[strings.TrimPrefix(p.Ref, "#/components/parameters/")]
				}
				if p.In == "query" {
					d.query = append(d.query, p.Name)
				}
			}
			out[strings.ToUpper(method)+" "+path] = d
		}
	}
	return out
}

// validBodies are bodies each operation that takes one accepts, keyed
// "METHOD /path"; the hostile cases spoil one member at a time. n makes
// names unique.
func validBody(op string, n int) map[string]any {
	switch op {
	case "POST /users":
		return map[string]any{"username": fmt.Sprintf("hostile-%d", n), "email": "h@example.com", "password": "a long enough password"}
	case "PATCH /users/{id}":
		return map[string]any{"email": "h@example.com"}
	case "PUT /users/{id}/password":
		return map[string]any{"password": "another long password"}
	case "POST /clients":
		return map[string]any{"client_id": fmt.Sprintf("hostile-%d", n), "name": "Hostile", "grant_types": []string{"client_credentials"},
			"scopes": []string{"openid"}, "audiences": []string{"gaia"}, "roles": []string{"InventoryViewer"}}
	case "PATCH /clients/{client_id}":
		return map[string]any{"name": "Hostile", "scopes": []string{"openid"}, "audiences": []string{"gaia"}}
	case "POST /blocks":
		// 198.18.0.0/15 (benchmarking) is never the test's own address.
		return map[string]any{"cidr": fmt.Sprintf("198.18.%d.%d", n/256%256, n%256), "reason": "hostile"}
	}
	return nil
}

// bodyFor is validBody as the body of a request: none for an operation
// that takes none.
func bodyFor(op string, n int) any {
	if b := validBody(op, n); b != nil {
		return b
	}
	return nil
}

var pathParam = regexp.MustCompile(`\{([a-z_]+)\}`)

// TestAdminHostileInput sends every admin operation the input a hostile
// client would: text no store can hold in each path parameter, a query
// parameter and each string member of the body; duplicate member names;
// values the API refuses or cannot find. Each is a 4xx problem on every
// backend, never quoting what was sent, naming the parameter at fault; a
// refused change is audited. Operations come from the OpenAPI document, so
// a new one is covered as soon as it is documented.
func TestAdminHostileInput(t *testing.T) {
	forEachLocal(t, nil, func(t *testing.T, l *local) {
		v := openapitest.New(t, admin.Document)
		root := &adminClient{t: t, base: l.issuer + "/admin/v1", http: &http.Client{Transport: v.Transport(t, http.DefaultTransport)}}
		api := root.as(userToken(t, l.issuer, "admin", adminPassword).AccessToken)
		sample := createUser(t, api, "hostile-sample", "")
		want(t, api.do("PUT", "/users/"+sample.ID+"/departments/INVENTORY", nil), http.StatusNoContent)
		want(t, api.do("PUT", "/users/"+sample.ID+"/roles/InventoryViewer", nil), http.StatusNoContent)
		docOps := documentOperations(t)

		n := 0
		for _, op := range v.Operations() {
			if op.Public {
				continue
			}
			d, ok := docOps[op.String()]
			if !ok {
				t.Fatalf("%s: not found reading the document", op)
			}
			params := pathParam.FindAllStringSubmatch(op.Path, -1)
			change := op.Method != "GET"

			// Text no store can hold, in each path parameter.
			for _, m := range params {
				for _, seg := range hostileSegments {
					n++
					path := strings.Replace(op.Path, m[0], seg, 1)
					path = samplePath(path, sample.ID)
					t.Run(fmt.Sprintf("%s/path %s=%s", op, m[1], seg), func(t *testing.T) {
						r := api.do(op.Method, path, bodyFor(op.String(), n))
						p := hostileProblem(t, r, http.StatusBadRequest, admin.KindValidation)
						if len(p.Errors) != 1 || p.Errors[0].Field != m[1] {
							t.Errorf("errors %+v, want one naming %s", p.Errors, m[1])
						}
						if change {
							wantRefusalAudited(t, api, url.PathEscape(mustUnescape(t, seg)))
						}
					})
				}
			}

			// Text no store can hold, in a query parameter: one the
			// operation documents, or any other.
			name := marker + "q"
			if len(d.query) > 0 {
				name = d.query[0]
			}
			for _, val := range []string{marker + "%FF", marker + "%00"} {
				n++
				path := samplePath(op.Path, sample.ID) + "?" + name + "=" + val
				t.Run(fmt.Sprintf("%s/query %s=%s", op, name, val), func(t *testing.T) {
					r := api.do(op.Method, path, bodyFor(op.String(), n))
					p := hostileProblem(t, r, http.StatusBadRequest, admin.KindValidation)
					if len(p.Errors) != 1 || p.Errors[0].Field != name {
						t.Errorf("errors %+v, want one naming %s", p.Errors, name)
					}
				})
			}
			t.Run(op.String()+"/query name", func(t *testing.T) {
				r := api.do(op.Method, samplePath(op.Path, sample.ID)+"?"+marker+"%FF=1", bodyFor(op.String(), n))
				hostileProblem(t, r, http.StatusBadRequest, admin.KindMalformed)
			})

			// A value that names nothing: a 404 that does not quote it.
			for _, m := range params {
				path := samplePath(strings.Replace(op.Path, m[0], marker+"-missing", 1), sample.ID)
				n++
				t.Run(fmt.Sprintf("%s/missing %s", op, m[1]), func(t *testing.T) {
					r := api.do(op.Method, path, bodyFor(op.String(), n))
					hostileProblem(t, r, http.StatusNotFound, admin.KindNotFound)
				})
			}

			if !d.body {
				continue
			}
			body := validBody(op.String(), 0)
			if body == nil {
				t.Fatalf("%s takes a body: give it a valid one in validBody", op)
			}
			members := slices.Sorted(func(yield func(string) bool) {
				for k := range body {
					if !yield(k) {
						return
					}
				}
			})
			// A NUL in each string member, or in an element of each array.
			for _, member := range members {
				n++
				b := validBody(op.String(), n)
				field := member
				switch b[member].(type) {
				case string:
					b[member] = marker + "\x00"
				case []string:
					b[member] = []string{marker + "\x00"}
					field += "[0]"
				default:
					continue
				}
				t.Run(fmt.Sprintf("%s/NUL in %s", op, member), func(t *testing.T) {
					r := api.do(op.Method, samplePath(op.Path, sample.ID), b)
					p := hostileProblem(t, r, http.StatusBadRequest, admin.KindValidation)
					if len(p.Errors) != 1 || p.Errors[0].Field != field {
						t.Errorf("errors %+v, want one naming %s", p.Errors, field)
					}
				})
			}
			// A member given twice, at the top or deeper (RFC 8259 §4,
			// RFC 7493 §2.3).
			n++
			b := validBody(op.String(), n)
			raw, _ := json.Marshal(b)
			twice := fmt.Sprintf(`{"%s":"%s",%s`, members[0], marker, raw[1:])
			delete(b, members[0])
			raw, _ = json.Marshal(b)
			deep := fmt.Sprintf(`{"%s":{"a":"%s","a":"%s"}`, members[0], marker, marker)
			if len(b) > 0 {
				deep += "," + string(raw[1:])
			} else {
				deep += "}"
			}
			for name, b := range map[string]string{"top": twice, "nested": deep} {
				t.Run(fmt.Sprintf("%s/duplicate member %s", op, name), func(t *testing.T) {
					r := api.do(op.Method, samplePath(op.Path, sample.ID), []byte(b))
					p := hostileProblem(t, r, http.StatusBadRequest, admin.KindMalformed)
					if !strings.Contains(p.Detail, "twice") {
						t.Errorf("detail %q does not say a member is given twice", p.Detail)
					}
				})
			}
		}

		// Values the domain refuses are named by field, never quoted.
		for _, c := range []struct {
			name, method, path string
			body               map[string]any
			field              string
		}{
			{"email", "PATCH", "/users/" + sample.ID, map[string]any{"email": marker + " not an address"}, "email"},
			{"scope", "PATCH", "/clients/inventory-service", map[string]any{"scopes": []string{marker + "\"bad"}}, "scopes"},
			{"audience listed twice", "PATCH", "/clients/inventory-service", map[string]any{"audiences": []string{marker, marker}}, "audiences"},
			{"grant type", "POST", "/clients", map[string]any{"client_id": "hostile-gt", "name": "H", "grant_types": []string{marker}}, "grant_types"},
		} {
			t.Run("refused "+c.name, func(t *testing.T) {
				p := hostileProblem(t, api.do(c.method, c.path, c.body), http.StatusBadRequest, admin.KindValidation)
				if len(p.Errors) == 0 || p.Errors[0].Field != c.field {
					t.Errorf("errors %+v, want one naming %s", p.Errors, c.field)
				}
			})
		}
	})
}

// hostileProblem checks that r is the problem wanted and that no part of
// it quotes what was sent.
func hostileProblem(t *testing.T, r reply, status int, kind string) admin.Problem {
	t.Helper()
	p := r.problem(t, status, kind)
	if strings.Contains(p.Detail, marker) || strings.Contains(p.Title, marker) {
		t.Errorf("the problem quotes what was sent: %s", r.body)
	}
	for _, e := range p.Errors {
		if strings.Contains(e.Detail, marker) {
			t.Errorf("the problem quotes what was sent: %s", r.body)
		}
	}
	return p
}

// wantRefusalAudited checks that the newest audit event is a refused
// change naming escaped, the safe rendering of a hostile value, as its
// target or in a detail.
func wantRefusalAudited(t *testing.T, api *adminClient, escaped string) {
	t.Helper()
	var page admin.Page[admin.AuditEvent]
	want(t, api.do("GET", "/audit?limit=1", nil), http.StatusOK).decode(t, &page)
	if len(page.Items) != 1 {
		t.Fatal("no audit event")
	}
	e := page.Items[0]
	named := e.Target != nil && e.Target.ID == escaped
	for _, d := range e.Details {
		named = named || d == escaped
	}
	if e.Outcome != "failure" || e.Details["reason"] != admin.KindValidation || !named {
		t.Errorf("newest audit event %+v, want a refusal for %s naming %s", e, admin.KindValidation, escaped)
	}
}

func mustUnescape(t *testing.T, seg string) string {
	t.Helper()
	s, err := url.PathUnescape(seg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
