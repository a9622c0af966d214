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

// TestDamperBoundsFoundPlan: plan 865 of 1,000 over self-heal-leader-kill.
// A partition cut the leader n1 off past the grace; the majority replaced
// and demoted it at 6.2 s; the operator's promote of n1's scheduler,
// retrying since 2 s, then committed at 8 s and made n1 a fourth
// control-plane node, which the damper kept until n1's minute ran out
// (66.9 s). The base's 30 s bound fails it; the bound with the damper
// (withDamperBounds) is met, and only plans with a target and commands get
// it.
func TestDamperBoundsFoundPlan(t *testing.T) {
	base := builtin(t, "self-heal-leader-kill")
	w := newWindow(base)
	p := w.plan([]sim.Fault{
		{At: 0, Kind: sim.Crash, Target: "leader", For: 100 * time.Millisecond},
		{At: 0, Kind: sim.Crash, Target: "random-worker", For: 400 * time.Millisecond},
		{At: 500 * time.Millisecond, Kind: sim.Partition, Groups: [][]sim.Selector{{"leader", "n4"}}, For: 5700 * time.Millisecond},
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
