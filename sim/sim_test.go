package sim

import (
	"strings"
	"testing"
	"time"

	"go.etcd.io/raft/v3"

	"revoada.dev/revoada/core/node"
	"revoada.dev/revoada/core/roles"
)

var lossy = Network{LatencyMin: time.Millisecond, LatencyMax: 20 * time.Millisecond, Loss: 0.02, Duplicate: 0.02}

// operatorShift promotes two workers and demotes two voters: two learner
// stages, four voter changes.
var operatorShift = []Command{
	{At: 10 * time.Second, Kind: roles.Promote, Target: "n4", Reason: roles.Operator},
	{At: 15 * time.Second, Kind: roles.Promote, Target: "n5", Reason: roles.Operator},
	{At: 40 * time.Second, Kind: roles.Demote, Target: "n1", Reason: roles.Operator},
	{At: 45 * time.Second, Kind: roles.Demote, Target: "n2", Reason: roles.Operator},
}

func faultPlans() []*Plan {
	exp := Expect{CommandsComplete: true, Converge: &Converge{Within: 30 * time.Second, ControlPlane: 3}}
	plan := func(name string, faults ...Fault) *Plan {
		return &Plan{Name: name, Nodes: 5, ControlPlane: 3, Duration: 120 * time.Second, Network: lossy,
			Commands: operatorShift, Expect: exp, Faults: faults}
	}
	return []*Plan{
		plan("pause", Fault{At: 25 * time.Second, Kind: Pause, Target: "random-voter", For: 5 * time.Second}),
		plan("leader-crashes",
			Fault{At: 12 * time.Second, Kind: Crash, Target: "leader", For: 10 * time.Second},
			Fault{At: 42 * time.Second, Kind: Crash, Target: "leader", For: 10 * time.Second}),
		plan("partitions",
			Fault{At: 12 * time.Second, Kind: Partition, Groups: [][]Selector{{"minority"}}, For: 10 * time.Second},
			Fault{At: 41 * time.Second, Kind: Partition, Groups: [][]Selector{{"leader"}, {"random-voter"}}, OneWay: true, For: 10 * time.Second}),
		{Name: "chaos", Nodes: 5, ControlPlane: 3, Duration: 150 * time.Second, Network: lossy, Commands: operatorShift,
			Expect: Expect{CommandsComplete: true}, Faults: []Fault{{At: 5 * time.Second, Kind: Chaos, Rate: 0.03, For: 90 * time.Second}}},
	}
}

func TestFaultPlansPass(t *testing.T) {
	seeds := uint64(25)
	if testing.Short() {
		seeds = 5
	}
	for _, p := range faultPlans() {
		for seed := uint64(1); seed <= seeds; seed++ {
			if r := Run(p, seed, Options{}); !r.OK() {
				t.Errorf("%s seed %d: %v", p.Name, seed, r.Violations[0])
			}
		}
	}
}

// TestJointShift moves two voters in one shift: n4 in, n1 out, through a
// joint configuration, with a leader crash in the middle of the run.
func TestJointShift(t *testing.T) {
	p := &Plan{Name: "joint", Nodes: 5, ControlPlane: 3, Duration: 90 * time.Second, Network: lossy,
		Commands: []Command{{At: 10 * time.Second, Kind: roles.Promote, Target: "n4", Reason: roles.Rebalance,
			With: []Command{{Kind: roles.Demote, Target: "n1", Reason: roles.Rebalance}}}},
		Faults: []Fault{{At: 11 * time.Second, Kind: Crash, Target: "leader", For: 5 * time.Second}},
		Expect: Expect{CommandsComplete: true, Converge: &Converge{Within: 30 * time.Second, ControlPlane: 3}}}
	var trace strings.Builder
	r := Run(p, 3, Options{Trace: &trace})
	if !r.OK() {
		t.Fatal(r.Violations)
	}
	if r.Stats.CommandsDone != 1 {
		t.Fatalf("the shift did not complete: %+v", r.Stats)
	}
	// Raft's own leave-joint entry is a conf change carrying no request.
	if !strings.Contains(trace.String(), `EntryConfChangeV2"}`) {
		t.Fatal("no leave-joint entry was applied: the shift did not go through a joint configuration")
	}
	for seed := uint64(1); seed <= 20; seed++ {
		if r := Run(p, seed, Options{}); !r.OK() {
			t.Errorf("seed %d: %v", seed, r.Violations[0])
		}
	}
}

