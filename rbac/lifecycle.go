package rbac

import (
	"context"
	"fmt"

	"github.com/gaia-platform/iam/storage"
)

// UserChange is a partial update of a user: nil fields are left as they are.
type UserChange struct {
	Email  *string // "" clears it
	Active *bool   // false disables the user and ends their sessions
}

// UpdateUser applies ch to the user in one transaction, with the row
// locked, so concurrent changes of different fields are all kept. Turning
// a user inactive also revokes every refresh token they hold, in the same
// transaction: a disabled user keeps no session. It returns the user as
// stored and how many sessions were revoked. The actor may not change its
// own active flag, nor change a user holding a permission it lacks (a
// *DelegationError).
func (s *Service) UpdateUser(ctx context.Context, a Actor, id string, ch UserChange) (*storage.User, int, error) {
	if ch.Email != nil {
		if err := checkEmail(*ch.Email); err != nil {
			return nil, 0, err
		}
	}
	var (
		u       *storage.User
		revoked int
	)
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.lockUser(ctx, id); err != nil {
			return err
		}
		if err := s.mayActOnUser(ctx, a, id, ch.Active != nil); err != nil {
			return err
		}
		var err error
		u, err = s.store.UpdateUser(ctx, id, func(u *storage.User) error {
			if ch.Email != nil {
				u.Email = *ch.Email
			}
			if ch.Active != nil {
				u.Active = *ch.Active
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("update user %s: %w", id, err)
		}
		if !u.Active {
			// Also when it was already inactive: a session that slipped in
			// before an earlier disable ends now.
			if revoked, err = s.store.RevokeSubjectTokens(ctx, u.ID, s.now()); err != nil {
				return fmt.Errorf("revoke sessions of user %s: %w", id, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return u, revoked, nil
}

// DisableUser makes the user inactive and revokes all their refresh
// tokens: they can neither log in nor refresh. Access tokens already
// issued live out their short lifetime. It returns how many sessions were
// revoked.
func (s *Service) DisableUser(ctx context.Context, a Actor, id string) (*storage.User, int, error) {
	inactive := false
	return s.UpdateUser(ctx, a, id, UserChange{Active: &inactive})
}

// Logout revokes every refresh token of the user and returns how many
// sessions that ended. The user's access tokens stay valid until they
// expire: resource servers verify them offline. The actor may not log out
// a user holding a permission it lacks (a *DelegationError).
func (s *Service) Logout(ctx context.Context, a Actor, id string) (int, error) {
	var n int
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.lockUser(ctx, id); err != nil {
			return err
		}
		if err := s.mayActOnUser(ctx, a, id, false); err != nil {
			return err
		}
		var err error
		if n, err = s.store.RevokeSubjectTokens(ctx, id, s.now()); err != nil {
			return fmt.Errorf("revoke sessions of user %s: %w", id, err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// DeleteUser revokes the user's sessions and deletes the user with their
// memberships and role assignments, in one transaction. The actor may not
// delete itself (that would end its own active flag too), nor a user
// holding a permission it lacks (a *DelegationError).
func (s *Service) DeleteUser(ctx context.Context, a Actor, id string) error {
	return s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.lockUser(ctx, id); err != nil {
			return err
		}
		if err := s.mayActOnUser(ctx, a, id, true); err != nil {
			return err
		}
		if _, err := s.store.RevokeSubjectTokens(ctx, id, s.now()); err != nil {
			return fmt.Errorf("revoke sessions of user %s: %w", id, err)
		}
		if err := s.store.DeleteUser(ctx, id); err != nil {
			return fmt.Errorf("delete user %s: %w", id, err)
		}
		return nil
	})
}

// Grants returns the user and the roles and permissions their next token
// would carry, whether or not the user is active (an inactive user gets no
// token at all; the caller decides how to show that).
func (s *Service) Grants(ctx context.Context, id string) (*storage.User, storage.Grants, error) {
	u, err := s.store.GetUser(ctx, id)
	if err != nil {
		return nil, storage.Grants{}, fmt.Errorf("user %s: %w", id, err)
	}
	g, err := s.store.UserGrants(ctx, id)
	if err != nil {
		return nil, storage.Grants{}, fmt.Errorf("grants of user %s: %w", id, err)
	}
	return u, g, nil
}
