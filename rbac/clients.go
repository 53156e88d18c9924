package rbac

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/gaia-platform/iam/storage"
)

// ErrPublicClient reports an operation that needs a client secret on a
// public client, which has none.
var ErrPublicClient = errors.New("public client has no secret")

// MaxClientNameLength bounds a client's name, in characters.
const MaxClientNameLength = 255

// grantTypes are the grants a client may be given.
var grantTypes = []string{"password", "refresh_token", "client_credentials", "authorization_code"}

var (
	clientIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	// RFC 6749 §3.3 scope-token, at most 128 characters.
	scopeToken = regexp.MustCompile(`^[\x21\x23-\x5B\x5D-\x7E]{1,128}$`)
)

// SecretHasher turns a client secret into what the store keeps.
type SecretHasher func(ctx context.Context, secret string) (string, error)

// Clients manages OAuth clients at run time: the admin API and the CLI use
// it. The seeder creates the clients a seed file names, with the same
// validation (NewClient.Validate).
type Clients struct {
	store storage.Store
	hash  SecretHasher
	log   *slog.Logger
}

// NewClients returns a Clients over store. hash turns a secret into the
// stored hash; the token endpoint must compare with the same key.
func NewClients(store storage.Store, hash SecretHasher, log *slog.Logger) (*Clients, error) {
	if store == nil || hash == nil || log == nil {
		return nil, errors.New("rbac.NewClients: store, hash and log are required")
	}
	return &Clients{store: store, hash: hash, log: log}, nil
}

// NewClient is what Create needs.
type NewClient struct {
	ClientID string
	Name     string
	// Public marks a client with no secret (RFC 6749 §2.1), such as a
	// command line or a browser app.
	Public     bool
	GrantTypes []string // password, refresh_token, client_credentials
	Scopes     []string
	Audiences  []string // empty: the server's default audience
	Roles      []string // role names: a service client's own roles
	// RedirectURIs are where the authorization endpoint may send an
	// authorization_code client's browser back, matched exactly;
	// PostLogoutRedirectURIs where RP-initiated logout may (CheckRedirectURI).
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
}

// Validate reports every rule nc breaks in a *ValidationError, or nil.
// Whether the roles exist is for the store to say.
func (nc NewClient) Validate() error {
	var v ValidationError
	if !clientIDPattern.MatchString(nc.ClientID) {
		v.Add("client_id", "client_id must be letters, digits, '.', '_', '-' (at most 128), starting with a letter or digit")
	} else if _, err := uuid.Parse(nc.ClientID); err == nil {
		// A service token's sub is its client_id, a user token's the
		// user's UUID: a client_id shaped like a UUID could one day equal
		// a user's id, and a resource server would take one for the other
		// (RFC 9700 §4.15). uuid.Parse accepts every spelling of one.
		v.Add("client_id", "client_id must not have the form of a UUID, which is the form of a user id")
	}
	checkClientName(&v, nc.Name)
	if len(nc.GrantTypes) == 0 {
		v.Add("grant_types", "grant_types is empty: name at least one of %s", strings.Join(grantTypes, ", "))
	}
	for i, g := range nc.GrantTypes {
		if !slices.Contains(grantTypes, g) {
			v.Add("grant_types", "grant_types[%d] is not one of %s", i, strings.Join(grantTypes, ", "))
		}
	}
	checkDuplicates(&v, "grant_types", "grant type", nc.GrantTypes)
	if nc.Public && slices.Contains(nc.GrantTypes, "client_credentials") {
		v.Add("grant_types", "client_credentials needs a confidential client (RFC 6749 §4.4)")
	}
	checkScopes(&v, nc.Scopes)
	checkAudiences(&v, nc.Audiences)
	checkDuplicates(&v, "roles", "role", nc.Roles)
	checkRedirects(&v, nc.GrantTypes, nc.RedirectURIs, nc.PostLogoutRedirectURIs)
	return v.Err()
}

// MaxRedirectURIs bounds each of a client's redirect URI lists, and
// MaxRedirectURILength each URI, in bytes.
const (
	MaxRedirectURIs      = 20
	MaxRedirectURILength = 2000
)

