package conformance

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// statusBound is the stated bound from a login's end to a service's
// refusal of its access token, with the default settings: the list is
// rebuilt every 2 s (GAIA_STATUS_LIST_CACHE) and a service fetches it every
// ttl, 5 s (GAIA_STATUS_LIST_TTL), about 7 s, stated as 10 s.
const statusBound = 10 * time.Second

// startInventory runs the example service against issuer, with its
// default settings (status lists on), and returns its base URL.
func startInventory(t *testing.T, issuer string) string {
	t.Helper()
	// The tokens of these tests are for the default audience.
	return startInventoryFor(t, issuer, "gaia")
}

// startInventoryFor runs the example service as the service of audience.
func startInventoryFor(t *testing.T, issuer, audience string) string {
	t.Helper()
	addr := freeAddr(t)
	base := "http://" + addr
	runCommand(t, buildCommand(t, "example-inventory"), nil, base+"/healthz", "--issuer", issuer, "--listen", addr, "--audience", audience)
	return base
}

// itemsStatus is the status of GET /items at the service with token.
func itemsStatus(t *testing.T, base, token string) int {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx(t), http.MethodGet, base+"/items", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// routeCounts reads gaia_http_requests_total by route from the IAM's
// /metrics.
func routeCounts(t *testing.T, issuer string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(issuer + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "gaia_http_requests_total{") {
			continue
		}
		_, rest, _ := strings.Cut(line, `route="`)
		route, _, _ := strings.Cut(rest, `"`)
		f := strings.Fields(line)
		n, _ := strconv.ParseFloat(f[len(f)-1], 64)
		out[route] += n
	}
	return out
}

