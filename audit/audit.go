// Package audit records who did what to whom in Gaia: logins, token
// refreshes and revocations, key rotations and admin changes, as
// storage.AuditEvent rows.
//
// A Recorder takes events two ways. Record queues an event for a background
// writer that appends them in batches, so that the token endpoint pays no
// database round trip for its audit trail. Write appends at once, in the
// transaction the context carries, so that an admin change and its audit
// entry commit or roll back together.
//
// Events name things (ids, names, reasons); they never hold a password, a
// secret, a token or a token signature, nor anything a caller typed that
// did not match a record.
package audit

import (
	"net/http"
	"net/netip"
)

// Actor types: who did it (storage.AuditEvent.ActorType).
const (
	ActorUser      = "user"      // a user, by user id and username
	ActorService   = "service"   // an OAuth client acting for itself, by client_id and name
	ActorOperator  = "operator"  // someone at the gaia-iam command line
	ActorSystem    = "system"    // the server on its own (seed, purge)
	ActorAnonymous = "anonymous" // nobody authenticated: a failed login
)

// ActorNameSeed is the ActorName of the seed's changes.
const ActorNameSeed = "seed"

// Outcomes (storage.AuditEvent.Outcome).
const (
	Success = "success"
	Failure = "failure"
)

// Target types: what it was done to (storage.AuditEvent.TargetType).
const (
	TargetUser        = "user"         // by user id
	TargetClient      = "client"       // by client_id
	TargetTokenFamily = "token_family" // a login's refresh tokens, by family id
	TargetAccessToken = "access_token" // by jti
	TargetSigningKey  = "signing_key"  // by kid
	TargetLoginKey    = "login_key"    // login protection's key of a name that matched nothing (a keyed hash)
	TargetBlock       = "block"        // a block list entry, by id
)

// Actions (storage.AuditEvent.Action), as the admin API contract lists them.
const (
	ActionUserCreate           = "user.create"
	ActionUserUpdate           = "user.update"
	ActionUserDisable          = "user.disable"
	ActionUserEnable           = "user.enable"
	ActionUserDelete           = "user.delete"
	ActionUserPasswordSet      = "user.password.set"
	ActionUserLogout           = "user.logout"
	ActionUserDepartmentAdd    = "user.department.add"
	ActionUserDepartmentRemove = "user.department.remove"
	ActionUserRoleAssign       = "user.role.assign"
	ActionUserRoleUnassign     = "user.role.unassign"

	ActionClientCreate       = "client.create"
	ActionClientUpdate       = "client.update"
	ActionClientDisable      = "client.disable"
	ActionClientEnable       = "client.enable"
	ActionClientDelete       = "client.delete"
	ActionClientSecretRotate = "client.secret.rotate"
	ActionClientRoleAssign   = "client.role.assign"
	ActionClientRoleUnassign = "client.role.unassign"

	// ActionAuthPassword is a password grant login.
	ActionAuthPassword = "auth.password"
	// ActionAuthClientCredentials is a client credentials grant.
	ActionAuthClientCredentials = "auth.client_credentials"
	// ActionAuthCode is an authorization code exchanged at the token
	// endpoint; a login at the hosted login page is ActionAuthPassword
	// with DetailGrant authorization_code.
	ActionAuthCode = "auth.authorization_code"
	// ActionAuthRefresh is a refresh token grant.
	ActionAuthRefresh = "auth.refresh"
	// ActionAuthRefreshReuse is a rotated refresh token presented again:
	// its whole family was revoked.
	ActionAuthRefreshReuse = "auth.refresh.reuse"
	// ActionTokenRevoke is an RFC 7009 revocation request.
	ActionTokenRevoke = "token.revoke"
	// ActionAuthLockout is an account or a client locked by login
	// protection after repeated failures.
	ActionAuthLockout = "auth.lockout"
	// ActionUserUnlock lifts login protection's lock of an account.
	ActionUserUnlock = "user.unlock"
	// ActionBlockAdd and ActionBlockRemove change the block list.
	ActionBlockAdd    = "security.block.add"
	ActionBlockRemove = "security.block.remove"
	// ActionKeyRotate is a signing key rotation.
	ActionKeyRotate = "key.rotate"
	// ActionKeyRevoke is the revocation of a (compromised) signing key.
	ActionKeyRevoke = "key.revoke"
	// The seed's changes, by actor ActorSystem named ActorNameSeed; the
	// target type is the entry's kind (permission, role, department,
	// client, user) and the target id its name.
	ActionSeedCreate = "seed.create"
	ActionSeedUpdate = "seed.update"
	ActionSeedDelete = "seed.delete"
)

// Detail keys (storage.AuditEvent.Details).
const (
	DetailReason = "reason" // why a failure failed, e.g. invalid_credentials
	DetailGrant  = "grant"  // the OAuth grant type of an auth event
	// DetailAlready is "true" on a key.revoke of a key revoked before.
	DetailAlready = "already"
	// DetailFreshKey is the kid of the key a key.revoke made to sign at once.
	DetailFreshKey = "fresh_kid"
	// DetailActivatesAt is when the key of a key.rotate starts signing (RFC 3339).
	DetailActivatesAt = "activates_at"
)

// ClientIP returns the address r came from: the host of its RemoteAddr,
// IPv4-mapped IPv6 addresses unmapped, or "" when RemoteAddr holds no IP.
// Forwarding headers (X-Forwarded-For, Forwarded) are not read here: anyone
// can send them. The server's clientip middleware has already set
// RemoteAddr to the forwarded client when the peer is a trusted proxy.
func ClientIP(r *http.Request) string {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap().WithZone("").String()
	}
	if a, err := netip.ParseAddr(r.RemoteAddr); err == nil {
		return a.Unmap().WithZone("").String()
	}
	return ""
}
