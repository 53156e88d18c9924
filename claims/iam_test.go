package claims_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gaia-platform/iam/server"
	"github.com/gaia-platform/iam/server/servertest"
	"github.com/gaia-platform/iam/storage"
	"github.com/gaia-platform/iam/storage/storagetest"
)

// Secrets of the test seed's clients and users.
const (
	webSecret      = servertest.WebSecret
	serviceSecret  = servertest.ServiceSecret
	adminPassword  = servertest.AdminPassword
	viewerPassword = servertest.UserPassword
)

// viewerUser is added to the example seed: a user whose tokens grant
// inventory.read only.
const viewerUser = `
  - username: viewer
    email: viewer@example.com
    password_env: USER_PASSWORD
    departments: [INVENTORY]
    roles: [InventoryViewer]
`

// iam is a real Gaia IAM served in-process, on SQLite.
type iam struct {
	issuer string
	store  storage.Store
	kek    []byte
	hs     *httptest.Server
}

// startIAM starts a Gaia IAM with the example seed plus viewerUser. tune
// adjusts its configuration.
func startIAM(t testing.TB, tune func(*server.Config)) *iam {
	t.Helper()
	s := servertest.Start(t, storagetest.SQLite(t), servertest.Options{Users: viewerUser, Tune: tune})
	return &iam{issuer: s.Issuer, store: s.Store, kek: s.KEK, hs: s.HTTP}
}

// serviceToken returns an access token of inventory-service (client
// credentials).
func (s *iam) serviceToken(t testing.TB) string {
	t.Helper()
	cc := clientcredentials.Config{ClientID: "inventory-service", ClientSecret: serviceSecret,
		TokenURL: s.issuer + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}
	tok, err := cc.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken
}

// userToken returns the access token and the ID token of a user logging in
// to gaia-web with the password grant and scope openid.
func (s *iam) userToken(t testing.TB, username, password string) (access, id string) {
	t.Helper()
	conf := oauth2.Config{ClientID: "gaia-web", ClientSecret: webSecret, Scopes: []string{"openid"},
		Endpoint: oauth2.Endpoint{TokenURL: s.issuer + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}}
	tok, err := conf.PasswordCredentialsToken(t.Context(), username, password)
	if err != nil {
		t.Fatal(err)
	}
	id, _ = tok.Extra("id_token").(string)
	return tok.AccessToken, id
}

// jwtParts splits a compact JWS into its decoded header and payload and its
// signature segment.
func jwtParts(t testing.TB, token string) (header, payload map[string]any, sig string) {
	t.Helper()
	seg := strings.Split(token, ".")
	if len(seg) != 3 {
		t.Fatalf("token has %d segments", len(seg))
	}
	decode := func(s string) map[string]any {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	return decode(seg[0]), decode(seg[1]), seg[2]
}

// b64JSON is the base64url of v's JSON.
func b64JSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// kidOf returns the kid of token's header.
func kidOf(t testing.TB, token string) string {
	t.Helper()
	h, _, _ := jwtParts(t, token)
	kid, _ := h["kid"].(string)
	return kid
}
