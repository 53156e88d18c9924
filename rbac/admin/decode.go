package admin

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/gaia-platform/iam/audit"
	"github.com/gaia-platform/iam/storage"
)

// MaxBodySize bounds every request body.
const MaxBodySize = 64 << 10

// List sizes a client may ask for.
const (
	DefaultPageSize = 50
	MaxPageSize     = 200
)

// decode reads r's JSON body into v: application/json only, at most
// MaxBodySize, one object, no unknown, null or repeated members, and no
// string the store could not hold (see checkJSON).
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	if err := checkMediaType(r); err != nil {
		return err
	}
	return decodeBody(w, r, v, nil)
}

// decodeBody is decode after the media type is checked. With nulls
// non-nil, a member of the object may be null: its name is added to
// *nulls, and its field in v is left as it was.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, nulls *[]string) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodySize))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return problem(http.StatusRequestEntityTooLarge, KindTooLarge, "the body is over %d bytes", MaxBodySize)
		}
		return problem(http.StatusBadRequest, KindMalformed, "the body could not be read")
	}
	if !utf8.Valid(body) {
		return problem(http.StatusBadRequest, KindMalformed, "the body is not UTF-8")
	}
	if err := checkJSON(body, memberNames(v), nulls); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return problem(http.StatusBadRequest, KindMalformed, "%s", jsonError(err))
	}
	if dec.More() {
		return problem(http.StatusBadRequest, KindMalformed, "trailing data after the JSON object")
	}
	return nil
}

// checkJSON walks body, which is valid UTF-8, once and refuses:
//   - anything but one object;
//   - a member the endpoint does not take (known lists them), without
//     quoting its name;
//   - a null member (a member is either given a value or left out),
//     unless nulls is non-nil: then its name is added to *nulls;
//   - a member name given twice in one object, at any depth: RFC 8259 §4
//     leaves the outcome undefined and I-JSON (RFC 7493 §2.3) forbids it,
//     and two readers of one request must not see different values;
//   - a string holding NUL (only a \u0000 escape can put it there), which
//     no store can hold, named by the member it is in as the client sent it.
func checkJSON(body []byte, known []string, nulls *[]string) error {
	malformed := problem(http.StatusBadRequest, KindMalformed, "the body is not a JSON object")
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return malformed
	}
	// Each open container: the names seen, for an object; the next
	// element's index, for an array. path is where a value sits, as the
	// client wrote it: email, scopes[1].
	type frame struct {
		names map[string]bool // nil for an array
		index int
		path  string
	}
	stack := []frame{{names: map[string]bool{}}}
	expectName := true // in an object, a name comes next
	var member string  // the name just read, for the value that follows
	for len(stack) > 0 {
		tok, err := dec.Token()
		if err != nil {
			var syntax *json.SyntaxError
			if errors.As(err, &syntax) {
				return problem(http.StatusBadRequest, KindMalformed, "invalid JSON at byte %d", syntax.Offset)
			}
			return malformed
		}
		top := &stack[len(stack)-1]
		if top.names != nil && expectName {
			if tok == json.Delim('}') {
				stack = stack[:len(stack)-1]
				expectName = len(stack) > 0 && stack[len(stack)-1].names != nil
				continue
			}
			name, _ := tok.(string)
			if len(stack) == 1 && !slices.Contains(known, name) {
				return problem(http.StatusBadRequest, KindMalformed,
					"the body has a member this endpoint does not take; it takes %s", strings.Join(known, ", "))
			}
			if top.names[name] {
				if len(stack) == 1 {
					return problem(http.StatusBadRequest, KindMalformed, "member %s is given twice", name)
				}
				return problem(http.StatusBadRequest, KindMalformed, "a member of %s is given twice", stack[1].path)
			}
			if strings.ContainsRune(name, 0) {
				return invalid(top.path, "holds a member name with a NUL character")
			}
			top.names[name] = true
			member, expectName = name, false
			continue
		}
		// A value: of the member just named, or the next array element.
		path := top.path
		if top.names != nil {
			if path != "" {
				path += "."
			}
			path += member
			expectName = true
		} else {
			if tok == json.Delim(']') {
				stack = stack[:len(stack)-1]
				expectName = len(stack) > 0 && stack[len(stack)-1].names != nil
				continue
			}
			path += "[" + strconv.Itoa(top.index) + "]"
			top.index++
		}
		switch tok := tok.(type) {
		case nil:
			if len(stack) == 1 && nulls != nil {
				*nulls = append(*nulls, member)
			} else if len(stack) == 1 {
				return problem(http.StatusBadRequest, KindMalformed, "member %s is null: leave it out instead", member)
			}
		case string:
			if strings.ContainsRune(tok, 0) {
				return invalid(path, "holds a NUL character")
			}
		case json.Delim: // '{' or '['
			f := frame{path: path}
			if tok == '{' {
				f.names, expectName = map[string]bool{}, true
			}
			stack = append(stack, f)
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return problem(http.StatusBadRequest, KindMalformed, "trailing data after the JSON object")
	}
	return nil
}

