package main

import (
	"fmt"
	"strconv"
)

// Ops are the operator's views into a running server: metrics and the
// request log.
type Ops struct {
	// Metrics serves Prometheus metrics; on MetricsListen if set, else at
	// /metrics on the main listener.
	Metrics       bool
	MetricsListen string
	// RequestLog writes one log line per request, at info.
	RequestLog bool
}

var opsSettings = []setting{
	{"metrics", "GAIA_METRICS", "true", "serve Prometheus metrics at /metrics"},
	{"metrics-listen", "GAIA_METRICS_LISTEN", "", "serve /metrics on this address instead of the main listener (e.g. 127.0.0.1:9090)"},
	{"request-log", "GAIA_REQUEST_LOG", "true", "log one line per HTTP request (at info)"},
}

// readOps reads the opsSettings from values into o.
func readOps(values map[string]*string, o *Ops) []error {
	var errs []error
	boolean := func(name string, dst *bool) {
		b, err := strconv.ParseBool(*values[name])
		if err != nil {
			errs = append(errs, fmt.Errorf("--%s: %q is neither true nor false", name, *values[name]))
		}
		*dst = b
	}
	boolean("metrics", &o.Metrics)
	boolean("request-log", &o.RequestLog)
	o.MetricsListen = *values["metrics-listen"]
	return errs
}
