package checkers

import (
	"bytes"
	"testing"
)

// benchConfig is a realistic concurrent workload: 128 keys in 16 groups of
// 8 keys, each group worked by 8 clients (so at most 8 clients contend for
// a key), a mix of applies, gets, deletes and CAS, 2% of answers lost (half
// of those writes landing anyway, some after the client gave up), 10% of
// reads local.
func benchConfig(ops int) genConfig {
	return genConfig{
		Keys: 128, Clients: 128, Groups: 16, Ops: ops, Sequential: 200, Seed: 7,
		Get: 0.45, Delete: 0.1, CAS: 0.3, Unknown: 0.02, Local: 0.1,
	}
}

func benchmarkLinearizable(b *testing.B, ops int) {
	h := generate(benchConfig(ops))
	b.ReportAllocs()
	b.ResetTimer()
	var v Verdict
	for b.Loop() {
		if v = Linearizable(h, Options{}); !v.OK() {
			b.Fatal(v)
		}
	}
	b.ReportMetric(float64(v.Ambiguous), "unknown-writes")
}

// BenchmarkLinearizable10k checks a 10,000-operation history. Target: 50 ms.
func BenchmarkLinearizable10k(b *testing.B) { benchmarkLinearizable(b, 10_000) }

// BenchmarkLinearizable100k checks a 100,000-operation history. Target: 0.5 s.
func BenchmarkLinearizable100k(b *testing.B) { benchmarkLinearizable(b, 100_000) }

// BenchmarkWatchesLists runs the watch, list and revision checkers over a
// 10,000-operation history with watches and lists.
func BenchmarkWatchesLists(b *testing.B) {
	c := benchConfig(10_000)
	c.List, c.Watch = 0.02, 0.02
	h := generate(c)
	b.ResetTimer()
	for b.Loop() {
		if fs := append(append(Watches(h), Lists(h)...), Revisions(h)...); len(fs) > 0 {
			b.Fatal(fs[0])
		}
	}
}

// TestVisualizationSize checks that the visualisation of a 10,000-operation
// history stays under 10 MB.
func TestVisualizationSize(t *testing.T) {
	const bytesMax = 10 << 20
	h := generate(benchConfig(10_000))
	v := Linearizable(h, Options{})
	var buf bytes.Buffer
	if err := v.WriteVisualization(&buf); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d operations: %d bytes", len(h), buf.Len())
	if buf.Len() > bytesMax {
		t.Errorf("visualisation of %d operations is %d bytes, limit %d", len(h), buf.Len(), bytesMax)
	}
}
