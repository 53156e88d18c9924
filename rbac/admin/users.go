package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/gaia-platform/iam/audit"
	"github.com/gaia-platform/iam/claims"
	"github.com/gaia-platform/iam/rbac"
	"github.com/gaia-platform/iam/storage"
)

// User is a user as the API shows it: never the password hash.
type User struct {
	ID          string    `json:"id"`
	Username    string    `json:"username"`
	Email       string    `json:"email"`
	Active      bool      `json:"active"`
	HasPassword bool      `json:"has_password"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

func userOf(u *storage.User) User {
	return User{
		ID: u.ID, Username: u.Username, Email: u.Email, Active: u.Active,
		HasPassword: u.PasswordHash != "", CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt,
	}
}

// Page is one page of a list; NextCursor is empty on the last one.
type Page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// Items is a list returned whole.
type Items[T any] struct {
	Items []T `json:"items"`
}

// userID is the {id} of the path, or a 404 when it cannot name a user.
func userID(r *http.Request) (string, error) {
	id, ok := storage.CanonicalID(chi.URLParam(r, "id"))
	if !ok {
		return "", problem(http.StatusNotFound, KindNotFound, "the user does not exist")
	}
	return id, nil
}

type newUser struct {
	Username string `json:"username"`
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (a *API) createUser(w http.ResponseWriter, r *http.Request) error {
	var in newUser
	if err := decode(w, r, &in); err != nil {
		return err
	}
	// Hashed before the transaction opens (see rbac.Service.PrepareUser);
	// a refusal is still audited by change.
	prepared, perr := a.users.PrepareUser(r.Context(), rbac.NewUser{Username: in.Username, Email: in.Email, Password: in.Password})
	var u *storage.User
	err := a.change(r, audit.TargetUser, "", func(ctx context.Context, ev *storage.AuditEvent) error {
		if perr != nil {
			return perr
		}
		var err error
		u, err = a.users.AddUser(ctx, prepared)
		if errors.Is(err, storage.ErrConflict) {
			return problem(http.StatusConflict, KindConflict, "the username is taken")
		}
		if err != nil {
			return err
		}
		ev.TargetID = u.ID
		ev.Details = map[string]string{"username": u.Username}
		return nil
	})
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/admin/v1/users/"+u.ID)
	writeRepresentation(w, http.StatusCreated, userOf(u))
	return nil
}

func (a *API) listUsers(w http.ResponseWriter, r *http.Request) error {
	q, err := parseQuery(r, "username_prefix", "department", "role", "active", "limit", "cursor")
	if err != nil {
		return err
	}
	f := storage.UserFilter{
		Department: q.str("department"),
		Role:       q.str("role"),
		Active:     q.boolean("active"),
		After:      q.cursor(),
		Limit:      q.limit() + 1, // one more tells whether a next page exists
	}
	if p := q.str("username_prefix"); p != "" {
		if f.UsernamePrefix, err = rbac.NormalizeUsername(p); err != nil {
			q.bad("username_prefix", "not the start of a valid username")
		}
	}
	if err := q.err(); err != nil {
		return err
	}
	users, err := a.store.ListUsers(r.Context(), f)
	if err != nil {
		return err
	}
	page := Page[User]{Items: make([]User, 0, len(users))}
	if len(users) == f.Limit {
		users = users[:len(users)-1]
		page.NextCursor = encodeCursor(users[len(users)-1].Username)
	}
	for i := range users {
		page.Items = append(page.Items, userOf(&users[i]))
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

func (a *API) getUser(w http.ResponseWriter, r *http.Request) error {
	id, err := userID(r)
	if err != nil {
		return err
	}
	cond, err := parseCondition(r, "If-None-Match")
	if err != nil {
		return err
	}
	u, err := a.store.GetUser(r.Context(), id)
	if err != nil {
		return err
	}
	out := userOf(u)
	if tag := etagOf(out); cond.ifNoneMatch(tag) {
		notModified(w, tag)
		return nil
	}
	writeRepresentation(w, http.StatusOK, out)
	return nil
}

// userTag takes the user's lock in the transaction ctx carries and returns
// the entity tag of the user as stored, when cond is to be checked: the
// change that follows in the transaction changes what the tag names.
func (a *API) userTag(ctx context.Context, id string, cond condition) (string, error) {
	if !cond.present {
		return "", nil
	}
	u, err := a.users.LockUser(ctx, id)
	if err != nil {
		return "", err
	}
	return etagOf(userOf(u)), nil
}

type userChange struct {
	Email  *string `json:"email"`
	Active *bool   `json:"active"`
}

// updateUser changes email and active. Making a user inactive is a
// disable: every refresh token of theirs is revoked with it.
func (a *API) updateUser(w http.ResponseWriter, r *http.Request) error {
	id, err := userID(r)
	if err != nil {
		return err
	}
	var in userChange
	// A merge patch's "email": null removes the email; active cannot be.
	if err := decodePatch(w, r, &in, map[string]func(){
		"email": func() { in.Email = new("") },
	}); err != nil {
		return err
	}
	if in.Email == nil && in.Active == nil {
		return invalid("body", "give email, active or both")
	}
	cond, err := parseCondition(r, "If-Match")
	if err != nil {
		return err
	}
	var u *storage.User
	err = a.change(r, audit.TargetUser, id, func(ctx context.Context, ev *storage.AuditEvent) error {
		before, err := a.userTag(ctx, id, cond)
		if err != nil {
			return err
		}
		if in.Email == nil { // only active: say which way
			ev.Action = audit.ActionUserEnable
			if !*in.Active {
				ev.Action = audit.ActionUserDisable
			}
		}
		actor, err := a.actor(ctx)
		if err != nil {
			return err
		}
		var revoked int
		u, revoked, err = a.users.UpdateUser(ctx, actor, id, rbac.UserChange{Email: in.Email, Active: in.Active})
		if err != nil {
			return err
		}
		ev.Details = map[string]string{"active": strconv.FormatBool(u.Active)}
		if in.Email != nil {
			ev.Details["email_changed"] = "true"
		}
		if !u.Active {
			ev.Details["revoked_sessions"] = strconv.Itoa(revoked)
		}
		// Checked after the change, in its transaction: a refusal the
		// request would meet anyway (403, 404, 422) comes first (RFC 9110
		// §13.2.1), and a 412 rolls the change back.
		if !cond.ifMatch(before) {
			return precondition()
		}
		return nil
	})
	if err != nil {
		return err
	}
	writeRepresentation(w, http.StatusOK, userOf(u))
	return nil
}

func (a *API) deleteUser(w http.ResponseWriter, r *http.Request) error {
	id, err := userID(r)
	if err != nil {
		return err
	}
	if err := noBody(r); err != nil {
		return err
	}
	cond, err := parseCondition(r, "If-Match")
	if err != nil {
		return err
	}
	err = a.change(r, audit.TargetUser, id, func(ctx context.Context, _ *storage.AuditEvent) error {
		before, err := a.userTag(ctx, id, cond)
		if err != nil {
			return err
		}
		actor, err := a.actor(ctx)
		if err != nil {
			return err
		}
		if err := a.users.DeleteUser(ctx, actor, id); err != nil {
			return err
		}
		if !cond.ifMatch(before) { // as in updateUser
			return precondition()
		}
		return nil
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type newPassword struct {
	Password string `json:"password"`
}

func (a *API) setPassword(w http.ResponseWriter, r *http.Request) error {
	id, err := userID(r)
	if err != nil {
		return err
	}
	var in newPassword
	if err := decode(w, r, &in); err != nil {
		return err
	}
	// Hashed before the transaction opens (see rbac.Service.PrepareUser);
	// a refusal is still audited by change.
	h, herr := a.users.HashPassword(r.Context(), in.Password)
	err = a.change(r, audit.TargetUser, id, func(ctx context.Context, ev *storage.AuditEvent) error {
		if herr != nil {
			return herr
		}
		actor, err := a.actor(ctx)
		if err != nil {
			return err
		}
		revoked, err := a.users.SetPassword(ctx, actor, id, h)
		if err != nil {
			return err
		}
		ev.Details = map[string]string{"revoked_sessions": strconv.Itoa(revoked)}
		return nil
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// Logout is the answer to a forced logout.
type Logout struct {
	RevokedSessions int `json:"revoked_sessions"`
}

// logout revokes every refresh token of the user. Their access tokens stay
// valid until they expire (15 minutes by default): services verify them
// offline and cannot learn of the logout sooner.
func (a *API) logout(w http.ResponseWriter, r *http.Request) error {
	var n int
	err := a.userAction(r, func(ctx context.Context, actor rbac.Actor, id string) (map[string]string, error) {
		var err error
		if n, err = a.users.Logout(ctx, actor, id); err != nil {
			return nil, err
		}
		return map[string]string{"revoked_sessions": strconv.Itoa(n)}, nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, Logout{RevokedSessions: n})
	return nil
}

// userAction runs fn, as the caller's actor, in the audited change of an
// action without a body on the user the path names; fn returns the
// event's details.
func (a *API) userAction(r *http.Request, fn func(ctx context.Context, actor rbac.Actor, id string) (map[string]string, error)) error {
	id, err := userID(r)
	if err != nil {
		return err
	}
	if err := noBody(r); err != nil {
		return err
	}
	return a.change(r, audit.TargetUser, id, func(ctx context.Context, ev *storage.AuditEvent) error {
		actor, err := a.actor(ctx)
		if err != nil {
			return err
		}
		ev.Details, err = fn(ctx, actor, id)
		return err
	})
}

// EffectivePermissions is what the user's next token would carry.
type EffectivePermissions struct {
	UserID      string   `json:"user_id"`
	Active      bool     `json:"active"`
	Roles       []string `json:"roles"`
	Permissions []string `json:"permissions"`
	// Token is the size of the access token these grants make.
	Token *TokenBudget `json:"token,omitempty"`
}

// TokenBudget compares the size of a user's access token with the
// budget issuance enforces (GAIA_ACCESS_TOKEN_MAX_BYTES): the token of the
// default audience, with every permission, and the token for each service
// of the seed, with that service's only. Sizes are estimates within a few
// dozen bytes: client_id, scope and the login's id are taken at 36 bytes
// each.
type TokenBudget struct {
	MaxBytes     int            `json:"max_bytes"`
	Bytes        int            `json:"bytes"`
	WithinBudget bool           `json:"within_budget"`
	Services     []ServiceToken `json:"services"`
}

// ServiceToken is the token a user would get for one service.
type ServiceToken struct {
	Audience     string `json:"audience"`
	Permissions  int    `json:"permissions"`
	Bytes        int    `json:"bytes"`
	WithinBudget bool   `json:"within_budget"`
}

// tokenBudget measures the user's tokens; nil when no sizer is set.
func (a *API) tokenBudget(u *storage.User, roles, perms []string) (*TokenBudget, error) {
	if a.tokenSize == nil {
		return nil, nil
	}
	placeholder := strings.Repeat("x", 36)
	measure := func(aud string, p []string) (int, int, error) {
		return a.tokenSize.TokenSize(claims.Access{
			Subject: u.ID, Audience: []string{aud}, ClientID: placeholder, Scope: placeholder, SessionID: placeholder,
			Type: claims.User, Username: u.Username, Roles: roles, Permissions: p,
		})
	}
	n, budget, err := measure(a.audience, perms)
	if err != nil {
		return nil, fmt.Errorf("measure token: %w", err)
	}
	tb := &TokenBudget{MaxBytes: budget, Bytes: n, WithinBudget: n <= budget, Services: []ServiceToken{}}
	for _, aud := range a.services.Audiences() {
		p := a.services.Permissions([]string{aud}, perms)
		n, _, err := measure(aud, p)
		if err != nil {
			return nil, fmt.Errorf("measure token for %q: %w", aud, err)
		}
		tb.Services = append(tb.Services, ServiceToken{Audience: aud, Permissions: len(p), Bytes: n, WithinBudget: n <= budget})
	}
	return tb, nil
}

func (a *API) userPermissions(w http.ResponseWriter, r *http.Request) error {
	id, err := userID(r)
	if err != nil {
		return err
	}
	u, g, err := a.users.Grants(r.Context(), id)
	if err != nil {
		return err
	}
	tb, err := a.tokenBudget(u, nonNil(g.Roles), nonNil(g.Permissions))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, EffectivePermissions{
		UserID: u.ID, Active: u.Active, Roles: nonNil(g.Roles), Permissions: nonNil(g.Permissions), Token: tb,
	})
	return nil
}
