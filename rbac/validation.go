package rbac

import (
	"errors"
	"fmt"
	"strings"
)

// FieldError is one invalid field of an input.
type FieldError struct {
	// Field names the field as the admin API spells it: "username",
	// "client_id", "grant_types".
	Field string
	// Detail says what is wrong in a sentence that reads on its own
	// ("email is not a plain address"), so that it can be shown with or
	// without the field name. It never quotes the value: the admin API
	// shows it to whoever sent it, and logs may keep it.
	Detail string
}

// ValidationError lists the invalid fields of an input, so that the HTTP
// layer can report each one. errors.Is(err, ErrInvalidInput) holds for it,
// and so does errors.Is with an underlying cause such as
// password.ErrTooShort.
type ValidationError struct {
	Fields []FieldError // in the order they were found; never empty

	causes []error // errors behind some of the fields, for errors.Is
}

// Error lists every detail: "invalid input: name is required; …".
func (e *ValidationError) Error() string {
	details := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		details[i] = f.Detail
	}
	return ErrInvalidInput.Error() + ": " + strings.Join(details, "; ")
}

// Unwrap makes errors.Is hold for ErrInvalidInput and for the causes.
func (e *ValidationError) Unwrap() []error {
	return append([]error{ErrInvalidInput}, e.causes...)
}

// Add records an invalid field; format and args make the detail.
func (e *ValidationError) Add(field, format string, args ...any) {
	e.Fields = append(e.Fields, FieldError{Field: field, Detail: fmt.Sprintf(format, args...)})
}

// Err returns e when it lists a field, and nil otherwise, so that a
// validation can end with `return v.Err()`.
func (e *ValidationError) Err() error {
	if e == nil || len(e.Fields) == 0 {
		return nil
	}
	return e
}

// invalidField returns a ValidationError for one field.
func invalidField(field, format string, args ...any) error {
	var v ValidationError
	v.Add(field, format, args...)
	return &v
}

// invalidBecause returns a ValidationError for one field whose detail is
// cause's message; errors.Is(err, cause) holds.
func invalidBecause(field string, cause error) error {
	return &ValidationError{Fields: []FieldError{{Field: field, Detail: cause.Error()}}, causes: []error{cause}}
}

// merge adds the fields of err, a *ValidationError or nil, to e.
func (e *ValidationError) merge(err error) {
	if err == nil {
		return
	}
	var v *ValidationError
	if !errors.As(err, &v) { // a programming error: every check returns a ValidationError
		e.Add("", "%s", err)
		e.causes = append(e.causes, err)
		return
	}
	e.Fields = append(e.Fields, v.Fields...)
	e.causes = append(e.causes, v.causes...)
}
