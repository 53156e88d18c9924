package admin

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/gaia-platform/iam/audit"
	"github.com/gaia-platform/iam/rbac"
	"github.com/gaia-platform/iam/storage"
)

// Department is a department as the seed declares it.
type Department struct {
	Code         string   `json:"code"`
	Name         string   `json:"name"`
	AllowedRoles []string `json:"allowed_roles"`
}

// Role is a role as the seed declares it.
type Role struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Permissions []string `json:"permissions"`
}

// Permission is a permission as the seed declares it.
type Permission struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

func departmentOf(d storage.Department) Department {
	return Department{Code: d.Code, Name: d.Name, AllowedRoles: nonNil(d.AllowedRoles)}
}

func roleOf(r storage.Role) Role {
	return Role{Name: r.Name, Description: r.Description, Permissions: nonNil(r.Permissions)}
}

func (a *API) userDepartments(w http.ResponseWriter, r *http.Request) error {
	return userHeld(a, w, r, a.store.UserDepartments, a.store.ListDepartments,
		func(d storage.Department) string { return d.Code }, departmentOf)
}

// userHeld answers the departments or roles a user holds, each shown as
// the catalog declares it (held lists leave out the allowed roles and the
// permissions). key names an entry; show turns it into what the API shows.
func userHeld[S, T any](a *API, w http.ResponseWriter, r *http.Request,
	held func(ctx context.Context, userID string) ([]S, error),
	catalog func(ctx context.Context) ([]S, error),
	key func(S) string, show func(S) T,
) error {
	id, err := userID(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if _, err := a.store.GetUser(ctx, id); err != nil {
		return err
	}
	mine, err := held(ctx, id)
	if err != nil {
		return err
	}
	all, err := catalog(ctx)
	if err != nil {
		return err
	}
	byKey := make(map[string]S, len(all))
	for _, e := range all {
		byKey[key(e)] = e
	}
	out := Items[T]{Items: make([]T, 0, len(mine))}
	for _, e := range mine {
		out.Items = append(out.Items, show(byKey[key(e)]))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) addDepartment(w http.ResponseWriter, r *http.Request) error {
	return a.grantUser(w, r, "code", "department", a.users.AddDepartment,
		func(ctx context.Context, id, code string) (bool, error) {
			return holds(ctx, id, code, a.store.UserDepartments, func(d storage.Department) string { return d.Code })
		})
}

// holds reports whether the principal id holds the department or role
// named name, among those held lists.
func holds[S any](ctx context.Context, id, name string, held func(ctx context.Context, id string) ([]S, error), key func(S) string) (bool, error) {
	all, err := held(ctx, id)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(all, func(e S) bool { return key(e) == name }), nil
}

// errHeld reports a PUT of a membership that exists already.
var errHeld = errors.New("admin: the membership exists already")

// grant runs op, the PUT of a membership, in an audited change. PUT is
// idempotent (RFC 9110 §9.2.2): a repeat answers 204 as the first did,
// after the same checks (delegation, the department rule), so a refusal
// stays a refusal. A repeat writes no audit entry: nothing changed, the
// log records changes and refused changes, and a provisioning system that
// PUTs every membership on each run would otherwise fill it with entries
// that record nothing.
//
// The store reports a pair that exists as a conflict, which aborts the
// transaction on PostgreSQL: whether the pair is held is asked in a fresh
// one. If it is not (a department or role deleted meanwhile), the PUT is
// refused with a 409 and audited as any refusal.
func (a *API) grant(r *http.Request, target, id string, details map[string]string,
	op func(ctx context.Context) error, held func(ctx context.Context) (bool, error),
) error {
	err := a.change(r, target, id, func(ctx context.Context, ev *storage.AuditEvent) error {
		ev.Details = details
		err := op(ctx)
		if errors.Is(err, storage.ErrConflict) {
			return errHeld
		}
		return err
	})
	if errors.Is(err, errHeld) {
		// change neither audits nor maps errHeld: it is no problem.
		err = a.change(r, target, id, func(ctx context.Context, ev *storage.AuditEvent) error {
			ev.Details = details
			ok, err := held(ctx)
			switch {
			case err != nil:
				return err
			case ok:
				return errHeld
			}
			return problem(http.StatusConflict, KindConflict, "the change conflicts with what is stored; try again")
		})
	}
	if errors.Is(err, errHeld) {
		return nil
	}
	return err
}

// grantUser gives the user the department or role named by the path
// parameter param, with op; held tells whether the user holds it.
func (a *API) grantUser(w http.ResponseWriter, r *http.Request, param, detail string,
	op func(ctx context.Context, actor rbac.Actor, userID, name string) error,
	held func(ctx context.Context, userID, name string) (bool, error),
) error {
	id, err := userID(r)
	if err != nil {
		return err
	}
	if err := noBody(r); err != nil {
		return err
	}
	name := chi.URLParam(r, param)
	err = a.grant(r, audit.TargetUser, id, map[string]string{detail: name}, func(ctx context.Context) error {
		actor, err := a.actor(ctx)
		if err != nil {
			return err
		}
		return op(ctx, actor, id, name)
	}, func(ctx context.Context) (bool, error) { return held(ctx, id, name) })
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// Unassigned lists the roles a cascading department removal took away.
type Unassigned struct {
	Roles []string `json:"unassigned_roles"`
}

func (a *API) removeDepartment(w http.ResponseWriter, r *http.Request) error {
	id, err := userID(r)
	if err != nil {
		return err
	}
	if err := noBody(r); err != nil {
		return err
	}
	q, err := parseQuery(r, "cascade")
	if err != nil {
		return err
	}
	cascade := q.boolean("cascade")
	if err := q.err(); err != nil {
		return err
	}
	code := chi.URLParam(r, "code")
	var removed []string
	err = a.change(r, audit.TargetUser, id, func(ctx context.Context, ev *storage.AuditEvent) error {
		ev.Details = map[string]string{"department": code}
		actor, err := a.actor(ctx)
		if err != nil {
			return err
		}
		removed, err = a.users.RemoveDepartment(ctx, actor, id, code, cascade != nil && *cascade)
		if err != nil {
			return err
		}
		if len(removed) > 0 {
			ev.Details["unassigned_roles"] = strings.Join(removed, " ")
		}
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, Unassigned{Roles: nonNil(removed)})
	return nil
}

func (a *API) userRoles(w http.ResponseWriter, r *http.Request) error {
	return userHeld(a, w, r, a.store.UserRoles, a.store.ListRoles,
		func(r storage.Role) string { return r.Name }, roleOf)
}

// assignRole gives the user a role under the department rule: refused
// with 422, naming the rule, when none of the user's departments allows it.
func (a *API) assignRole(w http.ResponseWriter, r *http.Request) error {
	return a.grantUser(w, r, "name", "role", a.users.AssignRole,
		func(ctx context.Context, id, name string) (bool, error) {
			return holds(ctx, id, name, a.store.UserRoles, func(r storage.Role) string { return r.Name })
		})
}

func (a *API) unassignRole(w http.ResponseWriter, r *http.Request) error {
	id, err := userID(r)
	if err != nil {
		return err
	}
	if err := noBody(r); err != nil {
		return err
	}
	name := chi.URLParam(r, "name")
	err = a.change(r, audit.TargetUser, id, func(ctx context.Context, ev *storage.AuditEvent) error {
		ev.Details = map[string]string{"role": name}
		actor, err := a.actor(ctx)
		if err != nil {
			return err
		}
		return a.users.UnassignRole(ctx, actor, id, name)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) listRoles(w http.ResponseWriter, r *http.Request) error {
	rs, err := a.store.ListRoles(r.Context())
	if err != nil {
		return err
	}
	out := Items[Role]{Items: make([]Role, 0, len(rs))}
	for _, role := range rs {
		out.Items = append(out.Items, roleOf(role))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) listPermissions(w http.ResponseWriter, r *http.Request) error {
	ps, err := a.store.ListPermissions(r.Context())
	if err != nil {
		return err
	}
	out := Items[Permission]{Items: make([]Permission, 0, len(ps))}
	for _, p := range ps {
		out.Items = append(out.Items, Permission{Name: p.Name, Description: p.Description})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) listDepartments(w http.ResponseWriter, r *http.Request) error {
	ds, err := a.store.ListDepartments(r.Context())
	if err != nil {
		return err
	}
	out := Items[Department]{Items: make([]Department, 0, len(ds))}
	for _, d := range ds {
		out.Items = append(out.Items, departmentOf(d))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
