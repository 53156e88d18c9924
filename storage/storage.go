// Package storage is the vocabulary shared by Gaia's persistence backends: the
// record types, the small per-aggregate interfaces a backend implements, and
// the errors callers test with errors.Is.
//
// Every method takes the request's context. When that context carries a
// transaction opened by Store.InTx or Store.Begin, the method runs inside it;
// otherwise it runs on its own. Backends live in the sqlite and postgres
// subpackages; the storagetest package is the definition of what a backend
// must do.
package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mtibben/confusables"
)

// Errors returned (wrapped) by every backend. Callers test them with errors.Is.
var (
	// ErrNotFound reports that the addressed record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict reports that a write would break a uniqueness or
	// referential rule: a duplicate name, a pair that already exists, a
	// reference to a missing row.
	ErrConflict = errors.New("conflict")
	// ErrInvalid reports a record or a filter that breaks a bound the
	// schema enforces (a field too long, a required field empty, a limit
	// out of range), caught before any statement runs: nothing was
	// written. It is the caller's mistake, not the database's.
	ErrInvalid = errors.New("invalid record")
	// ErrConfusable reports a username whose skeleton (UsernameSkeleton)
	// is that of another stored username. It comes with ErrConflict.
	ErrConfusable = errors.New("username confusable with a stored one")
)

// UsernameSkeleton is the UTS #39 §4 skeleton of a normalized username:
// two names with the same skeleton look alike ("асс-admin" in Cyrillic and
// "acc-admin" in Latin). The store keeps it, unique, next to each
// username, and computes it itself so that it always matches the name.
func UsernameSkeleton(username string) string {
	return confusables.Skeleton(username)
}

// User is a person or system identity that logs in with a password.
type User struct {
	ID string // UUID, assigned by CreateUser when empty
	// Username is the login name in its normalized form (see rbac.NormalizeUsername);
	// unique, compared case-insensitively.
	Username     string
	Email        string // optional
	PasswordHash string // PHC string; empty means password login is impossible
	Active       bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Permission is an atomic action, named in dotted lower case: inventory.read.
type Permission struct {
	ID          string
	Name        string
	Description string
}

// Role groups permissions.
type Role struct {
	ID          string
	Name        string
	Description string
	// Permissions lists the names of the role's permissions, sorted. Filled by
	// ListRoles; ignored by CreateRole and UpdateRole (use SetRolePermissions).
	Permissions []string
}

// Department is an organisational unit whose members may hold its allowed roles.
type Department struct {
	ID   string
	Code string // e.g. INVENTORY; unique
	Name string
	// AllowedRoles lists the names of the roles members may hold, sorted.
	// Filled by ListDepartments; ignored by Create/Update (use SetDepartmentRoles).
	AllowedRoles []string
}

// Client is an OAuth 2.0 client: a first-party application or a service.
type Client struct {
	ID         string // UUID
	ClientID   string // the public OAuth client_id; unique
	Name       string
	SecretHash string // empty for public clients
	Public     bool
	GrantTypes []string
	Scopes     []string
	Audiences  []string
	Active     bool
	CreatedAt  time.Time
	UpdatedAt  time.Time
	// RedirectURIs and PostLogoutRedirectURIs are where the authorization
	// endpoint and RP-initiated logout may send the browser back to,
	// matched exactly.
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
}

// Grants is what a subject holds: role names and the permissions they carry,
// each sorted and free of duplicates.
type Grants struct {
	Roles       []string
	Permissions []string
}

// Bounds of a list, in records.
const (
	DefaultListLimit = 50   // what a zero Limit means
	MaxListLimit     = 1000 // a larger Limit is ErrInvalid
)

// UserFilter selects users for ListUsers. Zero fields select everything.
type UserFilter struct {
	UsernamePrefix string // byte-wise prefix of the normalized (lower-case) username
	Department     string // department code: members only
	Role           string // role name: holders only
	Active         *bool
	After          string // keyset cursor: only usernames sorting byte-wise after this
	Limit          int    // at most this many; 0 means DefaultListLimit; above MaxListLimit is an error
}

// Check returns f with Limit resolved (DefaultListLimit for 0) for a
// backend to run. A negative Limit or one above MaxListLimit, or a string
// that is not valid UTF-8 or holds a NUL byte (which no stored username,
// code or name can match, and PostgreSQL refuses as a parameter), is
// ErrInvalid.
func (f UserFilter) Check() (UserFilter, error) {
	var err error
	if f.Limit, err = listLimit(f.Limit); err != nil {
		return f, err
	}
	for _, v := range []struct{ name, s string }{
		{"username prefix", f.UsernamePrefix},
		{"department", f.Department},
		{"role", f.Role},
		{"cursor", f.After},
	} {
		if err := CheckText(v.name, v.s); err != nil {
			return f, err
		}
	}
	return f, nil
}

// listLimit resolves the Limit of a filter.
func listLimit(n int) (int, error) {
	switch {
	case n == 0:
		return DefaultListLimit, nil
	case n < 0 || n > MaxListLimit:
		return 0, fmt.Errorf("%w: limit %d, want 1 to %d", ErrInvalid, n, MaxListLimit)
	}
	return n, nil
}

// CheckText reports, wrapping ErrInvalid, a string that is not valid UTF-8
// or holds a NUL byte: PostgreSQL's text refuses both, SQLite's keeps them,
// so either would read back differently from the two backends.
func CheckText(name, s string) error {
	if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("%w: %s is not UTF-8 text without NUL", ErrInvalid, name)
	}
	return nil
}

