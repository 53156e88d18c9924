package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/gaia-platform/iam/audit"
	"github.com/gaia-platform/iam/rbac"
	"github.com/gaia-platform/iam/storage"
)

// clientCmd runs `gaia-iam client create|rotate-secret|list|delete`.
func clientCmd(ctx context.Context, args []string, s sys) error {
	if len(args) > 0 {
		switch args[0] {
		case "create":
			return clientCreate(ctx, args[1:], s)
		case "rotate-secret":
			return clientRotateSecret(ctx, args[1:], s)
		case "list":
			return clientList(ctx, args[1:], s)
		case "delete":
			return clientDelete(ctx, args[1:], s)
		}
	}
	fmt.Fprintln(s.stderr, "usage: gaia-iam client create|rotate-secret|list|delete [flags]")
	return errUsage
}

func clientCreate(ctx context.Context, args []string, s sys) error {
	var (
		nc                               rbac.NewClient
		grants, scopes, audiences, roles listFlag
		redirects, postLogout            listFlag
	)
	cfg, err := parseConfig("client create", args, s, func(fs *flag.FlagSet) {
		fs.StringVar(&nc.ClientID, "client-id", "", "the OAuth client_id (required)")
		fs.StringVar(&nc.Name, "name", "", "a name for people to read (required)")
		fs.Var(&grants, "grant-type", "authorization_code, password, refresh_token or client_credentials; repeat for several (required)")
		fs.Var(&scopes, "scope", "a scope the client may request; repeat for several")
		fs.Var(&audiences, "audience", "an audience of its tokens; repeat for several (default: the server's default audience)")
		fs.Var(&roles, "role", "a role the client itself holds (client_credentials); repeat for several")
		fs.BoolVar(&nc.Public, "public", false, "a public client, with no secret (RFC 6749 §2.1); not for client_credentials")
		fs.Var(&redirects, "redirect-uri", "an authorization_code client's redirect URI, matched exactly; repeat for several")
		fs.Var(&postLogout, "post-logout-redirect-uri", "where RP-initiated logout may send the browser back; repeat for several")
	})
	if err != nil {
		return err
	}
	var missing []string
	for _, m := range []struct {
		flag  string
		unset bool
	}{{"--client-id", nc.ClientID == ""}, {"--name", nc.Name == ""}, {"--grant-type", len(grants) == 0}} {
		if m.unset {
			missing = append(missing, m.flag)
		}
	}
	if len(missing) > 0 {
		return usageError(s, "client create", "missing "+strings.Join(missing, ", "))
	}
	nc.GrantTypes, nc.Scopes, nc.Audiences, nc.Roles = grants, scopes, audiences, roles
	nc.RedirectURIs, nc.PostLogoutRedirectURIs = redirects, postLogout
	// Refuse a bad command line before touching the database.
	if err := nc.Validate(); err != nil {
		return err
	}

	op, err := openOperator(ctx, cfg, s)
	if err != nil {
		return err
	}
	defer op.close(ctx)
	var (
		c      *storage.Client
		secret string
	)
	err = op.store.InTx(ctx, func(ctx context.Context) error {
		var err error
		if c, secret, err = op.domain.Clients.Create(ctx, rbac.Operator, nc); err != nil {
			return err
		}
		details := map[string]string{"public": strconv.FormatBool(c.Public)}
		if len(roles) > 0 {
			details["roles"] = strings.Join(roles, " ")
		}
		return op.audit(ctx, audit.ActionClientCreate, audit.TargetClient, c.ClientID, details)
	})
	if err != nil {
		return err
	}
	kind := "confidential"
	if c.Public {
		kind = "public"
	}
	fmt.Fprintf(s.stdout, "created %s client %q, grant types %s%s%s%s\n", kind, c.ClientID,
		strings.Join(c.GrantTypes, ", "), listed("scopes", c.Scopes), listed("audiences", c.Audiences), listed("roles", roles))
	if c.Public {
		fmt.Fprintln(s.stdout, "a public client has no secret")
		return nil
	}
	printOnce(s.stdout, fmt.Sprintf("Client secret of %q", c.ClientID), secret)
	return nil
}

func clientRotateSecret(ctx context.Context, args []string, s sys) error {
	op, clientID, err := openNamed(ctx, "client rotate-secret", "client-id", "the OAuth client_id (required)", args, s)
	if err != nil {
		return err
	}
	defer op.close(ctx)
	var secret string
	err = op.store.InTx(ctx, func(ctx context.Context) error {
		var err error
		if secret, err = op.domain.Clients.RotateSecret(ctx, rbac.Operator, clientID); err != nil {
			return err
		}
		return op.audit(ctx, audit.ActionClientSecretRotate, audit.TargetClient, clientID, nil)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(s.stdout, "new secret for client %q; the old one no longer works (running servers may accept it for up to GAIA_CLIENT_CACHE_TTL)\n", clientID)
	printOnce(s.stdout, fmt.Sprintf("Client secret of %q", clientID), secret)
	return nil
}
