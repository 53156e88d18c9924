package rbac

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gaia-platform/iam/storage"
)

// ErrDelegation reports a change the actor may not make: it would give or
// touch permissions the actor does not hold, or change the actor's own
// grants. The concrete error is a *DelegationError.
var ErrDelegation = errors.New("delegation refused")

// Actor is who asks for a change: the operator at the command line, who
// has full power, or a principal (a user or a service client) that may
// only delegate what it holds. The zero Actor is a principal holding
// nothing: it may change nothing that carries a permission.
type Actor struct {
	operator    bool
	kind        string // ActorUser or ActorService; "" for the operator
	id          string // user id or client_id
	permissions []string
}

// Kinds of principal an Actor can be.
const (
	ActorUser    = "user"
	ActorService = "service"
)

// Operator is the actor of the operator's commands (gaia-iam user …,
// gaia-iam client …, the seed): whoever can run them holds the database
// and its key already, so no rule of delegation binds it.
var Operator = Actor{operator: true}

// IsOperator reports whether a is the operator.
func (a Actor) IsOperator() bool { return a.operator }

// Permissions returns the permissions a principal holds, sorted; nil for
// the operator.
func (a Actor) Permissions() []string { return slices.Clone(a.permissions) }

// UserActor resolves the actor of a user from the store: the permissions
// the user's roles grant now, not those their token was issued with. A
// token lives for minutes after a role is taken away, and the admin API is
// where a stale grant would do the most harm, so the rules compare with
// what is stored, in the transaction ctx carries.
func (s *Service) UserActor(ctx context.Context, userID string) (Actor, error) {
	g, err := s.store.UserGrants(ctx, userID)
	if err != nil {
		return Actor{}, fmt.Errorf("actor %s: %w", userID, err)
	}
	return Actor{kind: ActorUser, id: userID, permissions: g.Permissions}, nil
}

// ServiceActor is UserActor for a service client acting with its own
// token.
func (s *Service) ServiceActor(ctx context.Context, clientID string) (Actor, error) {
	g, err := s.store.ClientGrants(ctx, clientID)
	if err != nil {
		return Actor{}, fmt.Errorf("actor %s: %w", clientID, err)
	}
	return Actor{kind: ActorService, id: clientID, permissions: g.Permissions}, nil
}

// missing returns the permissions of want that a does not hold, sorted;
// none for the operator.
func (a Actor) missing(want []string) []string {
	if a.operator {
		return nil
	}
	var out []string
	for _, p := range want {
		if _, held := slices.BinarySearch(a.permissions, p); !held && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// is reports whether a is the principal of that kind and id.
func (a Actor) is(kind, id string) bool {
	return !a.operator && a.kind == kind && a.id == id
}

// Reasons for a DelegationError.
const (
	// ReasonGrant: the role carries permissions the actor does not hold.
	ReasonGrant = "grant"
	// ReasonPrincipal: the principal acted on holds permissions the actor
	// does not.
	ReasonPrincipal = "principal"
	// ReasonSelf: the actor would change its own roles, departments or
	// active flag.
	ReasonSelf = "self"
)

// DelegationError is a refused change: what it was about and the
// permissions the actor lacks for it.
type DelegationError struct {
	Reason  string   // one of the Reason constants above
	Subject string   // what the change was about: "role PlatformAdmin", "user 5f…", "client web"
	Missing []string // sorted; empty for ReasonSelf
}

func (e *DelegationError) Error() string {
	switch e.Reason {
	case ReasonSelf:
		return "no one changes their own roles, departments or active flag: ask another administrator"
	case ReasonGrant:
		return fmt.Sprintf("%s grants permissions the actor does not hold: %s", e.Subject, strings.Join(e.Missing, ", "))
	}
	return fmt.Sprintf("%s holds permissions the actor does not hold: %s", e.Subject, strings.Join(e.Missing, ", "))
}

// Is makes errors.Is(err, ErrDelegation) hold.
func (e *DelegationError) Is(target error) bool { return target == ErrDelegation }

// checkGrant refuses to give role unless the actor holds every permission
// it carries: no one grants what they do not have. An unknown role is
// storage.ErrNotFound.
func checkGrant(ctx context.Context, store storage.Catalog, a Actor, role string) error {
	if a.operator {
		return nil
	}
	if _, err := store.GetRoleByName(ctx, role); err != nil {
		return fmt.Errorf("role %s: %w", role, err)
	}
	roles, err := store.ListRoles(ctx)
	if err != nil {
		return fmt.Errorf("list roles: %w", err)
	}
	i := slices.IndexFunc(roles, func(r storage.Role) bool { return r.Name == role })
	if i < 0 {
		return fmt.Errorf("role %s: %w", role, storage.ErrNotFound)
	}
	if m := a.missing(roles[i].Permissions); len(m) > 0 {
		return &DelegationError{Reason: ReasonGrant, Subject: "role " + role, Missing: m}
	}
	return nil
}

// checkPrincipal refuses to act on a principal holding permissions the
// actor does not hold (its grants, g, must be a subset of the actor's).
// Called inside the transaction that makes the change, so the grants
// cannot grow between the check and the write of this change.
func checkPrincipal(a Actor, subject string, g storage.Grants) error {
	if m := a.missing(g.Permissions); len(m) > 0 {
		return &DelegationError{Reason: ReasonPrincipal, Subject: subject, Missing: m}
	}
	return nil
}

// notSelf refuses a change of the actor's own grants or active flag.
func notSelf(a Actor, kind, id string) error {
	if a.is(kind, id) {
		return &DelegationError{Reason: ReasonSelf, Subject: kind + " " + id}
	}
	return nil
}

// mayActOn checks that a may act on the principal of that kind and id,
// whose grants are read with grants; own reports whether the change
// touches what no actor changes of its own (roles, departments, active
// flag). An unknown principal is storage.ErrNotFound.
func mayActOn(ctx context.Context, a Actor, kind, id string, own bool,
	grants func(ctx context.Context, id string) (storage.Grants, error),
) error {
	if a.operator {
		return nil
	}
	if own {
		if err := notSelf(a, kind, id); err != nil {
			return err
		}
	}
	subject := "user " + id
	if kind == ActorService {
		subject = "client " + id
	}
	g, err := grants(ctx, id)
	if err != nil {
		return fmt.Errorf("%s: %w", subject, err)
	}
	return checkPrincipal(a, subject, g)
}

func (s *Service) mayActOnUser(ctx context.Context, a Actor, userID string, own bool) error {
	return mayActOn(ctx, a, ActorUser, userID, own, s.store.UserGrants)
}

// mayActOnClient also takes the client's lock (lockClient): every change
// of a client asks it first, in the transaction of the change, so that
// the client's grants cannot grow before the change is written, and a
// conditional change (LockClient) sees no other in between.
func (c *Clients) mayActOnClient(ctx context.Context, a Actor, clientID string, own bool) error {
	if err := lockClient(ctx, c.store, clientID); err != nil {
		return err
	}
	return mayActOn(ctx, a, ActorService, clientID, own, c.store.ClientGrants)
}

// MayActOnUser checks that a may act on the user id without changing the
// user's grants (lifting a login lock, for one): a principal only acts on
// users whose permissions its own cover. It joins the transaction ctx
// carries, holding the user's lock, so that the grants it compared cannot
// grow before that transaction's change is written. An unknown user is
// storage.ErrNotFound.
func (s *Service) MayActOnUser(ctx context.Context, a Actor, id string) error {
	return s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.lockUser(ctx, id); err != nil {
			return err
		}
		return s.mayActOnUser(ctx, a, id, false)
	})
}
