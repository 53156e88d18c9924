package oauth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/ory/fosite"
	fositeoauth2 "github.com/ory/fosite/handler/oauth2"

	"github.com/gaia-platform/iam/claims"
	"github.com/gaia-platform/iam/oauth/keys"
	"github.com/gaia-platform/iam/storage"
)

// signingKeys is what token issuance and verification need of the key ring.
type signingKeys interface {
	Current() keys.Key
	PublicKey(kid string) (*rsa.PublicKey, bool)
	// Revoked asks storage, not the ring's last load, whether kid is
	// revoked (or gone): a revocation by another process counts at once.
	Revoked(ctx context.Context, kid string) (bool, error)
}

// accessTokens issues and verifies Gaia's access tokens: RFC 9068 JWTs with
// the claims of package claims, built afresh at every issuance.
type accessTokens struct {
	issuer string
	keys   signingKeys
	now    func() time.Time

	signers sync.Map // signerKey → jose.Signer: a signer per key and typ, made once
	frames  sync.Map // kid → int: a token's length less its payload (see frame)

	status statusAssigner // nil: tokens carry no status claim
}

// statusAssigner gives a token its entry in a token status list
// (oauth/statuslist): per login for a user, per client for a service.
type statusAssigner interface {
	Assign(ctx context.Context, owner storage.StatusOwner, exp time.Time) (*claims.Status, error)
}

var _ fositeoauth2.AccessTokenStrategy = (*accessTokens)(nil)

// errInvalidToken is every reason a token is not one of ours or no longer good.
var errInvalidToken = errors.New("invalid access token")

// GenerateAccessToken implements fosite's AccessTokenStrategy.
func (t *accessTokens) GenerateAccessToken(ctx context.Context, r fosite.Requester) (token, signature string, err error) {
	s, ok := r.GetSession().(*Session)
	if !ok {
		return "", "", fmt.Errorf("session is %T, want *oauth.Session", r.GetSession())
	}
	now := s.issuedAt
	if now.IsZero() {
		now = t.now()
	}
	exp := s.GetExpiresAt(fosite.AccessToken)
	if exp.IsZero() {
		return "", "", errors.New("access token expiry not set")
	}
	a := claimsOf(t.issuer, r, s, now, exp)
	a.ID = rand.Text()
	// The one place a token gets its status claim, whatever the grant.
	if t.status != nil {
		owner := storage.StatusOwner{ClientID: a.ClientID}
		if a.Type == claims.User {
			owner = storage.StatusOwner{FamilyID: a.SessionID}
		}
		if a.Status, err = t.status.Assign(ctx, owner, exp); err != nil {
			return "", "", err
		}
	}
	token, err = t.sign(&a)
	if err != nil {
		return "", "", err
	}
	// checkSize measured this token before issuance began; a token over
	// the verifiers' limit must still never leave.
	if len(token) > maxTokenLength {
		return "", "", fmt.Errorf("access token of %d bytes over the %d-byte limit", len(token), maxTokenLength)
	}
	return token, t.AccessTokenSignature(context.Background(), token), nil
}

// claimsOf is the claims of the access token issued for r, but its jti and
// status claim. A session scoped to one service (RFC 8707) names only it.
func claimsOf(issuer string, r fosite.Requester, s *Session, now, exp time.Time) claims.Access {
	aud := r.GetGrantedAudience()
	if s.audience != "" {
		aud = []string{s.audience}
	}
	a := claims.Access{
		Issuer:      issuer,
		Subject:     s.Subject,
		Audience:    aud,
		ClientID:    r.GetClient().GetID(),
		Expiry:      exp.Unix(),
		IssuedAt:    now.Unix(),
		Scope:       strings.Join(r.GetGrantedScopes(), " "),
		Type:        s.Type,
		Username:    s.Username,
		Roles:       s.Roles,
		Permissions: s.Permissions,
	}
	if s.Type == claims.User {
		a.SessionID = r.GetID()
	}
	return a
}

func (t *accessTokens) sign(a *claims.Access) (string, error) {
	payload, err := json.Marshal(a)
	if err != nil {
		return "", fmt.Errorf("encode access token: %w", err)
	}
	return t.signJWS(payload, "at+jwt")
}

