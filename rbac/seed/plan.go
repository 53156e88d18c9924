package seed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/gaia-platform/iam/audit"
	"github.com/gaia-platform/iam/password"
	"github.com/gaia-platform/iam/rbac"
	"github.com/gaia-platform/iam/storage"
)

// Op is the kind of a change.
type Op byte

// The kinds of change, as printed in a diff.
const (
	Create Op = '+'
	Update Op = '~'
	Delete Op = '-'
)

// Change is one line of the reconciliation diff.
type Change struct {
	Op     Op
	Kind   string // permission, role, department, client, user
	Name   string
	Detail string // what changes, for updates; notes for creates and deletes
	// Cascade marks a change that takes away access someone holds: the
	// removal of a role assignment the seed breaks (see
	// ErrBreaksAssignments), or of a role, permission or department in use
	// (see ErrRemovesInUse). Apply refuses it; ApplyCascading makes it.
	Cascade bool
}

func (c Change) String() string {
	s := fmt.Sprintf("%c %s %s", c.Op, c.Kind, c.Name)
	if c.Detail != "" {
		s += ": " + c.Detail
	}
	return s
}

// Credential is a password the seeder generated for a user it created. It
// exists only in memory and is shown to the operator once.
type Credential struct {
	Username string
	Password string
}

// Result is what Apply did.
type Result struct {
	Changes   []Change
	Generated []Credential
}

// SecretHasher turns a client secret into what the store keeps; the same
// as rbac.Clients uses, so seeded and run-time clients authenticate alike.
type SecretHasher = rbac.SecretHasher

// Seeder reconciles a store with a seed File.
type Seeder struct {
	store      storage.Store
	rbac       *rbac.Service
	hashSecret SecretHasher
	log        *slog.Logger
}

// New returns a Seeder. Users are created through svc, so the department
// rule is checked as for any other assignment.
func New(store storage.Store, svc *rbac.Service, hashSecret SecretHasher, log *slog.Logger) (*Seeder, error) {
	if store == nil || svc == nil || hashSecret == nil || log == nil {
		return nil, errors.New("seed.New: store, rbac service, secret hasher and log are required")
	}
	return &Seeder{store: store, rbac: svc, hashSecret: hashSecret, log: log}, nil
}

// ErrBreaksAssignments reports a seed that would leave users holding roles
// none of their departments allows: it stops a department allowing a role,
// or removes a department. The concrete error is a *BrokenAssignmentsError.
var ErrBreaksAssignments = errors.New("the seed would leave users holding roles none of their departments allows")

// BrokenAssignmentsError lists the user role assignments a seed would
// break, as the changes ApplyCascading makes to remove them.
type BrokenAssignmentsError struct {
	Changes []Change // one per assignment, by username then role
}

func (e *BrokenAssignmentsError) Error() string {
	return fmt.Sprintf("%s (%d): %s; apply it with cascade to remove them", ErrBreaksAssignments, len(e.Changes),
		strings.Join(lines(e.Changes), "; "))
}

// Is makes errors.Is(err, ErrBreaksAssignments) hold.
func (e *BrokenAssignmentsError) Is(target error) bool { return target == ErrBreaksAssignments }

// ErrRemovesInUse reports a seed that would delete a role someone holds, a
// department with members, or a permission a held role grants: a file
// truncated or edited by mistake would otherwise take away access at the
// next start. The concrete error is an *InUseError.
var ErrRemovesInUse = errors.New("the seed would delete roles, permissions or departments in use")

// InUseError lists the deletions of things in use a seed would make.
type InUseError struct {
	Changes []Change
}

func (e *InUseError) Error() string {
	return fmt.Sprintf("%s (%d): %s; apply it with cascade to delete them", ErrRemovesInUse, len(e.Changes),
		strings.Join(lines(e.Changes), "; "))
}

// Is makes errors.Is(err, ErrRemovesInUse) hold.
func (e *InUseError) Is(target error) bool { return target == ErrRemovesInUse }

// Plan returns the changes Apply would make now, writing nothing. Role
// assignments the seed would break (see ErrBreaksAssignments) are listed as
// the removals ApplyCascading would make.
func (s *Seeder) Plan(ctx context.Context, f *File) ([]Change, error) {
	steps, err := s.plan(ctx, f, &Result{})
	if err != nil {
		return nil, err
	}
	return changes(steps), nil
}