// memberNames lists the JSON member names of the struct v points to.
func memberNames(v any) []string {
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" && f.IsExported() {
			names = append(names, name)
		}
	}
	return names
}

// checkMediaType accepts application/json, with or without parameters.
func checkMediaType(r *http.Request) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return problem(http.StatusUnsupportedMediaType, KindMediaType, "send the body as application/json")
	}
	return nil
}

// noBody refuses a request that carries a body where none is expected, so
// that a client sending parameters the endpoint ignores learns it.
func noBody(r *http.Request) error {
	if r.ContentLength > 0 || len(r.TransferEncoding) > 0 {
		return problem(http.StatusBadRequest, KindMalformed, "this endpoint takes no body")
	}
	return nil
}

// jsonError describes a decoding error without quoting the input.
func jsonError(err error) string {
	var (
		typeErr *json.UnmarshalTypeError
		syntax  *json.SyntaxError
	)
	switch {
	case errors.As(err, &typeErr):
		return fmt.Sprintf("member %q must be %s", typeErr.Field, jsonType(typeErr.Type.Kind().String()))
	case errors.As(err, &syntax):
		return fmt.Sprintf("invalid JSON at byte %d", syntax.Offset)
	}
	// checkJSON has refused unknown members, whose errors would quote
	// them; nothing else is left that a client could act on.
	return "the body is not valid JSON"
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice":
		return "an array"
	case "struct", "map":
		return "an object"
	}
	return "a " + kind
}

// query reads an endpoint's query parameters: each at most once, none
// unknown, so a misspelt filter is an error rather than a silent "all".
type query struct {
	values url.Values
	errs   []FieldError
}

func parseQuery(r *http.Request, known ...string) (*query, error) {
	vals, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, problem(http.StatusBadRequest, KindMalformed, "the query string is malformed")
	}
	q := &query{values: vals}
	for name, vs := range vals {
		switch {
		case !slices.Contains(known, name):
			q.bad(name, "unknown parameter")
		case len(vs) > 1:
			q.bad(name, "given more than once")
		case len(vs[0]) > 1024:
			q.bad(name, "longer than 1024 bytes")
		}
	}
	return q, nil
}

func (q *query) bad(name, detail string) {
	q.errs = append(q.errs, FieldError{Field: name, Detail: detail})
}

func (q *query) str(name string) string { return q.values.Get(name) }

func (q *query) boolean(name string) *bool {
	switch s := q.values.Get(name); s {
	case "":
		return nil
	case "true", "false":
		b := s == "true"
		return &b
	default:
		q.bad(name, "must be true or false")
		return nil
	}
}

func (q *query) limit() int {
	s := q.values.Get("limit")
	if s == "" {
		return DefaultPageSize
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxPageSize {
		q.bad("limit", fmt.Sprintf("must be a whole number from 1 to %d", MaxPageSize))
		return DefaultPageSize
	}
	return n
}

func (q *query) time(name string) time.Time {
	s := q.values.Get(name)
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		q.bad(name, "must be an RFC 3339 time, e.g. 2026-01-02T15:04:05Z")
	}
	return t
}

// cursor decodes the opaque cursor of a previous page: the key of its
// last item.
func (q *query) cursor() string {
	s := q.values.Get("cursor")
	if s == "" {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) == 0 || len(b) > storage.MaxTokenKeyLen || !utf8.Valid(b) {
		q.bad("cursor", "not a cursor this API returned")
		return ""
	}
	return string(b)
}

// err reports the parameters found invalid, if any.
func (q *query) err() error {
	if len(q.errs) == 0 {
		return nil
	}
	p := problem(http.StatusBadRequest, KindValidation, "%s", fieldsSummary(len(q.errs)))
	p.Errors = q.errs
	return p
}

func encodeCursor(key string) string { return base64.RawURLEncoding.EncodeToString([]byte(key)) }

