package rbac

import (
	"fmt"
	"strings"

	"golang.org/x/text/secure/precis"
)

// MaxUsernameLength bounds a normalized username, in bytes.
const MaxUsernameLength = 255

// NormalizeUsername returns the one form of a username that is stored and
// looked up: surrounding white space trimmed, then the PRECIS
// UsernameCaseMapped profile of RFC 8265 §3.3 (width-mapped, case-folded,
// NFC). So "ＡＬＩＣＥ" and "Alice" are alice, while zero-width and control
// characters are refused rather than silently matched.
func NormalizeUsername(s string) (string, error) {
	if len(s) > 4*MaxUsernameLength {
		return "", fmt.Errorf("%w: username longer than %d bytes", ErrInvalidInput, MaxUsernameLength)
	}
	n, err := precis.UsernameCaseMapped.String(strings.TrimSpace(s))
	if err != nil || n == "" {
		return "", fmt.Errorf("%w: username must be letters, digits and punctuation, with no spaces", ErrInvalidInput)
	}
	if len(n) > MaxUsernameLength {
		return "", fmt.Errorf("%w: username longer than %d bytes", ErrInvalidInput, MaxUsernameLength)
	}
	return n, nil
}
