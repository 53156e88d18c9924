package conformance

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/gaia-platform/iam/bff"
)

// requireBrowser is the variable that turns a missing chromium or npm
// into a failure, as CI sets it.
const requireBrowser = "GAIA_REQUIRE_BROWSER"

// chromiumPath returns the Chromium to drive, or skips (fails with
// GAIA_REQUIRE_BROWSER=1) when there is none.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv(requireBrowser) == "1" {
		t.Fatal("chromium not found and " + requireBrowser + "=1: apt-get install -y chromium")
	}
	t.Skip("chromium not found: skipping the browser tests (apt-get install -y chromium)")
	return ""
}

var (
	spaOnce sync.Once
	spaErr  error
)

// buildSPA builds web/demo-spa with npm (npm ci when node_modules is
// missing), once per run.
func buildSPA(t *testing.T) string {
	t.Helper()
	dir := mustAbs(t, "../web/demo-spa")
	if _, err := exec.LookPath("npm"); err != nil {
		if os.Getenv(requireBrowser) == "1" {
			t.Fatal("npm not found and " + requireBrowser + "=1")
		}
		t.Skip("npm not found: skipping the demo SPA test")
	}
	spaOnce.Do(func() {
		steps := [][]string{{"npm", "run", "build"}}
		if _, err := os.Stat(filepath.Join(dir, "node_modules")); err != nil {
			steps = append([][]string{{"npm", "ci", "--no-audit", "--no-fund"}}, steps...)
		}
		for _, s := range steps {
			cmd := exec.Command(s[0], s[1:]...)
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				spaErr = fmt.Errorf("%s: %v\n%s", strings.Join(s, " "), err, out)
				return
			}
		}
	})
	if spaErr != nil {
		t.Fatal(spaErr)
	}
	return dir
}

// demo is the IAM, the inventory service, the BFF and the SPA server, each
// on its own port, with the example seed's demo clients registered for
// those ports.
type demo struct {
	iam       *iam
	spa, bff  string // origins
	inventory string
}

const (
	seedSPAOrigin = "http://127.0.0.1:5173"
	seedBFFOrigin = "http://127.0.0.1:8090"
)