// isText reports whether s is UTF-8 text without NUL: what every store can
// hold (PostgreSQL refuses anything else) and so the only thing a path or
// query parameter can usefully carry.
func isText(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// pathParams lists the {names} of a route pattern, in order.
func pathParams(pattern string) []string {
	var names []string
	for seg := range strings.SplitSeq(pattern, "/") {
		if name, ok := strings.CutPrefix(seg, "{"); ok {
			names = append(names, strings.TrimSuffix(name, "}"))
		}
	}
	return names
}

// textOnly is the one place where the route's path parameters and every
// query parameter are checked: each must be UTF-8 text without NUL (the
// body's strings are checked by decode). Anything else is a 400 naming the
// parameter, whatever the backend, and a refused change is audited with the
// offending values percent-encoded (see auditText).
//
// The router matches on the escaped path when Go keeps one (an escape it
// would not write itself, such as %2F or lower-case hex), and then leaves
// the parameters escaped: they are unescaped here, so that a handler sees
// the same value however the client escaped it.
func (a *API) textOnly(rt route) func(http.Handler) http.Handler {
	names := pathParams(rt.pattern)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var (
				errs []FieldError
				p    *Problem
			)
			bad := func(name string) {
				errs = append(errs, FieldError{Field: name, Detail: "must be UTF-8 text without NUL characters"})
			}
			values := map[string]string{}
			if rctx := chi.RouteContext(r.Context()); rctx != nil {
				for _, name := range names {
					// The last value of a name is the innermost router's, as
					// chi.URLParam reads it.
					i := -1
					for j, k := range rctx.URLParams.Keys {
						if k == name {
							i = j
						}
					}
					if i < 0 {
						continue
					}
					v := rctx.URLParams.Values[i]
					if r.URL.RawPath != "" {
						u, err := url.PathUnescape(v)
						if err != nil {
							errs = append(errs, FieldError{Field: name, Detail: "is not a valid escaped path segment"})
							continue
						}
						v, rctx.URLParams.Values[i] = u, u
					}
					values[name] = v
					if !isText(v) {
						bad(name)
					}
				}
			}
			vals, err := url.ParseQuery(r.URL.RawQuery)
			if err != nil {
				p = problem(http.StatusBadRequest, KindMalformed, "the query string is malformed")
			}
			for _, name := range slices.Sorted(maps.Keys(vals)) {
				if !isText(name) {
					p = problem(http.StatusBadRequest, KindMalformed, "a query parameter name is not UTF-8 text without NUL characters")
					break
				}
				if slices.ContainsFunc(vals[name], func(s string) bool { return !isText(s) }) {
					bad(name)
				}
			}
			if p == nil && len(errs) > 0 {
				p = problem(http.StatusBadRequest, KindValidation, "%s", fieldsSummary(len(errs)))
				p.Errors = errs
			}
			if p == nil {
				next.ServeHTTP(w, r)
				return
			}
			if rt.action != "" {
				a.auditRefusal(r, rt, values, p)
			}
			writeProblem(w, p)
		})
	}
}

// auditRefusal records a change refused at the edge. The audit store
// holds text only, so every value from the path is recorded by auditText.
func (a *API) auditRefusal(r *http.Request, rt route, values map[string]string, p *Problem) {
	ev := a.event(r, rt.action)
	ev.Outcome = audit.Failure
	ev.Details = map[string]string{audit.DetailReason: p.Kind()}
	for name, v := range values {
		s, escaped := auditText(v)
		if escaped {
			ev.Details["escaped"] = "true"
		}
		switch name {
		case "id":
			ev.TargetType, ev.TargetID = audit.TargetUser, s
		case "client_id":
			ev.TargetType, ev.TargetID = audit.TargetClient, s
		case "name":
			ev.Details["role"] = s
		case "code":
			ev.Details["department"] = s
		}
	}
	if err := a.audit.Write(r.Context(), ev); err != nil {
		a.log.LogAttrs(r.Context(), slog.LevelError, "audit write failed", slog.String("action", ev.Action), slog.Any("error", err))
	}
}

// auditText renders a value from a request for the audit log: as it is
// when it is text of at most storage.MaxAuditFieldLen bytes; otherwise
// percent-encoded as in a URL (RFC 3986 §2.1, so "\xff" is "%FF", which is
// how the client most likely wrote it) and cut to fit on a whole escape.
// escaped reports whether it was encoded.
func auditText(v string) (s string, escaped bool) {
	if isText(v) && len(v) <= storage.MaxAuditFieldLen {
		return v, false
	}
	s = url.PathEscape(v)
	if len(s) > storage.MaxAuditFieldLen {
		s = s[:storage.MaxAuditFieldLen]
		if i := strings.LastIndexByte(s, '%'); i >= len(s)-2 {
			s = s[:i]
		}
	}
	return s, true
}
