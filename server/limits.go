package server

import (
	"net/http"
	"time"
)

// HTTPLimits bound what one connection may cost: how long a client may
// take to send its headers and body, how long an answer may take, how
// long an idle keep-alive connection is kept, and how large the headers
// may be (Go answers 431 past it).
type HTTPLimits struct {
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
}

// DefaultHTTPLimits are the limits gaia-iam serves with unless told
// otherwise. A request body is at most 64 KiB, so 15 s to read one is
// generous; 30 s to answer covers a password hash that waited for a slot
// and a slow database, both bounded well below it.
func DefaultHTTPLimits() HTTPLimits {
	return HTTPLimits{
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
	}
}

// Apply sets l on srv.
func (l HTTPLimits) Apply(srv *http.Server) {
	srv.ReadHeaderTimeout = l.ReadHeaderTimeout
	srv.ReadTimeout = l.ReadTimeout
	srv.WriteTimeout = l.WriteTimeout
	srv.IdleTimeout = l.IdleTimeout
	srv.MaxHeaderBytes = l.MaxHeaderBytes
}
