package sim

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"revoada.dev/revoada/checkers"
	"revoada.dev/revoada/core/attest"
	"revoada.dev/revoada/core/cover"
)

// Options are a run's settings beyond the plan and seed.
type Options struct {
	// Trace, if set, receives the run's trace as JSON Lines. The fingerprint
	// is computed whether or not a trace is written.
	Trace io.Writer
	// Hooks plant deliberate bugs; tests use them to show the checks bite.
	Hooks Hooks
	// Choices, if set, records every random choice the simulator makes
	// (fault targets, chaos, network delays and drops, client operations)
	// in Result.Choices. The run is the same with or without it.
	Choices bool
	// CheckTimeout bounds the linearizability search of the workload's
	// history (package checkers), in wall time; 0 means none. The search is
	// exponential in the operations pending at once on a key, and one
	// history of ten chaotic minutes kept it busy for over ten minutes in
	// 2 GB. A search out of time concludes nothing, and the run fails
	// saying so (PropLinearizable, "unknown"): only that verdict depends
	// on the machine that ran it, not the run's trace or fingerprint. The
	// CLI sets CheckTimeoutDefault.
	CheckTimeout time.Duration
}

// CheckTimeoutDefault is the CLI's Options.CheckTimeout.
const CheckTimeoutDefault = 2 * time.Minute

// Hooks are planted bugs. The zero value plants none. They exist so that tests
// can prove each safety check catches the bug it is written for.
type Hooks struct {
	// ForgetVote makes every node's disk drop the vote from the hard state it
	// persists: a node that crashes and restarts may vote twice in one term.
	ForgetVote bool
	// CorruptEntries makes the network flip the first byte of every normal
	// entry it carries: followers apply garbage, and the core panics.
	CorruptEntries bool
	// CrashAfterSnapshot is an adversarial crash point, not a bug: a node
	// crashes the moment it has handled a Ready that installed a snapshot
	// from the leader, and restarts a second later.
	CrashAfterSnapshot bool
	// StaleReads serves every read from the contact node's own replica
	// while the history records it as linearizable: stale reads under a
	// partition must be caught.
	StaleReads bool
	// NoQuorumGuard and NoDamper switch off the policy's quorum guard and
	// damper (policy.Config.Unsafe).
	NoQuorumGuard, NoDamper bool
	// NoDedup and AckTimedOutWrites plant node bugs (node.Planted): a
	// retried write applied twice; a write acknowledged when its proposal
	// was lost.
	NoDedup, AckTimedOutWrites bool
	// NoConfSync, LaxCatchUp and StayJoint plant the node bugs of issue 9
	// (node.Planted): a conf change's snapshot and commit saved without a
	// sync; a learner that acknowledged nothing counted as caught up; a
	// joint configuration never left. NoStabilize lets the policy promote a
	// node that has just started (policy.Config.Unsafe).
	NoConfSync, LaxCatchUp, StayJoint, NoStabilize bool
	// HastyDetector runs membership with a φ threshold of 1 instead of 8:
	// a failure detector tuned for a quiet LAN suspects live peers on slow
	// links. SlowElections gives raft an election timeout 30 times the
	// plan's (a timeout read in the wrong unit): a mesh that has lost its
	// leader stays without one long after the fault is over.
	HastyDetector, SlowElections bool
	// WatchSkipCompacted makes a watch resuming from a compacted revision
	// start silently from the oldest revision held, skipping the events in
	// between, instead of failing with ErrCompacted.
	WatchSkipCompacted bool
	// EarlyInstall makes workers install a state root before they hold
	// every resource it lists (node.Planted.EarlyInstall).
	EarlyInstall bool
	// AckBeforeSync makes the simulator's driver send a Ready's messages
	// and deliver its results before the Ready's writes are synced, and
	// sync them up to a tick later (fsync batched on a timer): a crash in
	// between loses writes the node already acknowledged — votes and
	// appended entries.
	AckBeforeSync bool
}

