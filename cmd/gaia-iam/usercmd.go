package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gaia-platform/iam/audit"
	"github.com/gaia-platform/iam/oauth/keys"
	"github.com/gaia-platform/iam/password"
	"github.com/gaia-platform/iam/rbac"
	"github.com/gaia-platform/iam/server"
	"github.com/gaia-platform/iam/storage"
)

// userCmd runs `gaia-iam user create|set-password|disable|list|delete`: what an
// operator needs before anyone holds a token for the admin API.
func userCmd(ctx context.Context, args []string, s sys) error {
	if len(args) > 0 {
		switch args[0] {
		case "create":
			return userCreate(ctx, args[1:], s)
		case "set-password":
			return userSetPassword(ctx, args[1:], s)
		case "disable":
			return userDisable(ctx, args[1:], s)
		case "unlock":
			return userUnlock(ctx, args[1:], s)
		case "list":
			return userList(ctx, args[1:], s)
		case "delete":
			return userDelete(ctx, args[1:], s)
		}
	}
	fmt.Fprintln(s.stderr, "usage: gaia-iam user create|set-password|disable|list|delete|unlock [flags]")
	return errUsage
}

func userCreate(ctx context.Context, args []string, s sys) error {
	var (
		username, email string
		depts, roles    listFlag
		fromStdin       bool
	)
	cfg, err := parseConfig("user create", args, s, func(fs *flag.FlagSet) {
		fs.StringVar(&username, "username", "", "login name of the new user (required)")
		fs.StringVar(&email, "email", "", "email address of the user")
		fs.Var(&depts, "department", "code of a department to put the user in; repeat for several")
		fs.Var(&roles, "role", "role to assign once the departments are set; repeat for several")
		passwordStdinFlag(fs, &fromStdin)
	})
	if err != nil {
		return err
	}
	if username == "" {
		return usageError(s, "user create", "--username is required")
	}
	if err := noRepeats(s, "user create", "--department", depts); err != nil {
		return err
	}
	if err := noRepeats(s, "user create", "--role", roles); err != nil {
		return err
	}
	pw, generated, err := newPassword(s, fromStdin)
	if err != nil {
		return err
	}

	op, err := openOperator(ctx, cfg, s)
	if err != nil {
		return err
	}
	defer op.close(ctx)
	// Hashed before the transaction opens (see rbac.Service.PrepareUser).
	prepared, err := op.domain.RBAC.PrepareUser(ctx, rbac.NewUser{Username: username, Email: email, Password: pw})
	if err != nil {
		return err
	}
	var u *storage.User
	// One transaction: a department or role the rule refuses leaves no
	// half-made user behind, and no audit event of it.
	err = op.store.InTx(ctx, func(ctx context.Context) error {
		var err error
		if u, err = op.domain.RBAC.AddUser(ctx, prepared); err != nil {
			if errors.Is(err, storage.ErrConflict) {
				return fmt.Errorf("user %q: %w", username, storage.ErrConflict)
			}
			return err
		}
		if err := op.audit(ctx, audit.ActionUserCreate, audit.TargetUser, u.ID, map[string]string{"username": u.Username}); err != nil {
			return err
		}
		// The events the admin API would record for the same steps.
		for _, code := range depts {
			if err := op.domain.RBAC.AddDepartment(ctx, rbac.Operator, u.ID, code); err != nil {
				return err
			}
			if err := op.audit(ctx, audit.ActionUserDepartmentAdd, audit.TargetUser, u.ID, map[string]string{"department": code}); err != nil {
				return err
			}
		}
		for _, r := range roles {
			if err := op.domain.RBAC.AssignRole(ctx, rbac.Operator, u.ID, r); err != nil {
				return err
			}
			if err := op.audit(ctx, audit.ActionUserRoleAssign, audit.TargetUser, u.ID, map[string]string{"role": r}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(s.stdout, "created user %q (id %s)%s%s\n", u.Username, u.ID, listed("departments", depts), listed("roles", roles))
	if generated {
		printOnce(s.stdout, fmt.Sprintf("Generated password of user %q", u.Username), pw)
	}
	return nil
}

func userSetPassword(ctx context.Context, args []string, s sys) error {
	var (
		username  string
		fromStdin bool
	)
	cfg, err := parseConfig("user set-password", args, s, func(fs *flag.FlagSet) {
		fs.StringVar(&username, "username", "", "login name of the user (required)")
		passwordStdinFlag(fs, &fromStdin)
	})
	if err != nil {
		return err
	}
	if username == "" {
		return usageError(s, "user set-password", "--username is required")
	}
	pw, generated, err := newPassword(s, fromStdin)
	if err != nil {
		return err
	}

	op, err := openOperator(ctx, cfg, s)
	if err != nil {
		return err
	}
	defer op.close(ctx)
	u, err := op.user(ctx, username)
	if err != nil {
		return err
	}
	// Hashed before the transaction opens (see rbac.Service.PrepareUser).
	h, err := op.domain.RBAC.HashPassword(ctx, pw)
	if err != nil {
		return err
	}
	var revoked int
	err = op.store.InTx(ctx, func(ctx context.Context) error {
		var err error
		if revoked, err = op.domain.RBAC.SetPassword(ctx, rbac.Operator, u.ID, h); err != nil {
			return err
		}
		return op.audit(ctx, audit.ActionUserPasswordSet, audit.TargetUser, u.ID, map[string]string{"revoked_sessions": strconv.Itoa(revoked)})
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(s.stdout, "password of user %q set; %d sessions ended\n", u.Username, revoked)
	if !u.Active {
		fmt.Fprintf(s.stdout, "note: user %q is disabled and cannot log in until enabled\n", u.Username)
	}
	if generated {
		printOnce(s.stdout, fmt.Sprintf("Generated password of user %q", u.Username), pw)
	}
	return nil
}

func userDisable(ctx context.Context, args []string, s sys) error {
	op, username, err := openNamed(ctx, "user disable", "username", "login name of the user (required)", args, s)
	if err != nil {
		return err
	}
	defer op.close(ctx)
	u, err := op.user(ctx, username)
	if err != nil {
		return err
	}
	var revoked int
	err = op.store.InTx(ctx, func(ctx context.Context) error {
		var err error
		if _, revoked, err = op.domain.RBAC.DisableUser(ctx, rbac.Operator, u.ID); err != nil {
			return err
		}
		return op.audit(ctx, audit.ActionUserDisable, audit.TargetUser, u.ID, map[string]string{"revoked_sessions": strconv.Itoa(revoked)})
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(s.stdout, "disabled user %q; %d sessions revoked (access tokens already issued expire on their own)\n", u.Username, revoked)
	return nil
}

// operator is what the user and client commands work with: the domain over
// a migrated store, the audit log, and who is at the keyboard.
type operator struct {
	store  backend
	domain *server.Domain
	rec    *audit.Recorder
	name   string // $USER, or "operator"
}

// openOperator opens and migrates the store and builds the domain over it;
// close releases them.
func openOperator(ctx context.Context, cfg Config, s sys) (*operator, error) {
	log := newLogger(cfg, s.stderr)
	store, err := openStore(ctx, cfg.DatabaseURL, log)
	if err != nil {
		return nil, err
	}
	op, err := func() (*operator, error) {
		if _, err := migrateLogged(ctx, store, log); err != nil {
			return nil, err
		}
		kek, err := resolveKEK(ctx, cfg, store, s.stderr, neverCreateKEK)
		if err != nil {
			return nil, err
		}
		dk, err := server.DataKey(ctx, store, kek, keys.StoreDataKey)
		if err != nil {
			return nil, err
		}
		d, err := server.NewDomain(store, dk, log)
		if err != nil {
			return nil, err
		}
		return &operator{store: store, domain: d, rec: audit.New(store, log, audit.Options{}), name: operatorName(s.getenv)}, nil
	}()
	if err != nil {
		store.Close()
		return nil, err
	}
	return op, nil
}

func (op *operator) close(ctx context.Context) {
	op.rec.Close(ctx) // nothing is queued: every event was written by audit
	op.store.Close()
}

// audit writes a successful action of the operator's to the audit log at
// once, in the transaction ctx carries: the change and its event commit
// or roll back together.
func (op *operator) audit(ctx context.Context, action, targetType, targetID string, details map[string]string) error {
	err := op.rec.Write(ctx, storage.AuditEvent{
		ActorType: audit.ActorOperator, ActorName: op.name,
		Action: action, TargetType: targetType, TargetID: targetID,
		Outcome: audit.Success, Details: details,
	})
	if err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}

// operatorName names the operator in audit events: $USER when it is a
// name the audit log can hold, else "operator".
func operatorName(getenv func(string) string) string {
	name := getenv("USER")
	if name == "" || len(name) > storage.MaxAuditFieldLen || !utf8.ValidString(name) || strings.ContainsRune(name, 0) {
		return "operator"
	}
	return name
}

// user finds a user by username, as they would type it at login.
func (op *operator) user(ctx context.Context, username string) (*storage.User, error) {
	name, err := rbac.NormalizeUsername(username)
	if err != nil {
		return nil, err
	}
	u, err := op.store.GetUserByUsername(ctx, name)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("no user %q: %w", name, err)
	}
	return u, err
}

// passwordStdinFlag registers --password-stdin. A password is never a
// flag: it would show in ps and in the shell's history.
func passwordStdinFlag(fs *flag.FlagSet, fromStdin *bool) {
	fs.BoolVar(fromStdin, "password-stdin", false, "read the password from the first line of standard input (default: generate one and print it once)")
}

// newPassword reads the password from standard input, or generates one
// (generated is then true) for the operator to be shown once.
func newPassword(s sys, fromStdin bool) (pw string, generated bool, err error) {
	if !fromStdin {
		return password.Generate(), true, nil
	}
	pw, err = readLine(s.stdin, password.MaxLength)
	if err != nil {
		return "", false, fmt.Errorf("--password-stdin: %w", err)
	}
	return pw, false, nil
}

// readLine returns the first line of r without its line ending ("\n" or
// "\r\n"), reading no more than a line of max bytes can take. An empty
// line is an error; a longer one is returned cut short, just longer than
// max, for the caller's length check to refuse.
func readLine(r io.Reader, max int) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, int64(max)+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read standard input: %w", err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", errors.New("standard input holds no password (the first line is empty)")
	}
	return line, nil
}

// printOnce shows a generated password or client secret on stdout, never in
// the log, so that log shipping does not carry it.
func printOnce(w io.Writer, what, secret string) {
	fmt.Fprintf(w, `
================================================================
%s. It is shown only this once
and cannot be shown again; store it now:

    %s

================================================================

`, what, secret)
}

// usageError reports a command line that is wrong.
func usageError(s sys, command, problem string) error {
	fmt.Fprintf(s.stderr, "gaia-iam %s: %s (see 'gaia-iam %s -h')\n", command, problem, command)
	return errUsage
}

// noRepeats refuses a list flag given the same value twice.
func noRepeats(s sys, command, flagName string, values []string) error {
	seen := map[string]bool{}
	for _, v := range values {
		if seen[v] {
			return usageError(s, command, fmt.Sprintf("%s %s given twice", flagName, v))
		}
		seen[v] = true
	}
	return nil
}

// listed returns ", label a, b" or "" for an empty list.
func listed(label string, names []string) string {
	if len(names) == 0 {
		return ""
	}
	return ", " + label + " " + strings.Join(names, ", ")
}
