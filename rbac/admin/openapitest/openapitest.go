// Package openapitest checks real HTTP exchanges against an OpenAPI 3.1
// document, so that tests catch drift between a server and its published
// contract in either direction.
//
// A test loads the document once, checks each exchange (by hand with Check,
// or every exchange of an http.Client through Transport), and at the end may
// fail when some documented operation was never exercised:
//
//	v := openapitest.New(t, doc) // doc: the bytes of the embedded openapi.json
//	c := &http.Client{Transport: v.Transport(t, nil)}
//	… drive the API with c …
//	if u := v.Uncovered(); len(u) > 0 {
//		t.Errorf("operations never exercised: %q", u)
//	}
//
// Validation is done by github.com/pb33f/libopenapi-validator, which
// implements OpenAPI 3.1 and JSON Schema 2020-12, with format assertions
// (uuid, date-time, ipv4, …) turned on.
package openapitest

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	liberrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/helpers"
	"github.com/pb33f/libopenapi-validator/paths"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	"github.com/pb33f/libopenapi/datamodel"
	"github.com/pb33f/libopenapi/datamodel/high/base"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
	"github.com/pb33f/libopenapi/orderedmap"
)

// PermissionExtension is the operation extension that names the permission
// an operation requires.
const PermissionExtension = "x-permission"

// Operation is one operation of the document.
type Operation struct {
	Method     string   // upper case: GET, POST, …
	Path       string   // the path template as the document writes it, like /users/{id}
	ID         string   // the operationId
	Summary    string   // the summary
	Desc       string   // the description
	Permission string   // the x-permission extension; "" when absent
	Public     bool     // whether the operation needs no credentials (security: [])
	Statuses   []string // the declared response codes, sorted, like "200", "404"
}

// String is the operation's method and path template: "GET /users/{id}".
func (o Operation) String() string { return o.Method + " " + o.Path }

// Validator checks HTTP exchanges against an OpenAPI document and records
// which operations and statuses it has seen. It is safe for concurrent use
// by parallel tests and the goroutines of a server.
type Validator struct {
	*spec // never nil; shared with every Validator of the same document

	mu   sync.Mutex
	seen map[string]map[int]bool // guarded by mu; Operation.String() → statuses seen
}

// spec is a loaded, checked document. It is never changed after load, and
// the library's validator is safe for concurrent use, so one spec serves
// every Validator of the same document.
type spec struct {
	model *v3.Document
	lib   validator.Validator
	opts  *config.ValidationOptions // for path lookup and ad hoc schema checks
	ops   []Operation               // sorted by path then method
	byKey map[string]*Operation     // Operation.String() → its entry in ops
	// empty holds "METHOD /path STATUS" for each response declared without
	// content, whose body must be empty.
	empty map[string]bool
	// stray are the problem schemas a request that matches no operation may
	// be answered with, by status.
	stray map[int]*base.Schema
}

// New loads doc, an OpenAPI 3.1 document, and checks it: it must parse,
// build a model without errors (every $ref resolves), validate against the
// OpenAPI 3.1 schema, and every schema in it must compile. Any failure ends
// the test with t.Fatalf.
//
// Loading takes a while (seconds under the race detector), so the checked
// document is kept for the life of the test binary: later calls with the
// same bytes cost nothing. Each Validator still records its own coverage.
func New(t testing.TB, doc []byte) *Validator {
	t.Helper()
	s, err := loadOnce(doc)
	if err != nil {
		t.Fatalf("openapitest: %v", err)
	}
	return &Validator{spec: s, seen: map[string]map[int]bool{}}
}

// loaded memoizes load by the document's SHA-256. A test binary loads one
// or two documents, so it never needs evicting.
var loaded struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]*loading // guarded by mu
}

type loading struct {
	once sync.Once
	spec *spec
	err  error
}

func loadOnce(doc []byte) (*spec, error) {
	key := sha256.Sum256(doc)
	loaded.mu.Lock()
	if loaded.m == nil {
		loaded.m = map[[sha256.Size]byte]*loading{}
	}
	l := loaded.m[key]
	if l == nil {
		l = &loading{}
		loaded.m[key] = l
	}
	loaded.mu.Unlock()
	l.once.Do(func() { l.spec, l.err = load(doc) })
	return l.spec, l.err
}