// checkRedirects checks a client's redirect URIs against its grants: an
// authorization_code client needs a redirect URI, and refresh_token (its
// logins are refresh-token families, which logout and the liveness rule
// act on); a client without the grant has none.
func checkRedirects(v *ValidationError, grants, redirects, postLogout []string) {
	code := slices.Contains(grants, "authorization_code")
	switch {
	case code && len(redirects) == 0:
		v.Add("redirect_uris", "redirect_uris is empty: an authorization_code client needs at least one")
	case !code && (len(redirects) > 0 || len(postLogout) > 0):
		v.Add("redirect_uris", "redirect_uris and post_logout_redirect_uris are for authorization_code clients only")
	}
	if code && !slices.Contains(grants, "refresh_token") {
		v.Add("grant_types", "authorization_code needs refresh_token too")
	}
	for _, f := range []struct {
		field string
		l     []string
	}{{"redirect_uris", redirects}, {"post_logout_redirect_uris", postLogout}} {
		field, l := f.field, f.l
		if len(l) > MaxRedirectURIs {
			v.Add(field, "%s has more than %d entries", field, MaxRedirectURIs)
			continue
		}
		for i, u := range l {
			if err := CheckRedirectURI(u); err != nil {
				v.Add(field, "%s[%d] %s", field, i, err.Error())
			}
		}
		checkDuplicates(v, field, "URI", l)
	}
}

