package topology_test

import (
	"fmt"

	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/core/topology"
)

// A six-node Phalanx with five healthy nodes wants three voters. One voter
// has failed: the best worker is promoted first, then the failed voter is
// demoted.
func ExamplePlan() {
	n := func(b byte, r roles.Roles, healthy bool, capacity uint64) topology.Node {
		var id roles.NodeID
		id[0] = b
		return topology.Node{ID: id, Roles: r, Healthy: healthy, CaughtUp: true, Capacity: capacity}
	}
	nodes := []topology.Node{
		n(1, roles.ControlPlane, true, 4), n(2, roles.ControlPlane, true, 4), n(3, roles.ControlPlane, false, 4),
		n(4, roles.Worker, true, 2), n(5, roles.Worker, true, 8), n(6, roles.Worker, true, 1),
	}
	target, _ := topology.Phalanx{}.Target(topology.Eligible(nodes))
	fmt.Println(target)
	shifts, err := topology.Plan(nodes, target)
	for _, sh := range shifts {
		fmt.Println(sh)
	}
	fmt.Println(err)
	// Output:
	// 3 voters, 3 control-plane, ≥0 workers
	// [promote 050000000000 (replacing-failed)]
	// [demote 030000000000 (replacing-failed)]
	// <nil>
}
