// Package deploy_test checks the packaging: the Dockerfile (there is no
// Docker engine where these tests run, so it is parsed and its build and
// health check are run as the image would run them) and the systemd unit.
package deploy_test

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// repoRoot is the module root, from this package's directory.
const repoRoot = ".."

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line int
	cmd  string // upper case
	args string
}

// parseDockerfile splits a Dockerfile into instructions: comments and blank
// lines dropped, lines ending in a backslash joined to the next.
func parseDockerfile(t *testing.T, text string) []instruction {
	t.Helper()
	var out []instruction
	var cur strings.Builder
	start := 0
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if s, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		out = append(out, instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.Join(strings.Fields(args), " ")})
		cur.Reset()
	}
	if cur.Len() > 0 {
		t.Fatalf("Dockerfile ends in a continuation line")
	}
	return out
}

// stages groups the instructions by FROM.
func stages(ins []instruction) [][]instruction {
	var out [][]instruction
	for _, in := range ins {
		if in.cmd == "FROM" {
			out = append(out, nil)
		}
		if len(out) > 0 {
			out[len(out)-1] = append(out[len(out)-1], in)
		}
	}
	return out
}

// shellWords splits a command line on blanks, honouring double and single
// quotes: enough for the build command of the Dockerfile and the Makefile.
func shellWords(s string) []string {
	var words []string
	var w strings.Builder
	in, quote := false, byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
			w.WriteByte(c)
		case c == '"' || c == '\'':
			quote, in = c, true
		case c == ' ' || c == '\t':
			if in {
				words = append(words, w.String())
				w.Reset()
				in = false
			}
		default:
			w.WriteByte(c)
			in = true
		}
	}
	if in {
		words = append(words, w.String())
	}
	return words
}

