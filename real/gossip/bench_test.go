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
//	go test -run '^$' -bench Convergence -benchtime 5x ./real/gossip/
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