func startDemo(t *testing.T, dbURL string) *demo {
	t.Helper()
	spaDir := buildSPA(t)
	d := &demo{spa: "http://" + freeAddr(t), bff: "http://" + freeAddr(t), inventory: "http://" + freeAddr(t)}
	// The example seed's demo clients, moved to this run's ports.
	example, err := os.ReadFile(mustAbs(t, "../seed.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	seed := strings.NewReplacer(seedSPAOrigin, d.spa, seedBFFOrigin, d.bff).Replace(string(example))
	seedFile := filepath.Join(t.TempDir(), "seed.yaml")
	if err := os.WriteFile(seedFile, []byte(seed), 0o600); err != nil {
		t.Fatal(err)
	}
	d.iam = start(t, dbURL, "GAIA_SEED_FILE="+seedFile, "GAIA_CORS_ALLOWED_ORIGINS="+d.spa)
	runCommand(t, buildCommand(t, "example-inventory"), []string{
		"INVENTORY_ISSUER=" + d.iam.issuer, "INVENTORY_LISTEN=" + strings.TrimPrefix(d.inventory, "http://"),
		"INVENTORY_CORS_ALLOWED_ORIGINS=" + d.spa, "INVENTORY_AUDIENCE=gaia",
	}, d.inventory+"/healthz")
	runCommand(t, buildCommand(t, "example-bff"), []string{
		"BFF_ISSUER=" + d.iam.issuer, "BFF_LISTEN=" + strings.TrimPrefix(d.bff, "http://"), "BFF_API_URL=" + d.inventory,
		"BFF_CLIENT_SECRET=" + webSecret, "SPA_LISTEN=" + strings.TrimPrefix(d.spa, "http://"), "SPA_DIR=" + spaDir,
		"SPA_INVENTORY_URL=" + d.inventory,
	}, d.bff+"/")
	return d
}

// chromium starts a fresh headless Chromium for t; it stops when t ends.
func chromium(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first run starts the browser, for as long as ctx lives: no
	// timeout on it (see chromedp.Run).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancelTimeout)
	return ctx
}

// waitText waits until the text of the element sel contains want. It
// reads the text with a script on each try, so a page that is still
// navigating (its nodes and script context replaced) is simply tried again.
func waitText(sel, want string) chromedp.Action[chromedp.Void] {
	expr := fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ""`, sel)
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		var got string
		var err error
		for {
			got, err = chromedp.Evaluate[string](expr)(ctx, tg)
			if err == nil && strings.Contains(got, want) {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s: text %q (last error %v), want %q: %w", sel, got, err, want, ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
}

func click(sel string) chromedp.Action[chromedp.Void] { return chromedp.Click(chromedp.CSS(sel)) }

// hostedLogin fills and submits the IAM's hosted login page.
func hostedLogin(username, password string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.WaitVisible(chromedp.CSS(`input[name="username"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="username"]`), username),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), password),
		chromedp.Submit(chromedp.CSS(`input[name="password"]`)),
	)
}

// do runs the step's actions, failing t with where the browser was.
func do(t *testing.T, ctx context.Context, step string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		t.Fatalf("%s (at %s): %v", step, loc, err)
	}
}

// get runs one action that answers a value.
func get[T any](t *testing.T, ctx context.Context, step string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", step, err)
	}
	return v
}

// TestBrowserSPA: the demo SPA, with oidc-client-ts, logs in through the
// hosted page, calls the inventory service across origins, refreshes and
// logs out, in a real Chromium.
func TestBrowserSPA(t *testing.T) {
	chromiumPath(t)
	d := startDemo(t, "sqlite:"+filepath.Join(t.TempDir(), "gaia.db"))
	ctx := chromium(t)

	do(t, ctx, "open the SPA", chromedp.Navigate(d.spa+"/"), waitText("#status", "Logged out"))
	do(t, ctx, "log in", click("#login"), hostedLogin("admin", adminPassword))
	do(t, ctx, "back in the SPA", waitText("#status", "Logged in as admin"))
	if loc := get(t, ctx, "location", chromedp.Location()); loc != d.spa+"/" {
		t.Errorf("after login the SPA is at %s, want %s/ (code and state dropped)", loc, d.spa)
	}

	do(t, ctx, "call inventory", click("#items"), waitText("#output", "HTTP 200"))

	before := get(t, ctx, "status", chromedp.Text(chromedp.CSS("#status")))
	do(t, ctx, "refresh", click("#refresh"), waitText("#output", "refreshed"))
	after := get(t, ctx, "status", chromedp.Text(chromedp.CSS("#status")))
	if before == after || !strings.Contains(after, "Logged in as admin") {
		t.Errorf("refresh: status %q then %q, want a new token", before, after)
	}
	do(t, ctx, "call inventory with the new token", click("#items"), waitText("#output", "HTTP 200"))

	do(t, ctx, "log out", click("#logout"), waitText("#status", "Logged out"))
	if loc := get(t, ctx, "location", chromedp.Location()); !strings.HasPrefix(loc, d.spa+"/") {
		t.Errorf("after logout the browser is at %s, want the SPA", loc)
	}
	// The IAM's login session ended: logging in again asks for the password.
	do(t, ctx, "log in again", click("#login"), chromedp.WaitVisible(chromedp.CSS(`input[name="password"]`)))
}

// TestBrowserBFF: the BFF demo page logs in without ever holding a token
// (document.cookie is empty, the one cookie is HttpOnly, Secure,
// SameSite=Strict), a cross-origin page's POST is refused, and logout
// ends the session.
func TestBrowserBFF(t *testing.T) {
	chromiumPath(t)
	d := startDemo(t, "sqlite:"+filepath.Join(t.TempDir(), "gaia.db"))
	ctx := chromium(t)

	do(t, ctx, "open the BFF demo", chromedp.Navigate(d.bff+"/"), waitText("#status", "Logged out"))
	do(t, ctx, "log in", click("#login"), hostedLogin("admin", adminPassword))
	do(t, ctx, "back in the app", waitText("#status", "Logged in as admin"))

	if c := get(t, ctx, "document.cookie", chromedp.Evaluate[string](`document.cookie`)); c != "" {
		t.Errorf("document.cookie = %q, want nothing readable by scripts", c)
	}
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{d.bff + "/"}})
	if err != nil {
		t.Fatal(err)
	}
	var session *network.Cookie
	for _, c := range res.Cookies {
		if strings.Contains(c.Value, "eyJ") {
			t.Errorf("cookie %s holds a JWT", c.Name)
		}
		if c.Name == bff.SessionCookie {
			session = c
		}
	}
	if session == nil {
		t.Fatalf("no %s cookie among %d", bff.SessionCookie, len(res.Cookies))
	}
	if !session.HTTPOnly || !session.Secure || session.SameSite != network.CookieSameSiteStrict || session.Path != "/" {
		t.Errorf("session cookie HttpOnly %v Secure %v SameSite %v Path %q; want true true Strict /", session.HTTPOnly, session.Secure, session.SameSite, session.Path)
	}
	if st := get(t, ctx, "web storage", chromedp.Evaluate[string](`JSON.stringify(localStorage) + JSON.stringify(sessionStorage)`)); strings.Contains(st, "eyJ") {
		t.Errorf("web storage holds a JWT: %s", st)
	}

	do(t, ctx, "add an item through the proxy", click("#add"), waitText("#output", "HTTP 201"))
	do(t, ctx, "list items", click("#items"), waitText("#output", `"widget"`))

	// Another origin on the same site: its fetch with the custom header
	// needs a preflight the BFF refuses; its simple POST (what a form can
	// send) lacks the header and is refused with 403.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, `<!doctype html><title>evil</title><p id="result">pending</p>`)
	}))
	t.Cleanup(evil.Close)
	do(t, ctx, "open another origin", chromedp.Navigate(evil.URL))
	preflighted := get(t, ctx, "cross-origin fetch", chromedp.Evaluate[string](fmt.Sprintf(`fetch(%q, {method: "POST", credentials: "include",
		headers: {"X-Gaia-BFF": "1", "Content-Type": "application/json"}, body: '{"name":"evil","quantity":1}'})
		.then(r => "status " + r.status, e => "blocked: " + e.name)`, d.bff+"/api/items"), chromedp.EvalAwaitPromise))
	simple := get(t, ctx, "cross-origin simple POST", chromedp.Evaluate[string](fmt.Sprintf(`fetch(%q, {method: "POST", mode: "no-cors", credentials: "include",
		headers: {"Content-Type": "text/plain"}, body: '{"name":"evil","quantity":1}'})
		.then(r => "sent " + r.type, e => "blocked: " + e.name)`, d.bff+"/api/items"), chromedp.EvalAwaitPromise))
	if !strings.HasPrefix(preflighted, "blocked") {
		t.Errorf("cross-origin fetch with the header: %s, want blocked", preflighted)
	}
	t.Logf("cross-origin fetch: %s; simple POST: %s", preflighted, simple)
	do(t, ctx, "back to the app", chromedp.Navigate(d.bff+"/"), waitText("#status", "Logged in as admin"),
		click("#items"), waitText("#output", `"widget"`))
	if items := get(t, ctx, "items", chromedp.Text(chromedp.CSS("#output"))); strings.Contains(items, "evil") {
		t.Errorf("a cross-origin POST added an item:\n%s", items)
	}

	do(t, ctx, "log out", click("#logout"), waitText("#status", "Logged out"))
	if loc := get(t, ctx, "location", chromedp.Location()); !strings.HasPrefix(loc, d.bff+"/") {
		t.Errorf("after logout the browser is at %s, want the app", loc)
	}
	do(t, ctx, "API after logout", click("#items"), waitText("#output", "HTTP 401"))
	do(t, ctx, "log in again", click("#login"), chromedp.WaitVisible(chromedp.CSS(`input[name="password"]`)))
}
