package oauth

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestCookieNames: an https issuer gets __Host- cookies (Secure, Path=/,
// no Domain); an http issuer (loopback development) the plain names
// without Secure, which a browser would never send back over http.
func TestCookieNames(t *testing.T) {
	for _, tc := range []struct {
		issuer, session, csrf string
		secure                bool
	}{
		{"https://iam.example.com", "__Host-gaia-session", "__Host-gaia-login", true},
		{"http://127.0.0.1:8080", "gaia-session", "gaia-login", false},
	} {
		c := newCookies(tc.issuer, make([]byte, 32))
		if c.session != tc.session || c.csrf != tc.csrf || c.secure != tc.secure {
			t.Errorf("newCookies(%s) = %s %s secure=%v, want %s %s %v", tc.issuer, c.session, c.csrf, c.secure, tc.session, tc.csrf, tc.secure)
		}
		w := httptest.NewRecorder()
		c.set(w, c.session, newSecret(), time.Hour, http.SameSiteLaxMode)
		got := w.Header().Get("Set-Cookie")
		for _, want := range []string{tc.session + "=", "Path=/", "HttpOnly", "SameSite=Lax", "Max-Age=3600"} {
			if !strings.Contains(got, want) {
				t.Errorf("Set-Cookie %q lacks %q", got, want)
			}
		}
		if strings.Contains(got, "Domain") || strings.Contains(got, "Secure") != tc.secure {
			t.Errorf("Set-Cookie %q: Domain set, or Secure is not %v", got, tc.secure)
		}
	}
}

// TestFormToken: the form token is bound to the pre-login cookie.
func TestFormToken(t *testing.T) {
	c := newCookies("https://iam.example.com", []byte("0123456789abcdef0123456789abcdef"))
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/oauth2/authorize", nil)
	token := c.formToken(w, r)
	cookie := w.Result().Cookies()[0]
	if cookie.Name != "__Host-gaia-login" || cookie.SameSite != http.SameSiteStrictMode || len(cookie.Value) != 43 {
		t.Fatalf("pre-login cookie %+v", cookie)
	}
	post := func(value string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/oauth2/login", nil)
		if value != "" {
			r.AddCookie(&http.Cookie{Name: cookie.Name, Value: value})
		}
		return r
	}
	if !c.formTokenOK(post(cookie.Value), token) {
		t.Error("the token of the cookie is refused")
	}
	for name, ok := range map[string]bool{
		"no cookie":    c.formTokenOK(post(""), token),
		"other cookie": c.formTokenOK(post(newSecret()), token),
		"no token":     c.formTokenOK(post(cookie.Value), ""),
		"the cookie":   c.formTokenOK(post(cookie.Value), cookie.Value),
	} {
		if ok {
			t.Errorf("%s: accepted", name)
		}
	}
}