// Apply reconciles the store with f in one transaction: all of it or none.
// Concurrent seeders (several servers starting at once) take turns under a
// lock and each plans against what the previous one committed, so the
// later ones find nothing to do. A seed that would leave a user holding a
// role none of their departments allows is refused whole with a
// *BrokenAssignmentsError, and nothing changes: the department rule holds
// after a seed as after any other change.
func (s *Seeder) Apply(ctx context.Context, f *File) (Result, error) {
	return s.apply(ctx, f, false)
}

// ApplyCascading is Apply, except that the role assignments the seed
// breaks are removed in the same transaction, each listed in the result.
func (s *Seeder) ApplyCascading(ctx context.Context, f *File) (Result, error) {
	return s.apply(ctx, f, true)
}

func (s *Seeder) apply(ctx context.Context, f *File, cascade bool) (Result, error) {
	var res Result
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		res = Result{}
		if err := s.store.Lock(ctx, "gaia.seed"); err != nil {
			return fmt.Errorf("seed lock: %w", err)
		}
		steps, err := s.plan(ctx, f, &res)
		if err != nil {
			return err
		}
		if !cascade {
			if err := refuseCascades(steps); err != nil {
				return err
			}
		}
		events := make([]storage.AuditEvent, 0, len(steps))
		for _, st := range steps {
			if err := st.apply(ctx); err != nil {
				return fmt.Errorf("seed: %s: %w", st.Change, err)
			}
			events = append(events, auditEvent(st.Change))
		}
		// In the seed's transaction: no change without its entry.
		if err := s.store.AppendAudit(ctx, events); err != nil {
			return fmt.Errorf("seed: audit: %w", err)
		}
		res.Changes = changes(steps)
		return nil
	})
	if err != nil {
		return Result{}, err
	}
	return res, nil
}

// refuseCascades returns the errors for the steps that take away access
// someone holds, nil when there are none.
func refuseCascades(steps []step) error {
	var broken, inUse []Change
	for _, st := range steps {
		switch {
		case !st.Cascade:
		case st.Kind == "user":
			broken = append(broken, st.Change)
		default:
			inUse = append(inUse, st.Change)
		}
	}
	var errs []error
	if len(broken) > 0 {
		errs = append(errs, &BrokenAssignmentsError{Changes: broken})
	}
	if len(inUse) > 0 {
		errs = append(errs, &InUseError{Changes: inUse})
	}
	return errors.Join(errs...)
}

// auditEvent is the audit entry of a change the seed made, by the actor
// seed: seed.create, seed.update or seed.delete of the entry's kind and name.
func auditEvent(c Change) storage.AuditEvent {
	action := map[Op]string{Create: audit.ActionSeedCreate, Update: audit.ActionSeedUpdate, Delete: audit.ActionSeedDelete}[c.Op]
	e := storage.AuditEvent{
		ActorType: audit.ActorSystem, ActorName: audit.ActorNameSeed,
		Action: action, Outcome: audit.Success, TargetType: c.Kind, TargetID: c.Name,
	}
	if c.Detail != "" {
		// Bounded well under storage.MaxAuditDetailsLen, whatever the diff.
		d := c.Detail
		if len(d) > 1024 {
			d = strings.ToValidUTF8(d[:1024], "") + "…"
		}
		e.Details = map[string]string{"change": d}
	}
	return e
}

type step struct {
	Change
	apply func(ctx context.Context) error
}

func lines(cs []Change) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.String()
	}
	return out
}

func changes(steps []step) []Change {
	cs := make([]Change, len(steps))
	for i, st := range steps {
		cs[i] = st.Change
	}
	return cs
}

// ids maps names to database IDs; creation steps fill it as they run, so
// that later steps can refer to rows that do not exist yet at plan time.
type ids struct {
	permission, role, department map[string]string
}

func (m ids) lookup(table map[string]string, names []string) ([]string, error) {
	out := make([]string, 0, len(names))
	for _, n := range names {
		id, ok := table[n]
		if !ok {
			return nil, fmt.Errorf("no id for %q", n)
		}
		out = append(out, id)
	}
	return out, nil
}

