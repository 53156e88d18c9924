package oauth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gaia-platform/iam/claims"
	"github.com/gaia-platform/iam/storage"
)

// Leeway is the clock skew the liveness rule allows on exp, nbf and iat:
// the same as resource servers allow (claims.DefaultLeeway), so that the
// IAM and a service agree on when a token starts and stops.
const Leeway = claims.DefaultLeeway

// presented is what a presented token stands for, once it is known to be
// one of Gaia's: exactly one of access and refresh is set.
type presented struct {
	access  *claims.Access        // an access token whose signature and times verify
	refresh *storage.RefreshToken // a refresh token whose HMAC verifies
	family  *storage.TokenFamily  // the refresh token's login
}

// identify tells what token is: an access token signed by a key the ring
// publishes now, within its times; or a stored refresh token whose HMAC
// verifies. Anything else is nil. Nothing about revocation or the
// principal is checked here: revocation acts on tokens that are no longer
// live, and everything else asks live.
func (s *Server) identify(ctx context.Context, token string) (*presented, error) {
	if a, err := s.access.verify(token); err == nil {
		return &presented{access: a}, nil
	}
	rt, fam, err := s.refreshToken(ctx, token)
	if err != nil || rt == nil {
		return nil, err
	}
	return &presented{refresh: rt, family: fam}, nil
}

// liveToken is a token the liveness rule found live, and whom it is for.
type liveToken struct {
	presented
	user *storage.User // the user a user token is for; nil for a service
}

// live is Gaia's one liveness rule. Introspection, userinfo, the admin API
// (through LiveAccessToken) and, for its own question, the refresh grant
// (sessionOver) use it, so that they never disagree. A token is live when:
//
//   - it is Gaia's: an access token whose RS256 signature verifies with a
//     key the key ring publishes now (keys.Ring.PublicKey reads the ring's
//     current set, so a key unpublished from the ring stops counting at
//     once), or a refresh token whose HMAC verifies and that is stored;
//   - its times hold: exp not past, nbf and iat not ahead, each within
//     Leeway (for a refresh token, its stored expiry);
//   - it was not revoked: the access token's jti, the refresh token
//     (rotated or revoked), and the login it belongs to (its sid, the
//     refresh token's family);
//   - the login is younger than MaxSessionAge;
//   - the client it was issued to exists and is active, and so does the
//     user of a user token.
//
// Not live is nil with a nil error; an error means the rule could not be
// applied (the database is down).
func (s *Server) live(ctx context.Context, token string) (*liveToken, error) {
	p, err := s.identify(ctx, token)
	if err != nil || p == nil {
		return nil, err
	}
	var (
		fam              *storage.TokenFamily
		clientID, userID string
	)
	if a := p.access; a != nil {
		revoked, err := s.store.AccessTokenRevoked(ctx, a.ID)
		if err != nil || revoked {
			return nil, err
		}
		clientID = a.ClientID
		if a.Type == claims.User {
			// Every user token names its login; one that does not is
			// not ours to trust.
			if a.SessionID == "" {
				return nil, nil
			}
			if fam, err = s.family(ctx, a.SessionID); err != nil || fam == nil {
				return nil, err
			}
			if fam.Subject != a.Subject || fam.ClientID != a.ClientID {
				return nil, nil
			}
			userID = a.Subject
		}
	} else {
		rt := p.refresh
		fam = p.family
		if !rt.Active || !rt.ExpiresAt.After(s.now()) {
			return nil, nil
		}
		clientID, userID = fam.ClientID, fam.Subject
	}
	if fam != nil && (!fam.RevokedAt.IsZero() || s.sessionOver(fam.StartedAt)) {
		return nil, nil
	}
	if ok, err := s.clientActive(ctx, clientID); err != nil || !ok {
		return nil, err
	}
	lt := &liveToken{presented: *p}
	if userID != "" {
		u, err := s.store.GetUser(ctx, userID)
		if errors.Is(err, storage.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("liveness: get user: %w", err)
		}
		if !u.Active {
			return nil, nil
		}
		lt.user = u
	}
	return lt, nil
}

// sessionOver reports whether a login that started at start has outlived
// MaxSessionAge (ASVS 5 10.4.8): its tokens are dead and it cannot be
// refreshed, however recently its refresh token was rotated.
func (s *Server) sessionOver(start time.Time) bool {
	return s.now().After(start.Add(s.cfg.MaxSessionAge))
}

// family returns the login id, or nil when there is none (never made, or
// purged once all its tokens expired).
func (s *Server) family(ctx context.Context, id string) (*storage.TokenFamily, error) {
	f, err := s.store.GetTokenFamily(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("liveness: get token family: %w", err)
	}
	return f, nil
}

// clientActive reads the client from the store, not the client cache: a
// client disabled on another replica must stop its tokens here at once,
// not after the cache's TTL.
func (s *Server) clientActive(ctx context.Context, id string) (bool, error) {
	c, err := s.store.GetClient(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("liveness: get client: %w", err)
	}
	return c.Active, nil
}

// LiveAccessToken applies the liveness rule to an access token presented
// to another part of the server (the admin API): it returns the token's
// claims when it is a live access token, nil when it is not, and an error
// only when the rule could not be applied.
func (s *Server) LiveAccessToken(ctx context.Context, token string) (*claims.Access, error) {
	lt, err := s.live(ctx, token)
	if err != nil || lt == nil || lt.access == nil {
		return nil, err
	}
	return lt.access, nil
}
