// Package topology says what the mesh should look like and how to get there.
//
// A Target gives the counts the mesh aims for (voters, control-plane nodes,
// workers). A Strategy derives the target from the number of eligible nodes;
// the built-in strategies are Solo, Pair, Quorum3M, Cluster3MNW, MeshAllPeers
// and Phalanx, and Explicit is a target given as counts. Plan is the reactor:
// it compares the current shape with a target and returns the role shifts that
// move toward it, one voter change per shift.
//
// Everything here is a pure function of its arguments: no state, no clock, no
// randomness, and the output does not depend on the order of the input. The
// policy engine calls these functions on the leader; the resulting shifts go
// through the Raft log like any other role command.
//
// Why odd voter counts. A Raft group of v voters commits with a majority of
// ⌊v/2⌋+1 and so tolerates ⌊(v−1)/2⌋ failed voters. An even count tolerates
// no more failures than the odd count one below it but needs a larger quorum,
// so every strategy except Pair asks for an odd count.
//
// Why one voter change per shift. Changing one voter at a time keeps every
// pair of consecutive configurations' majorities overlapping, so each step is
// a simple conf change rather than joint consensus (Ongaro, "Consensus:
// Bridging Theory and Practice", §4.1); a promoted node first catches up as a
// learner (§4.2.1), which is why Plan only promotes caught-up nodes.
//
// Deviations from revoada 0.1.4 (reference §2.12), on purpose: voter counts
// are always odd except for Pair (0.1.4's Phalanx could pick 2 or 4);
// Cluster3MNW has a defined meaning below 4 nodes; an evicted node that comes
// back healthy is an ordinary candidate again (0.1.4 kept it Failed forever);
// the reactor is stateless, so there is no view to fall out of step with the
// committed shape.
package topology

import (
	"errors"
	"fmt"
)

// Target is the shape the mesh aims for, as counts.
type Target struct {
	// Voters is the number of etcd holders, which are the Raft voters. Odd
	// unless the strategy allows even (only Pair does).
	Voters int
	// ControlPlane is the number of nodes holding all four control-plane
	// roles. A revoada control-plane node holds all four, so every built-in
	// strategy sets ControlPlane == Voters; an explicit target may ask for
	// fewer (the other voters then hold etcd alone). Always 1..Voters.
	ControlPlane int
	// WorkersMin is the least number of healthy nodes that must hold no
	// control-plane role.
	WorkersMin int
}

func (t Target) String() string {
	return fmt.Sprintf("%d voters, %d control-plane, ≥%d workers", t.Voters, t.ControlPlane, t.WorkersMin)
}

// tolerates is the number of voter failures a group of v voters survives.
func tolerates(v int) int { return (v - 1) / 2 }

// ErrUnsatisfiable is the sentinel every *UnsatisfiableError matches with
// errors.Is: a target the mesh cannot meet. The policy withholds action
// ("unsatisfiable") rather than thrash toward it.
var ErrUnsatisfiable = errors.New("topology: unsatisfiable")

// UnsatisfiableError says why a target cannot be met, and for Plan by how
// much the mesh falls short.
type UnsatisfiableError struct {
	Target Target
	Nodes  int    // the node count the target was judged against
	Reason string // the rule that failed, for people
	// VotersShort and WorkersShort are how many voters and workers the
	// target needs beyond what the mesh can supply (set by Plan).
	VotersShort, WorkersShort int
}

func (e *UnsatisfiableError) Error() string {
	return fmt.Sprintf("topology: unsatisfiable: target %s with %d nodes: %s", e.Target, e.Nodes, e.Reason)
}

// Is makes errors.Is(err, ErrUnsatisfiable) true.
func (e *UnsatisfiableError) Is(target error) bool { return target == ErrUnsatisfiable }

func unsatisfiable(t Target, nodes int, format string, args ...any) *UnsatisfiableError {
	return &UnsatisfiableError{Target: t, Nodes: nodes, Reason: fmt.Sprintf(format, args...)}
}

// Validate checks that t is a well-formed target that nodes eligible nodes
// can meet. Errors wrap ErrUnsatisfiable (as *UnsatisfiableError): zero
// voters, a control-plane count outside 1..Voters, negative workers, an even
// voter count when allowEven is false, or more voters plus workers than nodes.
func Validate(t Target, nodes int, allowEven bool) error {
	if err := t.check(nodes); err != nil {
		return err
	}
	if !allowEven && t.Voters%2 == 0 {
		return unsatisfiable(t, nodes, "%d voters is even: it tolerates no more failures (%d) than %d voters but needs a larger quorum",
			t.Voters, tolerates(t.Voters), t.Voters-1)
	}
	if need := t.Voters + t.WorkersMin; need > nodes {
		return unsatisfiable(t, nodes, "needs %d eligible nodes (%d voters + %d workers), have %d", need, t.Voters, t.WorkersMin, nodes)
	}
	return nil
}

// check is the part of Validate that does not depend on parity or on how
// many nodes exist: the counts must make sense on their own.
func (t Target) check(nodes int) *UnsatisfiableError {
	switch {
	case t.Voters < 1:
		return unsatisfiable(t, nodes, "zero voters: the Raft voter set is never empty")
	case t.ControlPlane < 1 || t.ControlPlane > t.Voters:
		return unsatisfiable(t, nodes, "control-plane count %d outside 1..%d (a control-plane node also holds etcd)", t.ControlPlane, t.Voters)
	case t.WorkersMin < 0:
		return unsatisfiable(t, nodes, "negative worker count %d", t.WorkersMin)
	}
	return nil
}
