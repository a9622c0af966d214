package scenarios_test

import (
	"testing"

	"revoada.dev/revoada/scenarios"
	"revoada.dev/revoada/sim"
)

// A run's materialized plan names every node it picked, turns chaos into
// explicit crashes and the workload into a script; it writes as a scenario
// file, reads back, and runs as a passing plan doing the same things.
func TestMaterializedPlansRunAgain(t *testing.T) {
	for _, name := range []string{"store-leader-churn", "rolling-restart", "minority-partition", "joint-rebalance"} {
		t.Run(name, func(t *testing.T) {
			p, err := scenarios.Builtin(name)
			if err != nil {
				t.Fatal(err)
			}
			res := sim.Run(p, 3, sim.Options{Choices: true})
			if !res.OK() {
				t.Fatalf("the built-in fails: %v", res.Violations)
			}
			if len(res.Choices) == 0 {
				t.Fatal("no choices recorded")
			}
			m := res.Materialized
			for _, f := range m.Faults {
				if f.Kind == sim.Chaos {
					t.Errorf("chaos left in %v", f)
				}
				for _, sel := range append([]sim.Selector{f.Target}, flat(f.Groups)...) {
					if sel != "" && !named(sel) {
						t.Errorf("dynamic selector %q left in %+v", sel, f)
					}
				}
			}
			for _, c := range m.Commands {
				if !named(c.Target) {
					t.Errorf("dynamic selector left in command %+v", c)
				}
			}
			if p.Workload != nil && len(m.Workload.Script) != len(res.History) {
				t.Errorf("script of %d operations for a history of %d", len(m.Workload.Script), len(res.History))
			}
			data, err := scenarios.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			back, err := scenarios.Parse(name+".yaml", data)
			if err != nil {
				t.Fatalf("%v\n%s", err, data)
			}
			again := sim.Run(back, 3, sim.Options{})
			if !again.OK() {
				t.Fatalf("the materialized plan fails: %v", again.Violations)
			}
			if p.Workload != nil && (len(again.History) < len(res.History)*9/10 || again.Stats.OpsOK == 0) {
				t.Errorf("the script ran %d operations (%d ok); the run had %d", len(again.History), again.Stats.OpsOK, len(res.History))
			}
		})
	}
}

func flat(groups [][]sim.Selector) []sim.Selector {
	var out []sim.Selector
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

func named(sel sim.Selector) bool {
	return len(sel) > 1 && sel[0] == 'n' && sel[1] >= '0' && sel[1] <= '9'
}