// Problem schemas answered to requests that match no operation: any path may
// answer an unknown path or method, and authentication may come first.
var strayProblems = map[int]string{
	http.StatusUnauthorized:     "UnauthorizedProblem",
	http.StatusNotFound:         "NotFoundProblem",
	http.StatusMethodNotAllowed: "MethodNotAllowedProblem",
}

func load(doc []byte) (*spec, error) {
	cfg := datamodel.NewDocumentConfiguration()
	cfg.Logger = slog.New(slog.DiscardHandler) // errors are returned, not logged
	d, err := libopenapi.NewDocumentWithConfiguration(doc, cfg)
	if err != nil {
		return nil, fmt.Errorf("parse document: %w", err)
	}
	if info := d.GetSpecInfo(); info == nil || info.SpecFormat != datamodel.OAS31 {
		return nil, fmt.Errorf("not an OpenAPI 3.1 document (version %q)", d.GetVersion())
	}
	built, err := d.BuildV3Model()
	if err != nil {
		return nil, fmt.Errorf("build model: %w", err)
	}
	model := &built.Model

	opts := []config.Option{
		config.WithFormatAssertions(),
		config.WithRejectUndeclaredRequestBody(),
		config.WithLogger(slog.New(slog.DiscardHandler)),
	}
	lib := validator.NewValidatorFromV3Model(model, opts...)
	lib.SetDocument(d)
	if ok, errs := lib.ValidateDocument(); !ok {
		return nil, fmt.Errorf("the document breaks the OpenAPI 3.1 schema:%s", describe(errs))
	}

	s := &spec{
		model: model,
		lib:   lib,
		opts:  config.NewValidationOptions(opts...),
		byKey: map[string]*Operation{},
		stray: map[int]*base.Schema{},
	}
	if err := s.compileSchemas(); err != nil {
		return nil, err
	}
	if model.Components != nil {
		for status, name := range strayProblems {
			if proxy := get(model.Components.Schemas, name); proxy != nil {
				s.stray[status] = proxy.Schema()
			}
		}
	}
	s.ops, s.empty = operations(model)
	for i := range s.ops {
		s.byKey[s.ops[i].String()] = &s.ops[i]
	}
	return s, nil
}

// compileSchemas compiles every schema of the document (components,
// parameters, bodies and headers), so that a bad keyword, pattern or
// reference fails New rather than the first exchange that needs it. The
// OpenAPI 3.1 document schema does not look inside schemas.
func (s *spec) compileSchemas() error {
	version := helpers.VersionToFloat(s.model.Version)
	var bad []string
	done := map[any]bool{} // the YAML nodes compiled: a shared parameter is visited once per use
	for where, proxy := range schemas(s.model) {
		// A reference is compiled where it points (components/schemas; a
		// dangling one already failed the model).
		if proxy.IsReference() || done[proxy.GetValueNode()] {
			continue
		}
		done[proxy.GetValueNode()] = true
		schema := proxy.Schema()
		if schema == nil {
			bad = append(bad, fmt.Sprintf("\n\t%s: %v", where, proxy.GetBuildError()))
			continue
		}
		if _, err := schema_validation.CompileSchemaForValidation(schema, schema_validation.SchemaValidationPurposeGeneric, s.opts, version); err != nil {
			bad = append(bad, fmt.Sprintf("\n\t%s: %v", where, err))
		}
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		return fmt.Errorf("schemas do not compile:%s", strings.Join(bad, ""))
	}
	return nil
}

