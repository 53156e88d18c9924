package admin

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Users and clients carry an entity tag (RFC 9110 §8.8.3), so that a
// provisioning system can make a change only if nobody changed the record
// since it read it (If-Match, §13.1.1), and re-read it cheaply
// (If-None-Match, §13.1.2).
//
// The tag is a strong validator derived from the stored state: the first
// 128 bits of the SHA-256 of the representation the API shows, which
// holds updated_at (microseconds, set by every write of the record) and,
// for a client, its roles. Equal tags mean byte-equal representations; no
// column or migration is needed, and the tag is the same on every replica.

// maxTags bounds the entity tags a condition may list.
const maxTags = 32

// etagOf returns the entity tag of v, a representation the API shows.
func etagOf(v any) string {
	b, err := json.Marshal(v)
	if err != nil { // the API's own types always marshal
		panic(fmt.Sprintf("admin: marshal representation: %v", err))
	}
	sum := sha256.Sum256(b)
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
}

// patchTypes are the media types PATCH accepts (RFC 5789 §3.1).
const patchTypes = "application/json, application/merge-patch+json"

// writeRepresentation answers status with v, a user or a client, and its
// entity tag; Accept-Patch says how it may be patched.
func writeRepresentation(w http.ResponseWriter, status int, v any) {
	w.Header().Set("ETag", etagOf(v))
	w.Header().Set("Accept-Patch", patchTypes)
	writeJSON(w, status, v)
}

// condition is an If-Match or If-None-Match field: "*", or a list of
// entity tags. The zero condition is an absent field.
type condition struct {
	present bool
	any     bool     // "*"
	tags    []string // as sent, with their quotes and any W/ prefix
}

// parseCondition reads the field name of r. A field that is not "*" nor
// a list of entity tags is a 400: a condition the server cannot read must
// not be taken as met.
func parseCondition(r *http.Request, name string) (condition, error) {
	values := r.Header.Values(name)
	if len(values) == 0 {
		return condition{}, nil
	}
	bad := problem(http.StatusBadRequest, KindMalformed, "%s must be * or a list of entity tags, like \"abc\"", name)
	c := condition{present: true}
	s := strings.Join(values, ",")
	if strings.TrimSpace(s) == "*" {
		c.any = true
		return c, nil
	}
	for {
		s = strings.TrimLeft(s, " \t,")
		if s == "" {
			break
		}
		tag, rest, ok := cutETag(s)
		if !ok || len(c.tags) == maxTags {
			return condition{}, bad
		}
		c.tags = append(c.tags, tag)
		s = strings.TrimLeft(rest, " \t")
		if s != "" && s[0] != ',' {
			return condition{}, bad
		}
	}
	if len(c.tags) == 0 {
		return condition{}, bad
	}
	return c, nil
}

// cutETag cuts the entity tag that starts s (RFC 9110 §8.8.3:
// [W/] DQUOTE *etagc DQUOTE) from the rest of s.
func cutETag(s string) (tag, rest string, ok bool) {
	i := 0
	if strings.HasPrefix(s, "W/") {
		i = 2
	}
	if i >= len(s) || s[i] != '"' {
		return "", "", false
	}
	for j := i + 1; j < len(s); j++ {
		switch c := s[j]; {
		case c == '"':
			return s[:j+1], s[j+1:], true
		case c == 0x21 || c >= 0x23 && c != 0x7f: // etagc, obs-text included
		default:
			return "", "", false
		}
	}
	return "", "", false
}

// ifMatch reports whether an If-Match condition holds for a representation
// with the tag current. It compares strongly (§13.1.1): a weak tag never
// matches. An absent condition holds.
func (c condition) ifMatch(current string) bool {
	if !c.present || c.any {
		return true
	}
	for _, t := range c.tags {
		if t == current {
			return true
		}
	}
	return false
}

// ifNoneMatch reports whether an If-None-Match condition fails for a
// representation with the tag current, so that a GET answers 304. It
// compares weakly (§13.1.2).
func (c condition) ifNoneMatch(current string) bool {
	if !c.present {
		return false
	}
	if c.any {
		return true
	}
	for _, t := range c.tags {
		if strings.TrimPrefix(t, "W/") == current {
			return true
		}
	}
	return false
}

// precondition is the 412 of an If-Match that did not hold. It quotes no
// tag: the client has its own, and GET shows the current one.
func precondition() *Problem {
	return problem(http.StatusPreconditionFailed, KindPreconditionFailed,
		"the record changed since you read it (If-Match); read it again and retry")
}

// notModified answers a GET whose If-None-Match matched the tag of the
// representation: 304, with the tag and no body.
func notModified(w http.ResponseWriter, tag string) {
	h := w.Header()
	h.Set("ETag", tag)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNotModified)
}