// plan compares f with the store and returns the steps that make them equal,
// in an order that respects references: creations and updates first
// (permissions, roles, departments), then deletions (departments, roles,
// permissions), then the clients and users that are absent.
func (s *Seeder) plan(ctx context.Context, f *File, res *Result) ([]step, error) {
	curPerms, err := s.store.ListPermissions(ctx)
	if err != nil {
		return nil, fmt.Errorf("seed: list permissions: %w", err)
	}
	curRoles, err := s.store.ListRoles(ctx)
	if err != nil {
		return nil, fmt.Errorf("seed: list roles: %w", err)
	}
	curDepts, err := s.store.ListDepartments(ctx)
	if err != nil {
		return nil, fmt.Errorf("seed: list departments: %w", err)
	}
	m := ids{permission: map[string]string{}, role: map[string]string{}, department: map[string]string{}}
	for _, p := range curPerms {
		m.permission[p.Name] = p.ID
	}
	for _, r := range curRoles {
		m.role[r.Name] = r.ID
	}
	for _, d := range curDepts {
		m.department[d.Code] = d.ID
	}

	var steps []step
	add := func(c Change, apply func(ctx context.Context) error) {
		steps = append(steps, step{Change: c, apply: apply})
	}

	for _, p := range f.Permissions {
		i := slices.IndexFunc(curPerms, func(c storage.Permission) bool { return c.Name == p.Name })
		switch {
		case i < 0:
			add(Change{Op: Create, Kind: "permission", Name: p.Name}, func(ctx context.Context) error {
				rec := &storage.Permission{Name: p.Name, Description: p.Description}
				if err := s.store.CreatePermission(ctx, rec); err != nil {
					return err
				}
				m.permission[p.Name] = rec.ID
				return nil
			})
		case curPerms[i].Description != p.Description:
			rec := curPerms[i]
			rec.Description = p.Description
			add(Change{Op: Update, Kind: "permission", Name: p.Name, Detail: "description"}, func(ctx context.Context) error {
				return s.store.UpdatePermission(ctx, &rec)
			})
		}
	}

	for _, r := range f.Roles {
		i := slices.IndexFunc(curRoles, func(c storage.Role) bool { return c.Name == r.Name })
		if i < 0 {
			add(Change{Op: Create, Kind: "role", Name: r.Name, Detail: listDetail("permissions", r.Permissions)}, func(ctx context.Context) error {
				rec := &storage.Role{Name: r.Name, Description: r.Description}
				if err := s.store.CreateRole(ctx, rec); err != nil {
					return err
				}
				m.role[r.Name] = rec.ID
				return s.setRolePermissions(ctx, m, rec.ID, r.Permissions)
			})
			continue
		}
		cur := curRoles[i]
		var details []string
		if cur.Description != r.Description {
			details = append(details, "description")
		}
		if d := setDiff("permissions", cur.Permissions, r.Permissions); d != "" {
			details = append(details, d)
		}
		if len(details) > 0 {
			add(Change{Op: Update, Kind: "role", Name: r.Name, Detail: strings.Join(details, "; ")}, func(ctx context.Context) error {
				rec := cur
				rec.Description = r.Description
				if err := s.store.UpdateRole(ctx, &rec); err != nil {
					return err
				}
				return s.setRolePermissions(ctx, m, cur.ID, r.Permissions)
			})
		}
	}

	for _, d := range f.Departments {
		i := slices.IndexFunc(curDepts, func(c storage.Department) bool { return c.Code == d.Code })
		if i < 0 {
			add(Change{Op: Create, Kind: "department", Name: d.Code, Detail: listDetail("allowed roles", d.AllowedRoles)}, func(ctx context.Context) error {
				rec := &storage.Department{Code: d.Code, Name: d.Name}
				if err := s.store.CreateDepartment(ctx, rec); err != nil {
					return err
				}
				m.department[d.Code] = rec.ID
				return s.setDepartmentRoles(ctx, m, rec.ID, d.AllowedRoles)
			})
			continue
		}
		cur := curDepts[i]
		var details []string
		if cur.Name != d.Name {
			details = append(details, "name")
		}
		if diff := setDiff("allowed roles", cur.AllowedRoles, d.AllowedRoles); diff != "" {
			details = append(details, diff)
		}
		if len(details) > 0 {
			add(Change{Op: Update, Kind: "department", Name: d.Code, Detail: strings.Join(details, "; ")}, func(ctx context.Context) error {
				rec := cur
				rec.Name = d.Name
				if err := s.store.UpdateDepartment(ctx, &rec); err != nil {
					return err
				}
				return s.setDepartmentRoles(ctx, m, cur.ID, d.AllowedRoles)
			})
		}
	}

	broken, err := s.brokenAssignments(ctx, f, curDepts, m)
	if err != nil {
		return nil, err
	}
	steps = append(steps, broken...)

	use := &usage{s: s, roles: map[string]string{}}
	inUse := func(c Change, by string) Change {
		if by != "" {
			c.Detail = strings.TrimPrefix(c.Detail+"; in use: "+by, "; ")
			c.Cascade = true
		}
		return c
	}
	for _, cur := range curDepts {
		if !slices.ContainsFunc(f.Departments, func(d Department) bool { return d.Code == cur.Code }) {
			by, err := use.department(ctx, cur.Code)
			if err != nil {
				return nil, err
			}
			add(inUse(Change{Op: Delete, Kind: "department", Name: cur.Code, Detail: "its members leave it"}, by), func(ctx context.Context) error {
				return s.store.DeleteDepartment(ctx, cur.ID)
			})
		}
	}
	for _, cur := range curRoles {
		if !slices.ContainsFunc(f.Roles, func(r Role) bool { return r.Name == cur.Name }) {
			by, err := use.role(ctx, cur.Name)
			if err != nil {
				return nil, err
			}
			add(inUse(Change{Op: Delete, Kind: "role", Name: cur.Name, Detail: "unassigned from every user and client"}, by), func(ctx context.Context) error {
				return s.store.DeleteRole(ctx, cur.ID)
			})
		}
	}
	for _, cur := range curPerms {
		if !slices.ContainsFunc(f.Permissions, func(p Permission) bool { return p.Name == cur.Name }) {
			by, err := use.permission(ctx, cur.Name, curRoles)
			if err != nil {
				return nil, err
			}
			add(inUse(Change{Op: Delete, Kind: "permission", Name: cur.Name}, by), func(ctx context.Context) error {
				return s.store.DeletePermission(ctx, cur.ID)
			})
		}
	}

	var missing []error
	for _, c := range f.Clients {
		_, err := s.store.GetClient(ctx, c.ClientID)
		if err == nil {
			continue // runtime changes to existing clients are kept
		}
		if !errors.Is(err, storage.ErrNotFound) {
			return nil, fmt.Errorf("seed: client %s: %w", c.ClientID, err)
		}
		if !c.Public && c.secret == "" {
			missing = append(missing, fmt.Errorf("client %q: environment variable %s is not set (needed to create the client)", c.ClientID, c.SecretEnv))
			continue
		}
		add(Change{Op: Create, Kind: "client", Name: c.ClientID, Detail: listDetail("roles", c.Roles)}, func(ctx context.Context) error {
			return s.createClient(ctx, m, c)
		})
	}

	if len(missing) > 0 {
		return nil, fmt.Errorf("seed: %w", errors.Join(missing...))
	}

	for _, u := range f.Users {
		_, err := s.store.GetUserByUsername(ctx, u.username)
		if err == nil {
			continue // runtime changes to existing users are kept
		}
		if !errors.Is(err, storage.ErrNotFound) {
			return nil, fmt.Errorf("seed: user %s: %w", u.username, err)
		}
		detail := listDetail("departments", u.Departments)
		if r := listDetail("roles", u.Roles); r != "" {
			detail = strings.TrimPrefix(detail+"; "+r, "; ")
		}
		if u.password == "" {
			detail = strings.TrimPrefix(detail+"; password generated", "; ")
		}
		add(Change{Op: Create, Kind: "user", Name: u.username, Detail: detail}, func(ctx context.Context) error {
			return s.createUser(ctx, u, res)
		})
	}
	return steps, nil
}