// schemas yields every schema of model that a request or a response may be
// checked against, with where it is, like "GET /users/{id} 200 application/json".
func schemas(model *v3.Document) iter.Seq2[string, *base.SchemaProxy] {
	return func(yield func(string, *base.SchemaProxy) bool) {
		// visit yields s unless it is nil; it reports whether to go on.
		visit := func(where string, s *base.SchemaProxy) bool { return s == nil || yield(where, s) }
		params := func(where string, ps []*v3.Parameter) bool {
			for _, p := range ps {
				if !visit(where+" parameter "+p.Name, p.Schema) {
					return false
				}
			}
			return true
		}
		content := func(where string, c *orderedmap.Map[string, *v3.MediaType]) bool {
			for mt, m := range c.FromOldest() {
				if !visit(where+" "+mt, m.Schema) {
					return false
				}
			}
			return true
		}
		response := func(where string, r *v3.Response) bool {
			for name, h := range r.Headers.FromOldest() {
				if !visit(where+" header "+name, h.Schema) {
					return false
				}
			}
			return content(where, r.Content)
		}
		if c := model.Components; c != nil {
			for name, s := range c.Schemas.FromOldest() {
				if !visit("components/schemas/"+name, s) {
					return
				}
			}
			for name, p := range c.Parameters.FromOldest() {
				if !params("components/parameters/"+name, []*v3.Parameter{p}) {
					return
				}
			}
			for name, r := range c.Responses.FromOldest() {
				if !response("components/responses/"+name, r) {
					return
				}
			}
		}
		if model.Paths == nil {
			return
		}
		for path, item := range model.Paths.PathItems.FromOldest() {
			if !params(path, item.Parameters) {
				return
			}
			for method, op := range item.GetOperations().FromOldest() {
				where := strings.ToUpper(method) + " " + path
				if !params(where, op.Parameters) {
					return
				}
				if op.RequestBody != nil && !content(where+" request", op.RequestBody.Content) {
					return
				}
				if op.Responses == nil {
					continue
				}
				for code, r := range op.Responses.Codes.FromOldest() {
					if !response(where+" "+code, r) {
						return
					}
				}
			}
		}
	}
}

// operations lists the operations of model, and the responses declared
// without content.
func operations(model *v3.Document) ([]Operation, map[string]bool) {
	var ops []Operation
	empty := map[string]bool{}
	if model.Paths == nil {
		return nil, empty
	}
	for path, item := range model.Paths.PathItems.FromOldest() {
		for method, op := range item.GetOperations().FromOldest() {
			o := Operation{
				Method:  strings.ToUpper(method),
				Path:    path,
				ID:      op.OperationId,
				Summary: op.Summary,
				Desc:    op.Description,
				// An empty list overrides the document's security (OpenAPI 3.1 §4.8.10).
				Public: op.Security != nil && len(op.Security) == 0,
			}
			if node := get(op.Extensions, PermissionExtension); node != nil {
				o.Permission = node.Value
			}
			if op.Responses != nil {
				for code, r := range op.Responses.Codes.FromOldest() {
					o.Statuses = append(o.Statuses, code)
					if orderedmap.Len(r.Content) == 0 {
						empty[o.String()+" "+code] = true
					}
				}
				slices.Sort(o.Statuses)
			}
			ops = append(ops, o)
		}
	}
	slices.SortFunc(ops, func(a, b Operation) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Method, b.Method)
	})
	return ops, empty
}

// get is m[k], or the zero value when m is nil or has no k.
func get[V any](m *orderedmap.Map[string, V], k string) V {
	var zero V
	if m == nil {
		return zero
	}
	return m.GetOrZero(k)
}

// Operations lists the document's operations, sorted by path then method.
func (v *Validator) Operations() []Operation {
	out := make([]Operation, len(v.ops))
	for i, o := range v.ops {
		o.Statuses = slices.Clone(o.Statuses)
		out[i] = o
	}
	return out
}

