package admin

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

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
// MaxBodySize, one object, no unknown fields and no null members (a member
// is either given a value or left out).
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	if err := checkMediaType(r); err != nil {
		return err
	}
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
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil || members == nil {
		return problem(http.StatusBadRequest, KindMalformed, "the body is not a JSON object")
	}
	for name, raw := range members {
		if string(raw) == "null" {
			return problem(http.StatusBadRequest, KindMalformed, "member %q is null: leave it out instead", name)
		}
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
	// DisallowUnknownFields reports `json: unknown field "x"`.
	if msg := err.Error(); len(msg) > 6 && msg[:6] == "json: " {
		return msg[6:]
	}
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
