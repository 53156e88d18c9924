package server_test

import (
	"bufio"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/gaia-platform/iam/server"
	"github.com/gaia-platform/iam/server/servertest"
	"github.com/gaia-platform/iam/storage/storagetest"
)

// TestMetricsAndRequestLog drives a token run over real HTTP and checks
// that the counters moved, that each request was logged once with its
// route pattern, and that no secret reached the log.
func TestMetricsAndRequestLog(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			logs := &servertest.LogBuffer{}
			iam := servertest.Start(t, b.Open(t), servertest.Options{
				Log: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
				// No reuse interval: the replay below, at once, is reuse.
				Tune: func(c *server.Config) { c.RefreshReuseInterval = 0 },
			})
			before := scrape(t, iam.Issuer+server.MetricsPath)

			const issued = 3
			for range issued {
				if code, _ := token(t, iam.Issuer, "inventory-service", servertest.ServiceSecret, url.Values{"grant_type": {"client_credentials"}}); code != http.StatusOK {
					t.Fatalf("client_credentials: status %d", code)
				}
			}
			if code, _ := token(t, iam.Issuer, "gaia-web", servertest.WebSecret, url.Values{"grant_type": {"password"}, "username": {"admin"}, "password": {"wrong password"}}); code != http.StatusBadRequest {
				t.Fatalf("wrong password: status %d, want 400", code)
			}
			code, body := token(t, iam.Issuer, "gaia-web", servertest.WebSecret, url.Values{"grant_type": {"password"}, "username": {"admin"}, "password": {servertest.AdminPassword}})
			if code != http.StatusOK {
				t.Fatalf("login: status %d", code)
			}
			var login struct {
				RefreshToken string `json:"refresh_token"`
			}
			if err := json.Unmarshal(body, &login); err != nil || login.RefreshToken == "" {
				t.Fatalf("login answer %s: %v", body, err)
			}
			refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {login.RefreshToken}}
			if code, _ := token(t, iam.Issuer, "gaia-web", servertest.WebSecret, refresh); code != http.StatusOK {
				t.Fatalf("refresh: status %d", code)
			}
			if code, _ := token(t, iam.Issuer, "gaia-web", servertest.WebSecret, refresh); code != http.StatusBadRequest {
				t.Fatalf("refresh reused: status %d, want 400", code)
			}
			// An admin path with an id in it: the route label is the pattern.
			resp, err := http.Get(iam.Issuer + "/admin/v1/users/0190f3a0-0000-7000-8000-00000000beef")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if err := iam.Server.Audit().Flush(t.Context()); err != nil {
				t.Fatal(err)
			}

			after := scrape(t, iam.Issuer+server.MetricsPath)
			for _, c := range []struct {
				series string
				want   float64
			}{
				{`gaia_tokens_issued_total{grant="client_credentials"}`, issued},
				{`gaia_tokens_issued_total{grant="password"}`, 1},
				{`gaia_tokens_issued_total{grant="refresh_token"}`, 1},
				{`gaia_http_requests_total{code="200",method="POST",route="/oauth2/token"}`, issued + 2},
				{`gaia_http_requests_total{code="400",method="POST",route="/oauth2/token"}`, 2},
				{`gaia_http_request_duration_seconds_count{code="200",method="POST",route="/oauth2/token"}`, issued + 2},
				{`gaia_login_failures_total`, 1},
				{`gaia_refresh_reuse_detected_total`, 1},
				{`gaia_audit_events_written_total{action="auth.client_credentials"}`, issued},
				{`gaia_audit_events_dropped_total`, 0},
			} {
				if got := after[c.series] - before[c.series]; got != c.want {
					t.Errorf("%s moved by %v, want %v", c.series, got, c.want)
				}
			}
			for _, gauge := range []string{"gaia_signing_key_age_seconds", "gaia_db_pool_open", "gaia_db_pool_max_open"} {
				if _, ok := after[gauge]; !ok {
					t.Errorf("metric %s missing", gauge)
				}
			}
			for series := range after {
				if strings.Contains(series, "beef") {
					t.Errorf("series %s carries a raw path", series)
				}
			}

			lines := requestLines(t, logs.String())
			var tokenLines int
			for _, l := range lines {
				if l["route"] == "/oauth2/token" {
					tokenLines++
					for _, k := range []string{"method", "status", "duration_ms", "request_id", "client_id"} {
						if _, ok := l[k]; !ok {
							t.Errorf("token request log line %v lacks %s", l, k)
						}
					}
				}
			}
			if tokenLines != issued+4 {
				t.Errorf("%d token request log lines, want %d", tokenLines, issued+4)
			}
			if !hasLine(lines, map[string]any{"route": "/oauth2/token", "status": float64(200), "client_id": "inventory-service", "method": "POST"}) {
				t.Errorf("no log line for the client_credentials request in %v", lines)
			}
			if !hasLine(lines, map[string]any{"route": "/admin/v1/users/{id}", "status": float64(401)}) {
				t.Errorf("no log line with the admin route pattern in %v", lines)
			}
			all := logs.String()
			for _, secret := range []string{servertest.ServiceSecret, servertest.WebSecret, servertest.AdminPassword, "wrong password", login.RefreshToken, "beef"} {
				if strings.Contains(all, secret) {
					t.Errorf("the log holds %q", secret)
				}
			}
		})
	}
}

