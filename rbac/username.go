package rbac

import (
	"strings"

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