// TestCrashAfterSnapshotInstall: a learner that installs a snapshot and
// crashes at once must restart from it; the snapshot had to be synced
// before its acknowledgement was sent.
func TestCrashAfterSnapshotInstall(t *testing.T) {
	p := &Plan{Name: "snapshot-crash", Nodes: 5, ControlPlane: 3, Duration: 60 * time.Second, Network: lossy,
		Expect: Expect{CommandsComplete: true}}
	for k := range 100 { // push the log past the compaction tail
		kind := roles.Quarantine
		if k%2 == 1 {
			kind = roles.Restore
		}
		p.Commands = append(p.Commands, Command{At: time.Second + time.Duration(k)*100*time.Millisecond, Kind: kind, Target: "n5", Reason: roles.Operator})
	}
	p.Commands = append(p.Commands, Command{At: 20 * time.Second, Kind: roles.Promote, Target: "n4", Reason: roles.ScalingUp})
	for seed := uint64(1); seed <= 5; seed++ {
		var trace strings.Builder
		r := Run(p, seed, Options{Trace: &trace, Hooks: Hooks{CrashAfterSnapshot: true}})
		if !r.OK() {
			t.Fatalf("seed %d: %v", seed, r.Violations[0])
		}
		if !strings.Contains(trace.String(), "crash after snapshot n4") {
			t.Fatalf("seed %d: n4 never installed a snapshot; the test does not test", seed)
		}
	}
}

// TestLeaderRemovalGap: removing the leader leaves the mesh leaderless for
// about an election timeout; the liveness check must not call that a failure.
func TestLeaderRemovalGap(t *testing.T) {
	p := &Plan{Name: "remove-leader", Nodes: 5, ControlPlane: 3, Duration: 60 * time.Second, Network: lossy,
		Commands: []Command{
			{At: 5 * time.Second, Kind: roles.Promote, Target: "n4", Reason: roles.ScalingUp},
			{At: 15 * time.Second, Kind: roles.Demote, Target: "leader", Reason: roles.ScalingDown},
		},
		Faults: []Fault{{At: 14500 * time.Millisecond, Kind: Heal}},
		Expect: Expect{CommandsComplete: true, Converge: &Converge{Within: 10 * time.Second, ControlPlane: 3}}}
	for seed := uint64(1); seed <= 30; seed++ {
		if r := Run(p, seed, Options{}); !r.OK() {
			t.Fatalf("seed %d: %v", seed, r.Violations[0])
		}
	}
}

func TestSameSeedSameFingerprint(t *testing.T) {
	p := faultPlans()[3]
	var trace1, trace2 strings.Builder
	a := Run(p, 42, Options{Trace: &trace1})
	b := Run(p, 42, Options{Trace: &trace2})
	c := Run(p, 43, Options{})
	if a.Fingerprint != b.Fingerprint || trace1.String() != trace2.String() {
		t.Fatalf("seed 42 twice: %s vs %s", a.Fingerprint, b.Fingerprint)
	}
	if a.Fingerprint == c.Fingerprint {
		t.Fatal("seeds 42 and 43 gave the same fingerprint")
	}
	if a.Stats.Messages == 0 || a.Stats.CommandsDone != len(operatorShift) {
		t.Fatalf("the run did little: %+v", a.Stats)
	}
}

// TestForgetVoteIsCaught plants the classic Raft bug — a node that does not
// persist its vote before replying — and asserts a small sweep catches it as
// two leaders in one term.
func TestForgetVoteIsCaught(t *testing.T) {
	p := &Plan{Name: "forget-vote", Nodes: 3, ControlPlane: 3, Duration: 120 * time.Second,
		Network: Network{LatencyMin: time.Millisecond, LatencyMax: 30 * time.Millisecond, Loss: 0.05},
		Faults:  []Fault{{At: 2 * time.Second, Kind: Chaos, Rate: 0.15, For: 80 * time.Second}}}
	for seed := uint64(1); seed <= 300; seed++ {
		r := Run(p, seed, Options{Hooks: Hooks{ForgetVote: true}})
		for _, v := range r.Violations {
			if v.Property == PropOneLeader {
				t.Logf("caught at seed %d: %v", seed, v)
				return
			}
		}
	}
	t.Fatal("no seed in 1..300 caught a node that forgets its vote")
}

