package rbac

import (
	"slices"
	"strings"
	"unicode"

	"golang.org/x/text/secure/precis"
)

// MaxUsernameLength bounds a normalized username, in bytes.
const MaxUsernameLength = 255

// NormalizeUsername returns the one form of a username that is stored and
// looked up: surrounding white space trimmed, then the PRECIS
// UsernameCaseMapped profile of RFC 8265 §3.3 (width-mapped, case-folded,
// NFC). So "ＡＬＩＣＥ" and "Alice" are alice, while zero-width and control
// characters are refused rather than silently matched. A refused name is a
// *ValidationError for the field "username".
func NormalizeUsername(s string) (string, error) {
	if len(s) > 4*MaxUsernameLength {
		return "", invalidField("username", "username longer than %d bytes", MaxUsernameLength)
	}
	n, err := precis.UsernameCaseMapped.String(strings.TrimSpace(s))
	if err != nil || n == "" {
		return "", invalidField("username", "username must be letters, digits and punctuation, with no spaces")
	}
	if len(n) > MaxUsernameLength {
		return "", invalidField("username", "username longer than %d bytes", MaxUsernameLength)
	}
	return n, nil
}

// checkScript refuses a username whose letters come from more than one
// script, as UTS #39 §5.1 defines "single script" with its augmented sets
// (Han with Hiragana and Katakana is Japanese, Han with Hangul Korean, Han
// with Bopomofo Chinese): "pаypal" with a Cyrillic а is refused, "山田たろう"
// is not. Digits and punctuation belong to every script.
func checkScript(username string) error {
	var common []string // scripts every letter so far belongs to; nil: no letter yet
	for _, r := range username {
		sets := scriptsOf(r)
		if sets == nil {
			continue
		}
		if common == nil {
			common = sets
			continue
		}
		common = slices.DeleteFunc(common, func(s string) bool { return !slices.Contains(sets, s) })
		if len(common) == 0 {
			return invalidField("username", "username mixes letters of different scripts")
		}
	}
	return nil
}

// scriptsOf returns the augmented script set of r (UTS #39 §5.1), or nil
// for a rune of the Common or Inherited script.
func scriptsOf(r rune) []string {
	for name, table := range unicode.Scripts {
		if name == "Common" || name == "Inherited" || !unicode.Is(table, r) {
			continue
		}
		switch name {
		case "Han":
			return []string{"Han", "Jpan", "Kore", "Hanb"}
		case "Hiragana", "Katakana":
			return []string{"Jpan"}
		case "Hangul":
			return []string{"Kore"}
		case "Bopomofo":
			return []string{"Hanb"}
		}
		return []string{name}
	}
	return nil
}
