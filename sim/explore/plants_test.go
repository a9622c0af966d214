package explore

import (
	"testing"

	"revoada.dev/revoada/sim"
)

// TestPlantedBugsAreFound: the explorer finds a planted bug for each of
// issue 9's new properties within 1,000 seeds, and the property that fails
// is the one the bug breaks. The seeds are walked in order, so the test
// costs only as many runs as the bug takes to show.
func TestPlantedBugsAreFound(t *testing.T) {
	if testing.Short() {
		t.Skip("runs generated plans")
	}
	for _, tc := range []struct {
		plant, property string
	}{
		{"no-conf-sync", sim.PropMustSync},
		{"stay-joint", sim.PropJointLeft},
		{"no-stabilize", sim.PropStabilize},
	} {
		t.Run(tc.plant, func(t *testing.T) {
			hooks, err := sim.ParsePlants(tc.plant)
			if err != nil {
				t.Fatal(err)
			}
			for seed := uint64(1); seed <= 1000; seed++ {
				res := sim.Run(Generate(seed), seed, sim.Options{Hooks: hooks})
				if res.Violated(tc.property) {
					t.Logf("%s found by seed %d", tc.plant, seed)
					return
				}
			}
			t.Fatalf("%s not found as %s in 1,000 seeds", tc.plant, tc.property)
		})
	}
}

// TestCorrectMeshPassesTheSeedsThatCatchPlants: the seeds that catch the
// planted bugs pass without them, so it is the bug they catch.
func TestCorrectMeshPassesTheSeedsThatCatchPlants(t *testing.T) {
	if testing.Short() {
		t.Skip("runs generated plans")
	}
	for _, seed := range []uint64{3, 7, 8} {
		if res := sim.Run(Generate(seed), seed, sim.Options{}); !res.OK() {
			t.Errorf("seed %d: %v", seed, res.Violations)
		}
	}
}

// TestFoundSeedsPass replays the seeds on which the explorer found the
// failures fixed in issue 9 (the closing note gives each root cause); each
// must now pass. Generate is deterministic, so these are fixed plans.
func TestFoundSeedsPass(t *testing.T) {
	if testing.Short() {
		t.Skip("runs generated plans")
	}
	for _, seed := range []uint64{19, 46, 121, 165, 193, 335, 354, 561, 1299, 1401, 9683} {
		if res := sim.Run(Generate(seed), seed, sim.Options{}); !res.OK() {
			t.Errorf("seed %d: %v", seed, res.Violations)
		}
	}
}
