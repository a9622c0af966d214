package tcp_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"

	"revoada.dev/revoada/core/node"
	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/net/transport"
	"revoada.dev/revoada/real/tcp"
)

type nobody struct{}

func (nobody) Receive(node.Message)    {}
func (nobody) Report(transport.Report) {}

func newTransport(t *testing.T, mesh roles.Digest) *tcp.Transport {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := tcp.New(tcp.Config{Key: key, Mesh: mesh, Listen: "127.0.0.1:0", Handler: nobody{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// Identify learns the ID of the node at an address, proven by its key; a
// node of another mesh, or no node, gives an error.
func TestIdentify(t *testing.T) {
	a, b := newTransport(t, roles.Digest{1}), newTransport(t, roles.Digest{1})
	id, err := a.Identify(t.Context(), b.Addr())
	if err != nil || id != b.ID() {
		t.Fatalf("identify: %s, %v; want %s", id.Short(), err, b.ID().Short())
	}
	other := newTransport(t, roles.Digest{2})
	if _, err := a.Identify(t.Context(), other.Addr()); err == nil {
		t.Fatal("a node of another mesh identified")
	}
	if _, err := a.Identify(t.Context(), "127.0.0.1:1"); err == nil {
		t.Fatal("nothing listening, yet identified")
	}
}
