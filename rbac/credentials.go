package rbac

// Reasons a login fails, in CredentialsError.Reason. The caller of the
// token endpoint never sees them; the audit log records them.
const (
	// ReasonInvalidCredentials: the password is wrong (or too long to be anyone's).
	ReasonInvalidCredentials = "invalid_credentials"
	// ReasonUnknownUser: the username names no user.
	ReasonUnknownUser = "unknown_user"
	// ReasonNoPassword: the user has no password set.
	ReasonNoPassword = "no_password"
	// ReasonDisabled: the password is right but the user is disabled.
	ReasonDisabled = "disabled"
	// ReasonHashRefused: the stored hash is malformed or declares more
	// cost than the server allows, so it was not checked.
	ReasonHashRefused = "hash_refused"
)

// CredentialsError is the error of a failed Authenticate. It is
// ErrInvalidCredentials to errors.Is, and tells the audit log which user
// the attempt named and why it failed — what the caller must never learn.
// It holds nothing the caller typed: a username that matched no user is not
// kept.
type CredentialsError struct {
	UserID string // the user the username named; "" when it named none
	Reason string // one of the Reason constants
}

func (e *CredentialsError) Error() string {
	if e.UserID == "" {
		return ErrInvalidCredentials.Error() + " (" + e.Reason + ")"
	}
	return ErrInvalidCredentials.Error() + " (" + e.Reason + ", user " + e.UserID + ")"
}

// Is makes errors.Is(err, ErrInvalidCredentials) hold.
func (e *CredentialsError) Is(target error) bool { return target == ErrInvalidCredentials }
