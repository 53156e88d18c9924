package main

import (
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is an OTLP/HTTP trace receiver, as a collector runs one: it
// decodes each protobuf export request it is sent.
type otlpReceiver struct {
	*httptest.Server
	mu       sync.Mutex
	requests []*coltracepb.ExportTraceServiceRequest
	headers  []http.Header
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	t.Helper()
	rcv := &otlpReceiver{}
	rcv.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			t.Errorf("OTLP export: %s %s %s, want POST /v1/traces application/x-protobuf", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
			http.Error(w, "unexpected", http.StatusBadRequest)
			return
		}
		body, err := io.ReadAll(r.Body)
		req := &coltracepb.ExportTraceServiceRequest{}
		if err == nil {
			err = proto.Unmarshal(body, req)
		}
		if err != nil {
			t.Errorf("decoding an OTLP export request: %v", err)
			http.Error(w, "bad protobuf", http.StatusBadRequest)
			return
		}
		rcv.mu.Lock()
		rcv.requests = append(rcv.requests, req)
		rcv.headers = append(rcv.headers, r.Header.Clone())
		rcv.mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(rcv.Close)
	return rcv
}

// exported is every span received, with its resource's attributes.
type exportedSpan struct {
	span     *tracepb.Span
	resource []*commonpb.KeyValue
}

func (rcv *otlpReceiver) spans() []exportedSpan {
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	var out []exportedSpan
	for _, req := range rcv.requests {
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					out = append(out, exportedSpan{s, rs.GetResource().GetAttributes()})
				}
			}
		}
	}
	return out
}

func attr(kvs []*commonpb.KeyValue, key string) string {
	for _, kv := range kvs {
		if kv.Key == key {
			if s, ok := kv.Value.Value.(*commonpb.AnyValue_StringValue); ok {
				return s.StringValue
			}
			if i, ok := kv.Value.Value.(*commonpb.AnyValue_IntValue); ok {
				return strconv.FormatInt(i.IntValue, 10)
			}
		}
	}
	return ""
}

// traceparentTransport sends a W3C traceparent with each request, as a
// traced caller does.
type traceparentTransport struct{ traceparent string }

func (tt traceparentTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("traceparent", tt.traceparent)
	return http.DefaultTransport.RoundTrip(r)
}

const (
	callerTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerSpanID  = "00f067aa0ba902b7"
	svcSecret     = "svc-secret-svc-secret-svc-secret-0" // testEnv's INVENTORY_SERVICE_SECRET
)

// tokenWithTraceparent gets a client-credentials token from the server at
// addr with golang.org/x/oauth2, as a traced caller.
func tokenWithTraceparent(t *testing.T, addr string) *oauth2.Token {
	t.Helper()
	waitFor(t, "http://"+addr+"/readyz", http.StatusOK)
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{
		Transport: traceparentTransport{"00-" + callerTraceID + "-" + callerSpanID + "-01"},
	})
	cc := clientcredentials.Config{ClientID: "inventory-service", ClientSecret: svcSecret, TokenURL: "http://" + addr + "/oauth2/token"}
	tok, err := cc.Token(ctx)
	if err != nil {
		t.Fatalf("client credentials token: %v", err)
	}
	return tok
}

// TestTracing: with OTLP configured through the standard variables, a token
// request is exported to a real OTLP/HTTP receiver as a server span named
// after its route, a child of the caller's traceparent, its trace id in the
// request log line, and no secret or token in any attribute.
func TestTracing(t *testing.T) {
	rcv := newOTLPReceiver(t)
	srv := startServe(t, "sqlite:"+filepath.Join(t.TempDir(), "gaia.db"), testEnv(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": rcv.URL,
		"OTEL_EXPORTER_OTLP_HEADERS":  "authorization=Bearer%20collector-key",
		"OTEL_SERVICE_NAME":           "gaia-iam-test",
		"OTEL_RESOURCE_ATTRIBUTES":    "deployment.environment.name=test",
	}))
	tok := tokenWithTraceparent(t, srv.addr)
	if err := srv.stop(); err != nil { // shutdown sends the spans still queued
		t.Fatalf("serve stop: %v", err)
	}

	spans := rcv.spans()
	var token *exportedSpan
	for i, s := range spans {
		if s.span.Name == "POST /oauth2/token" {
			token = &spans[i]
		}
		secrets := []string{svcSecret, tok.AccessToken, "collector-key"}
		for _, kvs := range [][]*commonpb.KeyValue{s.span.Attributes, s.resource} {
			for _, kv := range kvs {
				for _, secret := range secrets {
					if strings.Contains(kv.String(), secret) {
						t.Errorf("span %q attribute %s carries a secret or token", s.span.Name, kv.Key)
					}
				}
			}
		}
		if strings.Contains(s.span.Name, "?") {
			t.Errorf("span name %q has a query string", s.span.Name)
		}
	}
	if token == nil {
		t.Fatalf("no span named POST /oauth2/token among %d exported", len(spans))
	}
	if got := hex.EncodeToString(token.span.TraceId); got != callerTraceID {
		t.Errorf("token span trace id = %s, want the caller's %s", got, callerTraceID)
	}
	if got := hex.EncodeToString(token.span.ParentSpanId); got != callerSpanID {
		t.Errorf("token span parent = %s, want the caller's span %s", got, callerSpanID)
	}
	if token.span.Kind != tracepb.Span_SPAN_KIND_SERVER {
		t.Errorf("token span kind = %v, want server", token.span.Kind)
	}
	for key, want := range map[string]string{
		"http.route": "/oauth2/token", "http.request.method": "POST",
		"http.response.status_code": "200", "oauth.client_id": "inventory-service",
	} {
		if got := attr(token.span.Attributes, key); got != want {
			t.Errorf("token span %s = %q, want %q", key, got, want)
		}
	}
	if got := attr(token.resource, "service.name"); got != "gaia-iam-test" {
		t.Errorf("resource service.name = %q, want OTEL_SERVICE_NAME's gaia-iam-test", got)
	}
	if got := attr(token.resource, "deployment.environment.name"); got != "test" {
		t.Errorf("resource deployment.environment.name = %q, want test from OTEL_RESOURCE_ATTRIBUTES", got)
	}
	rcv.mu.Lock()
	if got := rcv.headers[0].Get("Authorization"); got != "Bearer collector-key" {
		t.Errorf("export Authorization header = %q, want OTEL_EXPORTER_OTLP_HEADERS' value", got)
	}
	rcv.mu.Unlock()
	var logged bool
	for line := range strings.SplitSeq(srv.stderr.String(), "\n") {
		if strings.Contains(line, "route=/oauth2/token") && strings.Contains(line, "trace_id="+callerTraceID) {
			logged = true
		}
	}
	if !logged {
		t.Errorf("no request log line for /oauth2/token with trace_id=%s:\n%s", callerTraceID, srv.stderr.String())
	}
	if strings.Contains(srv.stderr.String(), "collector-key") {
		t.Errorf("the collector's header value reached the log")
	}
}

