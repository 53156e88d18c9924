package admin

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/gaia-platform/iam/audit"
	"github.com/gaia-platform/iam/rbac"
	"github.com/gaia-platform/iam/storage"
)

// Security is login protection as the API manages it: lifting an
// account's lock and keeping the block list. Its methods join the
// transaction ctx carries.
type Security interface {
	// Unlock forgets the failures and lock of the account with the
	// normalized username, and reports whether it had any.
	Unlock(ctx context.Context, username string) (bool, error)
	AddBlock(ctx context.Context, b *storage.Block) error
	RemoveBlock(ctx context.Context, id string) error
	Blocks(ctx context.Context) ([]storage.Block, error)
}

// Unlocked is the answer to an unlock.
type Unlocked struct {
	// HadFailures reports whether the account had failures counted (and
	// so perhaps a lock) that the unlock forgot.
	HadFailures bool `json:"had_failures"`
}

// unlockUser lifts login protection's lock of a user, temporary or
// permanent, and forgets their failures.
func (a *API) unlockUser(w http.ResponseWriter, r *http.Request) error {
	var had bool
	err := a.userAction(r, func(ctx context.Context, actor rbac.Actor, id string) (map[string]string, error) {
		// Lifting a lock acts on the user: the caller's permissions must
		// cover theirs, as for a logout (rbac's rules of delegation).
		if err := a.users.MayActOnUser(ctx, actor, id); err != nil {
			return nil, err
		}
		u, err := a.store.GetUser(ctx, id)
		if err != nil {
			return nil, err
		}
		if had, err = a.security.Unlock(ctx, u.Username); err != nil {
			return nil, err
		}
		return map[string]string{"had_failures": strconv.FormatBool(had)}, nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, Unlocked{HadFailures: had})
	return nil
}

// Block is a block list entry as the API shows it.
type Block struct {
	ID        string     `json:"id"`
	CIDR      string     `json:"cidr"`
	Reason    string     `json:"reason"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
}

func blockOf(b *storage.Block) Block {
	out := Block{ID: b.ID, CIDR: b.Prefix.String(), Reason: b.Reason, CreatedAt: b.CreatedAt}
	if !b.ExpiresAt.IsZero() {
		out.ExpiresAt = &b.ExpiresAt
	}
	return out
}

type newBlock struct {
	CIDR      string     `json:"cidr"`
	Reason    string     `json:"reason"`
	ExpiresAt *time.Time `json:"expires_at"`
}

func (a *API) listBlocks(w http.ResponseWriter, r *http.Request) error {
	bs, err := a.security.Blocks(r.Context())
	if err != nil {
		return err
	}
	out := Items[Block]{Items: make([]Block, 0, len(bs))}
	for i := range bs {
		out.Items = append(out.Items, blockOf(&bs[i]))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) createBlock(w http.ResponseWriter, r *http.Request) error {
	var in newBlock
	if err := decode(w, r, &in); err != nil {
		return err
	}
	p, err := storage.ParseBlockPrefix(in.CIDR)
	if err != nil {
		return invalid("cidr", "must be a CIDR such as 203.0.113.0/24 or 2001:db8::/48, or an IP address")
	}
	b := storage.Block{Prefix: p, Reason: in.Reason}
	if in.ExpiresAt != nil {
		if !in.ExpiresAt.After(time.Now()) {
			return invalid("expires_at", "must be in the future")
		}
		b.ExpiresAt = *in.ExpiresAt
	}
	err = a.change(r, audit.TargetBlock, "", func(ctx context.Context, ev *storage.AuditEvent) error {
		if err := a.security.AddBlock(ctx, &b); err != nil {
			if errors.Is(err, storage.ErrConflict) {
				return problem(http.StatusConflict, KindConflict, "that CIDR is on the block list already")
			}
			return err
		}
		ev.TargetID = b.ID
		ev.Details = map[string]string{"cidr": b.Prefix.String()}
		if !b.ExpiresAt.IsZero() {
			ev.Details["expires_at"] = b.ExpiresAt.Format(time.RFC3339)
		}
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, blockOf(&b))
	return nil
}

func (a *API) deleteBlock(w http.ResponseWriter, r *http.Request) error {
	id, ok := storage.CanonicalID(chi.URLParam(r, "id"))
	if !ok {
		// Not quoted: nothing a caller sent is echoed back.
		return problem(http.StatusNotFound, KindNotFound, "the block does not exist")
	}
	if err := noBody(r); err != nil {
		return err
	}
	err := a.change(r, audit.TargetBlock, id, func(ctx context.Context, _ *storage.AuditEvent) error {
		return a.security.RemoveBlock(ctx, id)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
