package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Limits of a rules file.
const (
	MaxRulesFileSize = 1 << 20
	MaxRules         = 10_000
	// MaxURILength bounds the original request URI the gateway matches;
	// a longer one is refused.
	MaxURILength = 8 << 10
)

// Rule says what a request whose method and path it matches needs: every
// permission of Permissions, or just a valid token (Authenticated), or
// nothing (Public). Exactly one of the three is set.
type Rule struct {
	// Methods are upper-case HTTP methods, or "*" for any. A rule listing
	// GET also matches HEAD.
	Methods []string `yaml:"methods"`
	// Path is a pattern of the decoded request path: literal segments,
	// "*" for exactly one non-empty segment, and a final "**" for any
	// number of segments, none included ("/items/**" matches "/items",
	// "/items/" and "/items/1/parts").
	Path          string   `yaml:"path"`
	Permissions   []string `yaml:"permissions"`
	Authenticated bool     `yaml:"authenticated"`
	Public        bool     `yaml:"public"`

	segs []string // Path split on "/", without the leading empty segment
}

// Rules is a validated, ordered list of rules: the first rule matching a
// request decides; a request none matches is refused.
type Rules struct {
	list []Rule // never empty
}

// ParseRules reads a rules file:
//
//	rules:
//	  - methods: [GET]
//	    path: /items/**
//	    permissions: [inventory.read]
//
// It refuses unknown fields, a bad pattern or method, a permission that
// is empty or holds a space, quote or control character, a rule that does
// not say exactly one of permissions, authenticated or public, and a rule
// an earlier one makes unreachable because it has the same methods and
// path. Errors name the rule by its position, from 1.
func ParseRules(data []byte) (*Rules, error) {
	if len(data) > MaxRulesFileSize {
		return nil, fmt.Errorf("rules: larger than %d bytes", MaxRulesFileSize)
	}
	var doc struct {
		Rules []Rule `yaml:"rules"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("rules: empty file")
		}
		return nil, fmt.Errorf("rules: %w", err)
	}
	switch {
	case len(doc.Rules) == 0:
		return nil, errors.New("rules: no rule: every request would be refused")
	case len(doc.Rules) > MaxRules:
		return nil, fmt.Errorf("rules: %d rules, at most %d", len(doc.Rules), MaxRules)
	}
	seen := map[string]int{}
	for i := range doc.Rules {
		r := &doc.Rules[i]
		if err := r.compile(); err != nil {
			return nil, fmt.Errorf("rules: rule %d (%s): %w", i+1, r.Path, err)
		}
		for _, m := range r.Methods {
			key := m + " " + r.Path
			if j, dup := seen[key]; dup {
				return nil, fmt.Errorf("rules: rule %d (%s): %s is already decided by rule %d", i+1, r.Path, m, j)
			}
			seen[key] = i + 1
		}
	}
	return &Rules{list: doc.Rules}, nil
}

// compile checks r and prepares it for matching.
func (r *Rule) compile() error {
	kinds := 0
	if len(r.Permissions) > 0 {
		kinds++
	}
	if r.Authenticated {
		kinds++
	}
	if r.Public {
		kinds++
	}
	if kinds != 1 {
		return errors.New("say exactly one of permissions, authenticated: true or public: true")
	}
	for _, p := range r.Permissions {
		if p == "" || strings.ContainsFunc(p, func(c rune) bool { return c <= ' ' || c == '"' || c == '\\' || c == ',' || c == 0x7f }) {
			return fmt.Errorf("bad permission %q", p)
		}
	}
	if len(r.Methods) == 0 {
		return errors.New("no methods (use [\"*\"] for any)")
	}
	for i, m := range r.Methods {
		if m == "*" {
			if len(r.Methods) > 1 {
				return errors.New(`"*" must be the only method`)
			}
			continue
		}
		if m == "" || m != strings.ToUpper(m) || !isToken(m) {
			return fmt.Errorf("bad method %q (upper-case, e.g. GET)", m)
		}
		if slices.Contains(r.Methods[:i], m) {
			return fmt.Errorf("method %s twice", m)
		}
	}
	if !strings.HasPrefix(r.Path, "/") {
		return errors.New(`path must start with "/"`)
	}
	r.segs = strings.Split(r.Path[1:], "/")
	for i, s := range r.segs {
		switch {
		case s == "**" && i != len(r.segs)-1:
			return errors.New(`"**" only as the last segment`)
		case s == "" && i != len(r.segs)-1, s == ".", s == "..":
			return errors.New("path not canonical (empty, . or .. segment)")
		case s != "*" && s != "**" && strings.Contains(s, "*"):
			return errors.New(`"*" only as a whole segment`)
		case strings.ContainsFunc(s, isControl):
			return errors.New("control character in path")
		}
	}
	return nil
}

// Match returns the first rule matching method and the decoded, canonical
// path, and false when none does.
func (rs *Rules) Match(method, path string) (*Rule, bool) {
	if i := rs.match(method, path); i >= 0 {
		return &rs.list[i], true
	}
	return nil, false
}

// match returns the index of the first rule matching, or -1.
func (rs *Rules) match(method, path string) int {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for i := range rs.list {
		r := &rs.list[i]
		if r.matchMethod(method) && matchSegs(r.segs, segs) {
			return i
		}
	}
	return -1
}

func (r *Rule) matchMethod(m string) bool {
	if r.Methods[0] == "*" {
		return true
	}
	return slices.Contains(r.Methods, m) || m == "HEAD" && slices.Contains(r.Methods, "GET")
}

func matchSegs(pattern, segs []string) bool {
	for i, p := range pattern {
		if p == "**" {
			return true
		}
		if i >= len(segs) {
			return false
		}
		switch p {
		case "*":
			if segs[i] == "" {
				return false
			}
		default:
			if p != segs[i] {
				return false
			}
		}
	}
	return len(pattern) == len(segs)
}

// canonicalPath returns the decoded path of the origin-form request URI
// uri, or an error when the gateway would not know what path the upstream
// sees: not origin-form, bad percent-encoding, an encoded slash or
// backslash, a backslash, a control character, or an empty, "." or ".."
// segment. The upstream may normalise such a path differently from the
// gateway (CWE-22 path confusion), so the request is refused rather than
// guessed at.
func canonicalPath(uri string) (string, error) {
	if len(uri) > MaxURILength {
		return "", errors.New("uri too long")
	}
	if !strings.HasPrefix(uri, "/") {
		return "", errors.New("not origin-form")
	}
	raw, _, _ := strings.Cut(uri, "?")
	if strings.Contains(raw, "#") || strings.Contains(raw, `\`) {
		return "", errors.New("fragment or backslash")
	}
	lower := strings.ToLower(raw)
	if strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") {
		return "", errors.New("encoded slash")
	}
	p, err := url.PathUnescape(raw)
	if err != nil {
		return "", errors.New("bad percent-encoding")
	}
	if strings.ContainsFunc(p, isControl) {
		return "", errors.New("control character")
	}
	segs := strings.Split(p[1:], "/")
	for i, s := range segs {
		if s == "." || s == ".." || s == "" && i != len(segs)-1 {
			return "", errors.New("dot or empty segment")
		}
	}
	return p, nil
}

func isControl(c rune) bool { return c < 0x20 || c == 0x7f }

// isToken reports whether s is an RFC 9110 §5.6.2 token.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return s != ""
}

// Len returns the number of rules.
func (rs *Rules) Len() int { return len(rs.list) }
