package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
)

// Tracing is an OpenTelemetry trace pipeline: spans exported over OTLP/HTTP
// (protobuf). The gaia-iam command builds it from the standard OTEL_*
// variables; with none set it builds nothing, and no span is made.
type Tracing struct {
	// Endpoint is the full URL spans are POSTed to, e.g.
	// http://collector:4318/v1/traces.
	Endpoint string
	// Headers go with every export (OTEL_EXPORTER_OTLP_HEADERS); they may
	// hold a collector's API key, so they are never logged.
	Headers map[string]string
	// ServiceName and ServiceVersion name this process in the resource.
	ServiceName, ServiceVersion string
	// Attributes are more resource attributes (OTEL_RESOURCE_ATTRIBUTES).
	Attributes map[string]string
	// Sampler decides which new traces are recorded; nil is the
	// specification's default, parent-based always-on.
	Sampler sdktrace.Sampler
}

// NewTracerProvider starts the SDK for t: a batching OTLP/HTTP exporter.
// Shut the provider down after the HTTP server stops, so that the last
// spans are sent.
func NewTracerProvider(ctx context.Context, t Tracing) (*sdktrace.TracerProvider, error) {
	if t.Endpoint == "" {
		return nil, errors.New("tracing: no OTLP endpoint")
	}
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(t.Endpoint)}
	if len(t.Headers) > 0 {
		opts = append(opts, otlptracehttp.WithHeaders(t.Headers))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	attrs := []attribute.KeyValue{semconv.ServiceName(t.ServiceName)}
	if t.ServiceVersion != "" {
		attrs = append(attrs, semconv.ServiceVersion(t.ServiceVersion))
	}
	for k, v := range t.Attributes {
		if k != string(semconv.ServiceNameKey) { // OTEL_SERVICE_NAME wins, as the specification says
			attrs = append(attrs, attribute.String(k, v))
		}
	}
	sampler := t.Sampler
	if sampler == nil {
		sampler = sdktrace.ParentBased(sdktrace.AlwaysSample())
	}
	return sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(resource.NewSchemaless(attrs...)),
		sdktrace.WithSampler(sampler),
	), nil
}

// tracerName is the instrumentation scope of Gaia's spans.
const tracerName = "github.com/gaia-platform/iam/server"

// propagator reads a caller's W3C trace context (traceparent, tracestate).
var propagator = propagation.TraceContext{}

// startSpan starts the server span of r, a child of the caller's trace if
// r carries a traceparent. Its name is only the method until the route is
// known (endSpan): a raw path may carry ids and is unbounded.
func startSpan(ctx context.Context, tracer trace.Tracer, r *http.Request) (context.Context, trace.Span) {
	ctx = propagator.Extract(ctx, propagation.HeaderCarrier(r.Header))
	method := spanMethod(r.Method)
	return tracer.Start(ctx, method, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(semconv.HTTPRequestMethodKey.String(method)))
}

// endSpan names the span after its route and records the outcome. Only
// these attributes are set: no path, query, header or body, so no token,
// code or secret can reach a trace.
func endSpan(span trace.Span, method, route string, code int, requestID, clientID string) {
	method = spanMethod(method)
	if route != "unmatched" {
		span.SetName(method + " " + route)
		span.SetAttributes(semconv.HTTPRoute(route))
	}
	span.SetAttributes(semconv.HTTPResponseStatusCode(code), attribute.String("gaia.request_id", requestID))
	if clientID != "" {
		span.SetAttributes(attribute.String("oauth.client_id", clientID))
	}
	// Semantic conventions: a server span is an error only for a 5xx; a
	// 4xx is the client's mistake.
	if code >= 500 {
		span.SetStatus(codes.Error, http.StatusText(code))
	}
	span.End()
}

// spanMethod is a known HTTP method or "_OTHER": the method is the
// caller's, and a span name must stay of low cardinality.
func spanMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "_OTHER"
}