// TestTracingOff: with no OTEL_* variable given to serve, no SDK starts.
// The process environment points an SDK at a live receiver, so that one
// started by accident (reading the environment itself) would be seen.
func TestTracingOff(t *testing.T) {
	rcv := newOTLPReceiver(t)
	t.Setenv("OTEL_TRACES_EXPORTER", "otlp")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.URL)
	srv := startServe(t, "sqlite:"+filepath.Join(t.TempDir(), "gaia.db"), testEnv(nil))
	tokenWithTraceparent(t, srv.addr)
	if err := srv.stop(); err != nil {
		t.Fatalf("serve stop: %v", err)
	}
	if n := len(rcv.spans()); n != 0 {
		t.Errorf("tracing off: %d spans exported", n)
	}
	if strings.Contains(srv.stderr.String(), "trace_id=") || strings.Contains(srv.stderr.String(), "tracing on") {
		t.Errorf("tracing off, yet the log mentions tracing:\n%s", srv.stderr.String())
	}
}

func TestTracingFromEnv(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	for _, tc := range []struct {
		name         string
		getenv       func(string) string
		on           bool
		endpoint     string
		errSays      string
		errMustNotBe string
	}{
		{name: "nothing set", getenv: env()},
		{name: "exporter none", getenv: env("OTEL_TRACES_EXPORTER", "none", "OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")},
		{name: "sdk disabled", getenv: env("OTEL_SDK_DISABLED", "true", "OTEL_TRACES_EXPORTER", "otlp")},
		{name: "base endpoint", getenv: env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/"), on: true, endpoint: "http://c:4318/v1/traces"},
		{name: "signal endpoint wins", getenv: env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://t:1/x"), on: true, endpoint: "https://t:1/x"},
		{name: "otlp alone", getenv: env("OTEL_TRACES_EXPORTER", "otlp"), on: true, endpoint: defaultOTLPEndpoint},
		{name: "grpc refused", getenv: env("OTEL_TRACES_EXPORTER", "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"), errSays: "http/protobuf"},
		{name: "zipkin refused", getenv: env("OTEL_TRACES_EXPORTER", "zipkin"), errSays: "OTEL_TRACES_EXPORTER"},
		{name: "bad sampler", getenv: env("OTEL_TRACES_EXPORTER", "otlp", "OTEL_TRACES_SAMPLER", "sometimes"), errSays: "OTEL_TRACES_SAMPLER"},
		{name: "bad ratio", getenv: env("OTEL_TRACES_EXPORTER", "otlp", "OTEL_TRACES_SAMPLER", "traceidratio", "OTEL_TRACES_SAMPLER_ARG", "2"), errSays: "OTEL_TRACES_SAMPLER_ARG"},
		{name: "bad header keeps its value out", getenv: env("OTEL_TRACES_EXPORTER", "otlp", "OTEL_EXPORTER_OTLP_HEADERS", "api-key%zzsecretvalue"), errSays: "OTEL_EXPORTER_OTLP_HEADERS", errMustNotBe: "secretvalue"},
		{name: "bad endpoint keeps its value out", getenv: env("OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://user:pw@c"), errSays: "OTEL_EXPORTER_OTLP_ENDPOINT", errMustNotBe: "pw"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, on, err := tracingFromEnv(tc.getenv, "v1")
			if tc.errSays != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errSays) {
					t.Fatalf("tracingFromEnv = %v, want an error naming %s", err, tc.errSays)
				}
				if tc.errMustNotBe != "" && strings.Contains(err.Error(), tc.errMustNotBe) {
					t.Errorf("error %q shows the variable's value", err)
				}
				return
			}
			if err != nil || on != tc.on || tr.Endpoint != tc.endpoint {
				t.Errorf("tracingFromEnv = %q, %v, %v; want %q, %v", tr.Endpoint, on, err, tc.endpoint, tc.on)
			}
		})
	}
}
