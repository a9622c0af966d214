package main

import (
	"os"
	"runtime/debug"

	"revoada.dev/revoada/sim"
)

// tuneGC sets the collector's target to sim.GCPercent for the commands that
// run simulations (and their workers), unless GOGC is set: the rest of the
// commands, a node's among them, keep Go's default.
func tuneGC(args []string) {
	if len(args) == 0 || os.Getenv("GOGC") != "" {
		return
	}
	switch args[0] {
	case "sim", "replay", "explore", "shrink":
		debug.SetGCPercent(sim.GCPercent)
	}
}
