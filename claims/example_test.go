package claims_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/go-chi/chi/v5"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gaia-platform/iam/claims"
)

// A service verifies Gaia access tokens and authorizes on permissions. The
// Verifier is made once, at start; it fetches the IAM's keys then and again
// only when a token names a key it has not seen.
func ExampleMiddleware() {
	ctx := context.Background()
	v, err := claims.NewVerifier(ctx, claims.VerifierConfig{
		Issuer:   "https://iam.example.com", // exactly the iss of the tokens
		Audience: "gaia",
	})
	if err != nil {
		log.Fatal(err)
	}

	r := chi.NewRouter()
	r.Use(claims.Middleware(v, claims.WithRealm("inventory"), claims.WithCookie("gaia_at")))
	r.With(claims.RequirePermission("inventory.read")).Get("/items", func(w http.ResponseWriter, r *http.Request) {
		a, _ := claims.FromContext(r.Context())
		fmt.Fprintf(w, "items for %s\n", a.Subject)
	})
	r.With(claims.RequirePermission("inventory.write")).Post("/items", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
	})
	log.Fatal(http.ListenAndServe("127.0.0.1:8081", r))
}

// A service calls another with its own token, from the client credentials
// grant. clientcredentials' token source caches the token and fetches a new
// one shortly before it expires: one token request for many calls.
func Example_serviceToken() {
	ctx := context.Background()
	iam := newLocalIssuer(keyA()) // stands in for Gaia IAM
	defer iam.Close()

	// The service called: verifies tokens, requires inventory.read.
	v, err := claims.NewVerifier(ctx, claims.VerifierConfig{Issuer: iam.URL, Audience: "gaia"})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /items", claims.RequirePermission("inventory.read")(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			a, _ := claims.FromContext(r.Context())
			fmt.Fprintf(w, "items for %s", a.Subject)
		})))
	inventory := httptest.NewServer(claims.Middleware(v)(mux))
	defer inventory.Close()

	// The caller: its client id and secret (from its environment), the
	// IAM's token endpoint.
	cc := clientcredentials.Config{
		ClientID:     localClientID,
		ClientSecret: localClientSecret,
		TokenURL:     iam.URL + "/oauth2/token",
		AuthStyle:    oauth2.AuthStyleInHeader,
	}
	client := cc.Client(ctx) // an *http.Client that sends "Authorization: Bearer …"
	for range 3 {
		resp, err := client.Get(inventory.URL + "/items")
		if err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, string(body))
	}
	fmt.Println("token requests:", iam.tokenHits.Load())
	// Output:
	// 200 items for inventory-service
	// 200 items for inventory-service
	// 200 items for inventory-service
	// token requests: 1
}
