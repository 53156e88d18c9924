// Package login renders the hosted login page of the authorization
// endpoint, and the pages the browser flows show instead of redirecting
// (an error with no registered redirect URI to send it to, a logout): server-side
// HTML and CSS from embedded templates, no JavaScript. It renders only;
// what the pages do is package oauth's.
package login

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
)

//go:embed templates/*.html templates/*.css
var files embed.FS

// Pages renders the browser pages.
type Pages struct {
	tmpl *template.Template
	css  template.CSS
}

// New parses the embedded templates.
func New() (*Pages, error) {
	t, err := template.ParseFS(files, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("login: parse templates: %w", err)
	}
	css, err := files.ReadFile("templates/style.css")
	if err != nil {
		return nil, fmt.Errorf("login: read style: %w", err)
	}
	return &Pages{tmpl: t, css: template.CSS(css)}, nil
}

// Form is what the login form shows and posts back.
type Form struct {
	Action     string // where the form posts
	ClientName string // the application the user logs in to
	Username   string // typed before, shown again after a failure
	CSRF       string // the anti-CSRF token, bound to the pre-login cookie
	Request    string // the authorization request, posted back as it came
	Error      string // a message for the user, the same for every credential failure
}

// Message is a page with a title and a message: an error, or a logout.
type Message struct {
	Title   string
	Message string
	// Confirm, when set, makes the page a form that posts to Confirm.Action.
	Confirm *Confirm
}

// Confirm is a one-button form, such as "Log out".
type Confirm struct {
	Action string
	CSRF   string
	Fields map[string]string // hidden fields
	Button string
}

// Login writes the login form with status.
func (p *Pages) Login(w http.ResponseWriter, status int, f Form) {
	p.render(w, status, "login.html", f)
}

// Message writes a message page with status.
func (p *Pages) Message(w http.ResponseWriter, status int, m Message) {
	p.render(w, status, "message.html", m)
}

func (p *Pages) render(w http.ResponseWriter, status int, name string, data any) {
	var b bytes.Buffer
	if err := p.tmpl.ExecuteTemplate(&b, name, struct {
		CSS  template.CSS
		Page any
	}{p.css, data}); err != nil {
		http.Error(w, "The page could not be rendered.", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(b.Len()))
	// The pages carry a CSRF token and must never be framed (clickjacking)
	// nor cached; they load nothing from anywhere and run no script.
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	// No form-action: Chromium applies it to the redirects that follow
	// the form's POST too (CSP3 §6.3.1), and the login ends with a redirect
	// to the client's own origin, which would be blocked.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}