// buildCommand is the go build command line of text (a RUN or a Makefile
// recipe), normalised: the go tool as "go", the version variable as VERSION
// and the output path as OUT. env holds the NAME=value words before it.
func buildCommand(t *testing.T, line string) (env, args []string) {
	t.Helper()
	words := shellWords(line)
	i := slices.Index(words, "build")
	if i < 1 {
		t.Fatalf("no go build in %q", line)
	}
	env, args = words[:i-1], slices.Clone(words[i-1:])
	args[0] = "go"
	version := regexp.MustCompile(`\$[({]VERSION[)}]`)
	for j := range args {
		args[j] = version.ReplaceAllString(args[j], "VERSION")
		if j > 0 && args[j-1] == "-o" {
			args[j] = "OUT"
		}
	}
	return env, args
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDockerfile lints the Dockerfile, builds gaia-iam as its build stage
// does, and runs the image's HEALTHCHECK command against a real server.
func TestDockerfile(t *testing.T) {
	ins := parseDockerfile(t, readFile(t, "Dockerfile"))
	st := stages(ins)
	if len(st) < 2 {
		t.Fatalf("Dockerfile has %d stages, want a multi-stage build", len(st))
	}
	final := st[len(st)-1]
	if base := final[0].args; !strings.Contains(base, "distroless/static") && base != "scratch" {
		t.Errorf("final stage FROM %s, want a distroless static or scratch base", base)
	}
	var user, healthcheck string
	var buildLine string
	envs := map[string]string{}
	for _, in := range final {
		switch in.cmd {
		case "USER":
			user = in.args
		case "HEALTHCHECK":
			healthcheck = in.args
		case "ENV":
			for _, kv := range shellWords(in.args) {
				k, v, _ := strings.Cut(kv, "=")
				envs[k] = v
			}
		case "RUN":
			t.Errorf("line %d: RUN in the final stage (a static base has no shell)", in.line)
		case "ADD":
			t.Errorf("line %d: ADD; use COPY", in.line)
		}
	}
	if name, _, _ := strings.Cut(user, ":"); name == "" || name == "root" || name == "0" {
		t.Errorf("final stage USER %q, want a non-root user", user)
	}
	for _, in := range ins {
		if in.cmd == "ENV" || in.cmd == "ARG" {
			for _, kv := range shellWords(in.args) {
				k, _, _ := strings.Cut(kv, "=")
				if regexp.MustCompile(`(?i)secret|password|token|KEY$|ENCRYPTION_KEY$`).MatchString(k) {
					t.Errorf("line %d: %s %s: a secret is set in the image; pass it at run time", in.line, in.cmd, k)
				}
			}
		}
		if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
			buildLine = in.args
		}
	}

	// The image's build is make build's.
	if buildLine == "" {
		t.Fatal("no RUN go build in the Dockerfile")
	}
	dEnv, dArgs := buildCommand(t, strings.TrimPrefix(buildLine, "RUN "))
	var makeLine string
	mk := readFile(t, "Makefile")
	if i := strings.Index(mk, "\nbuild:\n"); i >= 0 {
		makeLine, _, _ = strings.Cut(strings.TrimSpace(mk[i+len("\nbuild:\n"):]), "\n")
	}
	mEnv, mArgs := buildCommand(t, makeLine)
	if !slices.Equal(dEnv, mEnv) || !slices.Equal(dArgs, mArgs) {
		t.Errorf("Dockerfile builds with %q %q,\nmake build with %q %q", dEnv, dArgs, mEnv, mArgs)
	}
	if !slices.Contains(dEnv, "CGO_ENABLED=0") {
		t.Errorf("the Dockerfile's build does not set CGO_ENABLED=0: %q", dEnv)
	}

	ignore := readFile(t, ".dockerignore")
	for _, p := range []string{".git", "gaia-data/", "**/*.env", "**/kek", "**/*.db"} {
		if !slices.Contains(strings.Fields(ignore), p) {
			t.Errorf(".dockerignore does not keep %s out of the build context", p)
		}
	}

	// Build as the image does: its environment and flags, the version
	// argument's default.
	bin := filepath.Join(t.TempDir(), "gaia-iam")
	args := slices.Clone(dArgs)
	for i := range args {
		args[i] = strings.ReplaceAll(args[i], "VERSION", "docker-test")
		if args[i] == "OUT" {
			args[i] = bin
		}
	}
	build := exec.Command(args[0], args[1:]...)
	build.Dir = repoRoot
	build.Env = append(os.Environ(), dEnv...)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("the binary has a program interpreter: it is not static")
		}
	}
	f.Close()
	if out, err := exec.Command(bin, "--version").Output(); err != nil || !strings.Contains(string(out), "docker-test") {
		t.Errorf("gaia-iam --version = %q, %v; want the stamped docker-test", out, err)
	}

	// The HEALTHCHECK, exec form, run with the image's environment; the
	// server listens on loopback here, the image's wildcard address's
	// port, which the health check maps to loopback.
	flags, cmd, ok := strings.Cut(healthcheck, "CMD ")
	if !ok || !strings.Contains(flags, "--timeout=") || !strings.Contains(flags, "--interval=") {
		t.Fatalf("HEALTHCHECK %q, want --interval, --timeout and CMD", healthcheck)
	}
	var hc []string
	if err := jsonArray(cmd, &hc); err != nil || len(hc) < 2 || hc[1] != "healthcheck" {
		t.Fatalf("HEALTHCHECK CMD %s, want the exec form [\"…/gaia-iam\", \"healthcheck\"]: %v", cmd, err)
	}
	port := freePort(t)
	imageEnv := []string{}
	for k, v := range envs {
		if k == "GAIA_LISTEN" {
			host, _, err := net.SplitHostPort(v)
			if err != nil || (host != "0.0.0.0" && host != "") {
				t.Errorf("ENV GAIA_LISTEN=%s, want the wildcard address a container needs", v)
			}
			v = net.JoinHostPort(host, port)
		}
		imageEnv = append(imageEnv, k+"="+v)
	}
	check := func() (string, error) {
		c := exec.Command(bin, hc[1:]...)
		c.Args[0] = hc[0]
		c.Env = imageEnv
		out, err := c.CombinedOutput()
		return string(out), err
	}
	if out, err := check(); err == nil || !strings.Contains(out, "connection refused") {
		t.Errorf("healthcheck with no server = %v (%s), want a refused connection", err, out)
	}
	srv := startServer(t, bin, port)
	if out, err := check(); err != nil {
		t.Errorf("healthcheck against a serving server: %v\n%s", err, out)
	}
	srv()
	if out, err := check(); err == nil || !strings.Contains(out, "healthcheck:") {
		t.Errorf("healthcheck after the server stopped = %v (%s), want a failure", err, out)
	}
}