// TestStatusListReachesServices: logout, password reset, disabling or
// deleting the user, refresh-token reuse and RFC 7009 revocation of the
// refresh token each make the
// example inventory service refuse the current access token within
// statusBound, and the service calls the IAM only in the background.
func TestStatusListReachesServices(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *iam) {
		svc := startInventory(t, s.issuer)
		api := (&adminClient{t: t, base: s.issuer + "/admin/v1", http: http.DefaultClient}).as(userToken(t, s.issuer, "admin", adminPassword).AccessToken)
		conf := webConfig(s.issuer)

		type victim struct {
			name   string
			userID string
			tok    *oauth2.Token
			end    func()
		}
		var victims []*victim
		for _, name := range []string{"logout", "password-reset", "disable", "refresh-reuse", "delete", "rfc7009-revoke"} {
			pw := name + "'s long password"
			u := createUser(t, api, "status-"+name, pw)
			want(t, api.do("PUT", "/users/"+u.ID+"/departments/INVENTORY", nil), http.StatusNoContent)
			want(t, api.do("PUT", "/users/"+u.ID+"/roles/InventoryViewer", nil), http.StatusNoContent)
			v := &victim{name: name, userID: u.ID, tok: userToken(t, s.issuer, "status-"+name, pw)}
			victims = append(victims, v)
		}
		// A bystander whose login goes on.
		bystander := userToken(t, s.issuer, "admin", adminPassword)
		// Refresh reuse: refresh once, then present the spent refresh
		// token again; the current access token is the refreshed one.
		reuse := victims[3]
		spent := reuse.tok
		fresh, err := refresh(t, conf, spent)
		if err != nil {
			t.Fatal(err)
		}
		reuse.tok = fresh

		for _, v := range victims {
			switch v.name {
			case "logout":
				v.end = func() { want(t, api.do("POST", "/users/"+v.userID+"/logout", nil), http.StatusOK) }
			case "password-reset":
				v.end = func() {
					want(t, api.do("PUT", "/users/"+v.userID+"/password", map[string]any{"password": "a brand new long password"}), http.StatusNoContent)
				}
			case "disable":
				v.end = func() { want(t, api.do("PATCH", "/users/"+v.userID, map[string]any{"active": false}), http.StatusOK) }
			case "refresh-reuse":
				v.end = func() {
					if _, err := refresh(t, conf, spent); !isInvalidGrant(err) {
						t.Errorf("reuse of a spent refresh token: %v, want invalid_grant", err)
					}
				}
			case "delete":
				v.end = func() { want(t, api.do("DELETE", "/users/"+v.userID, nil), http.StatusNoContent) }
			case "rfc7009-revoke":
				v.end = func() {
					if got := revoke(t, s, v.tok.RefreshToken); got != http.StatusOK {
						t.Errorf("revoke the refresh token: %d, want 200", got)
					}
				}
			}
		}
		// Every token works at the service first; this also makes the
		// service fetch the list once.
		for _, v := range victims {
			if got := itemsStatus(t, svc, v.tok.AccessToken); got != http.StatusOK {
				t.Fatalf("%s: GET /items before = %d, want 200", v.name, got)
			}
		}

		before := routeCounts(t, s.issuer)
		start := time.Now()
		for _, v := range victims {
			v.end()
		}
		ended := time.Now()
		refusedAt := map[string]time.Duration{}
		calls := 0
		for len(refusedAt) < len(victims) && time.Since(ended) < statusBound+5*time.Second {
			for _, v := range victims {
				if _, done := refusedAt[v.name]; done {
					continue
				}
				calls++
				switch got := itemsStatus(t, svc, v.tok.AccessToken); got {
				case http.StatusUnauthorized:
					refusedAt[v.name] = time.Since(ended)
				case http.StatusOK:
				default:
					t.Fatalf("%s: GET /items = %d", v.name, got)
				}
			}
			calls++
			if got := itemsStatus(t, svc, bystander.AccessToken); got != http.StatusOK {
				t.Errorf("bystander: GET /items = %d, want 200", got)
			}
			time.Sleep(100 * time.Millisecond)
		}
		window := time.Since(start)
		after := routeCounts(t, s.issuer)
		for _, v := range victims {
			d, ok := refusedAt[v.name]
			switch {
			case !ok:
				t.Errorf("%s: the access token still works at the service %v after the login ended", v.name, time.Since(ended).Round(time.Millisecond))
			case d > statusBound:
				t.Errorf("%s: refused after %v, more than the bound %v", v.name, d, statusBound)
			default:
				t.Logf("%s: refused %v after the login ended", v.name, d.Round(time.Millisecond))
			}
		}
		// No call to the IAM on the request path: during the window the
		// service fetched the list in the background, once per ttl (5 s),
		// whatever the number of requests; nothing else.
		fetches := after["/statuslists/{id}"] - before["/statuslists/{id}"]
		if max := window.Seconds()/5 + 2; fetches > max || float64(calls) < 4*max {
			t.Errorf("%v status list fetches for %d service calls in %v, want at most %.0f", fetches, calls, window, max)
		}
		for _, route := range []string{"/oauth2/introspect", "/userinfo", "/.well-known/openid-configuration"} {
			if n := after[route] - before[route]; n != 0 {
				t.Errorf("%v requests to %s during the service calls, want 0", n, route)
			}
		}
		t.Logf("%d service calls in %v: %v status list fetches, %v JWKS fetches", calls, window.Round(time.Millisecond),
			fetches, after["/.well-known/jwks.json"]-before["/.well-known/jwks.json"])
	}, "GAIA_REFRESH_REUSE_INTERVAL=0")
}

