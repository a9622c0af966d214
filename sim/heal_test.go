package sim

import (
	"strings"
	"testing"
	"time"

	"revoada.dev/revoada/core/attest"
	"revoada.dev/revoada/core/node"
)

func healPlan() *Plan {
	return &Plan{Name: "self-heal", Nodes: 5, ControlPlane: 3, Duration: 90 * time.Second, Target: "quorum-3m",
		Network: Network{LatencyMin: time.Millisecond, LatencyMax: 10 * time.Millisecond},
		Faults:  []Fault{{At: 20 * time.Second, Kind: Crash, Target: "leader"}},
		Expect:  Expect{Converge: &Converge{Within: 30 * time.Second, ControlPlane: 3}}}
}

func TestSelfHealLeaderKill(t *testing.T) {
	var trace strings.Builder
	r := Run(healPlan(), 1, Options{Trace: &trace})
	for _, line := range strings.Split(trace.String(), "\n") {
		if strings.Contains(line, `"audit"`) && strings.Contains(line, "propose") || strings.Contains(line, `"fault"`) || strings.Contains(line, `"health"`) && strings.Contains(line, "Dead") {
			t.Log(line)
		}
	}
	t.Logf("%+v", r.Stats)
	if !r.OK() {
		t.Fatal(r.Violations)
	}
}

// sweepFor runs seeds 1..limit and returns the first that violates prop.
func sweepFor(p *Plan, hooks Hooks, prop string, limit uint64) (uint64, *Violation) {
	for seed := uint64(1); seed <= limit; seed++ {
		r := Run(p, seed, Options{Hooks: hooks})
		for _, v := range r.Violations {
			if v.Property == prop {
				return seed, &v
			}
		}
	}
	return 0, nil
}

// TestDamperOffIsCaught: a voter is replaced, then a random voter crashes;
// when it is the replacement, only the damper keeps the policy from
// shifting it again within a minute.
func TestDamperOffIsCaught(t *testing.T) {
	p := healPlan()
	p.Duration = 150 * time.Second
	p.Faults = []Fault{{At: 20 * time.Second, Kind: Crash, Target: "leader"}, {At: 35 * time.Second, Kind: Crash, Target: "random-voter"}}
	p.Expect = Expect{}
	if r := Run(p, 1, Options{}); r.Violated(PropDamper) {
		t.Fatalf("the damper is on, yet: %v", r.Violations)
	}
	seed, v := sweepFor(p, Hooks{NoDamper: true}, PropDamper, 1000)
	if v == nil {
		t.Fatal("no seed in 1..1000 caught a policy without its damper")
	}
	t.Logf("caught at seed %d: %v", seed, v)
}

// TestQuorumGuardOffIsCaught: a voter dies, and as its death becomes known
// the leader is cut off from the other voter: a leader without its quorum
// guard proposes the replacement from a minority view.
func TestQuorumGuardOffIsCaught(t *testing.T) {
	p := healPlan()
	p.Faults = []Fault{
		{At: 20 * time.Second, Kind: Crash, Target: "n1"},
		{At: 23 * time.Second, Kind: Partition, Groups: [][]Selector{{"leader", "n4", "n5"}}, For: 10 * time.Second},
	}
	p.Expect = Expect{}
	seed, v := sweepFor(p, Hooks{NoQuorumGuard: true}, PropQuorumGuard, 1000)
	if v == nil {
		t.Fatal("no seed in 1..1000 caught a policy without its quorum guard")
	}
	t.Logf("caught at seed %d: %v", seed, v)
	if seed2, v := sweepFor(p, Hooks{}, PropQuorumGuard, seed); v != nil {
		t.Fatalf("with the guard on, seed %d still violates: %v", seed2, v)
	}
}

// skewThenShift: the leader is killed and replaced; then the new leader's
// clock runs three times fast for 4 s, during which the replacement dies.
// The leader counts the 20 s damper in its own fast ticks and may shift the
// replacement again once they have passed, after less real time: that is
// no damper violation, even though no clock is fast at the second commit.
func skewThenShift() *Plan {
	p := healPlan()
	p.Duration = 120 * time.Second
	p.Policy.Damper = 20 * time.Second
	p.Faults = []Fault{
		{At: 20 * time.Second, Kind: Crash, Target: "leader"},
		{At: 31 * time.Second, Kind: ClockSkew, Target: "leader", Rate: 3, For: 4 * time.Second},
		{At: 31 * time.Second, Kind: Crash, Target: "n4"},
	}
	p.Expect = Expect{}
	return p
}

