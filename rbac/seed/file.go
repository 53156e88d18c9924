// Package seed reads the RBAC seed file of DESIGN.md, validates it whole, and
// reconciles the database with it: permissions, roles, departments and their
// mappings are made to match the file exactly; clients and users are created
// when absent and otherwise left to runtime changes.
package seed

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"

	"gopkg.in/yaml.v3"

	"github.com/gaia-platform/iam/password"
	"github.com/gaia-platform/iam/rbac"
)

// MaxFileSize bounds a seed file.
const MaxFileSize = 1 << 20

// File is a parsed and validated seed.
type File struct {
	Permissions []Permission `yaml:"permissions"`
	Roles       []Role       `yaml:"roles"`
	Departments []Department `yaml:"departments"`
	Clients     []Client     `yaml:"clients"`
	Users       []User       `yaml:"users"`
}

// Permission is an atomic action.
type Permission struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
}

// Role groups permissions.
type Role struct {
	Name        string   `yaml:"name"`
	Description string   `yaml:"description"`
	Permissions []string `yaml:"permissions"`
}

// Department allows its members the listed roles.
type Department struct {
	Code         string   `yaml:"code"`
	Name         string   `yaml:"name"`
	AllowedRoles []string `yaml:"allowed_roles"`
}

// Client is an OAuth client created when absent.
type Client struct {
	ClientID   string   `yaml:"client_id"`
	Name       string   `yaml:"name"`
	SecretEnv  string   `yaml:"secret_env"`
	Public     bool     `yaml:"public"`
	GrantTypes []string `yaml:"grant_types"`
	Scopes     []string `yaml:"scopes"`
	Audiences  []string `yaml:"audiences"`
	Roles      []string `yaml:"roles"`

	secret string // read from SecretEnv by Parse
}

// User is a bootstrap user created when absent.
type User struct {
	Username    string   `yaml:"username"`
	Email       string   `yaml:"email"`
	PasswordEnv string   `yaml:"password_env"`
	Departments []string `yaml:"departments"`
	Roles       []string `yaml:"roles"`

	username string // normalized
	password string // read from PasswordEnv; empty means generate one
}

// GrantTypes a client may be given.
var grantTypes = []string{"password", "refresh_token", "client_credentials"}

// MinClientSecretLength is the shortest client secret a seed may reference.
// Client secrets are machine credentials, not memorized: requiring length
// keeps them out of reach of guessing.
const MinClientSecretLength = 32

var (
	permissionName = regexp.MustCompile(`^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)+$`)
	roleName       = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,63}$`)
	departmentCode = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,63}$`)
	clientID       = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	envName        = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// RFC 6749 §3.3 scope-token.
	scopeToken = regexp.MustCompile(`^[\x21\x23-\x5B\x5D-\x7E]{1,128}$`)
)

// Load reads and parses the seed file at path; see Parse.
func Load(path string, getenv func(string) string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	defer f.Close()
	s, err := Parse(f, getenv)
	if err != nil {
		return nil, fmt.Errorf("seed %s: %w", path, err)
	}
	return s, nil
}

// Parse decodes a seed, reads the secrets its entries name from getenv, and
// validates it whole. Every problem is reported, each naming its entry;
// any problem means no File.
func Parse(r io.Reader, getenv func(string) string) (*File, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("larger than %d bytes", MaxFileSize)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f File
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if err := f.validate(getenv); err != nil {
		return nil, err
	}
	return &f, nil
}