func TestCorePanicIsAFailedRun(t *testing.T) {
	p := &Plan{Name: "garbage", Nodes: 3, ControlPlane: 3, Duration: 30 * time.Second, Network: lossy,
		Commands: []Command{{At: 5 * time.Second, Kind: roles.Promote, Target: "n1", Roles: roles.Scheduler, Reason: roles.Operator}}}
	r := Run(p, 1, Options{Hooks: Hooks{CorruptEntries: true}})
	if r.OK() || r.Violations[0].Property != PropPanic || !strings.Contains(r.Violations[0].Detail, "corrupt entry payload") {
		t.Fatalf("want a panic violation naming the corrupt payload, got %v", r.Violations)
	}
	if r.Seed != 1 || r.Fingerprint == "" {
		t.Fatalf("a failed run must keep its seed and fingerprint: %+v", r)
	}
}

func TestInvalidPlanIsReported(t *testing.T) {
	for _, p := range []*Plan{
		{Name: "x", Nodes: 0, ControlPlane: 1, Duration: time.Second},
		{Name: "x", Nodes: 3, ControlPlane: 4, Duration: time.Second},
		{Name: "x", Nodes: 3, ControlPlane: 1, Duration: time.Second, Faults: []Fault{{Kind: "melt"}}},
		{Name: "x", Nodes: 3, ControlPlane: 1, Duration: time.Second, Faults: []Fault{{Kind: Crash, Target: "n9"}}},
		{Name: "x", Nodes: 3, ControlPlane: 1, Duration: time.Second, Commands: []Command{{Kind: 9, Target: "n1"}}},
	} {
		if r := Run(p, 1, Options{}); r.OK() || r.Violations[0].Property != PropInvalidPlan {
			t.Errorf("%+v: %v", p, r.Violations)
		}
	}
}

func TestLeaderCheckNeedsRoom(t *testing.T) {
	p := &Plan{Name: "short", Nodes: 3, ControlPlane: 3, Duration: 20 * time.Second, Network: lossy,
		Faults: []Fault{{At: 15 * time.Second, Kind: Crash, Target: "n1", For: time.Second}}}
	r := Run(p, 1, Options{})
	if r.OK() || r.Violations[0].Property != PropInvalidPlan {
		t.Fatalf("a run too short to judge liveness was not refused: %v", r.Violations)
	}
}

// A majority crashed for good: no leader can exist, and the check says so.
func TestLeaderCheckBites(t *testing.T) {
	p := &Plan{Name: "dead-majority", Nodes: 3, ControlPlane: 3, Duration: 40 * time.Second, Network: lossy,
		Faults: []Fault{{At: 5 * time.Second, Kind: Crash, Target: "n1"}, {At: 5 * time.Second, Kind: Crash, Target: "n2"}}}
	r := Run(p, 1, Options{})
	if r.OK() || r.Violations[0].Property != PropLeaderAfter {
		t.Fatalf("want %s, got %v", PropLeaderAfter, r.Violations)
	}
}

// The checker tests feed it what nodes would publish and assert each
// property fires.

func applied(idx uint64, shape roles.Digest, voters ...uint64) node.Applied {
	return node.Applied{Index: idx, Shape: shape, ConfVoters: voters, ShapeVoters: voters}
}

func TestCheckerCatchesTwoLeaders(t *testing.T) {
	c := newChecker(testShape(t))
	c.status(0, 0, "n1", node.Status{Term: 3, State: raft.StateLeader})
	c.status(0, 0, "n1", node.Status{Term: 3, State: raft.StateLeader})
	if len(c.violations) != 0 {
		t.Fatal("one leader reported twice is fine")
	}
	c.status(0, 1, "n2", node.Status{Term: 3, State: raft.StateLeader})
	expectViolation(t, c, PropOneLeader)
}

func TestCheckerCatchesShapeAndVoterMismatch(t *testing.T) {
	shape := testShape(t)
	c := newChecker(shape)
	a := applied(1, shape.Digest(), 1, 2)
	a.ShapeVoters = []uint64{1, 2, 3}
	c.applied(0, "n1", a)
	expectViolation(t, c, PropVotersAreEtcd)

	c = newChecker(shape)
	c.applied(0, "n1", applied(1, roles.Digest{1}))
	expectViolation(t, c, PropShapeMatches)
}

func expectViolation(t *testing.T, c *checker, prop string) {
	t.Helper()
	for _, v := range c.violations {
		if v.Property == prop {
			return
		}
	}
	t.Fatalf("want %s, got %v", prop, c.violations)
}

func testShape(t *testing.T) roles.Shape {
	s, err := roles.NewShape([]roles.Member{{Node: NodeKey("n1"), Roles: roles.ControlPlane}, {Node: NodeKey("n2"), Roles: roles.Worker}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
