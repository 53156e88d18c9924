package statuslist

import (
	"bytes"
	"compress/zlib"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gaia-platform/iam/oauth/keys"
	"github.com/gaia-platform/iam/storage"
)

// states is a store holding list 0 only; Assign is not used here.
type states []storage.StatusState

func (s states) AssignStatusEntry(context.Context, storage.StatusOwner, time.Time, time.Time, int) (storage.StatusEntry, error) {
	return storage.StatusEntry{}, nil
}

func (s states) StatusListStates(_ context.Context, list int) ([]storage.StatusState, error) {
	if list != 0 {
		return []storage.StatusState{}, nil
	}
	return s, nil
}

type oneKey struct{ k keys.Key }

func (o oneKey) Current() keys.Key { return o.k }

func TestRevokedRule(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	l := &Lists{cfg: Config{MaxSessionAge: 24 * time.Hour}}
	live := func() storage.StatusState {
		return storage.StatusState{
			StatusEntry: storage.StatusEntry{StatusOwner: storage.StatusOwner{FamilyID: "f"}, AllocatedAt: at.Add(-time.Hour), ExpiresAt: at.Add(10 * time.Minute)},
			Family:      &storage.TokenFamily{StartedAt: at.Add(-time.Hour)}, UserActive: true, ClientActive: true,
		}
	}
	for _, tc := range []struct {
		name string
		edit func(*storage.StatusState)
		want bool
	}{
		{"live login", func(*storage.StatusState) {}, false},
		{"login revoked", func(s *storage.StatusState) { s.Family.RevokedAt = at.Add(-time.Second) }, true},
		{"session too old", func(s *storage.StatusState) { s.Family.StartedAt = at.Add(-25 * time.Hour) }, true},
		{"user disabled or gone", func(s *storage.StatusState) { s.UserActive = false }, true},
		{"client disabled", func(s *storage.StatusState) { s.ClientActive = false }, true},
		{"family not written yet", func(s *storage.StatusState) { s.Family, s.AllocatedAt = nil, at.Add(-time.Second) }, false},
		{"family never written or purged", func(s *storage.StatusState) { s.Family = nil }, true},
		{"every token expired", func(s *storage.StatusState) { s.Family.RevokedAt, s.ExpiresAt = at, at.Add(-time.Hour) }, false},
		{"service live", func(s *storage.StatusState) { s.Family, s.FamilyID, s.ClientID = nil, "", "svc" }, false},
		{"service disabled", func(s *storage.StatusState) { s.Family, s.FamilyID, s.ClientID, s.ClientActive = nil, "", "svc", false }, true},
	} {
		st := live()
		tc.edit(&st)
		if got := l.revoked(st, at); got != tc.want {
			t.Errorf("%s: revoked = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestServe(t *testing.T) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	st := states{}
	for i, revoked := range []bool{false, true, false, false, false, false, false, false, false, true} {
		s := storage.StatusState{StatusEntry: storage.StatusEntry{List: 0, Index: i, StatusOwner: storage.StatusOwner{ClientID: "c"}, ExpiresAt: now.Add(time.Hour)}, ClientActive: !revoked}
		st = append(st, s)
	}
	l, err := New(Config{Issuer: "https://iam.example/", MaxSessionAge: time.Hour}, st, oneKey{keys.Key{ID: "k1", Private: priv}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	a, err := l.Build(t.Context(), 0, now)
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.Build(t.Context(), 0, now.Truncate(DefaultCacheFor))
	if err != nil || !bytes.Equal(a, b) {
		t.Errorf("two builds in one bucket differ (%v)", err)
	}
	jws, err := jose.ParseSignedCompact(string(a), []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	body, err := jws.Verify(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	var p payload
	_ = json.Unmarshal(body, &p)
	z, _ := base64.RawURLEncoding.DecodeString(p.StatusList.List)
	zr, err := zlib.NewReader(bytes.NewReader(z))
	if err != nil {
		t.Fatal(err)
	}
	bits, _ := io.ReadAll(zr)
	// draft §4.1: entries 1 and 9 → byte 0 bit 1, byte 1 bit 1.
	if !bytes.Equal(bits, []byte{0b10, 0b10}) || p.Subject != "https://iam.example/statuslists/0" || p.TTL != 5 {
		t.Errorf("list = %08b, sub %q, ttl %d", bits, p.Subject, p.TTL)
	}

	for _, tc := range []struct {
		method, path, accept string
		want                 int
	}{
		{"GET", "/statuslists/0", "", 200},
		{"HEAD", "/statuslists/0", "", 200},
		{"GET", "/statuslists/0", "application/json, application/statuslist+jwt;q=0.5", 200},
		{"GET", "/statuslists/0", "text/html", 406},
		{"GET", "/statuslists/1", "", 404},
		{"GET", "/statuslists/01", "", 404},
		{"GET", "/statuslists/+1", "", 404},
		{"GET", "/statuslists/99999999999999999999", "", 404},
		{"POST", "/statuslists/0", "", 405},
	} {
		r := httptest.NewRequest(tc.method, tc.path, nil)
		if tc.accept != "" {
			r.Header.Set("Accept", tc.accept)
		}
		w := httptest.NewRecorder()
		l.ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Errorf("%s %s (Accept %q) = %d, want %d", tc.method, tc.path, tc.accept, w.Code, tc.want)
		}
		if w.Code == http.StatusOK && (w.Header().Get("Content-Type") != MediaType || (tc.method == "GET" && !strings.HasPrefix(w.Body.String(), "ey"))) {
			t.Errorf("%s %s: content type %q", tc.method, tc.path, w.Header().Get("Content-Type"))
		}
	}
}

// readOnly is a store that refuses writes.
type readOnly struct{ states }

func (readOnly) AssignStatusEntry(context.Context, storage.StatusOwner, time.Time, time.Time, int) (storage.StatusEntry, error) {
	return storage.StatusEntry{}, errors.New("database is locked")
}

func TestAssignWhileWritesFail(t *testing.T) {
	l, err := New(Config{Issuer: "https://iam.example", MaxSessionAge: time.Hour}, readOnly{}, oneKey{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(15 * time.Minute)
	if st, err := l.Assign(t.Context(), storage.StatusOwner{ClientID: "svc"}, exp); st != nil || err != nil {
		t.Errorf("service token while writes fail: %v, %v; want no claim, no error", st, err)
	}
	if _, err := l.Assign(t.Context(), storage.StatusOwner{FamilyID: "0190a8c2-7f5e-7c3b-9d4e-2f1a6b8c9d0f"}, exp); err == nil {
		t.Error("user token while writes fail: no error, want one (the login writes anyway)")
	}
}
