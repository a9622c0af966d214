package simtest

import (
	"os"
	"strconv"
	"testing"
	"time"

	"revoada.dev/revoada/sim"
)

// healRuns is how many generated plans TestSelfHealingUnderGeneratedFaults
// runs per scenario: a few in every go test, as many as
// REVOADA_HEAL_PLANS says for the evidence of issue 9 (1,000 each).
func healRuns(t *testing.T) int {
	if s := os.Getenv("REVOADA_HEAL_PLANS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("REVOADA_HEAL_PLANS=%q: want a positive count", s)
		}
		return n
	}
	return 3
}

// TestSelfHealingUnderGeneratedFaults: the self-healing built-ins keep
// every property with generated faults on top (issue 9). In
// phalanx-10-to-5 they start after its named crashes (lastNamedKill).
func TestSelfHealingUnderGeneratedFaults(t *testing.T) {
	for _, name := range []string{"self-heal-leader-kill", "slow-links", "clock-skew", "phalanx-10-to-5"} {
		t.Run(name, func(t *testing.T) { Check(t, builtin(t, name), Runs(healRuns(t))) })
	}
}

// TestDamperBoundsFoundPlan: the class of plan 865 of 1,000 over
// self-heal-leader-kill (found with the gossip of the time; the gossip
// rework moved its timing, so the plan is now written to show the same
// thing; quiet gossip rounds moved it again, from a 7 s partition to 9 s).
// A partition cuts the voter n1 off from 0.5 s to 9.5 s; the majority
// replaces and demotes it (7.3 s); the base's operator command, promote
// n1's scheduler, retrying since 2 s, then commits (10 s) and makes
// n1 a control-plane node again, and the policy's scale-down of that excess
// is held by the damper for the rest of n1's minute. The base's 30 s bound
// fails it; the bound with the damper (withDamperBounds) is met, and only
// plans with a target and commands get it.
func TestDamperBoundsFoundPlan(t *testing.T) {
	base := builtin(t, "self-heal-leader-kill")
	w := newWindow(base)
	p := w.plan([]sim.Fault{
		{At: 500 * time.Millisecond, Kind: sim.Partition, Groups: [][]sim.Selector{{"n1"}}, For: 9 * time.Second},
	})
	if res := sim.Run(p, 1, sim.Options{}); len(res.Violations) > 0 {
		t.Fatalf("with the damper in the bound: %v", res.Violations)
	}
	strict := *p
	strict.Expect = base.Expect
	if res := sim.Run(&strict, 1, sim.Options{}); len(res.Violations) == 0 {
		t.Fatalf("the base's own bound passed too: the plan no longer shows why the damper is in the bound")
	}
	if q := withDamperBounds(builtin(t, "smoke")); q.Duration != builtin(t, "smoke").Duration {
		t.Errorf("a plan without a target got the damper in its bounds")
	}
}