func TestDamperAfterClockSkew(t *testing.T) {
	p := skewThenShift()
	for seed := uint64(1); seed <= 30; seed++ {
		var trace strings.Builder
		r := Run(p, seed, Options{Trace: &trace})
		if r.Violated(PropDamper) {
			for _, line := range strings.Split(trace.String(), "\n") {
				if strings.Contains(line, `"audit"`) && strings.Contains(line, "propose") || strings.Contains(line, `"fault"`) {
					t.Log(line)
				}
			}
			t.Fatalf("seed %d: %v", seed, r.Violations)
		}
	}
}

// TestChainRecordsRoleChanges: a self-healing run's role changes are the
// blocks of its attested role history, each signed by the leader that
// proposed it, stamped with that leader's clock, and co-signed by its
// voters; the history verifies.
func TestChainRecordsRoleChanges(t *testing.T) {
	r := Run(healPlan(), 1, Options{})
	if !r.OK() {
		t.Fatal(r.Violations)
	}
	report, err := attest.Verify(r.Chain, nil)
	if err != nil {
		t.Fatal(err)
	}
	if report.Blocks < 3 { // genesis, the dead leader's replacement promoted, the dead one demoted
		t.Fatalf("%d blocks after a leader's death the mesh healed", report.Blocks)
	}
	// Every block is attested by the end: its voters co-signed it through
	// the log, a majority of them at least.
	if report.Attested != report.Blocks {
		t.Fatalf("%d of %d blocks attested at the end (pending %v)", report.Attested, report.Blocks, report.Pending)
	}
	for _, b := range r.Chain[1:] {
		p := b.Proposal
		if !p.Verify() || p.Term != b.Term || p.Time < SimEpoch || p.Time > SimEpoch+int64(healPlan().Duration) {
			t.Fatalf("block %d: leader %s term %d (entry %d), time %d", b.Seq, p.Leader.Short(), p.Term, b.Term, p.Time-SimEpoch)
		}
	}
}

// TestChainCheckBites: a node whose role history differs from the one its
// log implies is a chain-agrees violation.
func TestChainCheckBites(t *testing.T) {
	s := booted(t, healPlan())
	a := node.Applied{Index: 1, Shape: s.check.shapes[1], Chain: s.check.chains[1]}
	s.check.applied(0, "n1", a)
	if s.check.hasViolation(PropChain) {
		t.Fatalf("the bootstrap history judged: %v", s.check.violations)
	}
	a.Chain[0] ^= 1
	s.check.applied(0, "n1", a)
	if !s.check.hasViolation(PropChain) {
		t.Fatal("another role history passed")
	}
}

// TestChainAttestedAfterLongPartition: a voter cut off for 100 s, its
// leader crashed while it is away: the blocks made before, during and
// after are all attested by the end. (The voter is away while the mesh
// makes no block, so its witness requests do not time out: no plan here
// makes the walk's rescan, witnessRescanTicks, matter.)
func TestChainAttestedAfterLongPartition(t *testing.T) {
	p := healPlan()
	p.Duration = 300 * time.Second
	p.Faults = []Fault{
		{At: 20 * time.Second, Kind: Crash, Target: "leader"},
		{At: 60 * time.Second, Kind: Partition, Groups: [][]Selector{{"random-voter"}}, For: 100 * time.Second},
		{At: 62 * time.Second, Kind: Crash, Target: "leader"},
	}
	p.Expect = Expect{}
	for seed := uint64(1); seed <= 3; seed++ {
		r := Run(p, seed, Options{})
		report, err := attest.Verify(r.Chain, nil)
		switch {
		case !r.OK():
			t.Fatalf("seed %d: %v", seed, r.Violations)
		case err != nil:
			t.Fatalf("seed %d: %v", seed, err)
		case report.Blocks < 5 || report.Attested != report.Blocks:
			t.Fatalf("seed %d: %d of %d blocks attested (pending %v)", seed, report.Attested, report.Blocks, report.Pending)
		}
	}
}
