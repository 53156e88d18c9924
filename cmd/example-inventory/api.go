package main

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/gaia-platform/iam/claims"
)

// The permissions of the example seed this service enforces.
const (
	permRead  = "inventory.read"
	permWrite = "inventory.write"
)

// Item is an inventory item.
type Item struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Quantity  int64     `json:"quantity"`
	UpdatedBy string    `json:"updated_by"` // sub of the last writer
	UpdatedAt time.Time `json:"updated_at"`
}

// itemInput is what a client sends to create or replace an item.
type itemInput struct {
	Name     string `json:"name"`
	Quantity int64  `json:"quantity"`
}

const (
	maxBodyBytes = 64 << 10
	maxNameLen   = 200
	maxQuantity  = 1_000_000_000
)

func (in itemInput) validate() string {
	name := strings.TrimSpace(in.Name)
	switch {
	case name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxNameLen:
		return "name must be 1 to 200 characters"
	case in.Quantity < 0 || in.Quantity > maxQuantity:
		return "quantity must be 0 to 1000000000"
	}
	return ""
}

// store keeps items in memory. Safe for concurrent use.
type store struct {
	mu    sync.Mutex
	next  int              // guarded by mu
	items map[string]*Item // guarded by mu; values are replaced, never modified
}

func newStore() *store { return &store{items: make(map[string]*Item)} }

func (s *store) list() []*Item {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Item, 0, len(s.items))
	for _, it := range s.items {
		out = append(out, it)
	}
	slices.SortFunc(out, func(a, b *Item) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func (s *store) get(id string) (*Item, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.items[id]
	return it, ok
}

func (s *store) create(in itemInput, by string, now time.Time) *Item {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	it := &Item{ID: strconv.Itoa(s.next), Name: strings.TrimSpace(in.Name), Quantity: in.Quantity, UpdatedBy: by, UpdatedAt: now}
	s.items[it.ID] = it
	return it
}

func (s *store) replace(id string, in itemInput, by string, now time.Time) (*Item, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.items[id]; !ok {
		return nil, false
	}
	it := &Item{ID: id, Name: strings.TrimSpace(in.Name), Quantity: in.Quantity, UpdatedBy: by, UpdatedAt: now}
	s.items[id] = it
	return it, true
}

func (s *store) delete(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.items[id]
	delete(s.items, id)
	return ok
}

// api serves the inventory routes.
type api struct {
	store *store
	log   *slog.Logger
	now   func() time.Time
}

// routes returns every HTTP path of the service. Tokens are verified by v;
// opts configure the claims middleware.
func routes(v *claims.Verifier, s *store, log *slog.Logger, opts ...claims.MiddlewareOption) http.Handler {
	a := &api{store: s, log: log, now: time.Now}
	read := claims.RequirePermission(permRead)
	write := claims.RequirePermission(permWrite)

	r := chi.NewRouter()
	r.Use(accessLog(log))
	r.NotFound(func(w http.ResponseWriter, r *http.Request) { writeError(w, http.StatusNotFound, "not_found") })
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed")
	})
	r.Get("/healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	r.Group(func(r chi.Router) {
		r.Use(claims.Middleware(v, opts...))
		r.With(read).Get("/items", a.list)
		r.With(read).Get("/items/{id}", a.get)
		r.With(write).Post("/items", a.create)
		r.With(write).Put("/items/{id}", a.replace)
		r.With(write).Delete("/items/{id}", a.delete)
	})
	return r
}

func (a *api) list(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"items": a.store.list()})
}

func (a *api) get(w http.ResponseWriter, r *http.Request) {
	it, ok := a.store.get(chi.URLParam(r, "id"))
	if !ok {
		writeError(w, http.StatusNotFound, "not_found")
		return
	}
	writeJSON(w, http.StatusOK, it)
}

func (a *api) create(w http.ResponseWriter, r *http.Request) {
	in, ok := readInput(w, r)
	if !ok {
		return
	}
	c, _ := claims.FromContext(r.Context())
	it := a.store.create(in, c.Subject, a.now())
	a.log.InfoContext(r.Context(), "item created", "item", it.ID, "sub", c.Subject, "client_id", c.ClientID, "jti", c.ID)
	w.Header().Set("Location", "/items/"+it.ID)
	writeJSON(w, http.StatusCreated, it)
}

func (a *api) replace(w http.ResponseWriter, r *http.Request) {
	in, ok := readInput(w, r)
	if !ok {
		return
	}
	c, _ := claims.FromContext(r.Context())
	it, found := a.store.replace(chi.URLParam(r, "id"), in, c.Subject, a.now())
	if !found {
		writeError(w, http.StatusNotFound, "not_found")
		return
	}
	a.log.InfoContext(r.Context(), "item replaced", "item", it.ID, "sub", c.Subject, "client_id", c.ClientID, "jti", c.ID)
	writeJSON(w, http.StatusOK, it)
}

func (a *api) delete(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	if !a.store.delete(id) {
		writeError(w, http.StatusNotFound, "not_found")
		return
	}
	c, _ := claims.FromContext(r.Context())
	a.log.InfoContext(r.Context(), "item deleted", "item", id, "sub", c.Subject, "client_id", c.ClientID, "jti", c.ID)
	w.WriteHeader(http.StatusNoContent)
}

// readInput decodes and validates a JSON item, or answers the error.
func readInput(w http.ResponseWriter, r *http.Request) (itemInput, bool) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "content type must be application/json")
		return itemInput{}, false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	var in itemInput
	if err := dec.Decode(&in); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "body too large")
		} else {
			writeError(w, http.StatusBadRequest, "body must be a JSON item")
		}
		return itemInput{}, false
	}
	if dec.Decode(&struct{}{}) != io.EOF {
		writeError(w, http.StatusBadRequest, "body must be one JSON item")
		return itemInput{}, false
	}
	if msg := in.validate(); msg != "" {
		writeError(w, http.StatusBadRequest, msg)
		return itemInput{}, false
	}
	return in, true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// accessLog logs each request's method, path, status and duration.
func accessLog(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
			next.ServeHTTP(rec, r)
			log.LogAttrs(r.Context(), slog.LevelInfo, "request",
				slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.Int("status", rec.status), slog.Duration("duration", time.Since(start)))
		})
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