// TestRequestID: a well-formed X-Request-ID comes back and is logged; a
// malformed or overlong one is replaced by a generated id.
func TestRequestID(t *testing.T) {
	b := storagetest.Backends(t)[0]
	logs := &servertest.LogBuffer{}
	iam := servertest.Start(t, b.Open(t), servertest.Options{
		Log: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	for _, c := range []struct {
		name, in string
		kept     bool
	}{
		{"well formed", "req-42_a.b:c", true},
		{"none", "", false},
		{"spaces", "two words", false},
		{"quote", `a"b`, false},
		{"overlong", strings.Repeat("a", 129), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, iam.Issuer+"/healthz", nil)
			if c.in != "" {
				req.Header.Set(server.RequestIDHeader, c.in)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			got := resp.Header.Get(server.RequestIDHeader)
			switch {
			case c.kept && got != c.in:
				t.Errorf("X-Request-ID %q came back as %q", c.in, got)
			case !c.kept && (got == c.in || len(got) != 32):
				t.Errorf("X-Request-ID %q came back as %q, want a new 32-hex-digit id", c.in, got)
			}
			if !hasLine(requestLines(t, logs.String()), map[string]any{"route": "/healthz", "request_id": got}) {
				t.Errorf("no request log line with request_id %q", got)
			}
		})
	}
}

// TestMetricsOff: with metrics off there is no /metrics, and with
// MetricsElsewhere it is only on MetricsHandler.
func TestMetricsOff(t *testing.T) {
	b := storagetest.Backends(t)[0]
	off := servertest.Start(t, b.Open(t), servertest.Options{Tune: func(c *server.Config) { c.NoMetrics = true }})
	if code := status(t, off.Issuer+server.MetricsPath); code != http.StatusNotFound {
		t.Errorf("GET /metrics with metrics off: %d, want 404", code)
	}
	if off.Server.MetricsHandler() != nil {
		t.Errorf("MetricsHandler with metrics off is not nil")
	}
	elsewhere := servertest.Start(t, b.Open(t), servertest.Options{Tune: func(c *server.Config) { c.MetricsElsewhere = true }})
	if code := status(t, elsewhere.Issuer+server.MetricsPath); code != http.StatusNotFound {
		t.Errorf("GET /metrics on the main listener with metrics elsewhere: %d, want 404", code)
	}
	if elsewhere.Server.MetricsHandler() == nil {
		t.Errorf("MetricsHandler with metrics elsewhere is nil")
	}
}

func status(t *testing.T, u string) int {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// token posts a token request authenticated with HTTP Basic.
func token(t *testing.T, issuer, id, secret string, form url.Values) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, issuer+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// scrape reads the metrics page into series → value; a series is the name
// and its labels as written.
func scrape(t *testing.T, u string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// requestLines are the JSON log lines of answered requests.
func requestLines(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] == "request" {
			out = append(out, m)
		}
	}
	return out
}

func hasLine(lines []map[string]any, want map[string]any) bool {
	for _, l := range lines {
		ok := true
		for k, v := range want {
			if l[k] != v {
				ok = false
			}
		}
		if ok {
			return true
		}
	}
	return false
}