// brokenAssignments returns a step removing each user role assignment that
// f would leave allowed by none of the user's departments: roles that a
// department in the store allows and, after f, no longer does (because f
// drops them from its allowed roles or drops the department), held by a
// user none of whose departments in f allows them. Roles f removes are left
// out: removing a role unassigns it anyway.
func (s *Seeder) brokenAssignments(ctx context.Context, f *File, curDepts []storage.Department, m ids) ([]step, error) {
	allowedAfter := map[string][]string{} // department code → roles allowed after f
	for _, d := range f.Departments {
		allowedAfter[d.Code] = d.AllowedRoles
	}
	var lost []string // roles some department stops allowing
	for _, cur := range curDepts {
		after, kept := allowedAfter[cur.Code]
		for _, r := range cur.AllowedRoles {
			if (!kept || !slices.Contains(after, r)) && !slices.Contains(lost, r) &&
				slices.ContainsFunc(f.Roles, func(fr Role) bool { return fr.Name == r }) {
				lost = append(lost, r)
			}
		}
	}
	slices.Sort(lost)

	type broken struct {
		user        storage.User
		role        string
		departments []string // the user's departments that remain after f
	}
	var found []broken
	for _, role := range lost {
		for after := ""; ; {
			users, err := s.store.ListUsers(ctx, storage.UserFilter{Role: role, After: after, Limit: storage.MaxListLimit})
			if err != nil {
				return nil, fmt.Errorf("seed: holders of role %s: %w", role, err)
			}
			for _, u := range users {
				depts, err := s.store.UserDepartments(ctx, u.ID)
				if err != nil {
					return nil, fmt.Errorf("seed: departments of user %s: %w", u.Username, err)
				}
				var remaining []string
				allowed := false
				for _, d := range depts {
					if roles, ok := allowedAfter[d.Code]; ok {
						remaining = append(remaining, d.Code)
						allowed = allowed || slices.Contains(roles, role)
					}
				}
				if !allowed {
					found = append(found, broken{u, role, remaining})
				}
			}
			if len(users) < storage.MaxListLimit {
				break
			}
			after = users[len(users)-1].Username
		}
	}
	slices.SortStableFunc(found, func(a, b broken) int { return strings.Compare(a.user.Username, b.user.Username) })

	steps := make([]step, 0, len(found))
	for _, b := range found {
		detail := "role " + b.role + ", which none of their departments allows after this seed"
		if len(b.departments) > 0 {
			detail = fmt.Sprintf("role %s, which none of their departments (%s) allows after this seed", b.role, strings.Join(b.departments, ", "))
		}
		steps = append(steps, step{
			Change: Change{Op: Delete, Kind: "user", Name: b.user.Username, Detail: detail, Cascade: true},
			apply: func(ctx context.Context) error {
				return s.store.UnassignUserRole(ctx, b.user.ID, m.role[b.role])
			},
		})
	}
	return steps, nil
}

