package oauth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
	"time"
)

// cookies names and sets the browser flows' cookies.
//
// With an https issuer they are __Host- cookies: Secure, Path=/, no
// Domain, so no other host or path can set or read them. A __Host- cookie
// must be Secure, which a browser (and Go's cookie jar) sends only over
// https, so an http issuer — loopback development, `make run` — gets the
// same cookies without the prefix and without Secure. Both kinds are
// HttpOnly.
type cookies struct {
	secure bool
	// session is the login session cookie (SameSite=Lax: it must come with
	// the top-level navigation from an app to the authorization endpoint).
	session string
	// csrf is the pre-login cookie the login form's token is bound to
	// (SameSite=Strict: only this site's own form posts it).
	csrf string
	key  []byte // keys the form tokens derived from csrf cookies
}

func newCookies(issuer string, secret []byte) cookies {
	c := cookies{session: "gaia-session", csrf: "gaia-login"}
	if strings.HasPrefix(issuer, "https://") {
		c = cookies{secure: true, session: "__Host-gaia-session", csrf: "__Host-gaia-login"}
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("gaia login form csrf"))
	c.key = m.Sum(nil)
	return c
}

// maxCookieValue bounds the cookie values read; ours are 43 characters.
const maxCookieValue = 128

func (c cookies) set(w http.ResponseWriter, name, value string, maxAge time.Duration, site http.SameSite) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: int(maxAge / time.Second),
		HttpOnly: true, Secure: c.secure, SameSite: site})
}

// clear deletes a cookie, with the attributes it was set with.
func (c cookies) clear(w http.ResponseWriter, name string, site http.SameSite) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: c.secure, SameSite: site})
}

func (c cookies) read(r *http.Request, name string) string {
	ck, err := r.Cookie(name)
	if err != nil || len(ck.Value) > maxCookieValue {
		return ""
	}
	return ck.Value
}

// formToken returns the anti-CSRF token of a form, bound to the browser's
// pre-login cookie (set here when absent): a signed double-submit token. A
// cross-site page can make the browser post the form, with the cookie, but
// cannot read the token the form must carry.
func (c cookies) formToken(w http.ResponseWriter, r *http.Request) string {
	v := c.read(r, c.csrf)
	if len(v) != 43 {
		v = newSecret()
		c.set(w, c.csrf, v, time.Hour, http.SameSiteStrictMode)
	}
	return c.tokenOf(v)
}

func (c cookies) tokenOf(cookie string) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(cookie))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// formTokenOK reports whether token is the form token of the request's
// pre-login cookie, compared in constant time.
func (c cookies) formTokenOK(r *http.Request, token string) bool {
	v := c.read(r, c.csrf)
	if v == "" || token == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(c.tokenOf(v)), []byte(token)) == 1
}

// newSecret returns 32 random bytes, base64url: 43 characters.
func newSecret() string {
	var b [32]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// hashSecret is what the store keeps of a login session's cookie secret.
func hashSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}
