package storagetest

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gaia-platform/iam/storage"
)

var authorizationsCases = []testCase{
	{"ClientRedirectURIs", testClientRedirectURIs},
	{"LoginSessionCreateGet", testLoginSessionCreateGet},
	{"LoginSessionRevoke", testLoginSessionRevoke},
	{"CodeCreateGet", testCodeCreateGet},
	{"CodeInvalidateConcurrently", testCodeInvalidateConcurrently},
	{"AuthorizationsPurge", testAuthorizationsPurge},
}

// testClientRedirectURIs: a client's redirect URI lists round-trip, empty
// ones read as empty (not nil), and UpdateClient replaces them.
func testClientRedirectURIs(t *testing.T, s storage.Store) {
	ctx := t.Context()
	c := &storage.Client{ClientID: "spa", Name: "SPA", Public: true, GrantTypes: []string{"authorization_code", "refresh_token"},
		RedirectURIs: []string{"https://app.example/cb", "http://127.0.0.1:5173/cb"}, PostLogoutRedirectURIs: []string{"https://app.example/"}, Active: true}
	ok(t, "CreateClient", s.CreateClient(ctx, c))
	got, err := s.GetClient(ctx, "spa")
	ok(t, "GetClient", err)
	if !slices.Equal(got.RedirectURIs, c.RedirectURIs) || !slices.Equal(got.PostLogoutRedirectURIs, c.PostLogoutRedirectURIs) {
		t.Errorf("GetClient redirect URIs = %v / %v, want %v / %v", got.RedirectURIs, got.PostLogoutRedirectURIs, c.RedirectURIs, c.PostLogoutRedirectURIs)
	}
	_, err = s.UpdateClient(ctx, "spa", func(c *storage.Client) error {
		c.RedirectURIs, c.PostLogoutRedirectURIs = []string{"https://other.example/cb"}, nil
		return nil
	})
	ok(t, "UpdateClient", err)
	got, err = s.GetClient(ctx, "spa")
	ok(t, "GetClient", err)
	if !slices.Equal(got.RedirectURIs, []string{"https://other.example/cb"}) || got.PostLogoutRedirectURIs == nil || len(got.PostLogoutRedirectURIs) != 0 {
		t.Errorf("after update: %v / %#v, want [https://other.example/cb] / []", got.RedirectURIs, got.PostLogoutRedirectURIs)
	}
	ok(t, "CreateClient", s.CreateClient(ctx, &storage.Client{ClientID: "svc", Name: "Service", SecretHash: "h", GrantTypes: []string{"client_credentials"}, Active: true}))
	if got, err := s.GetClient(ctx, "svc"); err != nil || got.RedirectURIs == nil || len(got.RedirectURIs) != 0 {
		t.Errorf("client without redirect URIs: %#v, %v; want []", got, err)
	}
}

func testLoginSessionCreateGet(t *testing.T, s storage.Store) {
	ctx := t.Context()
	ls := &storage.LoginSession{TokenHash: "hash-1", UserID: uuid.NewString(), AuthTime: tokenTime, ExpiresAt: tokenTime.Add(time.Hour)}
	ok(t, "CreateLoginSession", s.CreateLoginSession(ctx, ls))
	if _, isUUID := storage.CanonicalID(ls.ID); !isUUID || ls.CreatedAt.IsZero() {
		t.Fatalf("CreateLoginSession left ID %q CreatedAt %v", ls.ID, ls.CreatedAt)
	}
	for name, get := range map[string]func() (*storage.LoginSession, error){
		"GetLoginSession":        func() (*storage.LoginSession, error) { return s.GetLoginSession(ctx, ls.ID) },
		"GetLoginSessionByToken": func() (*storage.LoginSession, error) { return s.GetLoginSessionByToken(ctx, "hash-1") },
	} {
		got, err := get()
		ok(t, name, err)
		if got.ID != ls.ID || got.UserID != ls.UserID || !got.AuthTime.Equal(tokenTime.Truncate(time.Microsecond)) ||
			!got.ExpiresAt.Equal(ls.ExpiresAt) || !got.CreatedAt.Equal(ls.CreatedAt) || !got.RevokedAt.IsZero() {
			t.Errorf("%s = %+v, want %+v", name, got, ls)
		}
	}
	_, err := s.GetLoginSessionByToken(ctx, "hash-2")
	is(t, "GetLoginSessionByToken(unknown)", err, storage.ErrNotFound)
	_, err = s.GetLoginSession(ctx, "not-a-uuid")
	is(t, "GetLoginSession(not a UUID)", err, storage.ErrNotFound)
	err = s.CreateLoginSession(ctx, &storage.LoginSession{TokenHash: "hash-1", UserID: "u", AuthTime: tokenTime, ExpiresAt: tokenTime})
	is(t, "CreateLoginSession(same token hash)", err, storage.ErrConflict)
	err = s.CreateLoginSession(ctx, &storage.LoginSession{TokenHash: "hash-3", UserID: "u", AuthTime: tokenTime})
	is(t, "CreateLoginSession(no expiry)", err, storage.ErrInvalid)
	err = s.CreateLoginSession(ctx, &storage.LoginSession{TokenHash: "hash\x00", UserID: "u", AuthTime: tokenTime, ExpiresAt: tokenTime})
	is(t, "CreateLoginSession(NUL)", err, storage.ErrInvalid)
}

