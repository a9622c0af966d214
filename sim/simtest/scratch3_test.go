package simtest

import (
	"testing"
	"time"

	"revoada.dev/revoada/sim"
)

func TestScratch3(t *testing.T) {
	for _, lat := range []time.Duration{30 * time.Millisecond, 300 * time.Millisecond, time.Second} {
		for _, rate := range []float64{0.15, 0.3} {
			for _, loss := range []float64{0, 0.05} {
				p := &sim.Plan{Name: "forget-vote", Nodes: 3, ControlPlane: 3, Duration: 200 * time.Second,
					Network: sim.Network{LatencyMin: time.Millisecond, LatencyMax: lat, Loss: loss},
					Faults:  []sim.Fault{{At: 2 * time.Second, Kind: sim.Chaos, Rate: rate, For: 80 * time.Second}}}
				n := 0
				start := time.Now()
				for seed := uint64(1); seed <= 200; seed++ {
					r := sim.Run(p, seed, sim.Options{Hooks: sim.Hooks{ForgetVote: true}})
					for _, v := range r.Violations {
						if v.Property == sim.PropOneLeader {
							n++
							break
						}
					}
				}
				t.Logf("lat %v rate %v loss %v: caught %d/200 in %v", lat, rate, loss, n, time.Since(start))
			}
		}
	}
}
