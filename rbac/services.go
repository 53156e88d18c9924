package rbac

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Services maps the audience of each resource service to the permissions a
// token for that audience carries: a token asked for one service (RFC 8707
// resource) names only it in aud and holds only its permissions, so it is
// small and useless at any other service. The zero value and nil declare no
// service. It is read-only once made, so safe for concurrent use.
type Services struct {
	patterns map[string][]string // audience → permission names and "prefix.*" patterns
}

// MaxAudienceLength bounds a service audience (and any audience a client
// asks for).
const MaxAudienceLength = 255

var permissionPattern = regexp.MustCompile(`^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*(\.\*)?$`)

// NewServices checks the mapping: every audience non-empty and at most
// MaxAudienceLength bytes with no white space, every pattern an exact
// permission name (inventory.read) or a namespace (inventory.*).
func NewServices(m map[string][]string) (*Services, error) {
	s := &Services{patterns: make(map[string][]string, len(m))}
	for aud, ps := range m {
		if err := CheckServicePatterns(aud, ps); err != nil {
			return nil, err
		}
		s.patterns[aud] = slices.Clone(ps)
	}
	return s, nil
}

// CheckServicePatterns reports what is wrong with one service's entry.
func CheckServicePatterns(aud string, patterns []string) error {
	switch {
	case aud == "" || len(aud) > MaxAudienceLength || strings.ContainsFunc(aud, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return fmt.Errorf("service %q: the audience must be 1 to %d bytes with no spaces or control characters", aud, MaxAudienceLength)
	case len(patterns) == 0:
		return fmt.Errorf("service %q: list its permissions (names such as inventory.read, or namespaces such as inventory.*)", aud)
	}
	for _, p := range patterns {
		if !permissionPattern.MatchString(p) || !strings.Contains(p, ".") {
			return fmt.Errorf("service %q: %q is neither a permission name nor a namespace such as inventory.*", aud, p)
		}
	}
	return nil
}

// Declared reports whether aud is a declared service.
func (s *Services) Declared(aud string) bool {
	if s == nil {
		return false
	}
	_, ok := s.patterns[aud]
	return ok
}

// Audiences returns the declared audiences, sorted.
func (s *Services) Audiences() []string {
	if s == nil {
		return nil
	}
	out := make([]string, 0, len(s.patterns))
	for a := range s.patterns {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// Permissions returns the subset of perms that a token whose aud is auds
// carries: those of the services it names. An audience that is not a
// declared service (the platform's default audience, say) restricts
// nothing: perms is then returned as it is.
func (s *Services) Permissions(auds []string, perms []string) []string {
	var pats []string
	for _, aud := range auds {
		ps, ok := s.patternsOf(aud)
		if !ok {
			return perms
		}
		pats = append(pats, ps...)
	}
	if len(auds) == 0 {
		return perms
	}
	out := make([]string, 0, len(perms))
	for _, p := range perms {
		if slices.ContainsFunc(pats, func(pat string) bool { return matchPermission(pat, p) }) {
			out = append(out, p)
		}
	}
	return out
}

func (s *Services) patternsOf(aud string) ([]string, bool) {
	if s == nil {
		return nil, false
	}
	ps, ok := s.patterns[aud]
	return ps, ok
}

// matchPermission reports whether pattern covers perm: the same name, or a
// namespace "a.*" covering every permission under "a." at any depth.
func matchPermission(pattern, perm string) bool {
	if ns, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(perm, ns)
	}
	return pattern == perm
}
