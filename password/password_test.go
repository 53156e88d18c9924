package password

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"
)

// fast keeps unit tests quick; the OWASP parameters are exercised by the benchmark.
func fast(t testing.TB) *Hasher {
	t.Helper()
	h, err := NewHasher(Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}, 2)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHashVerify(t *testing.T) {
	ctx := context.Background()
	h := fast(t)
	for _, pw := range []string{"correct horse battery staple", "パスワード🙂🙂🙂", strings.Repeat("x", MaxLength)} {
		enc, err := h.Hash(ctx, pw)
		if err != nil {
			t.Fatalf("Hash(%q): %v", pw, err)
		}
		if !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") {
			t.Errorf("Hash(%q) = %q, want a PHC argon2id string", pw, enc)
		}
		if ok, _, err := h.Verify(ctx, enc, pw); !ok || err != nil {
			t.Errorf("Verify(own hash) = %v, %v; want true, nil", ok, err)
		}
		if ok, _, _ := h.Verify(ctx, enc, pw+"x"); ok {
			t.Errorf("Verify accepted a different password")
		}
		if ok, _, _ := h.Verify(ctx, enc, strings.ToUpper(pw)); ok && strings.ToUpper(pw) != pw {
			t.Errorf("Verify folded case")
		}
	}
}

func TestSaltsDiffer(t *testing.T) {
	h := fast(t)
	a, _ := h.Hash(context.Background(), "same password")
	b, _ := h.Hash(context.Background(), "same password")
	if a == b {
		t.Fatalf("two hashes of one password are equal: %q", a)
	}
}

func TestLimits(t *testing.T) {
	ctx := context.Background()
	h := fast(t)
	long := strings.Repeat("x", MaxLength+1)
	if _, err := h.Hash(ctx, long); !errors.Is(err, ErrTooLong) {
		t.Errorf("Hash(too long) error = %v, want ErrTooLong", err)
	}
	enc, _ := h.Hash(ctx, "password")
	if _, _, err := h.Verify(ctx, enc, long); !errors.Is(err, ErrTooLong) {
		t.Errorf("Verify(too long) error = %v, want ErrTooLong", err)
	}
	if err := CheckPolicy("1234567"); !errors.Is(err, ErrTooShort) {
		t.Errorf("CheckPolicy(7 chars) = %v, want ErrTooShort", err)
	}
	if err := CheckPolicy("ééééééé€"); err != nil {
		t.Errorf("CheckPolicy(8 runes) = %v, want nil", err)
	}
}

func TestMalformedHashes(t *testing.T) {
	h := fast(t)
	for _, enc := range []string{
		"",
		"plain",
		"$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=18$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$!!$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$",
	} {
		if _, _, err := h.Verify(context.Background(), enc, "x"); !errors.Is(err, ErrMalformedHash) {
			t.Errorf("Verify(%q) error = %v, want ErrMalformedHash", enc, err)
		}
	}
}

func TestNeedsRehash(t *testing.T) {
	ctx := context.Background()
	weak := fast(t)
	enc, _ := weak.Hash(ctx, "password")
	strong, err := NewHasher(Params{Memory: 128, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}, 1)
	if err != nil {
		t.Fatal(err)
	}
	ok, rehash, err := strong.Verify(ctx, enc, "password")
	if !ok || !rehash || err != nil {
		t.Errorf("Verify(weaker hash) = %v, %v, %v; want true, true, nil", ok, rehash, err)
	}
	enc2, _ := strong.Hash(ctx, "password")
	if _, rehash, _ := strong.Verify(ctx, enc2, "password"); rehash {
		t.Errorf("Verify(own params) reports needsRehash")
	}
}

func TestWeakParamsRefused(t *testing.T) {
	if _, err := NewHasher(Params{Memory: 64, Iterations: 0, Parallelism: 1, SaltLength: 16, KeyLength: 32}, 1); err == nil {
		t.Error("NewHasher accepted zero iterations")
	}
	if _, err := NewHasher(fastParams(), 0); err == nil {
		t.Error("NewHasher accepted zero concurrency")
	}
}

func fastParams() Params {
	return Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}
}

func TestWaitHonoursContext(t *testing.T) {
	h, _ := NewHasher(fastParams(), 1)
	h.slots <- struct{}{} // every slot busy
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Hash(ctx, "password"); !errors.Is(err, context.Canceled) {
		t.Errorf("Hash with no free slot and a cancelled ctx = %v, want context.Canceled", err)
	}
}

func TestGenerate(t *testing.T) {
	a, b := Generate(), Generate()
	if len(a) != 26 || a == b {
		t.Errorf("Generate() = %q, %q; want two different 26-character passwords", a, b)
	}
}

