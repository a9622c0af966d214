package topology

import (
	"errors"
	"fmt"
	"strings"
)

// Strategy derives a Target from the number of eligible nodes: nodes that
// could hold a role (healthy, not quarantined, not observers; see Eligible).
//
// Target returns a target that passes Validate for that count, or an error
// wrapping ErrUnsatisfiable when the strategy cannot be met (every built-in
// strategy fails only for zero nodes). Explicit returns its target alongside
// the error, so a caller can still plan toward it.
type Strategy interface {
	Name() string
	Target(eligible int) (Target, error)
}

var (
	_ Strategy = Solo{}
	_ Strategy = Pair{}
	_ Strategy = Quorum3M{}
	_ Strategy = Cluster3MNW{}
	_ Strategy = MeshAllPeers{}
	_ Strategy = Phalanx{}
	_ Strategy = Explicit{}
)

// voters is the target of a built-in strategy: v voters, all of them full
// control-plane nodes.
func voters(v int) Target { return Target{Voters: v, ControlPlane: v} }

func noNodes(s Strategy, eligible int) error {
	return unsatisfiable(Target{}, eligible, "strategy %s needs at least one eligible node", s.Name())
}

// largestOdd is the largest odd number ≤ n, for n ≥ 1.
func largestOdd(n int) int { return n - 1 + n%2 }

// Solo is one voter whatever the mesh size: the homelab shape. It tolerates
// no voter failure, and in exchange every other node is a worker.
type Solo struct{}

// Name is "solo".
func (Solo) Name() string { return "solo" }

// Target is 1 voter for any N ≥ 1.
func (s Solo) Target(eligible int) (Target, error) {
	if eligible < 1 {
		return Target{}, noNodes(s, eligible)
	}
	return voters(1), nil
}

// Pair is two voters when N ≥ 2, one when N = 1. It is the one strategy that
// allows an even count, and the trade-off should be chosen knowingly: a pair
// commits only with both voters, so it tolerates no failure — no better than
// Solo for availability, and it halts if either voter is lost. What it buys
// is durability: every committed entry is on two machines, so losing one disk
// loses nothing, and the operator can recover from the survivor.
type Pair struct{}

// Name is "pair".
func (Pair) Name() string { return "pair" }

// Target is min(2, N) voters.
func (s Pair) Target(eligible int) (Target, error) {
	if eligible < 1 {
		return Target{}, noNodes(s, eligible)
	}
	return voters(min(2, eligible)), nil
}

// Quorum3M is three voters when N ≥ 3, else the largest odd count ≤ N (1 for
// N = 1 or 2: a second voter would add a quorum member and no tolerance).
// Three voters tolerate one failure, the smallest fault-tolerant group; the
// rest of the nodes are workers.
type Quorum3M struct{}

// Name is "quorum-3m".
func (Quorum3M) Name() string { return "quorum-3m" }

// Target is min(3, largest odd ≤ N) voters.
func (s Quorum3M) Target(eligible int) (Target, error) {
	if eligible < 1 {
		return Target{}, noNodes(s, eligible)
	}
	return voters(min(3, largestOdd(eligible))), nil
}

// Cluster3MNW is three voters and every other eligible node a worker, with at
// least one worker: for N ≥ 4 the target is 3 voters and WorkersMin = N − 3,
// so the target accounts for every eligible node and promises workloads at
// least one node free of the control plane.
//
// Below 4 nodes it degrades to Quorum3M's target with WorkersMin 0 rather
// than failing. Failing would withhold the policy exactly when it matters:
// in a 4-node mesh that loses a voter, 3 nodes remain eligible, and the
// worker must be promoted to restore a fault-tolerant 3-voter group. The
// workers come back with the fourth node.
type Cluster3MNW struct{}

// Name is "cluster-3m-nw".
func (Cluster3MNW) Name() string { return "cluster-3m-nw" }

// Target is 3 voters with N − 3 workers for N ≥ 4, else Quorum3M's target.
func (s Cluster3MNW) Target(eligible int) (Target, error) {
	if eligible < 4 {
		t, err := Quorum3M{}.Target(eligible)
		if err != nil {
			return Target{}, noNodes(s, eligible)
		}
		return t, nil
	}
	t := voters(3)
	t.WorkersMin = eligible - 3
	return t, nil
}

// MeshAllPeers makes every node a voter, but always an odd count: N when N is
// odd, N − 1 when even (the N-th voter would add quorum size and no
// tolerance). It maximises failure tolerance, ⌊(N−1)/2⌋, at the price of
// replicating every write to every node; sensible for small meshes only.
type MeshAllPeers struct{}

// Name is "mesh-all-peers".
func (MeshAllPeers) Name() string { return "mesh-all-peers" }

// Target is the largest odd count ≤ N.
func (s MeshAllPeers) Target(eligible int) (Target, error) {
	if eligible < 1 {
		return Target{}, noNodes(s, eligible)
	}
	return voters(largestOdd(eligible)), nil
}

// Phalanx scales the voter count with the mesh, about two voters in five.
//
// The rule: the voter count is the odd number v in 1..N closest to 2N/5,
// and on a tie (2N/5 an even integer, equidistant from two odd numbers) the
// larger. In closed form v = 2⌊N/5⌋ + 1: 1 voter for N = 1–4, 3 for 5–9,
// 5 for 10–14, 7 for 15–19, 11 for 25.
//
// Ties go up so that a 5-node Phalanx survives a voter failure (3 voters,
// not 1) and a 10-node one two (5, not 3). The 2/5 ratio keeps the quorum
// small relative to the mesh while the tolerance, ⌊N/5⌋ voters, grows with
// it. 0.1.4 used ⌈2N/5⌉, which is even for N = 5 or 10.
type Phalanx struct{}

// Name is "phalanx".
func (Phalanx) Name() string { return "phalanx" }

// Target is 2⌊N/5⌋ + 1 voters.
func (s Phalanx) Target(eligible int) (Target, error) {
	if eligible < 1 {
		return Target{}, noNodes(s, eligible)
	}
	return voters(2*(eligible/5) + 1), nil
}

// Explicit is a target given as counts, for an operator who wants exact
// numbers. Its voter count must be odd (only Pair may be even).
type Explicit Target

// Name is "explicit".
func (Explicit) Name() string { return "explicit" }

// Target returns the explicit target, with an error wrapping ErrUnsatisfiable
// when Validate rejects it for this many eligible nodes. The target is
// returned even then, so the caller can plan toward it and report the gap.
func (e Explicit) Target(eligible int) (Target, error) {
	t := Target(e)
	return t, Validate(t, eligible, false)
}

// ErrUnknownStrategy is returned by ByName for a name no strategy has.
var ErrUnknownStrategy = errors.New("topology: unknown strategy")

var builtin = []Strategy{Solo{}, Pair{}, Quorum3M{}, Cluster3MNW{}, MeshAllPeers{}, Phalanx{}}

// Builtin lists the built-in strategies in a fixed order.
func Builtin() []Strategy { return append([]Strategy(nil), builtin...) }

// ByName returns the built-in strategy with that name. Underscores are read
// as hyphens, so 0.1.4's configuration names ("quorum_3m") still work.
// Explicit has no name lookup: it needs its counts.
func ByName(name string) (Strategy, error) {
	norm := strings.ReplaceAll(name, "_", "-")
	names := make([]string, len(builtin))
	for i, s := range builtin {
		if s.Name() == norm {
			return s, nil
		}
		names[i] = s.Name()
	}
	return nil, fmt.Errorf("%w %q (want one of %s)", ErrUnknownStrategy, name, strings.Join(names, ", "))
}
