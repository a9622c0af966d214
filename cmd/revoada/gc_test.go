package main

import (
	"math"
	"runtime/debug"
	"testing"

	"revoada.dev/revoada/sim"
)

// TestTuneGC: the commands that run simulations collect at sim.GCPercent
// under sim.GCMemoryLimit, the others with what they had, and GOGC and
// GOMEMLIMIT in the environment win.
func TestTuneGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))
	for _, tc := range []struct {
		gogc, memlimit string
		args           []string
		percent        int
		limit          int64
	}{
		{"", "", []string{"explore", "--seeds", "1..2"}, sim.GCPercent, sim.GCMemoryLimit},
		{"", "", []string{"sim", "--worker"}, sim.GCPercent, sim.GCMemoryLimit},
		{"", "", []string{"replay"}, sim.GCPercent, sim.GCMemoryLimit},
		{"", "", []string{"shrink"}, sim.GCPercent, sim.GCMemoryLimit},
		{"", "", []string{"node"}, 100, math.MaxInt64},
		{"", "", nil, 100, math.MaxInt64},
		{"150", "", []string{"explore"}, 100, sim.GCMemoryLimit},
		{"", "2GiB", []string{"explore"}, sim.GCPercent, math.MaxInt64},
	} {
		t.Setenv("GOGC", tc.gogc)
		t.Setenv("GOMEMLIMIT", tc.memlimit)
		debug.SetGCPercent(100)
		debug.SetMemoryLimit(math.MaxInt64)
		tuneGC(tc.args)
		if got := debug.SetGCPercent(100); got != tc.percent {
			t.Errorf("GOGC=%q %v: collector target %d, want %d", tc.gogc, tc.args, got, tc.percent)
		}
		if got := debug.SetMemoryLimit(math.MaxInt64); got != tc.limit {
			t.Errorf("GOMEMLIMIT=%q %v: memory limit %d, want %d", tc.memlimit, tc.args, got, tc.limit)
		}
	}
}