// BenchmarkVerifyOWASP reports the cost of one login's hash at the
// production parameters: the bound for password-grant throughput.
func BenchmarkVerifyOWASP(b *testing.B) {
	h, err := NewHasher(OWASP(), 2)
	if err != nil {
		b.Fatal(err)
	}
	enc, _ := h.Hash(context.Background(), "correct horse battery staple")
	b.ResetTimer()
	for b.Loop() {
		if ok, _, _ := h.Verify(context.Background(), enc, "correct horse battery staple"); !ok {
			b.Fatal("verify failed")
		}
	}
}

func TestBusy(t *testing.T) {
	h, err := New(Config{Params: fastParams(), Concurrency: 1, MaxWait: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := h.Hash(context.Background(), "password")
	h.slots <- struct{}{} // the one slot is taken and stays taken
	if _, err := h.Hash(context.Background(), "password"); !errors.Is(err, ErrBusy) {
		t.Errorf("Hash with no free slot = %v, want ErrBusy", err)
	}
	if _, _, err := h.Verify(context.Background(), enc, "password"); !errors.Is(err, ErrBusy) {
		t.Errorf("Verify with no free slot = %v, want ErrBusy", err)
	}
	if got := h.Stats(); got.Busy != 2 || got.Limit != 1 || got.Peak != 1 {
		t.Errorf("Stats() = %+v, want Busy 2, Limit 1, Peak 1", got)
	}
	<-h.slots
	if ok, _, err := h.Verify(context.Background(), enc, "password"); !ok || err != nil {
		t.Errorf("Verify once the slot is free = %v, %v; want true, nil", ok, err)
	}
}

func TestStoredHashLimits(t *testing.T) {
	ctx := context.Background()
	h, err := New(Config{Params: fastParams(), MaxStored: Limits{Memory: 1024, Iterations: 3, Parallelism: 2}})
	if err != nil {
		t.Fatal(err)
	}
	// Real hashes of "password" with the parameters named: only the
	// parameters make them unacceptable.
	for _, p := range []Params{
		{Memory: 2048, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32},
		{Memory: 64, Iterations: 4, Parallelism: 1, SaltLength: 16, KeyLength: 32},
		{Memory: 64, Iterations: 1, Parallelism: 3, SaltLength: 16, KeyLength: 32},
	} {
		costly, err := New(Config{Params: p, MaxStored: Limits{Memory: 4096, Iterations: 8, Parallelism: 8}})
		if err != nil {
			t.Fatal(err)
		}
		enc, _ := costly.Hash(ctx, "password")
		before := h.Stats().Peak
		if ok, _, err := h.Verify(ctx, enc, "password"); ok || !errors.Is(err, ErrHashTooCostly) {
			t.Errorf("Verify(%s) = %v, %v; want false, ErrHashTooCostly", enc, ok, err)
		}
		if h.Stats().Peak != before {
			t.Errorf("Verify(%s) hashed before refusing", enc)
		}
	}
	within, _ := New(Config{Params: Params{Memory: 1024, Iterations: 3, Parallelism: 2, SaltLength: 16, KeyLength: 32}})
	enc, _ := within.Hash(ctx, "password")
	if ok, _, err := h.Verify(ctx, enc, "password"); !ok || err != nil {
		t.Errorf("Verify(hash at the limits) = %v, %v; want true, nil", ok, err)
	}
	if _, err := New(Config{Params: OWASP(), MaxStored: Limits{Memory: 1024, Iterations: 2, Parallelism: 1}}); err == nil {
		t.Error("New accepted limits below its own parameters")
	}
}

func TestDefaultConcurrency(t *testing.T) {
	cores := runtime.NumCPU()
	for _, tc := range []struct {
		memory uint32
		budget uint64
		want   int
	}{
		{19 * 1024, 1 << 40, cores},
		{19 * 1024, 19 * 1024, 1},
		{19 * 1024, 1, 1},
		{64, 64 * uint64(cores+1), cores},
	} {
		if got := DefaultConcurrency(tc.memory, tc.budget); got != tc.want {
			t.Errorf("DefaultConcurrency(%d, %d) = %d, want %d", tc.memory, tc.budget, got, tc.want)
		}
	}
	h, err := New(Config{Params: fastParams(), MemoryBudget: 64})
	if err != nil {
		t.Fatal(err)
	}
	if got := h.Stats().Limit; got != 1 {
		t.Errorf("Limit with a budget of one hash = %d, want 1", got)
	}
}
