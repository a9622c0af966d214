package membership

import (
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
)

// BenchmarkFalseSuspicionsSlowLinks measures phi-accrual false positives on
// slow links: five healthy nodes, every message delayed 200–300 ms (2 or 3
// ticks of 100 ms, drawn per message), no failures at all, so every
// suspicion is false. It reports suspicions per simulated node-hour at the
// threshold in PHI (default 8). One iteration is one simulated node-hour per
// node. To find the threshold with none over 10,000 node-hours:
//
//	PHI=8 go test ./core/membership -run '^$' -bench FalseSuspicions -benchtime 2000x
func BenchmarkFalseSuspicionsSlowLinks(b *testing.B) {
	const nodes, ticksPerHour = 5, 36000
	phi := 8.0
	if v, err := strconv.ParseFloat(os.Getenv("PHI"), 64); err == nil {
		phi = v
	}
	c := newCluster(b, nodes, 1, func(cfg *Config) { cfg.PhiThreshold = phi })
	c.joinAll(0)
	delay := rand.New(rand.NewPCG(7, 7))
	type flight struct {
		at  uint64
		msg Message
	}
	var inFlight []flight
	suspicions, hours := 0, 0.0
	for b.Loop() {
		for range ticksPerHour {
			c.now++
			for _, m := range c.nodes {
				m.Tick()
			}
			for _, m := range c.nodes {
				rd := m.Ready()
				for _, msg := range rd.Messages {
					inFlight = append(inFlight, flight{c.now + 2 + uint64(delay.IntN(2)), msg})
				}
				for _, ch := range rd.Changes {
					if ch.Kind == HealthChanged && ch.Health == Suspect {
						suspicions++
					}
				}
			}
			keep := inFlight[:0]
			for _, f := range inFlight {
				if f.at <= c.now {
					c.nodes[c.index[f.msg.To]].Step(f.msg)
				} else {
					keep = append(keep, f)
				}
			}
			inFlight = keep
		}
		hours += nodes
	}
	b.ReportMetric(float64(suspicions)/hours, "suspicions/node-hour")
	b.ReportMetric(hours, "node-hours")
	b.ReportMetric(float64(suspicions), "suspicions")
}
