package conformance

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// tokenCall posts a raw token request and returns the status, the error
// body and the headers.
type tokenCall struct {
	method, contentType, body, query string
	path                             string    // default /oauth2/token
	basic                            [2]string // client id, secret
	authorization                    string    // a raw Authorization header
}

type tokenResult struct {
	status int
	body   map[string]any
	raw    string
	header http.Header
}

func (c tokenCall) do(t *testing.T, s *iam) tokenResult {
	t.Helper()
	method := c.method
	if method == "" {
		method = http.MethodPost
	}
	path := c.path
	if path == "" {
		path = "/oauth2/token"
	}
	u := s.issuer + path
	if c.query != "" {
		u += "?" + c.query
	}
	req, _ := http.NewRequest(method, u, strings.NewReader(c.body))
	ct := c.contentType
	if ct == "" {
		ct = "application/x-www-form-urlencoded"
	}
	req.Header.Set("Content-Type", ct)
	if c.basic[0] != "" {
		req.SetBasicAuth(url.QueryEscape(c.basic[0]), url.QueryEscape(c.basic[1]))
	}
	if c.authorization != "" {
		req.Header.Set("Authorization", c.authorization)
	}
	return send(t, req)
}

var web = [2]string{"gaia-web", webSecret}

// rfc6749Chars is the character set RFC 6749 §5.2 allows in error_description.
var rfc6749Chars = regexp.MustCompile(`^[\x20-\x21\x23-\x5B\x5D-\x7E]*$`)

func TestTokenErrors(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *iam) {
		pw := "grant_type=password&username=admin&password=" + url.QueryEscape(adminPassword)
		for _, tc := range []struct {
			name   string
			call   tokenCall
			status int
			code   string
		}{
			{"GET", tokenCall{method: http.MethodGet, body: pw, basic: web}, http.StatusMethodNotAllowed, ""},
			{"JSON body", tokenCall{contentType: "application/json", body: `{"grant_type":"password"}`, basic: web}, 400, "invalid_request"},
			{"html content type", tokenCall{contentType: "text/html", body: pw, basic: web}, 400, "invalid_request"},
			{"no grant_type", tokenCall{body: "username=admin", basic: web}, 400, "invalid_request"},
			{"unknown grant", tokenCall{body: "grant_type=foo", basic: web}, 400, "unsupported_grant_type"},
			{"implicit", tokenCall{body: "grant_type=implicit", basic: web}, 400, "unsupported_grant_type"},
			// inventory-service: gaia-web has the grant, for its BFF.
			{"authorization_code, client without the grant", tokenCall{body: "grant_type=authorization_code&code=x", basic: [2]string{"inventory-service", serviceSecret}}, 400, "unauthorized_client"},
			{"duplicate grant_type", tokenCall{body: "grant_type=password&grant_type=client_credentials", basic: web}, 400, "invalid_request"},
			{"duplicate username", tokenCall{body: pw + "&username=bob", basic: web}, 400, "invalid_request"},
			{"credentials in the query", tokenCall{body: "grant_type=password", query: "username=admin&password=x", basic: web}, 400, "invalid_request"},
			{"client not allowed the grant", tokenCall{body: "grant_type=client_credentials", basic: web}, 400, "unauthorized_client"},
			{"unknown client via Basic", tokenCall{body: pw, basic: [2]string{"nobody", "x"}}, 401, "invalid_client"},
			{"wrong secret via Basic", tokenCall{body: pw, basic: [2]string{"gaia-web", "wrong"}}, 401, "invalid_client"},
			{"wrong secret via post", tokenCall{body: pw + "&client_id=gaia-web&client_secret=wrong"}, 401, "invalid_client"},
			{"no client auth", tokenCall{body: pw}, 401, "invalid_client"},
			{"secret in header and body", tokenCall{body: pw + "&client_secret=" + webSecret, basic: web}, 400, "invalid_request"},
			{"header client A, body client B", tokenCall{body: pw + "&client_id=gaia-cli", basic: web}, 400, "invalid_request"},
			{"Basic not base64", tokenCall{body: pw, authorization: "Basic !!!notbase64"}, 400, "invalid_request"},
			{"scope not allowed", tokenCall{body: pw + "&scope=admin", basic: web}, 400, "invalid_scope"},
			{"wildcard-looking scope", tokenCall{body: pw + "&scope=*", basic: web}, 400, "invalid_scope"},
			{"audience not allowed", tokenCall{body: pw + "&audience=gaia/../admin", basic: web}, 400, "invalid_target"},
			{"missing password", tokenCall{body: "grant_type=password&username=admin", basic: web}, 400, "invalid_request"},
			{"wrong password", tokenCall{body: "grant_type=password&username=admin&password=nope", basic: web}, 400, "invalid_grant"},
			{"unknown user", tokenCall{body: "grant_type=password&username=nobody&password=nope", basic: web}, 400, "invalid_grant"},
			{"SQL in username", tokenCall{body: "grant_type=password&username=" + url.QueryEscape(`' OR '1'='1`) + "&password=x", basic: web}, 400, "invalid_grant"},
			{"quote in scope", tokenCall{body: pw + "&scope=" + url.QueryEscape(`a"b\c`), basic: web}, 400, "invalid_scope"},
			{"garbage refresh token", tokenCall{body: "grant_type=refresh_token&refresh_token=asdf", basic: web}, 400, "invalid_grant"},
			{"huge body", tokenCall{body: pw + "&x=" + strings.Repeat("a", 100<<10), basic: web}, 413, "invalid_request"},
			{"public client uses client_credentials", tokenCall{body: "grant_type=client_credentials&client_id=gaia-cli"}, 400, "unauthorized_client"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := tc.call.do(t, s)
				if r.status != tc.status {
					t.Errorf("status = %d, want %d; body %s", r.status, tc.status, r.raw)
				}
				if tc.code == "" {
					return
				}
				if r.body["error"] != tc.code {
					t.Errorf("error = %v, want %s; body %s", r.body["error"], tc.code, r.raw)
				}
				if d, _ := r.body["error_description"].(string); d == "" || !rfc6749Chars.MatchString(d) {
					t.Errorf("error_description %q is empty or breaks the RFC 6749 §5.2 character set", d)
				}
				if r.header.Get("Cache-Control") != "no-store" || r.header.Get("Pragma") != "no-cache" || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
					t.Errorf("headers = %v, want no-store, no-cache, JSON", r.header)
				}
				if r.status == 401 && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic realm=") {
					t.Errorf("401 without a WWW-Authenticate Basic challenge: %v", r.header)
				}
				if strings.Contains(r.raw, "admin") || strings.Contains(r.raw, "OR '1'") {
					t.Errorf("error body reflects input: %s", r.raw)
				}
			})
		}

		// A wrong password and an unknown user are indistinguishable.
		a := tokenCall{body: "grant_type=password&username=admin&password=nope", basic: web}.do(t, s)
		b := tokenCall{body: "grant_type=password&username=nobody&password=nope", basic: web}.do(t, s)
		if a.raw != b.raw || a.status != b.status {
			t.Errorf("wrong password answered %d %s, unknown user %d %s: want identical", a.status, a.raw, b.status, b.raw)
		}
		// Unknown client and wrong secret likewise.
		a = tokenCall{body: pw, basic: [2]string{"nobody", "x"}}.do(t, s)
		b = tokenCall{body: pw, basic: [2]string{"gaia-web", "x"}}.do(t, s)
		if a.raw != b.raw {
			t.Errorf("unknown client %s vs wrong secret %s: want identical", a.raw, b.raw)
		}
	})
}
