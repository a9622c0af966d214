package nomad_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"revoada.dev/revoada/real/nomad"
)

// agentStartGuard bounds the wait for a started agent to elect itself: a
// guard against a hung agent, never a way to pass.
const agentStartGuard = 90 * time.Second

// eventBufferSize is the test agent's event buffer: more than the Job
// events a test writes (storetest's WatchOverflow writes 2058), so that a
// watch from any revision a test holds is served. Nomad's default is 100.
const eventBufferSize = 8192

var (
	nomadOnce sync.Once
	nomadBin  string
	nomadErr  error
)

// nomadBinary finds the agent built by scripts/build-nomad.sh. Without it
// the test skips, unless REVOADA_REQUIRE_NOMAD=1 makes that a failure.
func nomadBinary(t *testing.T) string {
	t.Helper()
	nomadOnce.Do(func() {
		out, err := exec.Command("../../scripts/build-nomad.sh", "--cached").Output()
		nomadBin, nomadErr = strings.TrimSpace(string(out)), err
	})
	if nomadErr != nil {
		msg := fmt.Sprintf("no Nomad agent (run scripts/build-nomad.sh): %v", nomadErr)
		if os.Getenv("REVOADA_REQUIRE_NOMAD") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return nomadBin
}

// freePort asks the kernel for a free loopback port.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startAgent starts a Nomad agent on loopback with its own data dir and
// ports, a single server that elects itself (bootstrap_expect = 1) and no
// client, so nothing a test registers ever runs (-dev would start a client
// with raw_exec enabled, whatever the config says); it waits for the
// leader, and stops the agent at cleanup. It returns the HTTP address.
func startAgent(t *testing.T, eventBuffer int) string {
	t.Helper()
	bin := nomadBinary(t)
	dir := t.TempDir()
	httpPort, rpc, serf := freePort(t), freePort(t), freePort(t)
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
	deadline := time.After(agentStartGuard)
	for {
		select {
		case err := <-exited:
			t.Fatalf("nomad agent exited: %v\n%s", err, logs.String())
		case <-deadline:
			t.Fatalf("nomad agent at %s has no leader after %s\n%s", addr, agentStartGuard, logs.String())
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

// newBackend starts an agent and connects a backend to it.
func newBackend(t *testing.T) *nomad.Backend {
	t.Helper()
	return backendWithBuffer(t, eventBufferSize)
}

// backendWithBuffer starts an agent holding eventBuffer events and
// connects a backend to it.
func backendWithBuffer(t *testing.T, eventBuffer int) *nomad.Backend {
	t.Helper()
	addr := startAgent(t, eventBuffer)
	b, err := nomad.New(t.Context(), addr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestUnreachable: a backend for an address nobody serves says so, naming
// the address.
func TestUnreachable(t *testing.T) {
	addr := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	_, err := nomad.New(context.Background(), addr)
	if err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("New(%s) = %v; want an error naming the address", addr, err)
	}
	t.Logf("error: %v", err)
}
