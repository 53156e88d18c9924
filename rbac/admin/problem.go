package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/gaia-platform/iam/outage"
	"github.com/gaia-platform/iam/password"
	"github.com/gaia-platform/iam/rbac"
	"github.com/gaia-platform/iam/storage"
)

// ProblemTypePrefix starts every problem type URI; the kind follows it.
// The URIs are stable identifiers (RFC 9457 §3.1.1), not links.
const ProblemTypePrefix = "urn:gaia-iam:problem:"

// The kinds of problem the API answers with. Clients switch on the type,
// never on the detail text.
const (
	KindMalformed        = "malformed-request"
	KindValidation       = "validation"
	KindUnauthorized     = "unauthorized"
	KindForbidden        = "forbidden"
	KindNotFound         = "not-found"
	KindMethodNotAllowed = "method-not-allowed"
	KindConflict         = "conflict"
	KindDependentRoles   = "dependent-roles"
	KindRoleNotAllowed   = "role-not-allowed"
	KindTooLarge         = "payload-too-large"
	KindMediaType        = "unsupported-media-type"
	KindInternal         = "internal"
	// KindDelegation: the change would give or touch permissions the
	// caller does not hold; missing_permissions names them.
	KindDelegation = "delegation"
	// KindSelfChange: the caller would change its own roles, departments
	// or active flag, which only another administrator may do.
	KindSelfChange  = "self-change"
	KindUnavailable = "unavailable"

	// KindPreconditionFailed: an If-Match condition did not hold (RFC
	// 9110 §13.1.1); nothing was changed.
	KindPreconditionFailed = "precondition-failed"
)

var problemTitles = map[string]string{
	KindMalformed:        "Malformed request",
	KindValidation:       "Invalid request",
	KindUnauthorized:     "Unauthorized",
	KindForbidden:        "Forbidden",
	KindNotFound:         "Not found",
	KindMethodNotAllowed: "Method not allowed",
	KindConflict:         "Conflict",
	KindDependentRoles:   "Held roles depend on the department",
	KindRoleNotAllowed:   "Role not allowed by the user's departments",
	KindTooLarge:         "Payload too large",
	KindMediaType:        "Unsupported media type",
	KindInternal:         "Internal error",
	KindDelegation:       "Not yours to delegate",
	KindSelfChange:       "No one changes their own grants",
	KindUnavailable:      "Service unavailable",

	KindPreconditionFailed: "Precondition failed",
}

// FieldError names one invalid field of a request.
type FieldError struct {
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

// Problem is an RFC 9457 problem details object, with the extension
// members Gaia's kinds use.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`

	// Extension members, each present only with its kinds; a nil slice is
	// left out, an empty one is shown.
	Errors             []FieldError `json:"errors,omitzero"`               // validation
	Roles              []string     `json:"roles,omitzero"`                // dependent-roles
	Role               string       `json:"role,omitempty"`                // role-not-allowed
	Departments        []string     `json:"departments,omitzero"`          // role-not-allowed
	RequiredPermission string       `json:"required_permission,omitempty"` // forbidden
	MissingPermissions []string     `json:"missing_permissions,omitzero"`  // delegation, self-change
}

// Error makes a *Problem an error a handler can return.
func (p *Problem) Error() string { return p.Type + ": " + p.Detail }

// Kind is the part of Type after ProblemTypePrefix.
func (p *Problem) Kind() string { return strings.TrimPrefix(p.Type, ProblemTypePrefix) }

func problem(status int, kind, format string, args ...any) *Problem {
	return &Problem{
		Type:   ProblemTypePrefix + kind,
		Title:  problemTitles[kind],
		Status: status,
		Detail: fmt.Sprintf(format, args...),
	}
}

// invalid is a validation problem about one field.
func invalid(field, detail string) *Problem {
	p := problem(http.StatusBadRequest, KindValidation, "%s", detail)
	p.Errors = []FieldError{{Field: field, Detail: detail}}
	return p
}

