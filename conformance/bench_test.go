package conformance

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/gaia-platform/iam/password"
	"github.com/gaia-platform/iam/storage/storagetest"
)

// The benchmarks of this file only run with -bench:
//
//	go test -run '^$' -bench . -benchtime 3s ./conformance
//
// BenchmarkTokens measures tokens/s from a running gaia-iam over loopback,
// each next to the raw rate that bounds it, measured in the same run:
// RSA-2048 signs/s for RS256 issuance, argon2id hashes/s for password logins.

// benchParallelism is RunParallel's goroutines per core in BenchmarkTokens:
// enough requests in flight to keep the server's cores busy while one waits
// on the network or the database, without the client crowding them.
const benchParallelism = 4

// BenchmarkRawRSASign reports RS256 signs/s with a 2048-bit key on every
// core: the bound of token issuance on this machine.
func BenchmarkRawRSASign(b *testing.B) {
	sign := rsaSigner(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			sign()
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "signs/s")
}

// BenchmarkRawArgon2id reports argon2id hashes/s at the production
// parameters on every core: the bound of password logins on this machine.
func BenchmarkRawArgon2id(b *testing.B) {
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			argon2Hash()
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "hashes/s")
}

// BenchmarkTokens reports tokens/s for each grant on each backend, the raw
// rate that bounds it and the percentage of that rate reached. Requests ask
// for no openid scope, so every answer carries one signature (the access
// token); with openid an ID token doubles it.
func BenchmarkTokens(b *testing.B) {
	signs := bound{rsaSigner(b), "signs/s", "pct_of_sign"}
	hashes := bound{argon2Hash, "hashes/s", "pct_of_argon2"}
	dbs := backends(b)
	for _, name := range []string{"sqlite", "postgres"} {
		db, ok := dbs[name]
		if !ok {
			continue
		}
		b.Run(name, func(b *testing.B) {
			// Quiet logs and the default key refresh interval, not the tests' fast one.
			srv := start(b, db(b), append([]string{"GAIA_LOG_LEVEL=warn", "GAIA_KEY_REFRESH_INTERVAL=15s"}, observeEnv(b)...)...)
			c := newTokenClient(b, srv.issuer)
			clientCredentials := func(srv *iam, c *tokenClient) func(b *testing.B) {
				return func(b *testing.B) {
					form := url.Values{"grant_type": {"client_credentials"}}.Encode()
					srv.measure(b, signs, func(pb *testing.PB) {
						for pb.Next() {
							if _, err := c.post(b, "inventory-service", serviceSecret, form); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
			}
			password := func(srv *iam, c *tokenClient) func(b *testing.B) {
				return func(b *testing.B) {
					srv.measure(b, hashes, func(pb *testing.PB) {
						for pb.Next() {
							if _, err := c.login(b); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
			}
			b.Run("client_credentials", clientCredentials(srv, c))
			b.Run("password", password(srv, c))
			// The same grants with login protection off: what counting
			// attempts costs, next to the bound measured in the same run.
			untracked := start(b, db(b), "GAIA_LOG_LEVEL=warn", "GAIA_KEY_REFRESH_INTERVAL=15s", "GAIA_LOGIN_PROTECTION=off")
			uc := newTokenClient(b, untracked.issuer)
			b.Run("client_credentials_untracked", clientCredentials(untracked, uc))
			b.Run("password_untracked", password(untracked, uc))
			b.Run("refresh", func(b *testing.B) {
				// A login per goroutine, each refreshing its own chain.
				chains := make(chan string, benchParallelism*runtime.GOMAXPROCS(0))
				for range cap(chains) {
					rt, err := c.login(b)
					if err != nil {
						b.Fatal(err)
					}
					chains <- rt
				}
				srv.measure(b, signs, func(pb *testing.PB) {
					rt := <-chains
					for pb.Next() {
						form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}.Encode()
						body, err := c.post(b, "gaia-web", webSecret, form)
						if err == nil {
							rt, err = refreshToken(body)
						}
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		})
	}
}

// observeEnv reads GAIA_BENCH_OBSERVE: "on" serves with metrics and a
// request log line per request (at info), "off" with neither, unset as
// configured by default but with request lines below the warn level; so
// that two runs, or one run each, compare what observing costs.
func observeEnv(b *testing.B) []string {
	switch v := os.Getenv("GAIA_BENCH_OBSERVE"); v {
	case "":
		return nil
	case "on":
		return []string{"GAIA_LOG_LEVEL=info", "GAIA_METRICS=true", "GAIA_REQUEST_LOG=true"}
	case "off":
		return []string{"GAIA_METRICS=false", "GAIA_REQUEST_LOG=false"}
	default:
		b.Fatalf("GAIA_BENCH_OBSERVE=%q: want on or off", v)
		return nil
	}
}

// bound is the raw operation that limits a grant's throughput.
type bound struct {
	op      func()
	unit    string // of its rate
	pctUnit string // of tokens/s as a percentage of its rate
}

// measure runs body on benchParallelism goroutines per core, one token
// request per iteration, and reports tokens/s; the raw rate of bound.op
// measured right after, for as long, on GOMAXPROCS goroutines (shared cores
// drift by tens of percent within a run, so a rate taken once at the start
// skews ratios); tokens/s as a percentage of it; and, where /proc tells, the
// cores the server kept busy: the client and the database take the rest.
func (s *iam) measure(b *testing.B, bd bound, body func(*testing.PB)) {
	b.SetParallelism(benchParallelism)
	cpu0, ok0 := cpuTime(s.cmd.Process.Pid)
	b.ResetTimer()
	b.RunParallel(body)
	b.StopTimer()
	cpu1, ok1 := cpuTime(s.cmd.Process.Pid)
	if b.Failed() {
		return
	}
	elapsed := b.Elapsed().Seconds()
	tokens, raw := float64(b.N)/elapsed, rawRate(bd.op, b.Elapsed())
	b.ReportMetric(tokens, "tokens/s")
	b.ReportMetric(raw, bd.unit)
	b.ReportMetric(100*tokens/raw, bd.pctUnit)
	if ok0 && ok1 {
		b.ReportMetric((cpu1-cpu0).Seconds()/elapsed, "server_cores")
	}
}

// rsaSigner returns an RS256 signature of a digest with a fresh 2048-bit
// key: the work of issuing one JWT.
func rsaSigner(b *testing.B) func() {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	digest := sha256.Sum256([]byte("header.claims of an access token"))
	return func() {
		if _, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:]); err != nil {
			b.Error(err)
		}
	}
}

// argon2Hash derives one key with the production argon2id parameters: the
// work of checking one password.
func argon2Hash() {
	p := password.OWASP()
	salt := make([]byte, p.SaltLength)
	argon2.IDKey([]byte(adminPassword), salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLength)
}

// rawRate runs op on GOMAXPROCS goroutines for d and returns how many
// completed per second.
func rawRate(op func(), d time.Duration) float64 {
	var n atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				op()
				n.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds()
}

// cpuTime returns the user and system CPU time process pid has used, and
// false where /proc/PID/stat (proc(5)) cannot tell.
func cpuTime(pid int) (time.Duration, bool) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// Fields 14 and 15, utime and stime in clock ticks, follow the
	// parenthesized command name, which may hold spaces.
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	const userHZ = 100 // sysconf(_SC_CLK_TCK) on every Linux port Go supports
	return time.Duration(utime+stime) * time.Second / userHZ, true
}

// tokenClient posts token requests over keep-alive connections.
type tokenClient struct {
	http     *http.Client
	tokenURL string
}

func newTokenClient(b *testing.B, issuer string) *tokenClient {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = benchParallelism * runtime.GOMAXPROCS(0)
	b.Cleanup(tr.CloseIdleConnections)
	return &tokenClient{http: &http.Client{Transport: tr}, tokenURL: issuer + "/oauth2/token"}
}

// post sends form with the client's Basic credentials and returns the body
// of a 200 answer that carries an access token.
func (c *tokenClient) post(b *testing.B, clientID, secret, form string) ([]byte, error) {
	req, err := http.NewRequestWithContext(b.Context(), http.MethodPost, c.tokenURL, strings.NewReader(form))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, secret)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"access_token"`)) {
		return nil, fmt.Errorf("POST %s as %s: %s %s", c.tokenURL, clientID, resp.Status, body)
	}
	return body, nil
}

// login signs the admin in through gaia-web and returns the refresh token.
func (c *tokenClient) login(b *testing.B) (string, error) {
	form := url.Values{"grant_type": {"password"}, "username": {"admin"}, "password": {adminPassword}}.Encode()
	body, err := c.post(b, "gaia-web", webSecret, form)
	if err != nil {
		return "", err
	}
	return refreshToken(body)
}

func refreshToken(body []byte) (string, error) {
	var tok struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.RefreshToken == "" {
		return "", fmt.Errorf("no refresh token in %s", body)
	}
	return tok.RefreshToken, nil
}

// BenchmarkHandler issues client-credentials tokens by calling the server's
// handler directly: no network and no client process share the cores, so
// it shows what the server itself spends beyond the signature. The raw sign
// rate is measured right after, for as long.
func BenchmarkHandler(b *testing.B) {
	for _, be := range storagetest.Backends(b) {
		b.Run(be.Name+"/client_credentials", func(b *testing.B) {
			h := startLocal(b, be.Open(b), nil).srv.Handler()
			sign := rsaSigner(b)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader("grant_type=client_credentials"))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.SetBasicAuth("inventory-service", serviceSecret)
					w := httptest.NewRecorder()
					h.ServeHTTP(w, req)
					if w.Code != http.StatusOK {
						b.Fatalf("token: %d %s", w.Code, w.Body)
					}
				}
			})
			b.StopTimer()
			tokens := float64(b.N) / b.Elapsed().Seconds()
			raw := rawRate(sign, b.Elapsed())
			b.ReportMetric(tokens, "tokens/s")
			b.ReportMetric(raw, "signs/s")
			b.ReportMetric(100*tokens/raw, "pct_of_sign")
		})
	}
}
