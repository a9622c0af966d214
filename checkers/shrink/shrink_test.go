package shrink_test

import (
	"strings"
	"testing"
	"time"

	"revoada.dev/revoada/checkers/shrink"
	"revoada.dev/revoada/scenarios"
	"revoada.dev/revoada/sim"
)

// leaderBound is a run that genuinely fails leader-after-heal: two of three
// nodes crash for good at 10 s, and the last one can never be elected.
func leaderBound() *sim.Plan {
	return &sim.Plan{Name: "leader-bound", Nodes: 3, ControlPlane: 3, Duration: 60 * time.Second,
		Network: sim.Network{LatencyMin: time.Millisecond, LatencyMax: 10 * time.Millisecond},
		Faults: []sim.Fault{
			{At: 10 * time.Second, Kind: sim.Crash, Target: "n1"},
			{At: 10 * time.Second, Kind: sim.Crash, Target: "n2"},
		}}
}

// TestShrinkKeepsAGenuineViolation: shortening the run until it ends before
// the leader monitor can judge must not count as the same failure.
func TestShrinkKeepsAGenuineViolation(t *testing.T) {
	p := leaderBound()
	var seed uint64
	for s := uint64(1); s <= 100; s++ {
		if sim.Run(p, s, sim.Options{}).Violated(sim.PropLeaderAfter) {
			seed = s
			break
		}
	}
	if seed == 0 {
		t.Fatal("no seed in 1..100 fails leader-after-heal")
	}
	out, err := shrink.Shrink(p, seed, sim.Hooks{}, shrink.Options{Runs: 300, Seeds: []uint64{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %v; %v", out.Property, out.Violation, out.Steps)
	if !strings.Contains(out.Violation.Detail, "no leader since") {
		t.Fatalf("shrunk to a run too short to judge: %v", out.Violation)
	}
	if err := out.Plan.Validate(); err != nil {
		t.Fatalf("the shrunk plan is invalid: %v", err)
	}
	if r := sim.Run(out.Plan, out.Seeds[0], sim.Options{}); !r.Violated(out.Property) {
		t.Fatalf("the shrunk plan passes: %v", r.Violations)
	}
}

// TestShrinkDropsProgressWithTheWorkload: a failure that does not need the
// workload shrinks to a plan without it, and without the progress
// expectation that only a workload can meet, so the shrunk plan is valid
// and its scenario file loads.
func TestShrinkDropsProgressWithTheWorkload(t *testing.T) {
	p := leaderBound()
	p.Workload = &sim.Workload{Clients: 2, Rate: 10, Keys: 5, Face: "kubernetes", Mix: sim.Mix{Apply: 1, Get: 1}}
	p.Expect.Progress = 0.01
	r := sim.Run(p, 1, sim.Options{})
	if !r.Violated(sim.PropLeaderAfter) {
		t.Fatalf("want a %s failure: %v", sim.PropLeaderAfter, r.Violations)
	}
	out, err := shrink.Shrink(p, 1, sim.Hooks{}, shrink.Options{Runs: 500, Seeds: []uint64{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%v; %v", out.Violation, out.Steps)
	if out.Plan.Workload != nil {
		t.Fatalf("the workload survived the shrink: %d operations", len(out.Plan.Workload.Script))
	}
	if out.Plan.Expect.Progress != 0 {
		t.Fatalf("expect.progress %v kept without a workload", out.Plan.Expect.Progress)
	}
	if err := out.Plan.Validate(); err != nil {
		t.Fatal(err)
	}
	text, err := scenarios.Marshal(out.Plan)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := scenarios.Parse("shrunk.yaml", text); err != nil {
		t.Fatalf("the shrunk scenario does not load: %v\n%s", err, text)
	}
}

// A progress share without a workload is an invalid plan.
func TestProgressNeedsAWorkload(t *testing.T) {
	p := leaderBound()
	p.Expect.Progress = 0.5
	if err := p.Validate(); err == nil {
		t.Fatal("a plan expecting progress without a workload validated")
	}
}
