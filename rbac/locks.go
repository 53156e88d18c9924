package rbac

import (
	"context"
	"fmt"

	"github.com/gaia-platform/iam/storage"
)

// LockUser takes the lock every change of the user takes (see lockUser)
// in the transaction ctx carries, which it requires, and returns the user
// as stored. What it returns stays current until that transaction ends:
// a conditional request (If-Match) compares with it and then changes the
// user in the same transaction, so that no change slips in between.
func (s *Service) LockUser(ctx context.Context, id string) (*storage.User, error) {
	return s.lockedUser(ctx, id)
}

// LockClient is LockUser for the client with the OAuth client_id
// clientID: every change of a client's record or roles takes the same
// lock (see mayActOnClient).
func (c *Clients) LockClient(ctx context.Context, clientID string) (*storage.Client, error) {
	if err := lockClient(ctx, c.store, clientID); err != nil {
		return nil, err
	}
	return c.store.GetClient(ctx, clientID) // names the client already
}

// lockClient serializes the changes of one client, as lockUser does for a
// user, in the transaction ctx carries.
func lockClient(ctx context.Context, store storage.Store, clientID string) error {
	if err := store.Lock(ctx, "client:"+clientID); err != nil {
		return fmt.Errorf("lock client %q: %w", clientID, err)
	}
	return nil
}
