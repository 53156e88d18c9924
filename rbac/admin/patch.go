package admin

import (
	"mime"
	"net/http"
	"slices"
	"strings"
)

// decodePatch reads the body of a PATCH into v, one of the change types
// whose members are pointers (nil: left as it is). It takes
// application/json, read as decode reads it, where a member is given or
// left out, and application/merge-patch+json (RFC 7396), where a member
// may also be null, meaning "remove it". For each null member, removers
// gives the function that sets its removed value in v; a null member that
// cannot be removed is a validation problem naming it. Any other media
// type is a 415 whose Accept-Patch lists the two (RFC 5789 §2.2).
func decodePatch(w http.ResponseWriter, r *http.Request, v any, removers map[string]func()) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var nulls *[]string
	switch {
	case err == nil && mt == "application/json":
	case err == nil && mt == "application/merge-patch+json":
		nulls = &[]string{}
	default:
		w.Header().Set("Accept-Patch", patchTypes)
		return problem(http.StatusUnsupportedMediaType, KindMediaType,
			"send the body as application/json or application/merge-patch+json")
	}
	if err := decodeBody(w, r, v, nulls); err != nil || nulls == nil {
		return err
	}
	var errs []FieldError
	for _, name := range *nulls {
		if remove := removers[name]; remove != nil {
			remove()
		} else {
			errs = append(errs, FieldError{Field: name, Detail: "cannot be removed: give a value or leave it out"})
		}
	}
	if len(errs) > 0 {
		slices.SortFunc(errs, func(a, b FieldError) int { return strings.Compare(a.Field, b.Field) })
		p := problem(http.StatusBadRequest, KindValidation, "%s", fieldsSummary(len(errs)))
		p.Errors = errs
		return p
	}
	return nil
}
