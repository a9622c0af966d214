package scenarios_test

import (
	"testing"

	"revoada.dev/revoada/scenarios"
	"revoada.dev/revoada/sim"
)

// TestSlowLinksFalseSuspicions: over slow but healthy links membership
// must not suspect live nodes more than sim.FalseSuspicionsPerNodeHourMax
// times per node-hour. The log is the measured rate.
func TestSlowLinksFalseSuspicions(t *testing.T) {
	p, err := scenarios.Builtin("slow-links")
	if err != nil {
		t.Fatal(err)
	}
	seeds := uint64(20)
	if testing.Short() {
		seeds = 5
	}
	var total int
	worst := 0.0
	for seed := uint64(1); seed <= seeds; seed++ {
		r := sim.Run(p, seed, sim.Options{})
		if r.Violated(sim.PropFalseSuspicions) {
			t.Errorf("seed %d: %v", seed, r.Violations)
		}
		total += r.Stats.FalseSuspicions
		worst = max(worst, r.Stats.FalseSuspicionsPerNodeHour)
	}
	nodeHours := float64(seeds) * float64(p.Nodes) * p.Duration.Hours()
	t.Logf("slow-links, %d seeds: %d false suspicions in %.2f node-hours: %.2f per node-hour (worst seed %.1f; bound %v)",
		seeds, total, nodeHours, float64(total)/nodeHours, worst, sim.FalseSuspicionsPerNodeHourMax)
}