func (s *Seeder) setRolePermissions(ctx context.Context, m ids, roleID string, names []string) error {
	permIDs, err := m.lookup(m.permission, names)
	if err != nil {
		return err
	}
	return s.store.SetRolePermissions(ctx, roleID, permIDs)
}

func (s *Seeder) setDepartmentRoles(ctx context.Context, m ids, deptID string, names []string) error {
	roleIDs, err := m.lookup(m.role, names)
	if err != nil {
		return err
	}
	return s.store.SetDepartmentRoles(ctx, deptID, roleIDs)
}

func (s *Seeder) createClient(ctx context.Context, m ids, c Client) error {
	rec := &storage.Client{
		ClientID:   c.ClientID,
		Name:       c.Name,
		Public:     c.Public,
		GrantTypes: c.GrantTypes,
		Scopes:     c.Scopes,
		Audiences:  c.Audiences,
		Active:     true,

		RedirectURIs:           c.RedirectURIs,
		PostLogoutRedirectURIs: c.PostLogoutRedirectURIs,
	}
	if !c.Public {
		h, err := s.hashSecret(ctx, c.secret)
		if err != nil {
			return fmt.Errorf("hash secret: %w", err)
		}
		rec.SecretHash = h
	}
	if err := s.store.CreateClient(ctx, rec); err != nil {
		return err
	}
	roleIDs, err := m.lookup(m.role, c.Roles)
	if err != nil {
		return err
	}
	for _, id := range roleIDs {
		if err := s.store.AssignClientRole(ctx, c.ClientID, id); err != nil {
			return err
		}
	}
	return nil
}