// testLoginSessionRevoke: ending a login session revokes the families
// issued through it, and only those.
func testLoginSessionRevoke(t *testing.T, s storage.Store) {
	ctx := t.Context()
	user := uuid.NewString()
	ls := &storage.LoginSession{TokenHash: "h", UserID: user, AuthTime: tokenTime, ExpiresAt: time.Now().Add(time.Hour)}
	ok(t, "CreateLoginSession", s.CreateLoginSession(ctx, ls))
	through := newFamily("spa", user)
	through.LoginSessionID = ls.ID
	mkRefreshToken(t, s, through, "sig-through", time.Now().Add(time.Hour))
	other := newFamily("web", user) // a password-grant login of the same user
	mkRefreshToken(t, s, other, "sig-other", time.Now().Add(time.Hour))
	f, err := s.GetTokenFamily(ctx, through.ID)
	ok(t, "GetTokenFamily", err)
	if f.LoginSessionID != ls.ID {
		t.Errorf("family LoginSessionID = %q, want %q", f.LoginSessionID, ls.ID)
	}

	n, err := s.RevokeLoginSession(ctx, ls.ID, tokenTime.Add(time.Minute))
	ok(t, "RevokeLoginSession", err)
	if n != 1 {
		t.Errorf("RevokeLoginSession revoked %d families, want 1", n)
	}
	got, err := s.GetLoginSession(ctx, ls.ID)
	ok(t, "GetLoginSession", err)
	if !got.RevokedAt.Equal(tokenTime.Add(time.Minute).Truncate(time.Microsecond)) {
		t.Errorf("RevokedAt = %v", got.RevokedAt)
	}
	wantRefreshToken(t, s, "sig-through", false)
	wantRefreshToken(t, s, "sig-other", true)
	// Again: idempotent, the first time kept.
	if n, err := s.RevokeLoginSession(ctx, ls.ID, tokenTime.Add(time.Hour)); err != nil || n != 0 {
		t.Errorf("RevokeLoginSession again = %d, %v; want 0, nil", n, err)
	}
	if got, _ := s.GetLoginSession(ctx, ls.ID); !got.RevokedAt.Equal(tokenTime.Add(time.Minute).Truncate(time.Microsecond)) {
		t.Errorf("second revocation moved RevokedAt to %v", got.RevokedAt)
	}
	_, err = s.RevokeLoginSession(ctx, uuid.NewString(), time.Time{})
	is(t, "RevokeLoginSession(unknown)", err, storage.ErrNotFound)
	bad := newFamily("spa", user)
	bad.LoginSessionID = "not-a-uuid"
	err = s.CreateRefreshToken(ctx, bad, &storage.RefreshToken{Signature: "sig-bad", ExpiresAt: time.Now().Add(time.Hour)})
	is(t, "CreateRefreshToken(login session not a UUID)", err, storage.ErrInvalid)
}

