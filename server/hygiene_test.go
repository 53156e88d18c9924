package server

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestPanicRecovered: a handler that panics is answered 500 with no body
// and none of the headers it had set, the panic and its stack go to the
// log, and the server keeps serving.
func TestPanicRecovered(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	mux := http.NewServeMux()
	mux.HandleFunc("/oauth2/token", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		panic("SELECT secret FROM users: boom")
	})
	mux.HandleFunc("/healthz", healthz)
	srv := httptest.NewServer(hygiene(mux, log))
	defer srv.Close()

	resp, err := http.Post(srv.URL+"/oauth2/token", "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError || len(body) != 0 || resp.Header.Get("Content-Type") != "" {
		t.Errorf("panicking handler: %d, Content-Type %q, body %q; want 500, none, empty", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("panicking handler: headers %v, want the security headers kept", resp.Header)
	}
	if got := logs.String(); !strings.Contains(got, "level=ERROR") || !strings.Contains(got, "panic serving request") ||
		!strings.Contains(got, "boom") || !strings.Contains(got, "hygiene_test.go") {
		t.Errorf("log %q, want the panic at error level with its stack", got)
	}
	resp, err = http.Get(srv.URL + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("after the panic: %v, %v; want 200", resp, err)
	}
	if resp != nil {
		resp.Body.Close()
	}
}
