package simtest

import (
	"testing"
	"time"

	"pgregory.net/rapid"

	"revoada.dev/revoada/sim"
)

func TestScratch2(t *testing.T) {
	for _, lat := range []time.Duration{30 * time.Millisecond, 300 * time.Millisecond} {
		for _, dur := range []time.Duration{60 * time.Second, 120 * time.Second} {
			p := &sim.Plan{Name: "forget-vote", Nodes: 3, ControlPlane: 3, Duration: dur,
				Network: sim.Network{LatencyMin: time.Millisecond, LatencyMax: lat, Loss: 0.05}}
			n, runs := 0, 0
			kinds := map[sim.FaultKind]int{}
			start := time.Now()
			rapid.Check(t, func(rt *rapid.T) {
				pp := Faults(p).Draw(rt, "p")
				seed := rapid.Uint64().Draw(rt, "seed")
				r := sim.Run(pp, seed, sim.Options{Hooks: sim.Hooks{ForgetVote: true}})
				runs++
				for _, v := range r.Violations {
					if v.Property == sim.PropOneLeader {
						n++
						for _, f := range pp.Faults {
							kinds[f.Kind]++
						}
						break
					}
				}
			})
			t.Logf("lat %v dur %v: caught %d/%d in %v %v", lat, dur, n, runs, time.Since(start), kinds)
		}
	}
}