func (s *Seeder) createUser(ctx context.Context, u User, res *Result) error {
	pw := u.password
	if pw == "" {
		pw = password.Generate()
		res.Generated = append(res.Generated, Credential{Username: u.username, Password: pw})
	}
	rec, err := s.rbac.CreateUser(ctx, rbac.NewUser{Username: u.username, Email: u.Email, Password: pw})
	if err != nil {
		return err
	}
	for _, code := range u.Departments {
		if err := s.rbac.AddDepartment(ctx, rbac.Operator, rec.ID, code); err != nil {
			return err
		}
	}
	for _, r := range u.Roles {
		if err := s.rbac.AssignRole(ctx, rbac.Operator, rec.ID, r); err != nil {
			return err
		}
	}
	return nil
}

func listDetail(label string, names []string) string {
	if len(names) == 0 {
		return ""
	}
	return label + " " + strings.Join(names, ", ")
}

// setDiff describes how want differs from cur, as "label +a +b -c".
func setDiff(label string, cur, want []string) string {
	var parts []string
	for _, w := range want {
		if !slices.Contains(cur, w) {
			parts = append(parts, "+"+w)
		}
	}
	for _, c := range cur {
		if !slices.Contains(want, c) {
			parts = append(parts, "-"+c)
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return label + " " + strings.Join(parts, " ")
}

// usage finds who holds what a seed would delete, for the refusal of
// ErrRemovesInUse.
type usage struct {
	s       *Seeder
	clients []storage.Client // read once, when a role is first asked about
	listed  bool
	roles   map[string]string // role name → who holds it; "" for nobody
}

// department names a member of the department, "" when it has none.
func (u *usage) department(ctx context.Context, code string) (string, error) {
	members, err := u.s.store.ListUsers(ctx, storage.UserFilter{Department: code, Limit: 2})
	if err != nil {
		return "", fmt.Errorf("seed: members of department %s: %w", code, err)
	}
	return someUsers(members), nil
}

// role names who holds the role, users and clients, "" when nobody does.
func (u *usage) role(ctx context.Context, name string) (string, error) {
	if by, ok := u.roles[name]; ok {
		return by, nil
	}
	users, err := u.s.store.ListUsers(ctx, storage.UserFilter{Role: name, Limit: 2})
	if err != nil {
		return "", fmt.Errorf("seed: holders of role %s: %w", name, err)
	}
	if !u.listed {
		if u.clients, err = u.s.store.ListClients(ctx); err != nil {
			return "", fmt.Errorf("seed: list clients: %w", err)
		}
		u.listed = true
	}
	var by []string
	if s := someUsers(users); s != "" {
		by = append(by, s)
	}
	for _, c := range u.clients {
		g, err := u.s.store.ClientGrants(ctx, c.ClientID)
		if err != nil {
			return "", fmt.Errorf("seed: roles of client %s: %w", c.ClientID, err)
		}
		if slices.Contains(g.Roles, name) {
			by = append(by, "client "+c.ClientID)
		}
	}
	u.roles[name] = strings.Join(by, ", ")
	return u.roles[name], nil
}

// permission names a role granting the permission that someone holds, ""
// when none does.
func (u *usage) permission(ctx context.Context, name string, roles []storage.Role) (string, error) {
	for _, r := range roles {
		if !slices.Contains(r.Permissions, name) {
			continue
		}
		by, err := u.role(ctx, r.Name)
		if err != nil {
			return "", err
		}
		if by != "" {
			return "granted by role " + r.Name + ", held by " + by, nil
		}
	}
	return "", nil
}

// someUsers names the first of users, and says whether there are more.
func someUsers(users []storage.User) string {
	switch len(users) {
	case 0:
		return ""
	case 1:
		return "user " + users[0].Username
	}
	return "user " + users[0].Username + " and others"
}
