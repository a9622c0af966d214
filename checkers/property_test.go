package checkers

import (
	"testing"

	"pgregory.net/rapid"
)

// drawConfig draws a small workload: few keys, so clients contend.
func drawConfig(t *rapid.T) genConfig {
	ops := rapid.IntRange(0, 400).Draw(t, "ops")
	return genConfig{
		Keys:       rapid.IntRange(1, 8).Draw(t, "keys"),
		Clients:    rapid.IntRange(1, 8).Draw(t, "clients"),
		Groups:     rapid.IntRange(1, 2).Draw(t, "groups"),
		Ops:        ops,
		Sequential: rapid.IntRange(0, ops).Draw(t, "sequential"),
		Seed:       rapid.Uint64().Draw(t, "seed"),
		Get:        rapid.Float64Range(0, 0.5).Draw(t, "get"),
		Delete:     rapid.Float64Range(0, 0.3).Draw(t, "delete"),
		List:       rapid.Float64Range(0, 0.1).Draw(t, "list"),
		Watch:      rapid.Float64Range(0, 0.1).Draw(t, "watch"),
		CAS:        rapid.Float64Range(0, 1).Draw(t, "cas"),
		Unknown:    rapid.Float64Range(0, 0.3).Draw(t, "unknown"),
		Local:      rapid.Float64Range(0, 0.5).Draw(t, "local"),
	}
}

// TestGeneratedHistoriesCheckOK: a history generated against the reference
// map model, correct by construction, passes every checker.
func TestGeneratedHistoriesCheckOK(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		h := generate(drawConfig(t))
		if v := Linearizable(h, Options{}); !v.OK() {
			t.Fatalf("%v", v)
		}
		for _, f := range Watches(h) {
			t.Errorf("watches: %v", f)
		}
		for _, f := range Lists(h) {
			t.Errorf("lists: %v", f)
		}
		for _, f := range Revisions(h) {
			t.Errorf("revisions: %v", f)
		}
	})
}

// TestPlantedStaleReadIsCaught: a generated history with one linearizable
// read changed to return an acknowledged value that an acknowledged write
// had already overwritten before the read began fails the check.
func TestPlantedStaleReadIsCaught(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := drawConfig(t)
		// Proving a history illegal searches every linearization; with
		// more than a tenth of the answers lost on a single key the search
		// can take seconds (see the model's file comment).
		c.Unknown = rapid.Float64Range(0, 0.1).Draw(t, "unknown-planted")
		h := generate(c)
		type plant struct{ get, old int }
		var plants []plant
		for g := range h {
			if h[g].Verb != "get" || h[g].Local || h[g].Unknown() {
				continue
			}
			for w := range h {
				if h[w].Key != h[g].Key || !h[w].IsWrite() || h[w].Outcome != OutcomeOK || h[w].Return >= h[g].Invoke {
					continue
				}
				for a := range h {
					if h[a].Key == h[g].Key && h[a].Verb == "apply" && h[a].Outcome == OutcomeOK && h[a].Revision < h[w].Revision {
						plants = append(plants, plant{g, a})
					}
				}
			}
		}
		if len(plants) == 0 {
			t.Skip("no read follows an overwrite")
		}
		p := plants[rapid.IntRange(0, len(plants)-1).Draw(t, "plant")]
		g := &h[p.get]
		g.Outcome, g.Value, g.Revision = OutcomeOK, h[p.old].Value, h[p.old].Revision
		if v := Linearizable(h, Options{}); v.Result != ResultIllegal || len(v.Illegal) != 1 || v.Illegal[0] != g.Key {
			t.Fatalf("planted stale read of %s by client %d at %v..%v not caught: %v", g.Key, g.Client, g.Invoke, g.Return, v)
		}
	})
}

// TestPlantedWatchGapIsCaught: dropping one event from the middle of a
// generated watch is a gap.
func TestPlantedWatchGapIsCaught(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := drawConfig(t)
		c.Watch = 0.1
		h := generate(c)
		var watches []int
		for i := range h {
			if h[i].Verb == "watch" && len(h[i].Events) >= 2 {
				watches = append(watches, i)
			}
		}
		if len(watches) == 0 {
			t.Skip("no watch saw two events")
		}
		w := &h[watches[rapid.IntRange(0, len(watches)-1).Draw(t, "watch")]]
		drop := rapid.IntRange(0, len(w.Events)-2).Draw(t, "event")
		w.Events = append(w.Events[:drop:drop], w.Events[drop+1:]...)
		if len(Watches(h)) == 0 {
			t.Fatalf("dropping event %d of client %d's watch went unnoticed", drop, w.Client)
		}
	})
}