// startServer runs bin serve on 127.0.0.1:port over a fresh SQLite
// database until the returned stop, and waits until it answers.
func startServer(t *testing.T, bin, port string) (stop func()) {
	t.Helper()
	return startServerEnv(t, bin, port, gaiaEnv(t, "sqlite:"+filepath.Join(t.TempDir(), "gaia.db")))
}

// startServerEnv runs bin serve on 127.0.0.1:port with env until the
// returned stop, and waits until it answers.
func startServerEnv(t *testing.T, bin, port string, env []string) (stop func()) {
	t.Helper()
	cmd := exec.Command(bin, "serve")
	cmd.Dir = t.TempDir()
	cmd.Env = append(slices.Clone(env), "GAIA_LISTEN=127.0.0.1:"+port)
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Errorf("serve did not stop on SIGINT")
		}
	}
	t.Cleanup(stop)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+port+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return stop
			}
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("serve exited: %v\n%s", err, logs.String())
		case <-ctx.Done():
			t.Fatalf("serve was not ready in 60s\n%s", logs.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// syncBuffer collects a process's output, read while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// jsonArray decodes a Dockerfile exec form: a JSON array of strings.
func jsonArray(s string, dst *[]string) error {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "[") || !strings.HasSuffix(s, "]") {
		return fmt.Errorf("not a JSON array")
	}
	for _, w := range strings.Split(s[1:len(s)-1], ",") {
		w = strings.TrimSpace(w)
		if len(w) < 2 || w[0] != '"' || w[len(w)-1] != '"' {
			return fmt.Errorf("element %s is not a string", w)
		}
		*dst = append(*dst, w[1:len(w)-1])
	}
	return nil
}

// TestSystemdUnit checks the unit's contract and, where systemd-analyze is
// installed, verifies it and its exposure as systemd sees them.
func TestSystemdUnit(t *testing.T) {
	unit := readFile(t, "deploy/gaia-iam.service")
	directives := map[string][]string{}
	for line := range strings.SplitSeq(unit, "\n") {
		line = strings.TrimSpace(line)
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			directives[k] = append(directives[k], v)
		}
	}
	for key, want := range map[string]string{
		"DynamicUser": "yes", "StateDirectory": "gaia-iam", "Restart": "on-failure",
		"NoNewPrivileges": "yes", "ProtectSystem": "strict", "EnvironmentFile": "/etc/gaia-iam/gaia-iam.env",
		"ExecStart": "/usr/local/bin/gaia-iam serve", "CapabilityBoundingSet": "",
	} {
		if !slices.Contains(directives[key], want) {
			t.Errorf("unit %s = %q, want %q", key, directives[key], want)
		}
	}
	for _, env := range directives["Environment"] {
		if regexp.MustCompile(`(?i)secret|password|ENCRYPTION_KEY=`).MatchString(env) {
			t.Errorf("unit sets a secret in Environment=%s; it belongs in the EnvironmentFile", env)
		}
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed: the unit was checked by its text only")
	}
	// verify needs ExecStart's binary to exist: point it at one.
	dir := t.TempDir()
	bin := filepath.Join(dir, "gaia-iam")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "gaia-iam.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(unit, "/usr/local/bin/gaia-iam", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	// verify exits 0 on a directive it cannot parse, and says so: any
	// line about our unit is a failure.
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || strings.Contains(string(out), "gaia-iam.service") {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	// The exposure score, 0 (locked down) to 10; the unit scores 1.4
	// with systemd 252.
	out, err = exec.Command(analyze, "security", "--offline=yes", "--threshold=25", path).CombinedOutput()
	if err != nil {
		t.Errorf("systemd-analyze security: exposure over 2.5 or failure: %v\n%s", err, out)
	}
}
