package rbac

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/mtibben/confusables"
	"golang.org/x/text/secure/precis"

	"github.com/gaia-platform/iam/storage"
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

// skeleton is the UTS #39 §4 skeleton of a normalized username: two names
// with the same skeleton look alike ("асс-admin" in Cyrillic and
// "acc-admin" in Latin).
func skeleton(username string) string {
	return confusables.Skeleton(username)
}

// checkNotConfusable refuses a new username whose skeleton is that of a
// stored one, unless it is that very username (which CreateUser refuses
// as a conflict). It runs in the creating transaction, under a lock, so
// that two look-alikes created at once cannot both pass.
//
// The store keeps no skeletons yet, so this reads every username, a page
// at a time. A unique username_skeleton column would make it one lookup
// and close the race without the lock: confusableUser is the one place to
// change.
func (s *Service) checkNotConfusable(ctx context.Context, username string) error {
	if err := s.store.Lock(ctx, "usernames"); err != nil {
		return fmt.Errorf("lock usernames: %w", err)
	}
	found, err := s.confusableUser(ctx, skeleton(username))
	if err != nil {
		return err
	}
	if found != "" && found != username {
		return invalidField("username", "username looks like the name of an existing user; choose another")
	}
	return nil
}

// confusableUser returns the username of a stored user whose skeleton is
// skel, or "".
func (s *Service) confusableUser(ctx context.Context, skel string) (string, error) {
	f := storage.UserFilter{Limit: storage.MaxListLimit}
	for {
		users, err := s.store.ListUsers(ctx, f)
		if err != nil {
			return "", fmt.Errorf("list users: %w", err)
		}
		for _, u := range users {
			if skeleton(u.Username) == skel {
				return u.Username, nil
			}
		}
		if len(users) < f.Limit {
			return "", nil
		}
		f.After = users[len(users)-1].Username
	}
}
