// Package discovery serves the metadata clients configure themselves from:
// OpenID Connect Discovery 1.0, RFC 8414 authorization server metadata, and
// the JWKS. Documents are serialized once and served as bytes.
package discovery

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Metadata is the discovery document (OIDC Discovery §3, RFC 8414 §2). It
// lists only what Gaia serves: the authorization-code flow with PKCE S256
// (response type code only) for browser and mobile apps, and the grants
// of the token endpoint.
type Metadata struct {
	Issuer                                    string   `json:"issuer"`
	AuthorizationEndpoint                     string   `json:"authorization_endpoint"`
	EndSessionEndpoint                        string   `json:"end_session_endpoint"`
	TokenEndpoint                             string   `json:"token_endpoint"`
	JWKSURI                                   string   `json:"jwks_uri"`
	UserinfoEndpoint                          string   `json:"userinfo_endpoint"`
	RevocationEndpoint                        string   `json:"revocation_endpoint"`
	IntrospectionEndpoint                     string   `json:"introspection_endpoint"`
	GrantTypesSupported                       []string `json:"grant_types_supported"`
	ResponseTypesSupported                    []string `json:"response_types_supported"`
	SubjectTypesSupported                     []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported          []string `json:"id_token_signing_alg_values_supported"`
	TokenEndpointAuthMethodsSupported         []string `json:"token_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethodsSupported    []string `json:"revocation_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthMethodsSupported []string `json:"introspection_endpoint_auth_methods_supported"`
	ScopesSupported                           []string `json:"scopes_supported"`
	ClaimsSupported                           []string `json:"claims_supported"`
	AccessTokenSigningAlgValuesSupported      []string `json:"access_token_signing_alg_values_supported"`
	RequestParameterSupported                 bool     `json:"request_parameter_supported"`
	ClaimsParameterSupported                  bool     `json:"claims_parameter_supported"`
	RequestURIParameterSupported              bool     `json:"request_uri_parameter_supported"`
	CodeChallengeMethodsSupported             []string `json:"code_challenge_methods_supported"`
	ResponseModesSupported                    []string `json:"response_modes_supported"`
	PromptValuesSupported                     []string `json:"prompt_values_supported"`
	// RFC 9207: the authorization response carries iss.
	AuthorizationResponseIssParameterSupported bool `json:"authorization_response_iss_parameter_supported"`
}

// Paths of the endpoints, relative to the issuer.
const (
	TokenPath         = "/oauth2/token"
	RevocationPath    = "/oauth2/revoke"
	IntrospectionPath = "/oauth2/introspect"
	UserinfoPath      = "/userinfo"
	JWKSPath          = "/.well-known/jwks.json"
	OpenIDPath        = "/.well-known/openid-configuration"
	OAuthPath         = "/.well-known/oauth-authorization-server"
	// The browser flows: the authorization endpoint and RP-initiated logout.
	AuthorizationPath = "/oauth2/authorize"
	EndSessionPath    = "/oauth2/logout"
)

// New returns the metadata of a server at issuer offering scopes. The
// introspection endpoint lists no "none": it is for confidential clients
// only (RFC 7662 §2.1), and conformance checks the list against it.
func New(issuer string, scopes []string) Metadata {
	return Metadata{
		Issuer:                                    issuer,
		AuthorizationEndpoint:                     issuer + AuthorizationPath,
		EndSessionEndpoint:                        issuer + EndSessionPath,
		TokenEndpoint:                             issuer + TokenPath,
		JWKSURI:                                   issuer + JWKSPath,
		UserinfoEndpoint:                          issuer + UserinfoPath,
		RevocationEndpoint:                        issuer + RevocationPath,
		IntrospectionEndpoint:                     issuer + IntrospectionPath,
		GrantTypesSupported:                       []string{"authorization_code", "password", "client_credentials", "refresh_token"},
		ResponseTypesSupported:                    []string{"code"},
		SubjectTypesSupported:                     []string{"public"},
		IDTokenSigningAlgValuesSupported:          []string{"RS256"},
		TokenEndpointAuthMethodsSupported:         []string{"client_secret_basic", "client_secret_post", "none"},
		RevocationEndpointAuthMethodsSupported:    []string{"client_secret_basic", "client_secret_post", "none"},
		IntrospectionEndpointAuthMethodsSupported: []string{"client_secret_basic", "client_secret_post"},
		ScopesSupported:                           scopes,
		ClaimsSupported: []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "amr", "azp", "jti",
			"client_id", "scope", "sid", "nonce", "type", "username", "roles", "permissions", "preferred_username", "email"},
		AccessTokenSigningAlgValuesSupported:       []string{"RS256"},
		CodeChallengeMethodsSupported:              []string{"S256"},
		ResponseModesSupported:                     []string{"query"},
		PromptValuesSupported:                      []string{"none", "login"},
		AuthorizationResponseIssParameterSupported: true,
	}
}

// Handler serves the discovery documents and the JWKS.
type Handler struct {
	doc  []byte
	jwks func() []byte
}

// NewHandler serializes m once. jwks returns the current JWKS document,
// already serialized (the key ring rebuilds it only when keys change).
func NewHandler(m Metadata, jwks func() []byte) (*Handler, error) {
	if m.Issuer == "" || strings.HasSuffix(m.Issuer, "/") {
		return nil, fmt.Errorf("discovery: issuer %q must be set and have no trailing slash", m.Issuer)
	}
	if jwks == nil {
		return nil, errors.New("discovery: jwks is required")
	}
	doc, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	return &Handler{doc: doc, jwks: jwks}, nil
}

// Metadata serves both well-known metadata paths: with an issuer that has
// no path, OIDC Discovery and RFC 8414 name the same document. The issuer
// comes from configuration, never from Host or X-Forwarded-Host.
func (h *Handler) Metadata(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(h.doc)
}

// JWKSMaxAge is how long a resource server may cache the JWKS: a key
// rotation publishes the next key at least this long (plus the servers'
// key refresh interval) before it signs.
const JWKSMaxAge = 60 * time.Second

// JWKS serves the public signing keys. A short max-age, because a resource
// server that meets an unknown kid refetches anyway, and because a revoked
// key leaves the verifiers' caches within it.
func (h *Handler) JWKS(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(int(JWKSMaxAge/time.Second)))
	_, _ = w.Write(h.jwks())
}
