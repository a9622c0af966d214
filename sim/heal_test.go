package sim

import (
	"strings"
	"testing"
	"time"
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
