// Package rbac is Gaia's domain: users, their departments and roles, the rule
// that decides which roles a user may hold, and the resolution of roles into
// the flat permission list a token carries.
//
// Every entry point that changes assignments — the admin API, the seeder,
// the CLI — goes through Service, so the department rule holds whatever the
// caller.
package rbac

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/gaia-platform/iam/password"
	"github.com/gaia-platform/iam/storage"
)

var (
	// ErrRoleNotAllowed reports an assignment that none of the user's
	// departments allows. The concrete error is a *RoleNotAllowedError.
	ErrRoleNotAllowed = errors.New("role not allowed by any of the user's departments")
	// ErrRolesDependOnDepartment reports a department removal that would
	// leave held roles without a department allowing them. The concrete
	// error is a *DependentRolesError.
	ErrRolesDependOnDepartment = errors.New("held roles depend on the department")
	// ErrInvalidCredentials is the one answer to every failed login: unknown
	// user, wrong password, disabled user, no password set.
	ErrInvalidCredentials = errors.New("invalid username or password")
	// ErrDisabled reports a disabled user where a token would be issued.
	ErrDisabled = errors.New("user is disabled")
	// ErrInvalidInput reports a value that breaks a rule of the model.
	ErrInvalidInput = errors.New("invalid input")
)

// RoleNotAllowedError names the user, the role and the departments that
// failed to allow it.
type RoleNotAllowedError struct {
	Username    string
	Role        string
	Departments []string // the user's department codes, sorted
}

func (e *RoleNotAllowedError) Error() string {
	depts := "they are in no department"
	if len(e.Departments) > 0 {
		depts = "none of their departments (" + strings.Join(e.Departments, ", ") + ") allows it"
	}
	return fmt.Sprintf("role %q cannot be assigned to user %q: %s", e.Role, e.Username, depts)
}

// Is makes errors.Is(err, ErrRoleNotAllowed) hold.
func (e *RoleNotAllowedError) Is(target error) bool { return target == ErrRoleNotAllowed }

// DependentRolesError lists the roles that only the department allows.
type DependentRolesError struct {
	Username   string
	Department string
	Roles      []string // sorted
}

func (e *DependentRolesError) Error() string {
	return fmt.Sprintf("removing user %q from department %s would leave roles %s allowed by none of their departments",
		e.Username, e.Department, strings.Join(e.Roles, ", "))
}

// Is makes errors.Is(err, ErrRolesDependOnDepartment) hold.
func (e *DependentRolesError) Is(target error) bool { return target == ErrRolesDependOnDepartment }

// PasswordHasher hashes and verifies user passwords; *password.Hasher is
// the one the server uses.
type PasswordHasher interface {
	Hash(ctx context.Context, pw string) (string, error)
	Verify(ctx context.Context, encoded, pw string) (ok, needsRehash bool, err error)
	// VerifyNothing spends the time of a Verify, for a login that has no
	// hash to verify against.
	VerifyNothing(ctx context.Context, pw string) error
}

var _ PasswordHasher = (*password.Hasher)(nil)

// Service applies the domain rules on top of a store.
type Service struct {
	store  storage.Store
	hasher PasswordHasher
	log    *slog.Logger
	now    func() time.Time
}

// New returns a Service. hasher hashes and verifies user passwords.
func New(store storage.Store, hasher PasswordHasher, log *slog.Logger) (*Service, error) {
	if store == nil || hasher == nil || log == nil {
		return nil, errors.New("rbac.New: store, hasher and log are required")
	}
	return &Service{store: store, hasher: hasher, log: log, now: time.Now}, nil
}
