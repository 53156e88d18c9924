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

// CreateUser validates and stores a new, active user. The username is
// normalized (NormalizeUsername); a taken one is storage.ErrConflict.
// Invalid input is a *ValidationError listing every bad field.
func (s *Service) CreateUser(ctx context.Context, nu NewUser) (*storage.User, error) {
	var v ValidationError
	username, err := NormalizeUsername(nu.Username)
	v.merge(err)
	v.merge(checkEmail(nu.Email))
	if nu.Password != "" {
		if err := password.CheckPolicy(nu.Password); err != nil {
			v.merge(invalidBecause("password", err))
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	u := &storage.User{Username: username, Email: nu.Email, Active: true}
	if nu.Password != "" {
		if u.PasswordHash, err = s.hasher.Hash(ctx, nu.Password); err != nil {
			return nil, fmt.Errorf("hash password of %q: %w", username, err)
		}
	}
	if err := s.store.CreateUser(ctx, u); err != nil {
		return nil, fmt.Errorf("create user %q: %w", username, err)
	}
	return u, nil
}

func checkEmail(email string) error {
	if email == "" {
		return nil
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || len(email) > 254 {
		return invalidField("email", "email %q is not a plain address", email)
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
		_, err = s.store.UpdateUser(ctx, u.ID, func(cur *storage.User) error {
			if cur.PasswordHash == u.PasswordHash { // unchanged since we verified it
				cur.PasswordHash = h
			}
			return nil
		})
	}
	if err != nil {
		s.log.WarnContext(ctx, "password rehash failed", "user_id", u.ID, "error", err)
	}
}

// SetPassword replaces a user's password after checking the policy.
func (s *Service) SetPassword(ctx context.Context, userID, pw string) error {
	if err := password.CheckPolicy(pw); err != nil {
		return invalidBecause("password", err)
	}
	h, err := s.hasher.Hash(ctx, pw)
	if err != nil {
		return fmt.Errorf("hash password of %s: %w", userID, err)
	}
	if _, err := s.store.UpdateUser(ctx, userID, func(u *storage.User) error {
		u.PasswordHash = h
		return nil
	}); err != nil {
		return fmt.Errorf("set password of %s: %w", userID, err)
	}
	return nil
}
