package sim_test

import (
	"testing"
	"time"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/backend/storetest"
	"revoada.dev/revoada/sim"
)

// TestMeshConformance runs the backend conformance suite against the
// replicated store: a five-node simulated mesh with three voters on a lossy
// network, the backend talking to a voter that is not always the leader
// (requests are forwarded, reads go through ReadIndex), and the safety checks
// judging everything the suite made the mesh do.
func TestMeshConformance(t *testing.T) {
	p := &sim.Plan{Name: "conformance", Nodes: 5, ControlPlane: 3, Duration: time.Hour,
		Network: sim.Network{LatencyMin: time.Millisecond, LatencyMax: 10 * time.Millisecond, Loss: 0.01, Duplicate: 0.01}}
	seed := uint64(0)
	storetest.Run(t, func(t *testing.T) backend.Backend {
		seed++
		m, err := sim.NewMesh(p, seed, "n2")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if r := m.Close(); !r.OK() {
				t.Errorf("safety: %v", r.Violations)
			}
		})
		return m.Backend()
	})
}
