package sim

import (
	"testing"
	"time"
)

// Every monitor goes hot after the leader is killed and cold again within
// its bound: a leader within 5 election timeouts, three live control-plane
// nodes within 30 s, and every live node's membership view right within 30
// gossip rounds (6 s).
func TestLivenessMonitorsCool(t *testing.T) {
	p := healPlan()
	p.Expect.Liveness = Liveness{Leader: 5, Shape: &Converge{Within: 30 * time.Second, ControlPlane: 3}, Membership: 30}
	for seed := uint64(1); seed <= 20; seed++ {
		r := Run(p, seed, Options{})
		if !r.OK() {
			t.Fatalf("seed %d: %v", seed, r.Violations)
		}
		if len(r.Monitors) != 5 {
			t.Fatalf("monitors %v, want leader, shape, membership, quiet leader and joint", r.Monitors)
		}
		for _, m := range r.Monitors {
			if len(m.Hot) == 0 && (m.Name == PropShapeWithin || m.Name == PropMembershipAgree) {
				t.Errorf("seed %d: %s never went hot after the leader died", seed, m.Name)
			}
			for _, s := range m.Hot {
				if s.To-s.From > m.Bound {
					t.Errorf("seed %d: %s hot %v..%v, longer than %v, yet not failed", seed, m.Name, s.From, s.To, m.Bound)
				}
			}
		}
	}
}

// A one-way partition that never heals leaves n1 live but unheard: the
// others suspect it while it still counts itself in, so the membership
// monitor stays hot and fails.
func TestMembershipMonitorBites(t *testing.T) {
	p := healPlan()
	p.Faults = []Fault{{At: 20 * time.Second, Kind: Partition, OneWay: true, Groups: [][]Selector{{"n5"}}}}
	p.Expect = Expect{Liveness: Liveness{Membership: 30}}
	r := Run(p, 1, Options{})
	if !r.Violated(PropMembershipAgree) {
		t.Fatalf("no %s violation: %v", PropMembershipAgree, r.Violations)
	}
}

// A target no run can meet keeps the shape monitor hot until it fails.
func TestShapeMonitorBites(t *testing.T) {
	p := healPlan()
	p.Target = ""
	p.Expect = Expect{Liveness: Liveness{Shape: &Converge{Within: 10 * time.Second, ControlPlane: 5}}}
	r := Run(p, 1, Options{})
	if !r.Violated(PropShapeWithin) {
		t.Fatalf("no %s violation: %v", PropShapeWithin, r.Violations)
	}
}

// A tighter leader bound than the mesh can meet after a majority partition
// heals makes leader-after-heal fail.
func TestLeaderMonitorBound(t *testing.T) {
	p := &Plan{Name: "l", Nodes: 3, ControlPlane: 3, Duration: 60 * time.Second,
		Network: Network{LatencyMin: time.Millisecond, LatencyMax: 10 * time.Millisecond},
		Faults:  []Fault{{At: 10 * time.Second, Kind: Crash, Target: "n1", For: 20 * time.Second}, {At: 10 * time.Second, Kind: Crash, Target: "n2", For: 20 * time.Second}},
		Expect:  Expect{Liveness: Liveness{Leader: 1}}}
	failed := 0
	for seed := uint64(1); seed <= 20; seed++ {
		if Run(p, seed, Options{}).Violated(PropLeaderAfter) {
			failed++
		}
	}
	if failed == 0 {
		t.Fatal("a one-election-timeout bound after a two-node restart never failed in 20 seeds")
	}
}
