// Package claims is the token contract of Gaia IAM: the claims of an access
// token, shared by the issuer and by every service that verifies one, and
// the library services use to verify tokens locally and enforce
// permissions, without calling the IAM per request:
//
//	v, err := claims.NewVerifier(ctx, claims.VerifierConfig{Issuer: "https://iam.example.com", Audience: "gaia"})
//	…
//	r.Use(claims.Middleware(v))
//	r.With(claims.RequirePermission("inventory.write")).Post("/items", create)
//
// A Verifier finds the IAM's JWKS by discovery, caches its keys, fetches
// them again when a token names an unknown kid (at most once per
// MinRefetchInterval), and keeps verifying with the cached keys while the
// IAM is down. Middleware answers failures per RFC 6750.
//
// A service calling another service with its own token needs nothing from
// this package: golang.org/x/oauth2/clientcredentials gives a cached token
// source (see the example).
//
// With VerifierConfig.CheckStatus, Verify also refuses tokens whose login
// has ended, from the IAM's token status lists, fetched in the background.
//
// It must stay importable by services without pulling in the server: its
// dependencies are the standard library and go-jose only (a test checks).
package claims

import "slices"

// Type says who a token was issued to.
type Type string

// The token types.
const (
	User    Type = "user"    // a person or system identity, via the password grant
	Service Type = "service" // a service client, via the client credentials grant
)

// Access is the claim set of a Gaia access token, an RFC 9068 JWT signed with
// RS256 and typed "at+jwt". Field order is the order of the JSON document.
type Access struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"` // a user's ID, or a service client's client_id
	Audience  []string `json:"aud"` // always an array, never empty
	ClientID  string   `json:"client_id"`
	Expiry    int64    `json:"exp"` // seconds since the epoch
	IssuedAt  int64    `json:"iat"`
	ID        string   `json:"jti"`
	Scope     string   `json:"scope,omitempty"` // space-delimited (RFC 9068 §2.2.3)
	SessionID string   `json:"sid,omitempty"`   // the login (refresh-token family) a user token belongs to
	Type      Type     `json:"type"`
	Username  string   `json:"username,omitempty"` // users only
	// Roles and Permissions are resolved at issuance: sorted, without
	// duplicates. Services authorize on Permissions.
	Roles       []string `json:"roles"`
	Permissions []string `json:"permissions"`
	// Status names the token's bit in a token status list
	// (draft-ietf-oauth-status-list §6.1); see VerifierConfig.CheckStatus.
	Status *Status `json:"status,omitempty"`
}

// Status is the status claim of a token (draft-ietf-oauth-status-list §6.1).
type Status struct {
	StatusList *StatusListRef `json:"status_list,omitempty"`
}

// StatusListRef is the token's entry in a status list: bit Index of the
// list served at URI.
type StatusListRef struct {
	Index int    `json:"idx"`
	URI   string `json:"uri"`
}

// Has reports whether the token grants permission p. Matching is exact: no
// prefixes, no wildcards.
func (a *Access) Has(p string) bool {
	if _, found := slices.BinarySearch(a.Permissions, p); found {
		return true
	}
	// The contract says sorted; a token that is not must still not deny
	// what it holds.
	return !slices.IsSorted(a.Permissions) && slices.Contains(a.Permissions, p)
}

// HasAll reports whether the token grants every permission in ps.
func (a *Access) HasAll(ps ...string) bool {
	for _, p := range ps {
		if !a.Has(p) {
			return false
		}
	}
	return true
}

// HasAny reports whether the token grants at least one permission in ps.
func (a *Access) HasAny(ps ...string) bool {
	return slices.ContainsFunc(ps, a.Has)
}
