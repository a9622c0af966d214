package sim

import (
	"slices"
	"testing"
	"time"

	"revoada.dev/revoada/core/cover"
	"revoada.dev/revoada/core/roles"
)

// A run counts the rare paths it takes, the nodes' and the simulator's:
// two voters promoted in one shift enter a joint configuration; a crashed
// leader is counted.
func TestCoverageCounts(t *testing.T) {
	p := &Plan{Name: "cover", Nodes: 5, ControlPlane: 1, Duration: 60 * time.Second,
		Network:  Network{LatencyMin: time.Millisecond, LatencyMax: 10 * time.Millisecond},
		Faults:   []Fault{{At: 20 * time.Second, Kind: Crash, Target: "leader", For: 5 * time.Second}},
		Commands: []Command{{At: 5 * time.Second, Kind: roles.Promote, Target: "n2", Reason: roles.Operator, With: []Command{{Kind: roles.Promote, Target: "n3", Reason: roles.Operator}}}}}
	r := Run(p, 1, Options{})
	if !r.OK() {
		t.Fatal(r.Violations)
	}
	for _, want := range []cover.Point{cover.JointEntered, CoverLeaderCrashed} {
		if r.Coverage[want] == 0 {
			t.Errorf("%q not reached: %v", want, r.Coverage)
		}
	}
	for p := range r.Coverage {
		if !slices.Contains(CoveragePoints(), p) {
			t.Errorf("%q counted but not declared", p)
		}
	}
	if missing := r.Coverage.Missing(CoveragePoints()); len(missing) == 0 || len(missing) == len(CoveragePoints()) {
		t.Errorf("missing %v: a plain run reaches some points and not all", missing)
	}
}
