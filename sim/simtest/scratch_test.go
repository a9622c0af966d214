package simtest

import (
	"testing"
	"time"

	"pgregory.net/rapid"

	"revoada.dev/revoada/scenarios"
	"revoada.dev/revoada/sim"
)

func TestScratch(t *testing.T) {
	for _, name := range []string{"smoke", "leader-kill"} {
		base, err := scenarios.Builtin(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, hooks := range []sim.Hooks{{}, {ForgetVote: true}} {
			fails := map[string]int{}
			n := 0
			start := time.Now()
			rapid.Check(t, func(rt *rapid.T) {
				p := Faults(base).Draw(rt, "p")
				seed := rapid.Uint64().Draw(rt, "seed")
				if err := p.Validate(); err != nil {
					rt.Fatal(err)
				}
				if _, err := scenarios.Marshal(p); err != nil {
					rt.Fatal(err)
				}
				r := sim.Run(p, seed, sim.Options{Hooks: hooks})
				n++
				if !r.OK() {
					fails[r.Summary()]++
					if hooks == (sim.Hooks{}) && fails[r.Summary()] == 1 {
						y, _ := scenarios.Marshal(p)
						t.Logf("seed %d %v\n%s", seed, r.Violations, y)
					}
				}
			})
			t.Logf("%s %+v: %d runs in %v, fails %v", name, hooks, n, time.Since(start), fails)
		}
	}
}