// PrefixEnd returns the least valid UTF-8 string that sorts byte-wise after
// every string beginning with prefix, and false when there is none (prefix
// is empty, or all U+10FFFF). So, for valid UTF-8 s, s begins with prefix
// exactly when prefix <= s < end: a range that an ordered index answers,
// without LIKE and the wildcards '%' and '_' it would find in prefix.
// prefix must be valid UTF-8.
func PrefixEnd(prefix string) (string, bool) {
	for prefix != "" {
		r, size := utf8.DecodeLastRuneInString(prefix)
		prefix = prefix[:len(prefix)-size]
		switch {
		case r == utf8.MaxRune:
			continue // no greater rune: carry into the one before
		case r == 0xD7FF:
			r = 0xE000 // skip the surrogates, which UTF-8 cannot encode
		default:
			r++
		}
		// UTF-8 sorts byte-wise as its runes do, and no rune's encoding is
		// a prefix of another's.
		return prefix + string(r), true
	}
	return "", false
}

// Users stores user accounts.
type Users interface {
	// CreateUser inserts u, assigning ID and timestamps when they are zero.
	// A username already taken (case-insensitively) is ErrConflict; one
	// whose UsernameSkeleton is another stored username's is ErrConfusable
	// and ErrConflict, even when a concurrent CreateUser stored that one.
	CreateUser(ctx context.Context, u *User) error
	GetUser(ctx context.Context, id string) (*User, error)
	// GetUserByUsername finds a user by username, compared case-insensitively.
	GetUserByUsername(ctx context.Context, username string) (*User, error)
	// UpdateUser loads the user, calls fn on it, and stores the result, all in
	// one transaction with the row locked, so concurrent updates do not lose
	// writes. An error from fn aborts the update and is returned as is. A
	// new username taken, or confusable with a stored one, is ErrConflict.
	UpdateUser(ctx context.Context, id string, fn func(*User) error) (*User, error)
	// DeleteUser removes the user and their memberships and role assignments.
	DeleteUser(ctx context.Context, id string) error
	// ListUsers lists users matching f, sorted by username byte-wise (keyset
	// pagination on After). None is an empty, non-nil slice; an unknown
	// department or role matches nobody. A filter that UserFilter.Check
	// refuses is ErrInvalid.
	ListUsers(ctx context.Context, f UserFilter) ([]User, error)
}

// Catalog stores the RBAC definitions that the seed file owns: permissions,
// roles, departments and their mappings. Names are each entry's identity.
type Catalog interface {
	ListPermissions(ctx context.Context) ([]Permission, error)
	CreatePermission(ctx context.Context, p *Permission) error
	// UpdatePermission rewrites the description of the permission with p.ID.
	UpdatePermission(ctx context.Context, p *Permission) error
	// DeletePermission removes it and every role's grant of it.
	DeletePermission(ctx context.Context, id string) error

	ListRoles(ctx context.Context) ([]Role, error)
	GetRoleByName(ctx context.Context, name string) (*Role, error)
	CreateRole(ctx context.Context, r *Role) error
	UpdateRole(ctx context.Context, r *Role) error
	// DeleteRole removes it and every assignment of it, to users, clients and departments.
	DeleteRole(ctx context.Context, id string) error
	// SetRolePermissions makes the role's permissions exactly permissionIDs.
	SetRolePermissions(ctx context.Context, roleID string, permissionIDs []string) error

	ListDepartments(ctx context.Context) ([]Department, error)
	GetDepartmentByCode(ctx context.Context, code string) (*Department, error)
	CreateDepartment(ctx context.Context, d *Department) error
	UpdateDepartment(ctx context.Context, d *Department) error
	// DeleteDepartment removes it, its allowed roles and its memberships.
	DeleteDepartment(ctx context.Context, id string) error
	// SetDepartmentRoles makes the department's allowed roles exactly roleIDs.
	SetDepartmentRoles(ctx context.Context, departmentID string, roleIDs []string) error
	// DepartmentsAllowing lists the departments that allow the role, sorted by code.
	DepartmentsAllowing(ctx context.Context, roleID string) ([]Department, error)
}

