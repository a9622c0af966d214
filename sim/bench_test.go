package sim_test

import (
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"revoada.dev/revoada/scenarios"
	"revoada.dev/revoada/sim"
)

// BenchmarkLeaderKill runs the built-in leader-kill scenario (5 nodes, 120
// simulated seconds) with a new seed per iteration and reports simulated
// seconds per wall second. Run on one core:
//
//	go test ./sim/ -run '^$' -bench LeaderKill -cpu 1 -benchtime 200x
func BenchmarkLeaderKill(b *testing.B) {
	p, err := scenarios.Builtin("leader-kill")
	if err != nil {
		b.Fatal(err)
	}
	benchRuns(b, p)
}

// BenchmarkTenMinutes is leader-kill stretched to 10 simulated minutes; it
// reports the memory the process obtained from the OS (runtime Sys, an upper
// bound on the peak) after the run.
//
//	go test ./sim/ -run '^$' -bench TenMinutes -cpu 1 -benchtime 1x
func BenchmarkTenMinutes(b *testing.B) {
	p, err := scenarios.Builtin("leader-kill")
	if err != nil {
		b.Fatal(err)
	}
	p.Duration = 10 * time.Minute
	benchRuns(b, p)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.Sys)/(1<<20), "sys-MB")
	b.ReportMetric(float64(ms.HeapSys)/(1<<20), "heap-sys-MB")
}

func benchRuns(b *testing.B, p *sim.Plan) {
	b.ReportAllocs()
	var simulated time.Duration
	seed := uint64(1)
	for b.Loop() {
		r := sim.Run(p, seed, sim.Options{})
		if !r.OK() {
			b.Fatalf("seed %d: %v", seed, r.Violations[0])
		}
		simulated += r.SimTime
		seed++
	}
	b.ReportMetric(simulated.Seconds()/b.Elapsed().Seconds(), "sim-s/wall-s")
}

// BenchmarkSlowLinksFalseSuspicions runs the slow-links network (200–300 ms
// links) for ten fault-free simulated minutes per iteration and reports how
// often membership suspected a node that was up and reachable, per
// simulated node-hour, at the phi threshold in PHI (default 8).
//
//	go test ./sim/ -run '^$' -bench SlowLinksFalse -benchtime 60x
func BenchmarkSlowLinksFalseSuspicions(b *testing.B) {
	p, err := scenarios.Builtin("slow-links")
	if err != nil {
		b.Fatal(err)
	}
	p.Faults, p.Commands, p.Expect = nil, nil, sim.Expect{}
	p.Duration = 10 * time.Minute
	if phi, err := strconv.ParseFloat(os.Getenv("PHI"), 64); err == nil {
		p.Policy.PhiThreshold = phi
	}
	var suspicions int
	var nodeHours float64
	seed := uint64(1)
	for b.Loop() {
		r := sim.Run(p, seed, sim.Options{})
		if !r.OK() {
			b.Fatalf("seed %d: %v", seed, r.Violations[0])
		}
		suspicions += r.Stats.FalseSuspicions
		nodeHours += r.SimTime.Hours() * float64(p.Nodes)
		seed++
	}
	b.ReportMetric(float64(suspicions)/nodeHours, "false-suspicions/node-hour")
	b.ReportMetric(nodeHours, "node-hours")
}
