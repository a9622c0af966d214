package simtest

import (
	"os"
	"strconv"
	"testing"
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
// every property with generated faults on top (issue 9).
func TestSelfHealingUnderGeneratedFaults(t *testing.T) {
	for _, name := range []string{"self-heal-leader-kill", "slow-links", "clock-skew", "phalanx-10-to-5"} {
		t.Run(name, func(t *testing.T) { Check(t, builtin(t, name), Runs(healRuns(t))) })
	}
}
