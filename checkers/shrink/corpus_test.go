package shrink_test

import (
	"testing"
	"time"

	"revoada.dev/revoada/checkers/bundle"
	"revoada.dev/revoada/checkers/shrink"
	"revoada.dev/revoada/scenarios"
	"revoada.dev/revoada/sim"
)

// watchResume watches and resumes watches from older revisions while every
// node keeps only 5 events of history.
const watchResume = `name: watch-resume
description: clients watch, and resume watches from older revisions, while the history is compacted to 5 events
nodes: 3
control_plane: 3
duration: 40s
network: {latency: {min: 1ms, max: 10ms}}
workload:
  clients: 4
  rate: 40/s
  keys: 10
  face: kubernetes
  mix: {apply: 4, get: 2, list: 1, delete: 1, watch: 2}
  resume: 0.8
  retain: 5
faults:
  - {at: 10s, crash: leader, for: 5s}
`

// chaosVotes crashes nodes at random on a lossy network: a node that
// forgets its vote votes twice in a term.
const chaosVotes = `name: chaos-votes
description: random crashes on a lossy network for 80 s; every crashed node restarts from its disk
nodes: 3
control_plane: 3
duration: 120s
network: {latency: {min: 1ms, max: 30ms}, loss: 0.05}
faults:
  - {at: 2s, chaos: 0.15, for: 80s}
`

// guardTest kills a voter and then cuts the leader off from the rest as the
// death becomes known; damperTest kills two voters in turn.
const guardTest = `name: guard-test
description: a voter dies, and as its death becomes known the leader is cut off from the other voter
nodes: 5
control_plane: 3
duration: 90s
target: quorum-3m
faults:
  - {at: 20s, crash: n1}
  - {at: 23s, partition: [[leader, n4, n5]], for: 10s}
`

const damperTest = `name: damper-test
description: the leader dies, then a random voter; the policy replaces each
nodes: 5
control_plane: 3
duration: 150s
target: quorum-3m
faults:
  - {at: 20s, crash: leader}
  - {at: 35s, crash: random-voter}
`

// plantedBug is one entry of the corpus: a scenario and a deliberate bug,
// and how many seeds a sweep may take to catch it.
type plantedBug struct {
	plant    string
	scenario string // a built-in name, or a scenario file's text
	seedsMax uint64
}

var corpus = []plantedBug{
	{"stale-reads", "store-under-partition", 20},
	{"watch-skip-compacted", watchResume, 20},
	{"ack-timed-out-writes", "store-leader-churn", 20},
	{"no-dedup", "store-leader-churn", 20},
	{"forget-vote", chaosVotes, 300},
	{"no-quorum-guard", guardTest, 1000},
	{"no-damper", damperTest, 1000},
}

// TestPlantedBugCorpus sweeps each planted bug's scenario until a seed
// fails, checks that its bundle replays to the same fingerprint, shrinks
// it, and checks the shrunk plan fails the same way under every seed the
// shrink kept. The log is the corpus table: bug, property, sweep size,
// events before and after.
func TestPlantedBugCorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("the corpus sweeps and shrinks for a minute")
	}
	for _, bug := range corpus {
		t.Run(bug.plant, func(t *testing.T) {
			p := plan(t, bug.scenario)
			hooks, err := sim.ParsePlants(bug.plant)
			if err != nil {
				t.Fatal(err)
			}
			if r := sim.Run(p, 1, sim.Options{}); !r.OK() {
				t.Fatalf("the scenario fails without the bug: %v", r.Violations)
			}
			seed, first := sweep(p, hooks, bug.seedsMax)
			if first == nil {
				t.Fatalf("seeds 1..%d never caught %s", bug.seedsMax, bug.plant)
			}
			dir, _, err := bundle.Write(t.TempDir(), p, seed, hooks, first.Fingerprint)
			if err != nil {
				t.Fatal(err)
			}
			b, err := bundle.Read(dir)
			if err != nil {
				t.Fatal(err)
			}
			if _, same, err := b.Replay(nil); err != nil || !same {
				t.Fatalf("replay of %s: same fingerprint %v, %v", dir, same, err)
			}
			start := time.Now()
			out, err := shrink.Shrink(p, seed, hooks, shrink.Options{Runs: 1500})
			if err != nil {
				t.Fatal(err)
			}
			wall := time.Since(start)
			for _, s := range out.Seeds {
				if !sim.Run(out.Plan, s, sim.Options{Hooks: hooks}).Violated(out.Property) {
					t.Errorf("the shrunk plan does not fail %s under seed %d", out.Property, s)
				}
			}
			if _, err := scenarios.Marshal(out.Plan); err != nil {
				t.Errorf("the shrunk plan cannot be written: %v", err)
			}
			t.Logf("%-22s %-20s caught at seed %4d; shrunk %5d → %3d events (%5.1f×) in %4d runs, %v; seeds %v",
				bug.plant, out.Property, seed, out.Before, out.After, float64(out.Before)/float64(max(out.After, 1)), out.Runs, wall.Round(time.Millisecond), out.Seeds)
			if out.After > out.Before {
				t.Errorf("shrinking grew the plan: %d → %d events", out.Before, out.After)
			}
		})
	}
}

// TestShrinkTenfold: a workload bug's failing run shrinks to at least ten
// times fewer fault and operation events.
func TestShrinkTenfold(t *testing.T) {
	p := plan(t, "store-under-partition")
	hooks := sim.Hooks{StaleReads: true}
	out, err := shrink.Shrink(p, 1, hooks, shrink.Options{Runs: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if out.After*10 > out.Before {
		t.Fatalf("shrunk %d → %d events, less than tenfold: %v", out.Before, out.After, out.Steps)
	}
	if !sim.Run(out.Plan, 1, sim.Options{Hooks: hooks}).Violated(out.Property) {
		t.Fatalf("the shrunk plan passes")
	}
}

func TestShrinkPassingRun(t *testing.T) {
	if _, err := shrink.Shrink(plan(t, "smoke"), 1, sim.Hooks{}, shrink.Options{}); err != shrink.ErrPasses {
		t.Fatalf("got %v, want ErrPasses", err)
	}
}

func plan(t *testing.T, scenario string) *sim.Plan {
	t.Helper()
	var p *sim.Plan
	var err error
	if len(scenario) < 40 {
		p, err = scenarios.Builtin(scenario)
	} else {
		p, err = scenarios.Parse("corpus.yaml", []byte(scenario))
	}
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func sweep(p *sim.Plan, hooks sim.Hooks, limit uint64) (uint64, *sim.Result) {
	for seed := uint64(1); seed <= limit; seed++ {
		if r := sim.Run(p, seed, sim.Options{Hooks: hooks}); !r.OK() {
			return seed, r
		}
	}
	return 0, nil
}
