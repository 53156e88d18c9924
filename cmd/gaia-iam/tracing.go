package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/gaia-platform/iam/server"
)

// defaultOTLPEndpoint is where the OpenTelemetry specification sends
// OTLP/HTTP traces when no endpoint is set.
const defaultOTLPEndpoint = "http://localhost:4318/v1/traces"

// tracingFromEnv reads the standard OpenTelemetry variables. Tracing is off
// (ok false) unless OTEL_TRACES_EXPORTER is otlp, or is unset while an OTLP
// endpoint is set; OTEL_SDK_DISABLED=true turns it off whatever else says.
// Only OTLP over HTTP with protobuf is offered. Errors name the variable,
// never its value: headers carry collector credentials.
func tracingFromEnv(getenv func(string) string, version string) (t server.Tracing, ok bool, err error) {
	if disabled, _ := strconv.ParseBool(getenv("OTEL_SDK_DISABLED")); disabled {
		return t, false, nil
	}
	endpoint := getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	base := getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	switch exp := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); exp {
	case "none":
		return t, false, nil
	case "":
		if endpoint == "" && base == "" {
			return t, false, nil
		}
	case "otlp":
	default:
		return t, false, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: gaia-iam exports traces with otlp only (or none)", exp)
	}
	protocol := getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if protocol == "" {
		protocol = getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	if protocol != "" && protocol != "http/protobuf" {
		return t, false, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL=%q: gaia-iam exports traces over http/protobuf only", protocol)
	}
	// The signal endpoint is used as it is; the base gets the signal's
	// path (OTLP exporter specification).
	switch {
	case endpoint != "":
		t.Endpoint, err = otlpURL("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", endpoint)
	case base != "":
		t.Endpoint, err = otlpURL("OTEL_EXPORTER_OTLP_ENDPOINT", strings.TrimRight(base, "/")+"/v1/traces")
	default:
		t.Endpoint = defaultOTLPEndpoint
	}
	if err != nil {
		return t, false, err
	}
	t.Headers = map[string]string{}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"} {
		if err := parseKeyValues(name, getenv(name), t.Headers); err != nil {
			return t, false, err
		}
	}
	t.Attributes = map[string]string{}
	if err := parseKeyValues("OTEL_RESOURCE_ATTRIBUTES", getenv("OTEL_RESOURCE_ATTRIBUTES"), t.Attributes); err != nil {
		return t, false, err
	}
	t.ServiceName = getenv("OTEL_SERVICE_NAME")
	if t.ServiceName == "" {
		t.ServiceName = t.Attributes["service.name"]
	}
	if t.ServiceName == "" {
		t.ServiceName = "gaia-iam"
	}
	t.ServiceVersion = version
	t.Sampler, err = samplerFromEnv(getenv("OTEL_TRACES_SAMPLER"), getenv("OTEL_TRACES_SAMPLER_ARG"))
	return t, err == nil, err
}

// otlpURL checks that an endpoint variable holds an http(s) URL.
func otlpURL(name, raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%s is not an http:// or https:// URL", name)
	}
	return raw, nil
}

// parseKeyValues adds the W3C-baggage-like list "k1=v1,k2=v2" (values
// percent-encoded) of the variable name to dst.
func parseKeyValues(name, list string, dst map[string]string) error {
	for item := range strings.SplitSeq(list, ",") {
		if strings.TrimSpace(item) == "" {
			continue
		}
		k, v, ok := strings.Cut(item, "=")
		k = strings.TrimSpace(k)
		dv, err := url.PathUnescape(strings.TrimSpace(v))
		if !ok || k == "" || err != nil {
			return fmt.Errorf("%s: an entry is not key=value (percent-encoded)", name)
		}
		dst[k] = dv
	}
	return nil
}

// samplerFromEnv is the sampler OTEL_TRACES_SAMPLER names; its default is
// parentbased_always_on.
func samplerFromEnv(name, arg string) (sdktrace.Sampler, error) {
	ratio := func() (float64, error) {
		if arg == "" {
			return 1, nil
		}
		f, err := strconv.ParseFloat(arg, 64)
		if err != nil || f < 0 || f > 1 {
			return 0, fmt.Errorf("OTEL_TRACES_SAMPLER_ARG=%q: want a ratio from 0 to 1", arg)
		}
		return f, nil
	}
	switch name {
	case "", "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "traceidratio", "parentbased_traceidratio":
		f, err := ratio()
		if err != nil {
			return nil, err
		}
		if name == "traceidratio" {
			return sdktrace.TraceIDRatioBased(f), nil
		}
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(f)), nil
	}
	return nil, fmt.Errorf("OTEL_TRACES_SAMPLER=%q: want always_on, always_off, traceidratio or their parentbased_ forms", name)
}

// startTracing starts the OpenTelemetry SDK if the OTEL_* variables ask for
// it. Off, it returns a nil provider (no SDK, no span, no cost) and a
// shutdown that does nothing; on, shutdown sends the spans still queued.
func startTracing(ctx context.Context, getenv func(string) string, log *slog.Logger) (trace.TracerProvider, func(context.Context) error, error) {
	t, ok, err := tracingFromEnv(getenv, versionString())
	if err != nil || !ok {
		return nil, func(context.Context) error { return nil }, err
	}
	tp, err := server.NewTracerProvider(ctx, t)
	if err != nil {
		return nil, nil, err
	}
	// The SDK reports export failures (a collector down) through its one
	// global handler: into our log, where an operator looks.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("tracing: exporting spans failed", "error", err)
	}))
	log.InfoContext(ctx, "tracing on: exporting spans over OTLP/HTTP", "endpoint", redactURL(t.Endpoint), "service_name", t.ServiceName)
	shutdown := func(ctx context.Context) error {
		if err := tp.Shutdown(ctx); err != nil {
			return errors.Join(errors.New("tracing: sending the last spans"), err)
		}
		return nil
	}
	return tp, shutdown, nil
}
