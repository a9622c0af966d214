package sim_test

import (
	"os"
	"runtime"
	"strconv"
	"syscall"
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

// BenchmarkTenMinutes runs ten simulated minutes per iteration, a new seed
// each: leader-kill stretched to ten minutes, and heal-chaos-target (random
// crashes on a lossy network, with a Kubernetes workload and the quorum-3m
// target) with its chaos stretched to eight of them. It reports simulated
// seconds per CPU second of the process, seeds per core-hour (3600 over the
// CPU seconds per seed), and the memory the process obtained from the OS
// (runtime Sys, an upper bound on the peak) after the runs.
//
//	go test ./sim/ -run '^$' -bench TenMinutes -cpu 1 -benchtime 3x
func BenchmarkTenMinutes(b *testing.B) {
	for _, tc := range []struct {
		name    string
		stretch func(*sim.Plan)
	}{
		{"leader-kill", func(*sim.Plan) {}},
		{"heal-chaos-target", func(p *sim.Plan) {
			for i := range p.Faults {
				if p.Faults[i].Kind == sim.Chaos {
					p.Faults[i].For = 8 * time.Minute
				}
			}
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			p, err := scenarios.Builtin(tc.name)
			if err != nil {
				b.Fatal(err)
			}
			p.Duration = 10 * time.Minute
			tc.stretch(p)
			cpu0 := cpuTime(b)
			benchRuns(b, p)
			cpu := cpuTime(b) - cpu0
			b.ReportMetric(float64(b.N)*(10*time.Minute).Seconds()/cpu.Seconds(), "sim-s/cpu-s")
			b.ReportMetric(float64(b.N)*time.Hour.Seconds()/cpu.Seconds(), "seeds/core-hour")
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(ms.Sys)/(1<<20), "sys-MB")
			b.ReportMetric(float64(ms.HeapSys)/(1<<20), "heap-sys-MB")
		})
	}
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

// BenchmarkMeshSize runs a fault-free mesh with gossip and the policy
// (target quorum-3m) for two simulated minutes per iteration, at 5 to 100
// nodes, and 5 nodes with a 50 ops/s Kubernetes workload; it reports
// simulated seconds per CPU second of the process (user and system time,
// so run it alone: -cpu 1 and nothing else busy) and the messages per
// node per simulated second (and, with the workload, the operations its
// clients issued per simulated second).
//
//	go test ./sim/ -run '^$' -bench MeshSize -cpu 1 -benchtime 3x
func BenchmarkMeshSize(b *testing.B) {
	for _, tc := range []struct {
		name  string
		nodes int
		rate  float64
	}{
		{"nodes=5", 5, 0}, {"nodes=5/ops=50", 5, 50}, {"nodes=25", 25, 0}, {"nodes=50", 50, 0}, {"nodes=100", 100, 0},
	} {
		b.Run(tc.name, func(b *testing.B) {
			p := &sim.Plan{Name: tc.name, Nodes: tc.nodes, ControlPlane: 3, Duration: 2 * time.Minute, Target: "quorum-3m",
				Network: sim.Network{LatencyMin: time.Millisecond, LatencyMax: 5 * time.Millisecond}}
			if tc.rate > 0 {
				// 64 clients, each pausing 1.28s on average: a watch lasts
				// sim.WatchSpan, and 4 clients issued 10 of the 50 a second.
				p.Workload = &sim.Workload{Clients: 64, Rate: tc.rate, Keys: 50, Face: "kubernetes",
					Mix: sim.Mix{Apply: 4, Get: 3, List: 1, Delete: 1, Watch: 1}}
			}
			if err := p.Validate(); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			var simulated time.Duration
			var msgs int
			ops := 0
			seed := uint64(1)
			cpu0 := cpuTime(b)
			for b.Loop() {
				r := sim.Run(p, seed, sim.Options{})
				if !r.OK() {
					b.Fatalf("seed %d: %v", seed, r.Violations[0])
				}
				simulated += r.SimTime
				msgs += r.Stats.Messages
				ops += r.Stats.Ops
				seed++
			}
			cpu := cpuTime(b) - cpu0
			b.ReportMetric(simulated.Seconds()/cpu.Seconds(), "sim-s/cpu-s")
			b.ReportMetric(float64(msgs)/(float64(tc.nodes)*simulated.Seconds()), "msgs/node/sim-s")
			if tc.rate > 0 {
				b.ReportMetric(float64(ops)/simulated.Seconds(), "ops/sim-s")
			}
		})
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