// signJWS signs payload with the current key as a compact JWS whose header
// carries kid and typ.
func (t *accessTokens) signJWS(payload []byte, typ string) (string, error) {
	signer, err := t.signer(t.keys.Current(), typ)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign %s: %w", typ, err)
	}
	return jws.CompactSerialize()
}

type signerKey struct{ kid, typ string }

func (t *accessTokens) signer(k keys.Key, typ string) (jose.Signer, error) {
	if s, ok := t.signers.Load(signerKey{k.ID, typ}); ok {
		return s.(jose.Signer), nil
	}
	s, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: k.Private, KeyID: k.ID}},
		(&jose.SignerOptions{}).WithType(jose.ContentType(typ)),
	)
	if err != nil {
		return nil, fmt.Errorf("signer for key %s: %w", k.ID, err)
	}
	t.signers.Store(signerKey{k.ID, typ}, s)
	return s, nil
}

// AccessTokenSignature implements fosite's AccessTokenStrategy: the JWS
// signature, which identifies the token.
func (t *accessTokens) AccessTokenSignature(_ context.Context, token string) string {
	if i := strings.LastIndexByte(token, '.'); i >= 0 {
		return token[i+1:]
	}
	return ""
}

// ValidateAccessToken implements fosite's AccessTokenStrategy.
func (t *accessTokens) ValidateAccessToken(_ context.Context, _ fosite.Requester, token string) error {
	_, _, err := t.verify(token)
	return err
}

// maxTokenLength bounds what verify parses.
const maxTokenLength = 16 << 10

// verify checks that token is an access token issued here: RS256 only, typ
// at+jwt, signed by a key the ring publishes now, our issuer, and exp, iat
// and nbf within Leeway of now. Whether it has been revoked, or its
// principal or login has ended, is the liveness rule's question (live). It
// also returns the kid that signed it.
func (t *accessTokens) verify(token string) (*claims.Access, string, error) {
	payload, kid, ok := t.verifyJWS(token, func(typ string) bool {
		return strings.EqualFold(typ, "at+jwt") || strings.EqualFold(typ, "application/at+jwt")
	})
	if !ok {
		return nil, "", errInvalidToken
	}
	var c struct {
		claims.Access
		NotBefore *int64 `json:"nbf"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, "", errInvalidToken
	}
	a := &c.Access
	// Seconds throughout, compared with now ± Leeway and never added to,
	// so no value a token holds can overflow.
	now, leeway := t.now().Unix(), int64(Leeway/time.Second)
	switch {
	case a.Issuer != t.issuer || a.ID == "" || a.Subject == "" || a.ClientID == "":
		return nil, "", errInvalidToken
	case !slices.Contains([]claims.Type{claims.User, claims.Service}, a.Type):
		return nil, "", errInvalidToken
	case a.Expiry <= now-leeway:
		return nil, "", errInvalidToken
	// A token dated ahead was not issued by this clock, whatever signed it.
	case a.IssuedAt == 0 || a.IssuedAt > now+leeway:
		return nil, "", errInvalidToken
	case c.NotBefore != nil && *c.NotBefore > now+leeway:
		return nil, "", errInvalidToken
	}
	return a, kid, nil
}

// verifyJWS checks that token is a compact JWS of at most maxTokenLength
// bytes with one RS256 signature, a typ header okTyp accepts, and a
// signature that verifies with a key the ring publishes now. It returns
// the payload and the kid; false for anything else.
func (t *accessTokens) verifyJWS(token string, okTyp func(typ string) bool) ([]byte, string, bool) {
	if len(token) > maxTokenLength || strings.Count(token, ".") != 2 {
		return nil, "", false
	}
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil || len(jws.Signatures) != 1 {
		return nil, "", false
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !okTyp(typ) {
		return nil, "", false
	}
	pub, ok := t.keys.PublicKey(h.KeyID)
	if !ok {
		return nil, "", false
	}
	payload, err := jws.Verify(pub)
	if err != nil {
		return nil, "", false
	}
	return payload, h.KeyID, true
}