// CheckRedirectURI reports why u may not be a redirect URI: it must be an
// absolute https URI, or http on a loopback host (127.0.0.1, [::1],
// localhost: RFC 8252 §7.3, development), without a fragment (RFC 6749
// §3.1.2), user information or wildcard; it is matched byte for byte.
func CheckRedirectURI(raw string) error {
	if raw == "" || len(raw) > MaxRedirectURILength || !utf8.ValidString(raw) {
		return errors.New("is empty, too long, or not UTF-8")
	}
	for _, r := range raw {
		if r <= ' ' || r == 0x7f {
			return errors.New("holds a space or a control character")
		}
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "":
		return errors.New("is not an absolute URI with a host")
	case strings.Contains(raw, "#"):
		return errors.New("has a fragment")
	case strings.Contains(raw, "*"):
		return errors.New("has a wildcard")
	case u.User != nil:
		return errors.New("has user information")
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	}
	return errors.New("is not https (http only on a loopback host)")
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func checkClientName(v *ValidationError, name string) {
	switch {
	case strings.TrimSpace(name) == "":
		v.Add("name", "name is required")
	case !utf8.ValidString(name):
		v.Add("name", "name is not valid UTF-8")
	case utf8.RuneCountInString(name) > MaxClientNameLength:
		v.Add("name", "name is longer than %d characters", MaxClientNameLength)
	}
}

func checkScopes(v *ValidationError, scopes []string) {
	for i, s := range scopes {
		if !scopeToken.MatchString(s) {
			v.Add("scopes", "scopes[%d] is not an RFC 6749 scope token", i)
		}
	}
	checkDuplicates(v, "scopes", "scope", scopes)
}

func checkAudiences(v *ValidationError, audiences []string) {
	if slices.Contains(audiences, "") {
		v.Add("audiences", "an audience is empty")
	}
	checkDuplicates(v, "audiences", "audience", audiences)
}

// checkDuplicates reports each name listed more than once, once, by the
// position of its second listing: the detail never quotes the input.
func checkDuplicates(v *ValidationError, field, kind string, names []string) {
	seen := map[string]int{}
	for i, n := range names {
		if seen[n]++; seen[n] == 2 {
			v.Add(field, "%s[%d] repeats an earlier %s", field, i, kind)
		}
	}
}

// Create validates nc and stores the client, active, with its roles, in
// one transaction. A confidential client gets a generated secret: 32
// random bytes, base64url without padding (43 characters). The secret is
// returned here and never again: the store keeps only its hash. A public
// client's secret is "".
//
// Invalid input is a *ValidationError; a client_id taken is
// storage.ErrConflict; an unknown role is storage.ErrNotFound naming it; a
// role carrying a permission the actor lacks is a *DelegationError.
func (c *Clients) Create(ctx context.Context, a Actor, nc NewClient) (*storage.Client, string, error) {
	if err := nc.Validate(); err != nil {
		return nil, "", err
	}
	rec := &storage.Client{
		ClientID:               nc.ClientID,
		Name:                   nc.Name,
		Public:                 nc.Public,
		GrantTypes:             list(nc.GrantTypes),
		Scopes:                 list(nc.Scopes),
		Audiences:              list(nc.Audiences),
		Active:                 true,
		RedirectURIs:           list(nc.RedirectURIs),
		PostLogoutRedirectURIs: list(nc.PostLogoutRedirectURIs),
	}
	var secret string
	if !nc.Public {
		var err error
		if secret, rec.SecretHash, err = c.newSecret(ctx); err != nil {
			return nil, "", fmt.Errorf("create client %q: %w", nc.ClientID, err)
		}
	}
	err := c.store.InTx(ctx, func(ctx context.Context) error {
		if err := c.store.CreateClient(ctx, rec); err != nil {
			return fmt.Errorf("create client %q: %w", nc.ClientID, err)
		}
		for _, name := range nc.Roles {
			if err := checkGrant(ctx, c.store, a, name); err != nil {
				return err
			}
			if err := c.assignRole(ctx, nc.ClientID, name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	c.log.InfoContext(ctx, "client created", "client_id", rec.ClientID, "public", rec.Public, "roles", len(nc.Roles))
	return rec, secret, nil
}

// RotateSecret replaces a confidential client's secret with a generated one
// and returns it, once. The old secret stops working at once on this
// server, and on others when their client cache expires. A public client
// is an error wrapping ErrPublicClient. The actor may not rotate the
// secret of a client holding a permission it lacks (a *DelegationError):
// the secret is the client's permissions.
func (c *Clients) RotateSecret(ctx context.Context, a Actor, clientID string) (string, error) {
	secret, hash, err := c.newSecret(ctx)
	if err != nil {
		return "", fmt.Errorf("rotate secret of client %q: %w", clientID, err)
	}
	err = c.store.InTx(ctx, func(ctx context.Context) error {
		if err := c.mayActOnClient(ctx, a, clientID, false); err != nil {
			return err
		}
		_, err := c.store.UpdateClient(ctx, clientID, func(rec *storage.Client) error {
			if rec.Public {
				return fmt.Errorf("rotate secret of client %q: %w", clientID, ErrPublicClient)
			}
			rec.SecretHash = hash
			return nil
		})
		return err
	})
	if err != nil {
		return "", err
	}
	c.log.InfoContext(ctx, "client secret rotated", "client_id", clientID)
	return secret, nil
}

// newSecret returns a fresh client secret and its hash.
func (c *Clients) newSecret(ctx context.Context) (secret, hash string, err error) {
	var b [32]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	secret = base64.RawURLEncoding.EncodeToString(b[:])
	if hash, err = c.hash(ctx, secret); err != nil {
		return "", "", fmt.Errorf("hash secret: %w", err)
	}
	return secret, hash, nil
}

// ClientChange is a partial update of a client: nil fields are left as
// they are.
type ClientChange struct {
	Name      *string
	Active    *bool // false: the client can get no more tokens
	Scopes    *[]string
	Audiences *[]string
	// RedirectURIs and PostLogoutRedirectURIs replace the client's lists;
	// checked against its grants (NewClient.RedirectURIs).
	RedirectURIs           *[]string
	PostLogoutRedirectURIs *[]string
}

// Validate reports every rule ch breaks in a *ValidationError, or nil.
func (ch ClientChange) Validate() error {
	var v ValidationError
	if ch.Name != nil {
		checkClientName(&v, *ch.Name)
	}
	if ch.Scopes != nil {
		checkScopes(&v, *ch.Scopes)
	}
	if ch.Audiences != nil {
		checkAudiences(&v, *ch.Audiences)
	}
	return v.Err()
}

// Update applies ch to the client in one transaction, with the row locked,
// and returns the client as stored. An empty change reads the client. The
// actor may not change its own active flag, nor a client holding a
// permission it lacks (a *DelegationError).
func (c *Clients) Update(ctx context.Context, a Actor, clientID string, ch ClientChange) (*storage.Client, error) {
	if err := ch.Validate(); err != nil {
		return nil, err
	}
	if ch == (ClientChange{}) {
		return c.Get(ctx, clientID)
	}
	var rec *storage.Client
	err := c.store.InTx(ctx, func(ctx context.Context) error {
		if err := c.mayActOnClient(ctx, a, clientID, ch.Active != nil); err != nil {
			return err
		}
		var err error
		rec, err = c.store.UpdateClient(ctx, clientID, c.applyChange(ch))
		return err
	})
	if err != nil {
		return nil, err // names the client already
	}
	c.log.InfoContext(ctx, "client updated", "client_id", clientID, "active", rec.Active)
	return rec, nil
}

// applyChange returns the function that applies ch to a stored client.
func (c *Clients) applyChange(ch ClientChange) func(rec *storage.Client) error {
	return func(rec *storage.Client) error {
		if ch.Name != nil {
			rec.Name = *ch.Name
		}
		if ch.Active != nil {
			rec.Active = *ch.Active
		}
		if ch.Scopes != nil {
			rec.Scopes = list(*ch.Scopes)
		}
		if ch.Audiences != nil {
			rec.Audiences = list(*ch.Audiences)
		}
		if ch.RedirectURIs != nil {
			rec.RedirectURIs = list(*ch.RedirectURIs)
		}
		if ch.PostLogoutRedirectURIs != nil {
			rec.PostLogoutRedirectURIs = list(*ch.PostLogoutRedirectURIs)
		}
		if ch.RedirectURIs != nil || ch.PostLogoutRedirectURIs != nil {
			var v ValidationError
			checkRedirects(&v, rec.GrantTypes, rec.RedirectURIs, rec.PostLogoutRedirectURIs)
			return v.Err()
		}
		return nil
	}
}

// Delete removes the client and its role assignments, and revokes every
// refresh token issued to it, in one transaction. The actor may not
// delete itself, nor a client holding a permission it lacks (a
// *DelegationError).
func (c *Clients) Delete(ctx context.Context, a Actor, clientID string) error {
	err := c.store.InTx(ctx, func(ctx context.Context) error {
		if err := c.mayActOnClient(ctx, a, clientID, true); err != nil {
			return err
		}
		if err := c.store.DeleteClient(ctx, clientID); err != nil {
			return err // names the client already
		}
		// Its users' logins end with it; a client later created with the
		// same client_id must not inherit them.
		if _, err := c.store.RevokeClientTokens(ctx, clientID, time.Time{}); err != nil {
			return fmt.Errorf("revoke the logins of client %s: %w", clientID, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.log.InfoContext(ctx, "client deleted", "client_id", clientID)
	return nil
}

// AssignRole gives the client a role. An unknown client or role is
// storage.ErrNotFound; a role the client holds already is
// storage.ErrConflict. The actor must hold every permission of the role,
// may not change its own roles, nor those of a client holding a
// permission it lacks (a *DelegationError).
func (c *Clients) AssignRole(ctx context.Context, a Actor, clientID, role string) error {
	return c.store.InTx(ctx, func(ctx context.Context) error {
		if err := c.mayActOnClient(ctx, a, clientID, true); err != nil {
			return err
		}
		if err := checkGrant(ctx, c.store, a, role); err != nil {
			return err
		}
		return c.assignRole(ctx, clientID, role)
	})
}

// assignRole is AssignRole inside the caller's transaction.
func (c *Clients) assignRole(ctx context.Context, clientID, role string) error {
	if _, err := c.store.GetClient(ctx, clientID); err != nil {
		return err // names the client already
	}
	r, err := c.store.GetRoleByName(ctx, role)
	if err != nil {
		return fmt.Errorf("role %s: %w", role, err)
	}
	if err := c.store.AssignClientRole(ctx, clientID, r.ID); err != nil {
		return fmt.Errorf("assign role %s to client %q: %w", role, clientID, err)
	}
	return nil
}

// UnassignRole takes a role from the client. An unknown client or role, or
// a role the client does not hold, is storage.ErrNotFound. The delegation
// rules are those of changing the client's roles (AssignRole).
func (c *Clients) UnassignRole(ctx context.Context, a Actor, clientID, role string) error {
	return c.store.InTx(ctx, func(ctx context.Context) error {
		if err := c.mayActOnClient(ctx, a, clientID, true); err != nil {
			return err
		}
		r, err := c.store.GetRoleByName(ctx, role)
		if err != nil {
			return fmt.Errorf("role %s: %w", role, err)
		}
		if err := c.store.UnassignClientRole(ctx, clientID, r.ID); err != nil {
			return fmt.Errorf("unassign role %s from client %q: %w", role, clientID, err)
		}
		return nil
	})
}

// Roles returns the names of the client's roles, sorted. An unknown client
// is storage.ErrNotFound.
func (c *Clients) Roles(ctx context.Context, clientID string) ([]string, error) {
	g, err := c.store.ClientGrants(ctx, clientID)
	if err != nil {
		return nil, err // names the client already
	}
	return g.Roles, nil
}

// Get returns the client with the OAuth client_id clientID.
func (c *Clients) Get(ctx context.Context, clientID string) (*storage.Client, error) {
	return c.store.GetClient(ctx, clientID)
}

// List returns every client, sorted by client_id.
func (c *Clients) List(ctx context.Context) ([]storage.Client, error) {
	return c.store.ListClients(ctx)
}

// list returns a copy of l that is never nil, so that an empty list reads
// as [] rather than null.
func list(l []string) []string { return append([]string{}, l...) }