// Memberships stores who is in which department and who holds which role.
// Adding a pair that exists is ErrConflict; removing one that does not is ErrNotFound.
// These methods store pairs; the rule that decides which pairs are allowed
// lives in package rbac.
type Memberships interface {
	AddUserDepartment(ctx context.Context, userID, departmentID string) error
	RemoveUserDepartment(ctx context.Context, userID, departmentID string) error
	// UserDepartments lists the user's departments, sorted by code.
	UserDepartments(ctx context.Context, userID string) ([]Department, error)

	AssignUserRole(ctx context.Context, userID, roleID string) error
	UnassignUserRole(ctx context.Context, userID, roleID string) error
	// UserRoles lists the roles assigned to the user, sorted by name.
	UserRoles(ctx context.Context, userID string) ([]Role, error)

	// UserGrants resolves the user's roles and their permissions in one
	// round trip. A user with no roles has empty, non-nil slices; an unknown
	// user is ErrNotFound.
	UserGrants(ctx context.Context, userID string) (Grants, error)
}

// Clients stores OAuth clients and the roles a service client holds.
type Clients interface {
	// CreateClient inserts c; a client_id already taken is ErrConflict.
	CreateClient(ctx context.Context, c *Client) error
	// GetClient finds a client by its OAuth client_id.
	GetClient(ctx context.Context, clientID string) (*Client, error)
	// UpdateClient is to clients what UpdateUser is to users.
	UpdateClient(ctx context.Context, clientID string, fn func(*Client) error) (*Client, error)
	DeleteClient(ctx context.Context, clientID string) error
	// ListClients lists every client, sorted by client_id.
	ListClients(ctx context.Context) ([]Client, error)

	AssignClientRole(ctx context.Context, clientID, roleID string) error
	UnassignClientRole(ctx context.Context, clientID, roleID string) error
	// ClientGrants resolves a client's roles and permissions as UserGrants does.
	ClientGrants(ctx context.Context, clientID string) (Grants, error)
}

// Transactor runs work atomically.
type Transactor interface {
	// InTx runs fn in a transaction carried by the context fn receives; every
	// Store method called with that context joins it. fn returning an error
	// rolls everything back. A context that already carries a transaction is
	// joined, not nested: the outermost InTx commits.
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
	// Begin starts a transaction carried by the returned context, or joins the one
	// ctx already carries. Commit and Rollback end what Begin started: for a joined
	// transaction they do nothing (the outermost owner commits or rolls back).
	// Every Begin must be followed by exactly one Commit or Rollback with the context
	// Begin returned. After Commit or Rollback the context no longer carries a usable
	// transaction.
	//
	// This is the shape of fosite's storage.Transactional. A Store method
	// called with a context whose transaction has ended returns an error
	// rather than run outside any transaction. A second Commit or Rollback
	// returns an error, except that Rollback after a failed Commit returns
	// nil: the transaction is already over. A joined Commit fails once the
	// owner's transaction has ended. On error Begin returns ctx unchanged.
	Begin(ctx context.Context) (context.Context, error)
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error
	// Lock takes an exclusive lock named name until the transaction in ctx
	// ends, so that processes sharing one database serialize a critical
	// section (the seeder, key rotation). It must be called inside InTx or
	// between Begin and its Commit or Rollback.
	Lock(ctx context.Context, name string) error
}

// Store is a complete backend.
type Store interface {
	Users
	Catalog
	Memberships
	Clients
	SigningKeys
	Tokens
	Audit
	Logins
	Authorizations
	Transactor
	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	Close() error
}
