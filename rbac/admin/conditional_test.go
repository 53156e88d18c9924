package admin

import (
	"net/http/httptest"
	"slices"
	"testing"
)

func TestParseCondition(t *testing.T) {
	const cur = `"abc"`
	tests := []struct {
		name        string
		values      []string // header lines; none: absent
		bad         bool
		tags        []string
		match       bool // If-Match holds for cur
		noneMatches bool // If-None-Match matches cur (304)
	}{
		{name: "absent", match: true},
		{name: "star", values: []string{" * "}, match: true, noneMatches: true},
		{name: "one tag", values: []string{cur}, tags: []string{cur}, match: true, noneMatches: true},
		{name: "list", values: []string{`"x" ,` + cur}, tags: []string{`"x"`, cur}, match: true, noneMatches: true},
		{name: "lines", values: []string{`"x"`, cur}, tags: []string{`"x"`, cur}, match: true, noneMatches: true},
		{name: "other", values: []string{`"x"`}, tags: []string{`"x"`}},
		{name: "weak", values: []string{"W/" + cur}, tags: []string{"W/" + cur}, noneMatches: true},
		{name: "empty tag", values: []string{`""`}, tags: []string{`""`}},
		{name: "obs-text", values: []string{"\"\xff\""}, tags: []string{"\"\xff\""}},
		{name: "unquoted", values: []string{"abc"}, bad: true},
		{name: "unterminated", values: []string{`"abc`}, bad: true},
		{name: "space in a tag", values: []string{`"a b"`}, bad: true},
		{name: "no comma", values: []string{`"a" "b"`}, bad: true},
		{name: "star in a list", values: []string{`*, "a"`}, bad: true},
		{name: "only commas", values: []string{" , ,"}, bad: true},
		{name: "empty", values: []string{""}, bad: true},
		{name: "too many", values: []string{`"1","2","3","4","5","6","7","8","9","10","11","12","13","14","15","16",` +
			`"17","18","19","20","21","22","23","24","25","26","27","28","29","30","31","32","33"`}, bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			for _, v := range tt.values {
				r.Header.Add("If-Match", v)
			}
			c, err := parseCondition(r, "If-Match")
			if (err != nil) != tt.bad {
				t.Fatalf("parseCondition(%q) error = %v, want error %t", tt.values, err, tt.bad)
			}
			if err != nil {
				if p, ok := err.(*Problem); !ok || p.Kind() != KindMalformed {
					t.Errorf("parseCondition(%q) = %v, want a malformed-request problem", tt.values, err)
				}
				return
			}
			if !slices.Equal(c.tags, tt.tags) {
				t.Errorf("parseCondition(%q).tags = %q, want %q", tt.values, c.tags, tt.tags)
			}
			if got := c.ifMatch(cur); got != tt.match {
				t.Errorf("ifMatch(%s) with %q = %t, want %t", cur, tt.values, got, tt.match)
			}
			if got := c.ifNoneMatch(cur); got != tt.noneMatches {
				t.Errorf("ifNoneMatch(%s) with %q = %t, want %t", cur, tt.values, got, tt.noneMatches)
			}
		})
	}
}

func TestETagIsStrongAndStable(t *testing.T) {
	a, b := User{ID: "1", Username: "a"}, User{ID: "1", Username: "b"}
	ta, tb := etagOf(a), etagOf(b)
	if ta != etagOf(a) || ta == tb {
		t.Errorf("etagOf = %s, %s, %s; want equal for equal representations only", ta, etagOf(a), tb)
	}
	if tag, rest, ok := cutETag(ta); !ok || tag != ta || rest != "" || ta[0] != '"' {
		t.Errorf("etagOf = %s, not a strong entity tag", ta)
	}
}
