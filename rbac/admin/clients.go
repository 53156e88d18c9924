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

// Client is an OAuth client as the API shows it: never its secret or hash.
type Client struct {
	ClientID   string    `json:"client_id"`
	Name       string    `json:"name"`
	Public     bool      `json:"public"`
	Active     bool      `json:"active"`
	GrantTypes []string  `json:"grant_types"`
	Scopes     []string  `json:"scopes"`
	Audiences  []string  `json:"audiences"`
	Roles      []string  `json:"roles"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	// The authorization-code flow's redirect URIs; empty for other clients.
	RedirectURIs           []string `json:"redirect_uris"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
}

// NewClientSecret is a created client with its secret, shown this once.
type NewClientSecret struct {
	Client
	ClientSecret string `json:"client_secret,omitempty"`
}

// Secret is a rotated client secret, shown this once.
type Secret struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

func (a *API) clientOf(ctx context.Context, c *storage.Client) (Client, error) {
	roles, err := a.clients.Roles(ctx, c.ClientID)
	if err != nil {
		return Client{}, err
	}
	return Client{
		ClientID: c.ClientID, Name: c.Name, Public: c.Public, Active: c.Active,
		GrantTypes: nonNil(c.GrantTypes), Scopes: nonNil(c.Scopes), Audiences: nonNil(c.Audiences),
		Roles: nonNil(roles), CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
		RedirectURIs: nonNil(c.RedirectURIs), PostLogoutRedirectURIs: nonNil(c.PostLogoutRedirectURIs),
	}, nil
}

