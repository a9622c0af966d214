package api

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/core/attest"
	"revoada.dev/revoada/core/roles"
)

// TestChainAccess: GET /v1/chain answers a read-only identity the
// replica's role history, which decodes to the blocks it holds; a request
// without credentials is refused 401 before the history is read, and a
// server running no mesh answers ErrNoMesh.
func TestChainAccess(t *testing.T) {
	var id roles.NodeID
	id[0] = 1
	shape, err := roles.NewShape([]roles.Member{{Node: id, Roles: roles.ControlPlane}})
	if err != nil {
		t.Fatal(err)
	}
	want := attest.NewChain(shape, 1, 1, nil).Blocks()
	var reads atomic.Int32 // the handler runs on the server's goroutine
	chain := func(context.Context) ([]attest.Block, error) { reads.Add(1); return want, nil }
	access := `{"tokens": {"` + roToken + `": "viewer"}, "roles": {"viewer": "read-only"}}`
	srv, certPEM := serve(t, Config{Backend: backend.NewMemory(), Chain: chain}, access, nil)
	ctx := context.Background()
	got, err := tokenClient(t, srv, certPEM, roToken).Chain(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := attest.Verify(got, nil); err != nil || r.Blocks != 1 || r.Head != attest.BlockHash(want[0]) {
		t.Fatalf("the chain read: %+v %v", r, err)
	}
	var re *RemoteError
	if _, err := tokenClient(t, srv, certPEM, "").Chain(ctx); !errors.As(err, &re) || re.Status != http.StatusUnauthorized || reads.Load() != 1 {
		t.Fatalf("no credentials: %v (the chain read %d times)", err, reads.Load())
	}
	noMesh, certPEM := serve(t, Config{Backend: backend.NewMemory()}, access, nil)
	if _, err := tokenClient(t, noMesh, certPEM, roToken).Chain(ctx); !errors.Is(err, ErrNoMesh) {
		t.Fatalf("a server of no mesh: %v, want ErrNoMesh", err)
	}
}
