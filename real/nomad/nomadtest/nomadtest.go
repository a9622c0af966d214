// Package nomadtest starts a real Nomad agent (the one scripts/build-nomad.sh
// builds) on loopback for tests: a single server that elects itself and no
// client, so nothing a test registers ever runs.
package nomadtest

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// AgentStartGuard bounds the wait for a started agent to elect itself: a
// guard against a hung agent, never a way to pass.
const AgentStartGuard = 90 * time.Second

// EventBufferSize is an agent's event buffer for tests: more than the Job
// events a test writes (storetest's WatchOverflow writes 2058), so that a
// watch from any revision a test holds is served. Nomad's default is 100.
const EventBufferSize = 8192

var (
	nomadOnce sync.Once
	nomadBin  string
	nomadErr  error
)

// RequireEnv=1 makes a missing agent binary a failure instead of a skip.
const RequireEnv = "REVOADA_REQUIRE_NOMAD"

// Binary finds the agent built by scripts/build-nomad.sh. Without it the
// test skips, unless RequireEnv=1 makes that a failure.
func Binary(t testing.TB) string {
	t.Helper()
	nomadOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		script := filepath.Join(filepath.Dir(file), "..", "..", "..", "scripts", "build-nomad.sh")
		out, err := exec.Command("bash", script, "--cached").Output()
		nomadBin, nomadErr = strings.TrimSpace(string(out)), err
	})
	if nomadErr != nil {
		msg := fmt.Sprintf("no Nomad agent (run scripts/build-nomad.sh): %v", nomadErr)
		if os.Getenv(RequireEnv) == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return nomadBin
}

// FreePort asks the kernel for a free loopback port.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start starts a Nomad agent on loopback with its own data dir and
// ports, a single server that elects itself (bootstrap_expect = 1) and no
// client, so nothing a test registers ever runs (-dev would start a client
// with raw_exec enabled, whatever the config says); it waits for the
// leader, and stops the agent at cleanup. It returns the HTTP address.
func Start(t testing.TB, eventBuffer int) string {
	t.Helper()
	bin := Binary(t)
	dir := t.TempDir()
	httpPort, rpc, serf := FreePort(t), FreePort(t), FreePort(t)
	config := fmt.Sprintf(`
data_dir  = %q
bind_addr = "127.0.0.1"
log_level = "WARN"
ports {
  http = %d
  rpc  = %d
  serf = %d
}
server {
  enabled           = true
  bootstrap_expect  = 1
  event_buffer_size = %d
}
client {
  enabled = false
}
advertise {
  http = "127.0.0.1"
  rpc  = "127.0.0.1"
  serf = "127.0.0.1"
}
`, filepath.Join(dir, "data"), httpPort, rpc, serf, eventBuffer)
	cfg := filepath.Join(dir, "agent.hcl")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	logs := &syncWriter{}
	cmd := exec.Command(bin, "agent", "-config", cfg)
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.Env = append(os.Environ(), "NOMAD_ADDR=", "NOMAD_TOKEN=")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	addr := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	began := time.Now()
	deadline := time.After(AgentStartGuard)
	for {
		select {
		case err := <-exited:
			t.Fatalf("nomad agent exited: %v\n%s", err, logs.String())
		case <-deadline:
			t.Fatalf("nomad agent at %s has no leader after %s\n%s", addr, AgentStartGuard, logs.String())
		case <-time.After(100 * time.Millisecond):
		}
		if hasLeader(addr) {
			t.Logf("nomad agent at %s up in %s", addr, time.Since(began).Round(time.Millisecond))
			return addr
		}
	}
}

func hasLeader(addr string) bool {
	resp, err := http.Get(addr + "/v1/status/leader")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode == 200 && strings.Trim(strings.TrimSpace(b.String()), `"`) != ""
}

// syncWriter serializes the agent's two output streams into one buffer.
type syncWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
