package rbac

import (
	"context"
	"fmt"

	"github.com/gaia-platform/iam/storage"
)

// Resolve returns the roles of an active user and the flat, sorted,
// de-duplicated permissions they carry: what the user's next token holds.
// A disabled user is ErrDisabled; an unknown one storage.ErrNotFound.
func (s *Service) Resolve(ctx context.Context, userID string) (storage.Grants, error) {
	_, g, err := s.ResolveUser(ctx, userID)
	return g, err
}

// ResolveUser is Resolve that also returns the user.
func (s *Service) ResolveUser(ctx context.Context, userID string) (*storage.User, storage.Grants, error) {
	u, err := s.store.GetUser(ctx, userID)
	if err != nil {
		return nil, storage.Grants{}, fmt.Errorf("resolve user %s: %w", userID, err)
	}
	if !u.Active {
		return nil, storage.Grants{}, fmt.Errorf("resolve user %s: %w", userID, ErrDisabled)
	}
	g, err := s.store.UserGrants(ctx, userID)
	if err != nil {
		return nil, storage.Grants{}, fmt.Errorf("resolve user %s: %w", userID, err)
	}
	return u, g, nil
}

// ResolveClient is Resolve for an active service client.
func (s *Service) ResolveClient(ctx context.Context, clientID string) (storage.Grants, error) {
	c, err := s.store.GetClient(ctx, clientID)
	if err != nil {
		return storage.Grants{}, fmt.Errorf("resolve client %s: %w", clientID, err)
	}
	if !c.Active {
		return storage.Grants{}, fmt.Errorf("resolve client %s: %w", clientID, ErrDisabled)
	}
	g, err := s.store.ClientGrants(ctx, clientID)
	if err != nil {
		return storage.Grants{}, fmt.Errorf("resolve client %s: %w", clientID, err)
	}
	return g, nil
}
