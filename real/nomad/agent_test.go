package nomad_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"revoada.dev/revoada/real/nomad"
	"revoada.dev/revoada/real/nomad/nomadtest"
)

// newBackend starts an agent and connects a backend to it.
func newBackend(t *testing.T) *nomad.Backend {
	t.Helper()
	return backendWithBuffer(t, nomadtest.EventBufferSize)
}

// backendWithBuffer starts an agent holding eventBuffer events and
// connects a backend to it.
func backendWithBuffer(t *testing.T, eventBuffer int) *nomad.Backend {
	t.Helper()
	addr := nomadtest.Start(t, eventBuffer)
	b, err := nomad.New(t.Context(), addr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestUnreachable: a backend for an address nobody serves says so, naming
// the address.
func TestUnreachable(t *testing.T) {
	addr := fmt.Sprintf("http://127.0.0.1:%d", nomadtest.FreePort(t))
	_, err := nomad.New(context.Background(), addr)
	if err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("New(%s) = %v; want an error naming the address", addr, err)
	}
	t.Logf("error: %v", err)
}
