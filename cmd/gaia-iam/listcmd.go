package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/gaia-platform/iam/audit"
	"github.com/gaia-platform/iam/rbac"
	"github.com/gaia-platform/iam/storage"
)

// userList prints the users, optionally only the members of a department
// or the holders of a role.
func userList(ctx context.Context, args []string, s sys) error {
	var f storage.UserFilter
	op, err := openCommand(ctx, "user list", args, s, func(fs *flag.FlagSet) {
		fs.StringVar(&f.Department, "department", "", "only the members of this department (code)")
		fs.StringVar(&f.Role, "role", "", "only the holders of this role")
	})
	if err != nil {
		return err
	}
	defer op.close(ctx)
	w := tabwriter.NewWriter(s.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "USERNAME\tACTIVE\tEMAIL")
	f.Limit = storage.MaxListLimit
	for {
		users, err := op.store.ListUsers(ctx, f)
		if err != nil {
			return fmt.Errorf("list users: %w", err)
		}
		for _, u := range users {
			fmt.Fprintf(w, "%s\t%t\t%s\n", u.Username, u.Active, u.Email)
		}
		if len(users) < f.Limit {
			break
		}
		f.After = users[len(users)-1].Username
	}
	return w.Flush()
}

// userDelete deletes a user, their memberships and assignments, and
// revokes their sessions, as the operator.
func userDelete(ctx context.Context, args []string, s sys) error {
	op, username, err := openNamed(ctx, "user delete", "username", "login name of the user (required)", args, s)
	if err != nil {
		return err
	}
	defer op.close(ctx)
	u, err := op.user(ctx, username)
	if err != nil {
		return err
	}
	err = op.store.InTx(ctx, func(ctx context.Context) error {
		if err := op.domain.RBAC.DeleteUser(ctx, rbac.Operator, u.ID); err != nil {
			return err
		}
		return op.audit(ctx, audit.ActionUserDelete, audit.TargetUser, u.ID, map[string]string{"username": u.Username})
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(s.stdout, "deleted user %q and revoked their sessions (access tokens already issued expire on their own)\n", u.Username)
	return nil
}

// clientList prints the OAuth clients.
func clientList(ctx context.Context, args []string, s sys) error {
	op, err := openCommand(ctx, "client list", args, s, nil)
	if err != nil {
		return err
	}
	defer op.close(ctx)
	clients, err := op.domain.Clients.List(ctx)
	if err != nil {
		return fmt.Errorf("list clients: %w", err)
	}
	w := tabwriter.NewWriter(s.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "CLIENT_ID\tTYPE\tACTIVE\tGRANT_TYPES\tNAME")
	for _, c := range clients {
		kind := "confidential"
		if c.Public {
			kind = "public"
		}
		fmt.Fprintf(w, "%s\t%s\t%t\t%s\t%s\n", c.ClientID, kind, c.Active, strings.Join(c.GrantTypes, ","), c.Name)
	}
	return w.Flush()
}

// clientDelete deletes a client and its assignments, and revokes the
// refresh tokens issued to it, as the operator.
func clientDelete(ctx context.Context, args []string, s sys) error {
	op, clientID, err := openNamed(ctx, "client delete", "client-id", "the OAuth client_id (required)", args, s)
	if err != nil {
		return err
	}
	defer op.close(ctx)
	err = op.store.InTx(ctx, func(ctx context.Context) error {
		if err := op.domain.Clients.Delete(ctx, rbac.Operator, clientID); err != nil {
			return err
		}
		return op.audit(ctx, audit.ActionClientDelete, audit.TargetClient, clientID, nil)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(s.stdout, "deleted client %q and revoked its refresh tokens (access tokens already issued expire on their own)\n", clientID)
	return nil
}

// openCommand parses a command's settings (extra adds its own flags) and
// opens the operator's view of the store.
func openCommand(ctx context.Context, command string, args []string, s sys, extra func(fs *flag.FlagSet)) (*operator, error) {
	cfg, err := parseConfig(command, args, s, extra)
	if err != nil {
		return nil, err
	}
	return openOperator(ctx, cfg, s)
}

// openNamed parses a command whose one argument is a required name flag
// (--username, --client-id) and opens the operator; the caller closes it.
func openNamed(ctx context.Context, command, flagName, help string, args []string, s sys) (*operator, string, error) {
	var name string
	cfg, err := parseConfig(command, args, s, func(fs *flag.FlagSet) {
		fs.StringVar(&name, flagName, "", help)
	})
	if err != nil {
		return nil, "", err
	}
	if name == "" {
		return nil, "", usageError(s, command, "--"+flagName+" is required")
	}
	op, err := openOperator(ctx, cfg, s)
	if err != nil {
		return nil, "", err
	}
	return op, name, nil
}
