// Package cover names the rare paths a simulation sweep should sometimes
// reach, in the manner of Antithesis's Sometimes assertions: each Point is
// declared here, counted where the path is taken, and a sweep reports the
// declared points it never reached — paths its fault plans never tested.
//
// Counting is per state machine: a node keeps its own Counts (core stays
// free of shared mutable state), and the simulator sums them per run.
package cover

import "slices"

// Point is a rare path.
type Point string

// The points the core declares.
const (
	SnapshotInstalled   Point = "snapshot installed from the leader"
	LeaderInJoint       Point = "leader elected during a joint configuration"
	JointEntered        Point = "joint configuration entered"
	RequestDeduplicated Point = "retried request answered from the dedup table"
	RequestForwarded    Point = "request forwarded more than once"
	StagedTimedOut      Point = "staged promotion gave up waiting for learners"
	RemovalHeld         Point = "operator's voter removal held for a live majority or a replacement"
	ReadIndexExpired    Point = "linearizable read expired unconfirmed"
	PolicyWithheld      Point = "policy withheld a shift (no quorum view, or damper)"
	LeaderHandedOff     Point = "leader handed off leadership instead of removing itself"
	PolicyFenced        Point = "policy shift fenced at apply (term or shape moved)"
	DamperBypassed      Point = "damper let a recovery through (dead voter removed, or voters restored)"
	SyncedRead          Point = "worker served a local read from its synced state"
	SyncRetargeted      Point = "worker switched to a newer root in the middle of a fetch"
	PartRefused         Point = "fetched blob part refused (corrupt, malformed or too large)"
	SyncStalled         Point = "worker gave up a root no peer served, and distrusted its publisher"
)

// Core is every point the core declares.
func Core() []Point {
	return []Point{SnapshotInstalled, LeaderInJoint, JointEntered, RequestDeduplicated, RequestForwarded, StagedTimedOut, RemovalHeld, ReadIndexExpired, PolicyWithheld, LeaderHandedOff, PolicyFenced, DamperBypassed,
		SyncedRead, SyncRetargeted, PartRefused, SyncStalled}
}

// Counts is how often each point was reached.
type Counts map[Point]int

// Sometimes counts one reach of p. A nil Counts counts nothing.
func (c Counts) Sometimes(p Point) {
	if c != nil {
		c[p]++
	}
}

// Add adds every count of o to c.
func (c Counts) Add(o Counts) {
	for p, n := range o {
		c[p] += n
	}
}

// Missing lists the declared points c never reached, in declared order.
func (c Counts) Missing(declared []Point) []Point {
	return slices.DeleteFunc(slices.Clone(declared), func(p Point) bool { return c[p] > 0 })
}
