package oauth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ory/fosite"

	"github.com/gaia-platform/iam/password"
	"github.com/gaia-platform/iam/storage"
)

// client adapts a stored client to fosite.
type client struct {
	rec      storage.Client
	audience []string // the client's audiences, or the default one
	// grants are the roles and permissions of a client that may use
	// client credentials, resolved when the client was loaded.
	grants storage.Grants
}

var _ fosite.Client = (*client)(nil)

func (c *client) GetID() string                   { return c.rec.ClientID }
func (c *client) GetHashedSecret() []byte         { return []byte(c.rec.SecretHash) }
func (c *client) GetRedirectURIs() []string       { return c.rec.RedirectURIs }
func (c *client) GetGrantTypes() fosite.Arguments { return c.rec.GrantTypes }

// GetResponseTypes implements fosite.Client: code for a client given the
// authorization_code grant; nothing else is ever served (no implicit or
// hybrid responses, RFC 9700 §2.1.2).
func (c *client) GetResponseTypes() fosite.Arguments {
	if slices.Contains(c.rec.GrantTypes, "authorization_code") {
		return fosite.Arguments{"code"}
	}
	return fosite.Arguments{}
}
func (c *client) GetScopes() fosite.Arguments   { return c.rec.Scopes }
func (c *client) IsPublic() bool                { return c.rec.Public }
func (c *client) GetAudience() fosite.Arguments { return c.audience }

// clients is fosite's ClientManager over the store, with a short-lived
// cache: a client-credentials token then needs no database read at all,
// where it would otherwise read the client twice and its grants once.
// Changes to a client (disabled, secret rotated, roles changed) reach this
// server within ttl.
type clients struct {
	store           storage.Clients
	defaultAudience string
	ttl             time.Duration // 0: no cache
	now             func() time.Time

	mu    sync.RWMutex
	cache map[string]cachedClient // guarded by mu; active clients only, never misses
	// gen counts Forget calls, guarded by mu: a read that began before a
	// Forget does not cache what it read.
	gen uint64
}

type cachedClient struct {
	c       *client
	expires time.Time
}

// maxCachedClients bounds the cache; past it the cache starts over.
const maxCachedClients = 10_000

// maxClientIDLength bounds the client_id looked up; no client has a longer one.
const maxClientIDLength = 255

var _ fosite.ClientManager = (*clients)(nil)

// GetClient returns an active client. A disabled client is unknown to fosite,
// which answers invalid_client exactly as for a client that does not exist.
func (m *clients) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	c, err := m.get(ctx, id)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (m *clients) get(ctx context.Context, id string) (*client, error) {
	if len(id) > maxClientIDLength {
		return nil, fosite.ErrNotFound
	}
	var gen uint64
	if m.ttl > 0 {
		m.mu.RLock()
		e, ok := m.cache[id]
		gen = m.gen
		m.mu.RUnlock()
		if ok && m.now().Before(e.expires) {
			return e.c, nil
		}
	}
	rec, err := m.store.GetClient(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fosite.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get client: %w", err)
	}
	if !rec.Active {
		return nil, fosite.ErrNotFound
	}
	c := &client{rec: *rec, audience: rec.Audiences}
	if len(c.audience) == 0 {
		c.audience = []string{m.defaultAudience}
	}
	if slices.Contains(rec.GrantTypes, "client_credentials") {
		if c.grants, err = m.store.ClientGrants(ctx, id); err != nil {
			return nil, fmt.Errorf("grants of client: %w", err)
		}
	}
	if m.ttl > 0 {
		m.mu.Lock()
		if len(m.cache) >= maxCachedClients {
			clear(m.cache)
		}
		if m.gen == gen {
			m.cache[id] = cachedClient{c: c, expires: m.now().Add(m.ttl)}
		}
		m.mu.Unlock()
	}
	return c, nil
}

// forget drops the cached client, so that a change made through this
// server takes effect here at once; other replicas see it within the ttl.
func (m *clients) forget(id string) {
	m.mu.Lock()
	delete(m.cache, id)
	m.gen++
	m.mu.Unlock()
}

// ForgetClient drops what this server cached of a client: call it after
// changing the client (secret, roles, active) so that the change applies
// to the next request here.
func (s *Server) ForgetClient(clientID string) { s.clients.forget(clientID) }

// ClientAssertionJWTValid implements fosite.ClientManager. Gaia does not
// accept private_key_jwt client assertions, so no assertion is ever valid.
func (m *clients) ClientAssertionJWTValid(context.Context, string) error {
	return fosite.ErrJTIKnown
}

// SetClientAssertionJWT implements fosite.ClientManager; see ClientAssertionJWTValid.
func (m *clients) SetClientAssertionJWT(context.Context, string, time.Time) error {
	return errors.New("client assertions are not supported")
}

// SecretHasher hashes client secrets with HMAC-SHA256 under a server key.
//
// Client secrets are generated with 128 bits or more of entropy (or, from
// the seed, required to be 32 bytes or longer), so a slow password hash buys
// nothing against guessing and would cap client-credentials throughput at
// a few hundred tokens per second (fosite's default, bcrypt cost 12, costs
// ~200 ms per check here). The key keeps a stolen database from being a
// list of offline-checkable hashes.
type SecretHasher struct {
	key []byte
}

const secretHashPrefix = "$gaia-hmac-sha256$"

var _ fosite.Hasher = (*SecretHasher)(nil)

// NewSecretHasher returns a hasher keyed with key (32 bytes or more).
func NewSecretHasher(key []byte) (*SecretHasher, error) {
	if len(key) < 32 {
		return nil, errors.New("client secret key must be at least 32 bytes")
	}
	return &SecretHasher{key: key}, nil
}

// Hash implements fosite.Hasher.
func (h *SecretHasher) Hash(_ context.Context, secret []byte) ([]byte, error) {
	if len(secret) > password.MaxLength {
		return nil, password.ErrTooLong
	}
	return []byte(secretHashPrefix + base64.RawStdEncoding.EncodeToString(h.mac(secret))), nil
}

// HashString is Hash for a string, in the shape the seeder wants.
func (h *SecretHasher) HashString(ctx context.Context, secret string) (string, error) {
	b, err := h.Hash(ctx, []byte(secret))
	return string(b), err
}

// Compare implements fosite.Hasher in constant time.
func (h *SecretHasher) Compare(_ context.Context, hash, secret []byte) error {
	want, ok := strings.CutPrefix(string(hash), secretHashPrefix)
	if !ok || len(secret) > password.MaxLength {
		return errors.New("client secret mismatch")
	}
	got := base64.RawStdEncoding.EncodeToString(h.mac(secret))
	if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return errors.New("client secret mismatch")
	}
	return nil
}

func (h *SecretHasher) mac(secret []byte) []byte {
	m := hmac.New(sha256.New, h.key)
	m.Write(secret)
	return m.Sum(nil)
}
