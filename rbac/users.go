package rbac

import (
	"context"
	"errors"
	"fmt"
	"net/mail"

	"github.com/gaia-platform/iam/password"
	"github.com/gaia-platform/iam/storage"
)

// NewUser is what CreateUser needs. An empty Password creates a user who
// cannot log in until one is set.
type NewUser struct {
	Username string
	Email    string
	Password string
}

// PreparedUser is a NewUser checked, its username normalized and its
// password hashed: all that CreateUser does before it writes. Only
// PrepareUser makes one.
type PreparedUser struct {
	user storage.User
}

// Username is the normalized username.
func (p *PreparedUser) Username() string { return p.user.Username }

// PrepareUser validates nu and hashes its password. Call it before opening
// the transaction AddUser runs in: an argon2id hash takes tens of
// milliseconds, and on SQLite a transaction that writes holds the one
// write turn of the whole database for as long as it lasts. Invalid input
// is a *ValidationError listing every bad field.
func (s *Service) PrepareUser(ctx context.Context, nu NewUser) (*PreparedUser, error) {
	var v ValidationError
	username, err := NormalizeUsername(nu.Username)
	v.merge(err)
	if err == nil {
		v.merge(checkScript(username))
	}
	v.merge(checkEmail(nu.Email))
	if nu.Password != "" {
		if err := password.CheckPolicy(nu.Password); err != nil {
			v.merge(invalidBecause("password", err))
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	p := &PreparedUser{user: storage.User{Username: username, Email: nu.Email, Active: true}}
	if nu.Password != "" {
		if p.user.PasswordHash, err = s.hasher.Hash(ctx, nu.Password); err != nil {
			return nil, fmt.Errorf("hash password of %q: %w", username, err)
		}
	}
	return p, nil
}

// AddUser stores a prepared user, active. A username taken is
// storage.ErrConflict; one confusable with a stored username (the same
// UTS #39 skeleton, which the store keeps unique) is a *ValidationError.
// The user holds nothing yet, so no rule of delegation applies.
func (s *Service) AddUser(ctx context.Context, p *PreparedUser) (*storage.User, error) {
	u := p.user // a prepared user may be added again after a rollback
	err := s.store.CreateUser(ctx, &u)
	if errors.Is(err, storage.ErrConfusable) {
		return nil, invalidField("username", "username looks like the name of an existing user; choose another")
	}
	if err != nil {
		return nil, fmt.Errorf("create user %q: %w", u.Username, err)
	}
	return &u, nil
}

// CreateUser is PrepareUser then AddUser, for a caller that holds no
// transaction open.
func (s *Service) CreateUser(ctx context.Context, nu NewUser) (*storage.User, error) {
	p, err := s.PrepareUser(ctx, nu)
	if err != nil {
		return nil, err
	}
	return s.AddUser(ctx, p)
}

func checkEmail(email string) error {
	if email == "" {
		return nil
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || len(email) > 254 {
		return invalidField("email", "email is not a plain address")
	}
	return nil
}

// Authenticate checks a username and password. Every failure — unknown user,
// wrong password, no password set, disabled user — is ErrInvalidCredentials
// and costs one argon2id hash, so neither the answer nor its timing tells
// whether the account exists. The error is a *CredentialsError, which names
// the matched user and the reason for the audit log. A hash with outdated
// parameters is replaced.
func (s *Service) Authenticate(ctx context.Context, username, pw string) (*storage.User, error) {
	if len(pw) > password.MaxLength {
		return nil, &CredentialsError{Reason: ReasonInvalidCredentials}
	}
	name, err := NormalizeUsername(username)
	if err != nil {
		return nil, s.fail(ctx, pw, &CredentialsError{Reason: ReasonUnknownUser})
	}
	u, err := s.store.GetUserByUsername(ctx, name)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, s.fail(ctx, pw, &CredentialsError{Reason: ReasonUnknownUser})
	}
	if err == nil && u.PasswordHash == "" {
		return nil, s.fail(ctx, pw, &CredentialsError{UserID: u.ID, Reason: ReasonNoPassword})
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	ok, rehash, err := s.hasher.Verify(ctx, u.PasswordHash, pw)
	if errors.Is(err, password.ErrMalformedHash) || errors.Is(err, password.ErrHashTooCostly) {
		// Not the caller's doing, and nothing they may learn: a failed
		// login that costs the usual hash, and a line for the operator.
		s.log.ErrorContext(ctx, "stored password hash refused", "user_id", u.ID, "error", err)
		return nil, s.fail(ctx, pw, &CredentialsError{UserID: u.ID, Reason: ReasonHashRefused})
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate %q: %w", u.ID, err)
	}
	if !ok {
		return nil, &CredentialsError{UserID: u.ID, Reason: ReasonInvalidCredentials}
	}
	if !u.Active {
		return nil, &CredentialsError{UserID: u.ID, Reason: ReasonDisabled}
	}
	if rehash {
		s.rehash(ctx, u, pw)
	}
	return u, nil
}

// fail spends a hash's worth of time, then answers cause.
func (s *Service) fail(ctx context.Context, pw string, cause *CredentialsError) error {
	if err := s.hasher.VerifyNothing(ctx, pw); err != nil && !errors.Is(err, password.ErrTooLong) {
		return fmt.Errorf("authenticate: %w", err)
	}
	return cause
}

// rehash upgrades a stored hash after a successful login. Failure is logged
// and not fatal: the old hash still works.
func (s *Service) rehash(ctx context.Context, u *storage.User, pw string) {
	h, err := s.hasher.Hash(ctx, pw)
	if err == nil {
		// Under the user's lock, as every change of the user: a
		// conditional change (LockUser) must see no other in between.
		err = s.store.InTx(ctx, func(ctx context.Context) error {
			if err := s.lockUser(ctx, u.ID); err != nil {
				return err
			}
			_, err := s.store.UpdateUser(ctx, u.ID, func(cur *storage.User) error {
				if cur.PasswordHash == u.PasswordHash { // unchanged since we verified it
					cur.PasswordHash = h
				}
				return nil
			})
			return err
		})
	}
	if err != nil {
		s.log.WarnContext(ctx, "password rehash failed", "user_id", u.ID, "error", err)
	}
}

// PasswordHash is a password checked against the policy and hashed:
// what SetPassword stores. Only HashPassword makes one.
type PasswordHash struct {
	phc string
}

// HashPassword checks pw against the policy and hashes it. Like
// PrepareUser, call it before a transaction opens.
func (s *Service) HashPassword(ctx context.Context, pw string) (PasswordHash, error) {
	if err := password.CheckPolicy(pw); err != nil {
		return PasswordHash{}, invalidBecause("password", err)
	}
	h, err := s.hasher.Hash(ctx, pw)
	if err != nil {
		return PasswordHash{}, fmt.Errorf("hash password: %w", err)
	}
	return PasswordHash{phc: h}, nil
}

// SetPassword replaces a user's password with h and ends every session of
// theirs, in one transaction: whoever held the old password (the reason it
// is reset, often) keeps no refresh token. It returns how many sessions
// ended. The actor may not act on a user holding a permission it lacks
// (a *DelegationError).
func (s *Service) SetPassword(ctx context.Context, a Actor, userID string, h PasswordHash) (int, error) {
	if h.phc == "" {
		return 0, errors.New("set password: no hash (use HashPassword)")
	}
	var revoked int
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.lockUser(ctx, userID); err != nil {
			return err
		}
		if err := s.mayActOnUser(ctx, a, userID, false); err != nil {
			return err
		}
		if _, err := s.store.UpdateUser(ctx, userID, func(u *storage.User) error {
			u.PasswordHash = h.phc
			return nil
		}); err != nil {
			return fmt.Errorf("set password of %s: %w", userID, err)
		}
		var err error
		if revoked, err = s.store.RevokeSubjectTokens(ctx, userID, s.now()); err != nil {
			return fmt.Errorf("revoke sessions of user %s: %w", userID, err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return revoked, nil
}