// Result is the outcome of one run.
type Result struct {
	Scenario    string
	Seed        uint64
	SimTime     time.Duration // simulated time covered
	Fingerprint string        // hex BLAKE3 over the canonical trace
	Violations  []Violation
	Stats       Stats
	History     []Op // the workload's operations, in the order they returned
	// Coverage counts the rare paths the run reached (CoveragePoints).
	Coverage cover.Counts
	// Monitors are the liveness monitors with their hot stretches.
	Monitors []checkers.Monitor
	// Choices are the run's random choices, when Options.Choices is set.
	Choices []Choice
	// Materialized is the plan as the run carried it out: every dynamic
	// selector resolved to the node it picked, every chaos crash an
	// explicit crash, the workload an explicit script. Run again, it
	// reproduces the run's faults and operations without their randomness.
	Materialized *Plan
	// Marks are the run's timeline: faults, starts and crashes, raft state
	// and roles changes, in time order.
	Marks []checkers.Mark
	// Chain is the attested role history the log implies at the end: the
	// genesis block, then a leader-signed block per shape change (the
	// simulator's leaders sign every one).
	Chain []attest.Block
}

// OK reports whether every check passed.
func (r *Result) OK() bool { return len(r.Violations) == 0 }

// Violated reports whether the run violated the property.
func (r *Result) Violated(prop string) bool {
	return slices.ContainsFunc(r.Violations, func(v Violation) bool { return v.Property == prop })
}

// Summary is one line naming the first violated property, or "ok".
func (r *Result) Summary() string {
	if r.OK() {
		return "ok"
	}
	props := make([]string, 0, len(r.Violations))
	seen := map[string]bool{}
	for _, v := range r.Violations {
		if !seen[v.Property] {
			seen[v.Property] = true
			props = append(props, v.Property)
		}
	}
	return "FAIL " + strings.Join(props, ",")
}

// Violation is one failed check.
type Violation struct {
	Property string        // e.g. "one-leader-per-term"
	At       time.Duration // simulated time it was detected
	Node     string        // the node concerned, if one is
	Detail   string
}

func (v Violation) String() string {
	if v.Node != "" {
		return fmt.Sprintf("%s at %v on %s: %s", v.Property, v.At, v.Node, v.Detail)
	}
	return fmt.Sprintf("%s at %v: %s", v.Property, v.At, v.Detail)
}

// Stats are counters of a run.
type Stats struct {
	Events        int    // events processed
	Messages      int    // messages sent
	Dropped       int    // messages dropped by faults
	QueueDrops    int    // of those, dropped by a full queue (Network.Bandwidth, Link.Bandwidth)
	Held          int    // messages a clog held for a while
	Elections     int    // distinct (term, leader) pairs seen
	CommitIndex   uint64 // highest commit index seen
	CommandsDone  int    // role commands with a final result
	CommandsTotal int
	Ops           int // workload operations issued
	OpsOK         int // of those, the ones that succeeded
	// OpsPerSecond is Ops per simulated second of the run: the plan's
	// Rate, or fewer if its clients could not keep up (see Workload).
	OpsPerSecond float64
	// OpsLate counts the operations a client issued later than its pause
	// said, because the one before outlasted the pause: the clients'
	// saturation (see Workload), which a rate below Rate alone does not
	// tell from chance at low rates.
	OpsLate      int
	PolicyShifts int // shifts the policy proposed
	// FalseSuspicions counts membership suspicions of a node that was up,
	// unpaused and reachable both ways when it was suspected.
	FalseSuspicions int
	// FalseSuspicionsPerNodeHour is FalseSuspicions over the run's
	// node-hours (nodes × duration).
	FalseSuspicionsPerNodeHour float64
	// Restored is how long after its first crash fault the mesh had its
	// target control-plane count again, all on live nodes; -1 when it never
	// did, 0 when the plan crashed nothing.
	Restored time.Duration
	// Content sync (core/node/content.go), over every node's lives:
	// RootsInstalled counts the roots workers installed; BytesServed the
	// blob bytes each node sent, by name (nodes that sent none left
	// out); PartsRejected the parts a fetcher refused as corrupt,
	// malformed or too large (not the late or duplicated ones); RootsRefused the roots refused after
	// fetching (their content did not decode or match).
	RootsInstalled int
	BytesServed    map[string]uint64 `json:",omitempty"`
	PartsRejected  uint64
	RootsRefused   uint64
}
