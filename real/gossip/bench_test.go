package gossip

import (
	"strconv"
	"testing"
	"time"
)

// BenchmarkConvergence starts a mesh of N nodes on loopback with
// FastTiming, each joining the first, and reports the time from the first
// New until every node holds every other live at its own state
// (ms-to-converge), and from the last New (ms-after-last-join), and the
// suspicions raised meanwhile (false-suspicions: every node is up).
//
//	go test -run '^$' -bench Convergence -benchtime 10x -count 3 ./real/gossip/
//
// Measured 2026-12-06 on the project's 2-core machine, shared (load
// average 6.5–8.5), Go 1.26.8, memberlist v0.7.0, no -race: 5 nodes
// converge in 42–46 ms on average (max 66 ms) in two runs of three, 320 ms
// (max 1.6 s) in the third; 20 nodes in 0.85–1.3 s on average (max
// 1.8–5.2 s), with 10–17 false suspicions per mesh start (each refuted):
// FastTiming's 100 ms probe timeout is tight for a loaded machine.
func BenchmarkConvergence(b *testing.B) {
	for _, n := range []int{5, 20} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			var total, afterLast, longest time.Duration
			var suspected uint64
			for range b.N {
				start := time.Now()
				nodes := startMesh(b, "bench", n)
				last := time.Now()
				for !converged(nodes) {
					if time.Since(start) > time.Minute {
						b.Fatalf("%d nodes not converged after a minute", n)
					}
					time.Sleep(time.Millisecond)
				}
				total += time.Since(start)
				longest = max(longest, time.Since(start))
				afterLast += time.Since(last)
				for _, g := range nodes {
					suspected += g.Counters().Suspected
					_ = g.Close()
				}
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-to-converge")
			b.ReportMetric(float64(afterLast.Milliseconds())/float64(b.N), "ms-after-last-join")
			b.ReportMetric(float64(longest.Milliseconds()), "ms-to-converge-max")
			b.ReportMetric(float64(suspected)/float64(b.N), "false-suspicions")
		})
	}
}