// Check validates one exchange against the document and reports each
// mismatch with t.Errorf, naming the method, the path and the status.
//
// reqBody and respBody are the bodies sent and received; when one is nil,
// Check reads it from req.Body or resp.Body and puts it back, so the caller
// can still read it. Check validates copies and leaves req and resp as they
// were otherwise.
//
// The response is always checked: its status must be declared for the
// operation, and its content type, headers and body must match what the
// document declares for that status (a response declared without content
// must have an empty body; a 403 must name the operation's x-permission).
// The request (path and query parameters, headers, credentials, body) is
// checked only when the response is a success (below 400): a test that
// sends a bad request on purpose expects an error, while a server that
// accepts what the document says is invalid has drifted from it.
//
// The request path may carry the base path of the document's server URL
// (/admin/v1) or not, so that a handler can be tested mounted or bare. A
// request that matches no operation may only be answered 401, 404 or 405,
// with the matching problem.
func (v *Validator) Check(t testing.TB, req *http.Request, reqBody []byte, resp *http.Response, respBody []byte) {
	t.Helper()
	if reqBody == nil {
		reqBody = drain(&req.Body)
	}
	if respBody == nil {
		respBody = drain(&resp.Body)
	}
	label := fmt.Sprintf("%s %s answered %d", req.Method, req.URL.RequestURI(), resp.StatusCode)
	for _, msg := range v.check(req, reqBody, resp, respBody) {
		t.Errorf("openapitest: %s: %s", label, msg)
	}
}

// check returns what is wrong with the exchange.
func (v *Validator) check(req *http.Request, reqBody []byte, resp *http.Response, respBody []byte) []string {
	// The library reads and replaces bodies: give it copies.
	vreq := req.Clone(req.Context())
	vreq.Body = io.NopCloser(bytes.NewReader(reqBody))
	if len(reqBody) == 0 {
		vreq.Body = http.NoBody
	}
	vreq.ContentLength = int64(len(reqBody))
	vresp := *resp
	vresp.Header = resp.Header.Clone()
	vresp.Body = io.NopCloser(bytes.NewReader(respBody))
	vresp.Request = vreq

	item, errs, template := paths.FindPath(vreq, v.model, v.opts)
	if item == nil || len(errs) > 0 {
		return v.checkStray(&vresp, respBody)
	}
	op := v.byKey[strings.ToUpper(req.Method)+" "+template]
	if op == nil { // FindPath and the model disagree: cannot happen
		return []string{fmt.Sprintf("no operation %s %s in the document", req.Method, template)}
	}
	v.record(op, resp.StatusCode)
	var msgs []string
	at := fmt.Sprintf("(%s, %s %s)", op.ID, op.Method, op.Path)

	if resp.StatusCode < 400 {
		if ok, errs := v.lib.ValidateHttpRequestSyncWithPathItem(vreq, item, template); !ok {
			msgs = append(msgs, fmt.Sprintf("the request does not match the document %s, yet the server accepted it:%s", at, describe(errs)))
		}
	}
	if ok, errs := v.lib.GetResponseBodyValidator().ValidateResponseBodyWithPathItem(vreq, &vresp, item, template); !ok {
		msgs = append(msgs, fmt.Sprintf("the response does not match the document %s:%s", at, describe(errs)))
	}
	msgs = append(msgs, v.checkExtra(op, resp, respBody)...)
	return msgs
}

// checkExtra checks what the library leaves out: empty bodies where no
// content is declared, and the permission a 403 names.
func (s *spec) checkExtra(op *Operation, resp *http.Response, body []byte) []string {
	code := strconv.Itoa(resp.StatusCode)
	var msgs []string
	if s.empty[op.String()+" "+code] && len(body) > 0 {
		msgs = append(msgs, fmt.Sprintf("the document declares no content for %s %s %s, yet the body has %d bytes", op.Method, op.Path, code, len(body)))
	}
	if resp.StatusCode == http.StatusForbidden && op.Permission != "" {
		var p struct {
			Type               string `json:"type"`
			RequiredPermission string `json:"required_permission"`
		}
		// A 403 of the rules of delegation (the token has the permission,
		// the change is not the caller's to make) names no permission.
		if json.Unmarshal(body, &p) == nil && !strings.HasSuffix(p.Type, ":delegation") && !strings.HasSuffix(p.Type, ":self-change") &&
			p.RequiredPermission != op.Permission {
			msgs = append(msgs, fmt.Sprintf("required_permission is %q, want %q (the operation's %s)", p.RequiredPermission, op.Permission, PermissionExtension))
		}
	}
	return msgs
}