// toProblem maps an error from the domain or the store to the problem the
// client sees. A detail never quotes what the client sent (it may be
// anything, and a problem is shown and logged); the members it concerns
// are named instead. Anything unexpected is an internal error whose cause
// goes to the log.
func toProblem(err error) *Problem {
	var (
		p   *Problem
		ve  *rbac.ValidationError
		rna *rbac.RoleNotAllowedError
		dep *rbac.DependentRolesError
		del *rbac.DelegationError
	)
	switch {
	case errors.As(err, &p):
		return p
	case errors.As(err, &ve):
		p := problem(http.StatusBadRequest, KindValidation, "%s", fieldsSummary(len(ve.Fields)))
		for _, f := range ve.Fields {
			p.Errors = append(p.Errors, FieldError{Field: f.Field, Detail: f.Detail})
		}
		return p
	case errors.As(err, &rna):
		p := problem(http.StatusUnprocessableEntity, KindRoleNotAllowed,
			"none of the user's departments (see departments) allows the role")
		p.Role, p.Departments = rna.Role, nonNil(rna.Departments)
		return p
	case errors.As(err, &dep):
		p := problem(http.StatusConflict, KindDependentRoles,
			"the user holds roles (see roles) that only this department allows; retry with cascade=true to unassign them too")
		p.Roles = dep.Roles
		return p
	case errors.As(err, &del):
		return delegationProblem(del)
	case errors.Is(err, rbac.ErrPublicClient):
		return problem(http.StatusConflict, KindConflict, "a public client has no secret")
	case errors.Is(err, rbac.ErrInvalidInput), errors.Is(err, storage.ErrInvalid):
		// Defence in depth: the edge (textOnly, decode) and the domain's
		// validation name the field; a bound only the store enforces is
		// still the client's fault, though it cannot be traced to a field.
		return problem(http.StatusBadRequest, KindMalformed, "the request holds a value outside what the server can store")
	case errors.Is(err, storage.ErrNotFound):
		return problem(http.StatusNotFound, KindNotFound, "the %s does not exist", subject(err))
	case errors.Is(err, storage.ErrConflict):
		return problem(http.StatusConflict, KindConflict, "the change conflicts with what is stored")
	}
	return nil
}

// subject is what a wrapped domain error is about, without its name: the
// first word of the text before its first colon ("role InventoryViewer:
// get role: not found" → "role"), when that is a kind of record the API
// manages. Domain errors start with what they address.
func subject(err error) string {
	s, _, _ := strings.Cut(err.Error(), ":")
	word, _, _ := strings.Cut(s, " ")
	switch word {
	case "user", "client", "role", "department", "permission":
		return word
	}
	return "user, client, role or department the request names"
}

func fieldsSummary(n int) string {
	if n == 1 {
		return "1 field is invalid"
	}
	return fmt.Sprintf("%d fields are invalid", n)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// writeProblem answers with p. Problem bodies are never cached.
func writeProblem(w http.ResponseWriter, p *Problem) {
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// writeError maps err and answers with it; an unexpected error is logged
// with the request's method and route, and answered 500 with no detail.
func (a *API) writeError(ctx context.Context, w http.ResponseWriter, r *http.Request, err error) {
	p := toProblem(err)
	// The database down, or every password hashing slot taken past the
	// wait: the server's state, not the request's fault.
	if p == nil && (outage.Is(err) || errors.Is(err, password.ErrBusy)) {
		a.log.LogAttrs(ctx, slog.LevelError, "admin request failed: temporarily unavailable",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("error", err))
		w.Header().Set("Retry-After", strconv.Itoa(outage.RetryAfter))
		p = problem(http.StatusServiceUnavailable, KindUnavailable, "the server is temporarily unable to handle the request; try again later")
	}
	if p == nil {
		a.log.LogAttrs(ctx, slog.LevelError, "admin request failed",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("error", err))
		p = problem(http.StatusInternalServerError, KindInternal, "internal error")
	}
	writeProblem(w, p)
}

// writeJSON answers status with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// delegationProblem is the 403 of a change the domain's delegation rules
// refuse. The detail names what was refused, never the principal's id.
func delegationProblem(e *rbac.DelegationError) *Problem {
	var p *Problem
	switch e.Reason {
	case rbac.ReasonSelf:
		p = problem(http.StatusForbidden, KindSelfChange,
			"no one changes their own roles, departments or active flag; ask another administrator")
	case rbac.ReasonGrant:
		p = problem(http.StatusForbidden, KindDelegation,
			"the role carries permissions you do not hold: %s", strings.Join(e.Missing, ", "))
	default:
		p = problem(http.StatusForbidden, KindDelegation,
			"the principal holds permissions you do not hold: %s", strings.Join(e.Missing, ", "))
	}
	p.MissingPermissions = nonNil(e.Missing)
	return p
}