func testCodeCreateGet(t *testing.T, s storage.Store) {
	ctx := t.Context()
	c := &storage.AuthorizationCode{Signature: "code-sig", RequestID: uuid.NewString(), ClientID: "spa", LoginSessionID: uuid.NewString(),
		ExpiresAt: tokenTime, Request: []byte(`{"a":1}`)}
	ok(t, "CreateAuthorizationCode", s.CreateAuthorizationCode(ctx, c))
	ok(t, "SetCodeChallenge", s.SetCodeChallenge(ctx, "code-sig", "challenge", "S256"))
	got, err := s.GetAuthorizationCode(ctx, "code-sig")
	ok(t, "GetAuthorizationCode", err)
	if got.RequestID != c.RequestID || got.ClientID != "spa" || got.LoginSessionID != c.LoginSessionID || !got.Active ||
		got.CodeChallenge != "challenge" || got.CodeChallengeMethod != "S256" || !got.ExpiresAt.Equal(tokenTime.Truncate(time.Microsecond)) ||
		!got.CreatedAt.Equal(c.CreatedAt) || !bytes.Equal(got.Request, c.Request) {
		t.Errorf("GetAuthorizationCode = %+v, want %+v", got, c)
	}
	is(t, "CreateAuthorizationCode(again)", s.CreateAuthorizationCode(ctx, c), storage.ErrConflict)
	is(t, "SetCodeChallenge(unknown)", s.SetCodeChallenge(ctx, "nope", "c", "S256"), storage.ErrNotFound)
	_, err = s.GetAuthorizationCode(ctx, "nope")
	is(t, "GetAuthorizationCode(unknown)", err, storage.ErrNotFound)
	is(t, "CreateAuthorizationCode(no expiry)", s.CreateAuthorizationCode(ctx, &storage.AuthorizationCode{Signature: "s2", RequestID: "r", ClientID: "c", LoginSessionID: "l"}), storage.ErrInvalid)

	ok(t, "InvalidateAuthorizationCode", s.InvalidateAuthorizationCode(ctx, "code-sig"))
	if got, _ := s.GetAuthorizationCode(ctx, "code-sig"); got.Active {
		t.Error("code still active after InvalidateAuthorizationCode")
	}
	is(t, "InvalidateAuthorizationCode(used)", s.InvalidateAuthorizationCode(ctx, "code-sig"), storage.ErrConflict)
	is(t, "InvalidateAuthorizationCode(unknown)", s.InvalidateAuthorizationCode(ctx, "nope"), storage.ErrNotFound)
}

// testCodeInvalidateConcurrently: of concurrent exchanges of one code,
// exactly one invalidates it.
func testCodeInvalidateConcurrently(t *testing.T, s storage.Store) {
	ctx := t.Context()
	ok(t, "CreateAuthorizationCode", s.CreateAuthorizationCode(ctx, &storage.AuthorizationCode{Signature: "race", RequestID: uuid.NewString(),
		ClientID: "spa", LoginSessionID: uuid.NewString(), ExpiresAt: time.Now().Add(time.Minute)}))
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = s.InTx(ctx, func(ctx context.Context) error { return s.InvalidateAuthorizationCode(ctx, "race") })
		})
	}
	wg.Wait()
	var won int
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, storage.ErrConflict):
			t.Errorf("InvalidateAuthorizationCode = %v, want nil or ErrConflict", err)
		}
	}
	if won != 1 {
		t.Errorf("%d concurrent invalidations succeeded, want 1", won)
	}
}

func testAuthorizationsPurge(t *testing.T, s storage.Store) {
	ctx := t.Context()
	now := time.Now()
	for sig, exp := range map[string]time.Time{"old": now.Add(-time.Hour), "new": now.Add(time.Hour)} {
		ok(t, "CreateAuthorizationCode", s.CreateAuthorizationCode(ctx, &storage.AuthorizationCode{Signature: sig, RequestID: "r", ClientID: "c",
			LoginSessionID: "l", ExpiresAt: exp}))
		ok(t, "CreateLoginSession", s.CreateLoginSession(ctx, &storage.LoginSession{TokenHash: sig, UserID: "u", AuthTime: now, ExpiresAt: exp}))
	}
	n, err := s.PurgeAuthorizations(ctx, now)
	ok(t, "PurgeAuthorizations", err)
	if n != 2 {
		t.Errorf("PurgeAuthorizations deleted %d rows, want 2", n)
	}
	_, err = s.GetAuthorizationCode(ctx, "old")
	is(t, "GetAuthorizationCode(purged)", err, storage.ErrNotFound)
	_, err = s.GetLoginSessionByToken(ctx, "old")
	is(t, "GetLoginSessionByToken(purged)", err, storage.ErrNotFound)
	if _, err := s.GetAuthorizationCode(ctx, "new"); err != nil {
		t.Errorf("live code purged: %v", err)
	}
}