// validate checks the file as a whole and fills the unexported fields.
func (f *File) validate(getenv func(string) string) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	perms := map[string]bool{}
	for _, p := range f.Permissions {
		switch {
		case !permissionName.MatchString(p.Name):
			bad("permission %q: name must be dotted lower case, like inventory.read", p.Name)
		case perms[p.Name]:
			bad("permission %q: declared twice", p.Name)
		}
		perms[p.Name] = true
	}

	roles := map[string]bool{}
	for _, r := range f.Roles {
		switch {
		case !roleName.MatchString(r.Name):
			bad("role %q: name must be a letter then letters, digits, '_', '.', '-' (at most 64)", r.Name)
		case roles[r.Name]:
			bad("role %q: declared twice", r.Name)
		}
		roles[r.Name] = true
		checkRefs(bad, fmt.Sprintf("role %q", r.Name), "permission", r.Permissions, perms)
	}

	allows := map[string][]string{} // department code → allowed roles
	for _, d := range f.Departments {
		switch {
		case !departmentCode.MatchString(d.Code):
			bad("department %q: code must be upper case letters, digits and '_'", d.Code)
		case allows[d.Code] != nil:
			bad("department %q: declared twice", d.Code)
		}
		allows[d.Code] = append([]string{}, d.AllowedRoles...) // never nil: marks the code declared
		checkRefs(bad, fmt.Sprintf("department %q", d.Code), "role", d.AllowedRoles, roles)
	}

	clients := map[string]bool{}
	for i := range f.Clients {
		c := &f.Clients[i]
		entry := fmt.Sprintf("client %q", c.ClientID)
		switch {
		case !clientID.MatchString(c.ClientID):
			bad("%s: client_id must be letters, digits, '.', '_', '-' (at most 128)", entry)
		case clients[c.ClientID]:
			bad("%s: declared twice", entry)
		}
		clients[c.ClientID] = true
		if len(c.GrantTypes) == 0 {
			bad("%s: grant_types is empty", entry)
		}
		for _, g := range c.GrantTypes {
			if !slices.Contains(grantTypes, g) {
				bad("%s: unknown grant type %q (want one of %v)", entry, g, grantTypes)
			}
		}
		checkDuplicates(bad, entry, "grant type", c.GrantTypes)
		for _, s := range c.Scopes {
			if !scopeToken.MatchString(s) {
				bad("%s: scope %q is not an RFC 6749 scope token", entry, s)
			}
		}
		checkDuplicates(bad, entry, "scope", c.Scopes)
		checkDuplicates(bad, entry, "audience", c.Audiences)
		checkRefs(bad, entry, "role", c.Roles, roles)
		switch {
		case c.Public && c.SecretEnv != "":
			bad("%s: a public client has no secret; remove secret_env", entry)
		case c.Public && slices.Contains(c.GrantTypes, "client_credentials"):
			bad("%s: client_credentials needs a confidential client (RFC 6749 §4.4)", entry)
		case !c.Public && c.SecretEnv == "":
			bad("%s: set secret_env, or public: true for a client with no secret", entry)
		case !c.Public && !envName.MatchString(c.SecretEnv):
			bad("%s: secret_env %q is not an environment variable name", entry, c.SecretEnv)
		case !c.Public:
			c.secret = getenv(c.SecretEnv)
			if c.secret == "" {
				bad("%s: environment variable %s is not set", entry, c.SecretEnv)
			} else if len(c.secret) < MinClientSecretLength || len(c.secret) > password.MaxLength {
				bad("%s: the secret in %s must be %d to %d bytes", entry, c.SecretEnv, MinClientSecretLength, password.MaxLength)
			}
		}
	}

	users := map[string]bool{}
	for i := range f.Users {
		u := &f.Users[i]
		entry := fmt.Sprintf("user %q", u.Username)
		name, err := rbac.NormalizeUsername(u.Username)
		if err != nil {
			bad("%s: %w", entry, err)
		} else if users[name] {
			bad("%s: declared twice", entry)
		}
		u.username = name
		users[name] = true
		if u.PasswordEnv != "" {
			if !envName.MatchString(u.PasswordEnv) {
				bad("%s: password_env %q is not an environment variable name", entry, u.PasswordEnv)
			} else if u.password = getenv(u.PasswordEnv); u.password != "" {
				if err := password.CheckPolicy(u.password); err != nil {
					bad("%s: the password in %s: %w", entry, u.PasswordEnv, err)
				}
			}
		}
		for _, code := range u.Departments {
			if allows[code] == nil {
				bad("%s: unknown department %q", entry, code)
			}
		}
		checkDuplicates(bad, entry, "department", u.Departments)
		checkRefs(bad, entry, "role", u.Roles, roles)
		for _, r := range u.Roles {
			if roles[r] && !slices.ContainsFunc(u.Departments, func(code string) bool { return slices.Contains(allows[code], r) }) {
				bad("%s: %w", entry, &rbac.RoleNotAllowedError{Username: name, Role: r, Departments: slices.Sorted(slices.Values(u.Departments))})
			}
		}
	}
	return errors.Join(errs...)
}

// checkRefs reports names that are not declared, and names listed twice.
func checkRefs(bad func(string, ...any), entry, kind string, names []string, declared map[string]bool) {
	for _, n := range names {
		if !declared[n] {
			bad("%s: unknown %s %q", entry, kind, n)
		}
	}
	checkDuplicates(bad, entry, kind, names)
}

func checkDuplicates(bad func(string, ...any), entry, kind string, names []string) {
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			bad("%s: %s %q listed twice", entry, kind, n)
		}
		seen[n] = true
	}
}

// Scopes returns every scope some client of the seed may request, sorted,
// with openid: what discovery advertises.
func (f *File) Scopes() []string {
	set := []string{"openid"}
	for _, c := range f.Clients {
		for _, s := range c.Scopes {
			if !slices.Contains(set, s) {
				set = append(set, s)
			}
		}
	}
	slices.Sort(set)
	return set
}
