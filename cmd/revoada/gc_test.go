package main

import (
	"runtime/debug"
	"testing"

	"revoada.dev/revoada/sim"
)

// TestTuneGC: the commands that run simulations collect at sim.GCPercent,
// the others at what they had, and GOGC in the environment wins.
func TestTuneGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	for _, tc := range []struct {
		gogc string
		args []string
		want int
	}{
		{"", []string{"explore", "--seeds", "1..2"}, sim.GCPercent},
		{"", []string{"sim", "--worker"}, sim.GCPercent},
		{"", []string{"replay"}, sim.GCPercent},
		{"", []string{"shrink"}, sim.GCPercent},
		{"", []string{"node"}, 100},
		{"", nil, 100},
		{"150", []string{"explore"}, 100},
	} {
		t.Setenv("GOGC", tc.gogc)
		debug.SetGCPercent(100)
		tuneGC(tc.args)
		if got := debug.SetGCPercent(100); got != tc.want {
			t.Errorf("GOGC=%q %v: collector target %d, want %d", tc.gogc, tc.args, got, tc.want)
		}
	}
}
