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

// ErrEmpty reports a seed that declares nothing, such as an empty file.
var ErrEmpty = errors.New("the seed declares nothing: applying it would delete every permission, role and department")

// MaxFileSize bounds a seed file.
const MaxFileSize = 1 << 20

// File is a parsed and validated seed.
type File struct {
	Permissions []Permission `yaml:"permissions"`
	Roles       []Role       `yaml:"roles"`
	Departments []Department `yaml:"departments"`
	Clients     []Client     `yaml:"clients"`
	Users       []User       `yaml:"users"`
	// Services names the resource services a client may ask a token for
	// (RFC 8707 resource, or the audience parameter) and which permissions
	// such a token carries. Read by every server from the file, not stored.
	Services []Service `yaml:"services"`
}

// Service is a resource service: its audience and the permissions (names,
// or namespaces such as inventory.*) that tokens for it carry.
type Service struct {
	Audience    string   `yaml:"audience"`
	Permissions []string `yaml:"permissions"`
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
	// The authorization-code flow: where the browser may be sent back.
	RedirectURIs           []string `yaml:"redirect_uris"`
	PostLogoutRedirectURIs []string `yaml:"post_logout_redirect_uris"`

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

// MinClientSecretLength is the shortest client secret a seed may reference.
// Client secrets are machine credentials, not memorized: requiring length
// keeps them out of reach of guessing.
const MinClientSecretLength = 32

var (
	permissionName = regexp.MustCompile(`^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)+$`)
	roleName       = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,63}$`)
	departmentCode = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,63}$`)
	envName        = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
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
	if len(f.Permissions)+len(f.Roles)+len(f.Departments)+len(f.Clients)+len(f.Users) == 0 {
		// Reconciled, it would delete every permission, role and department.
		return nil, ErrEmpty
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
		if clients[c.ClientID] {
			bad("%s: declared twice", entry)
		}
		clients[c.ClientID] = true
		// The rules every client follows, whoever creates it.
		var v *rbac.ValidationError
		if errors.As(c.spec().Validate(), &v) {
			for _, fe := range v.Fields {
				bad("%s: %s", entry, fe.Detail)
			}
		}
		for _, r := range c.Roles {
			if !roles[r] {
				bad("%s: unknown role %q", entry, r)
			}
		}
		switch {
		case c.Public:
			if c.SecretEnv != "" {
				bad("%s: a public client has no secret; remove secret_env", entry)
			}
		case c.SecretEnv == "":
			bad("%s: set secret_env, or public: true for a client with no secret", entry)
		case !envName.MatchString(c.SecretEnv):
			bad("%s: secret_env %q is not an environment variable name", entry, c.SecretEnv)
		default:
			// Needed only to create the client (see plan): a server need not
			// keep the secrets of clients that exist in its environment.
			c.secret = getenv(c.SecretEnv)
			if c.secret != "" && (len(c.secret) < MinClientSecretLength || len(c.secret) > password.MaxLength) {
				bad("%s: the secret in %s must be %d to %d bytes", entry, c.SecretEnv, MinClientSecretLength, password.MaxLength)
			}
		}
	}

	services := map[string]bool{}
	for _, sv := range f.Services {
		if services[sv.Audience] {
			bad("service %q: declared twice", sv.Audience)
		}
		services[sv.Audience] = true
		if err := rbac.CheckServicePatterns(sv.Audience, sv.Permissions); err != nil {
			bad("%w", err)
		}
		checkDuplicates(bad, fmt.Sprintf("service %q", sv.Audience), "permission", sv.Permissions)
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

// spec is the client as rbac validates it.
func (c *Client) spec() rbac.NewClient {
	return rbac.NewClient{
		ClientID:   c.ClientID,
		Name:       c.Name,
		Public:     c.Public,
		GrantTypes: c.GrantTypes,
		Scopes:     c.Scopes,
		Audiences:  c.Audiences,
		Roles:      c.Roles,

		RedirectURIs:           c.RedirectURIs,
		PostLogoutRedirectURIs: c.PostLogoutRedirectURIs,
	}
}

// ServiceMap returns the services as rbac.NewServices takes them.
func (f *File) ServiceMap() map[string][]string {
	m := make(map[string][]string, len(f.Services))
	for _, sv := range f.Services {
		m[sv.Audience] = sv.Permissions
	}
	return m
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