type newClient struct {
	ClientID   string   `json:"client_id"`
	Name       string   `json:"name"`
	Public     bool     `json:"public"`
	GrantTypes []string `json:"grant_types"`
	Scopes     []string `json:"scopes"`
	Audiences  []string `json:"audiences"`
	Roles      []string `json:"roles"`

	RedirectURIs           []string `json:"redirect_uris"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
}

func (a *API) createClient(w http.ResponseWriter, r *http.Request) error {
	var in newClient
	if err := decode(w, r, &in); err != nil {
		return err
	}
	var out NewClientSecret
	err := a.change(r, audit.TargetClient, in.ClientID, func(ctx context.Context, ev *storage.AuditEvent) error {
		actor, err := a.actor(ctx)
		if err != nil {
			return err
		}
		c, secret, err := a.clients.Create(ctx, actor, rbac.NewClient{
			ClientID: in.ClientID, Name: in.Name, Public: in.Public,
			GrantTypes: in.GrantTypes, Scopes: in.Scopes, Audiences: in.Audiences, Roles: in.Roles,
			RedirectURIs: in.RedirectURIs, PostLogoutRedirectURIs: in.PostLogoutRedirectURIs,
		})
		if errors.Is(err, storage.ErrConflict) {
			return problem(http.StatusConflict, KindConflict, "the client_id is taken")
		}
		if err != nil {
			return err
		}
		out.ClientSecret = secret
		out.Client, err = a.clientOf(ctx, c)
		ev.Details = map[string]string{"public": strconv.FormatBool(c.Public)}
		return err
	})
	if err != nil {
		return err
	}
	a.clientChanged(in.ClientID)
	w.Header().Set("Location", "/admin/v1/clients/"+in.ClientID)
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (a *API) listClients(w http.ResponseWriter, r *http.Request) error {
	cs, err := a.clients.List(r.Context())
	if err != nil {
		return err
	}
	out := Items[Client]{Items: make([]Client, 0, len(cs))}
	for i := range cs {
		c, err := a.clientOf(r.Context(), &cs[i])
		if err != nil {
			return err
		}
		out.Items = append(out.Items, c)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) getClient(w http.ResponseWriter, r *http.Request) error {
	c, err := a.clients.Get(r.Context(), chi.URLParam(r, "client_id"))
	if err != nil {
		return err
	}
	out, err := a.clientOf(r.Context(), c)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

type clientChange struct {
	Name      *string   `json:"name"`
	Active    *bool     `json:"active"`
	Scopes    *[]string `json:"scopes"`
	Audiences *[]string `json:"audiences"`

	RedirectURIs           *[]string `json:"redirect_uris"`
	PostLogoutRedirectURIs *[]string `json:"post_logout_redirect_uris"`
}

func (a *API) updateClient(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "client_id")
	var in clientChange
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if in.Name == nil && in.Active == nil && in.Scopes == nil && in.Audiences == nil && in.RedirectURIs == nil && in.PostLogoutRedirectURIs == nil {
		return invalid("body", "give at least one of name, active, scopes, audiences, redirect_uris, post_logout_redirect_uris")
	}
	var out Client
	err := a.change(r, audit.TargetClient, id, func(ctx context.Context, ev *storage.AuditEvent) error {
		if in.Name == nil && in.Scopes == nil && in.Audiences == nil && in.RedirectURIs == nil && in.PostLogoutRedirectURIs == nil {
			ev.Action = audit.ActionClientEnable
			if !*in.Active {
				ev.Action = audit.ActionClientDisable
			}
		}
		actor, err := a.actor(ctx)
		if err != nil {
			return err
		}
		c, err := a.clients.Update(ctx, actor, id, rbac.ClientChange{
			Name: in.Name, Active: in.Active, Scopes: in.Scopes, Audiences: in.Audiences,
			RedirectURIs: in.RedirectURIs, PostLogoutRedirectURIs: in.PostLogoutRedirectURIs,
		})
		if err != nil {
			return err
		}
		ev.Details = map[string]string{"active": strconv.FormatBool(c.Active)}
		out, err = a.clientOf(ctx, c)
		return err
	})
	if err != nil {
		return err
	}
	a.clientChanged(id)
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) deleteClient(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "client_id")
	if err := noBody(r); err != nil {
		return err
	}
	err := a.change(r, audit.TargetClient, id, func(ctx context.Context, _ *storage.AuditEvent) error {
		actor, err := a.actor(ctx)
		if err != nil {
			return err
		}
		return a.clients.Delete(ctx, actor, id)
	})
	if err != nil {
		return err
	}
	a.clientChanged(id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// rotateSecret replaces the client's secret: the old one stops working at
// once on this server, and within the client cache's lifetime elsewhere.
func (a *API) rotateSecret(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "client_id")
	if err := noBody(r); err != nil {
		return err
	}
	var secret string
	err := a.change(r, audit.TargetClient, id, func(ctx context.Context, _ *storage.AuditEvent) error {
		actor, err := a.actor(ctx)
		if err != nil {
			return err
		}
		secret, err = a.clients.RotateSecret(ctx, actor, id)
		return err
	})
	if err != nil {
		return err
	}
	a.clientChanged(id)
	writeJSON(w, http.StatusOK, Secret{ClientID: id, ClientSecret: secret})
	return nil
}

func (a *API) assignClientRole(w http.ResponseWriter, r *http.Request) error {
	return a.clientRole(w, r, a.clients.AssignRole)
}

func (a *API) unassignClientRole(w http.ResponseWriter, r *http.Request) error {
	return a.clientRole(w, r, a.clients.UnassignRole)
}

func (a *API) clientRole(w http.ResponseWriter, r *http.Request, op func(ctx context.Context, actor rbac.Actor, clientID, role string) error) error {
	id, name := chi.URLParam(r, "client_id"), chi.URLParam(r, "name")
	if err := noBody(r); err != nil {
		return err
	}
	err := a.change(r, audit.TargetClient, id, func(ctx context.Context, ev *storage.AuditEvent) error {
		ev.Details = map[string]string{"role": name}
		if _, err := a.clients.Get(ctx, id); err != nil {
			return err
		}
		actor, err := a.actor(ctx)
		if err != nil {
			return err
		}
		err = op(ctx, actor, id, name)
		if errors.Is(err, storage.ErrConflict) {
			return problem(http.StatusConflict, KindConflict, "the client already holds the role")
		}
		return err
	})
	if err != nil {
		return err
	}
	a.clientChanged(id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