// checkStray checks the answer to a request that matches no operation.
func (s *spec) checkStray(resp *http.Response, body []byte) []string {
	schema := s.stray[resp.StatusCode]
	if schema == nil {
		return []string{fmt.Sprintf("no operation in the document matches, and only %s may answer such a request", strayStatuses())}
	}
	var msgs []string
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "application/problem+json" {
		msgs = append(msgs, fmt.Sprintf("Content-Type is %q, want application/problem+json", resp.Header.Get("Content-Type")))
	}
	if resp.StatusCode == http.StatusMethodNotAllowed && resp.Header.Get("Allow") == "" {
		msgs = append(msgs, "a 405 must set Allow")
	}
	sv := schema_validation.NewSchemaValidator(config.WithExistingOpts(s.opts))
	if ok, errs := sv.ValidateSchemaBytesWithVersion(schema, body, helpers.VersionToFloat(s.model.Version)); !ok {
		msgs = append(msgs, "the problem does not match the document:"+describe(errs))
	}
	return msgs
}

func strayStatuses() string {
	var s []string
	for code := range strayProblems {
		s = append(s, strconv.Itoa(code))
	}
	slices.Sort(s)
	return strings.Join(s, ", ")
}

func (v *Validator) record(op *Operation, status int) {
	key := op.String()
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.seen[key] == nil {
		v.seen[key] = map[int]bool{}
	}
	v.seen[key][status] = true
}

// Covered lists the operations and statuses Check has seen, as
// "METHOD /path/{template} STATUS", sorted.
func (v *Validator) Covered() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []string
	for key, statuses := range v.seen {
		for status := range statuses {
			out = append(out, key+" "+strconv.Itoa(status))
		}
	}
	slices.Sort(out)
	return out
}

// Uncovered lists the operations Check has never seen, as
// "METHOD /path/{template}", in document order (by path, then method).
func (v *Validator) Uncovered() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []string
	for _, op := range v.ops {
		if v.seen[op.String()] == nil {
			out = append(out, op.String())
		}
	}
	return out
}

// UncoveredResponses lists the declared responses Check has never seen, as
// "METHOD /path/{template} STATUS", in document order. Range and default
// responses ("4XX", "default") are left out.
func (v *Validator) UncoveredResponses() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []string
	for _, op := range v.ops {
		for _, code := range op.Statuses {
			n, err := strconv.Atoi(code)
			if err == nil && !v.seen[op.String()][n] {
				out = append(out, op.String()+" "+code)
			}
		}
	}
	return out
}

// Transport returns a RoundTripper that sends each request with base
// (http.DefaultTransport when nil) and checks the exchange with Check,
// reporting to t. The caller still reads the response body as usual.
func (v *Validator) Transport(t testing.TB, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{v: v, t: t, base: base}
}

type transport struct {
	v    *Validator
	t    testing.TB
	base http.RoundTripper
}

func (tr *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil && req.Body != http.NoBody {
		// A RoundTripper must not change the caller's request: send a copy
		// whose body is the one read here.
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("openapitest: read request body: %w", err)
		}
		reqBody = b
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(b))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	resp, err := tr.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	respBody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("openapitest: read response body: %w", err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	if reqBody == nil {
		reqBody = []byte{}
	}
	tr.v.Check(tr.t, req, reqBody, resp, respBody)
	return resp, nil
}

// drain reads *body whole and puts back a reader of the same bytes. It
// returns an empty, non-nil slice when there is no body.
func drain(body *io.ReadCloser) []byte {
	if *body == nil || *body == http.NoBody {
		return []byte{}
	}
	b, _ := io.ReadAll(*body)
	(*body).Close()
	*body = io.NopCloser(bytes.NewReader(b))
	return b
}

// describe renders the library's errors, one per line, with the failing
// fields of a schema error.
func describe(errs []*liberrors.ValidationError) string {
	var b strings.Builder
	for _, e := range errs {
		b.WriteString("\n\t")
		b.WriteString(e.Message)
		if e.Reason != "" && e.Reason != e.Message {
			b.WriteString(": ")
			b.WriteString(e.Reason)
		}
		for _, f := range e.SchemaValidationErrors {
			b.WriteString("\n\t\t")
			if f.FieldPath != "" {
				b.WriteString(f.FieldPath)
				b.WriteString(": ")
			}
			b.WriteString(f.Reason)
		}
	}
	return b.String()
}
