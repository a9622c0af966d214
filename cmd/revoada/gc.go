package main

import (
	"os"
	"runtime/debug"

	"revoada.dev/revoada/sim"
)

// tuneGC sets the collector's target to sim.GCPercent and its soft memory
// limit to sim.GCMemoryLimit for the commands that run simulations (and
// their workers), unless GOGC or GOMEMLIMIT is set: the rest of the
// commands, a node's among them, keep Go's defaults.
func tuneGC(args []string) {
	if len(args) == 0 {
		return
	}
	switch args[0] {
	case "sim", "replay", "explore", "shrink":
		if os.Getenv("GOGC") == "" {
			debug.SetGCPercent(sim.GCPercent)
		}
		if os.Getenv("GOMEMLIMIT") == "" {
			debug.SetMemoryLimit(sim.GCMemoryLimit)
		}
	}
}