// TestStatusListServed: the list is a JWT that go-jose verifies against
// the JWKS, typ statuslist+jwt, sub its URI, zlib-compressed bits; two
// replicas on one database serve it byte for byte alike; a service token
// is refused once its client is disabled.
func TestStatusListServed(t *testing.T) {
	for name, db := range backends(t) {
		t.Run(name, func(t *testing.T) {
			const issuer = "https://iam.example.com"
			a := start(t, db(t), "GAIA_ISSUER="+issuer)
			b := &iam{dbURL: a.dbURL, env: a.env}
			b.run(t)

			cc := clientcredentials.Config{ClientID: "inventory-service", ClientSecret: serviceSecret, TokenURL: a.issuer + "/oauth2/token"}
			tok, err := cc.Token(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			_, c := payload(t, tok.AccessToken)
			ref, _ := c["status"].(map[string]any)["status_list"].(map[string]any)
			if ref == nil || ref["uri"] != issuer+"/statuslists/0" {
				t.Fatalf("status claim = %v, want a list at %s/statuslists/0", c["status"], issuer)
			}
			idx := int(ref["idx"].(float64))

			get := func(s *iam, path, accept string) (*http.Response, []byte) {
				req, _ := http.NewRequestWithContext(ctx(t), http.MethodGet, s.issuer+path, nil)
				if accept != "" {
					req.Header.Set("Accept", accept)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				return resp, body
			}
			// The same bytes from both replicas (a fetch pair may straddle
			// the 2 s boundary of iat: then again).
			var list []byte
			for i := 0; ; i++ {
				ra, la := get(a, "/statuslists/0", "application/statuslist+jwt")
				_, lb := get(b, "/statuslists/0", "")
				if ra.StatusCode != http.StatusOK || ra.Header.Get("Content-Type") != "application/statuslist+jwt" {
					t.Fatalf("GET list = %d %s", ra.StatusCode, ra.Header.Get("Content-Type"))
				}
				if bytes.Equal(la, lb) {
					list = la
					break
				}
				if i == 5 {
					t.Fatalf("replicas serve different lists:\n%s\n%s", la, lb)
				}
			}
			bits := verifyList(t, get, a, list, issuer+"/statuslists/0")
			if bits[idx/8]>>(idx%8)&1 != 0 {
				t.Errorf("bit %d of a live service client is set", idx)
			}

			for path, want := range map[string]int{"/statuslists/7": 404, "/statuslists/00": 404, "/statuslists/-1": 404, "/statuslists/x": 404} {
				if r, _ := get(a, path, ""); r.StatusCode != want {
					t.Errorf("GET %s = %d, want %d", path, r.StatusCode, want)
				}
			}
			if r, _ := get(a, "/statuslists/0", "application/json"); r.StatusCode != http.StatusNotAcceptable {
				t.Errorf("GET list accepting only JSON = %d, want 406", r.StatusCode)
			}

			// Disable the service client: its bit is set, on both replicas.
			api := (&adminClient{t: t, base: a.issuer + "/admin/v1", http: http.DefaultClient}).as(userToken(t, a.issuer, "admin", adminPassword).AccessToken)
			want(t, api.do("PATCH", "/clients/inventory-service", map[string]any{"active": false}), http.StatusOK)
			waitUntil(t, "the disabled client's bit set", func() bool {
				_, l := get(b, "/statuslists/0", "")
				bits := verifyList(t, get, b, l, issuer+"/statuslists/0")
				return bits[idx/8]>>(idx%8)&1 == 1
			})
		})
	}
}

// verifyList verifies a status list token with go-jose against the JWKS of
// s and returns its decompressed bits.
func verifyList(t *testing.T, get func(*iam, string, string) (*http.Response, []byte), s *iam, list []byte, uri string) []byte {
	t.Helper()
	_, raw := get(s, "/.well-known/jwks.json", "")
	var jwks jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &jwks); err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSignedCompact(string(list), []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatalf("parse list: %v", err)
	}
	h := jws.Signatures[0].Protected
	if h.ExtraHeaders[jose.HeaderType] != "statuslist+jwt" {
		t.Errorf("typ = %v, want statuslist+jwt", h.ExtraHeaders[jose.HeaderType])
	}
	keys := jwks.Key(h.KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %q: %d keys in the JWKS", h.KeyID, len(keys))
	}
	body, err := jws.Verify(keys[0])
	if err != nil {
		t.Fatalf("verify list with the JWKS: %v", err)
	}
	var p struct {
		Sub        string `json:"sub"`
		Iat, Exp   int64
		TTL        int64 `json:"ttl"`
		StatusList struct {
			Bits int    `json:"bits"`
			Lst  string `json:"lst"`
		} `json:"status_list"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Sub != uri || p.Iat == 0 || p.Exp <= p.Iat || p.TTL != 5 || p.StatusList.Bits != 1 {
		t.Errorf("list claims = %s", body)
	}
	z, err := base64.RawURLEncoding.DecodeString(p.StatusList.Lst)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zlib.NewReader(bytes.NewReader(z))
	if err != nil {
		t.Fatal(err)
	}
	bits, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return bits
}
