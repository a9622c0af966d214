package sim

import (
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"

	"revoada.dev/revoada/core/roles"
)

var selectors = []Selector{"leader", "follower", "random-voter", "random-worker", "random", "minority", "majority"}

func genSelector(nodes int) *rapid.Generator[Selector] {
	return rapid.Custom(func(t *rapid.T) Selector {
		if rapid.Bool().Draw(t, "named") {
			return Selector(fmt.Sprintf("n%d", rapid.IntRange(1, nodes).Draw(t, "n")))
		}
		return rapid.SampledFrom(selectors).Draw(t, "dynamic")
	})
}

func genSeconds(t *rapid.T, label string, max int) time.Duration {
	return time.Duration(rapid.IntRange(0, max).Draw(t, label)) * time.Second
}

// genPlan draws a small plan of any faults and commands, with room after the
// faults for the liveness check.
func genPlan(t *rapid.T) *Plan {
	nodes := rapid.IntRange(1, 6).Draw(t, "nodes")
	p := &Plan{Name: "generated", Nodes: nodes, ControlPlane: rapid.IntRange(1, nodes).Draw(t, "cp"),
		Network: Network{LatencyMin: time.Millisecond, LatencyMax: time.Duration(rapid.IntRange(1, 200).Draw(t, "lat")) * time.Millisecond,
			Loss: rapid.Float64Range(0, 0.3).Draw(t, "loss"), Duplicate: rapid.Float64Range(0, 0.3).Draw(t, "dup")}}
	kinds := []FaultKind{Crash, Restart, Pause, Resume, Partition, Heal, Loss, Duplicate, Chaos}
	for range rapid.IntRange(0, 6).Draw(t, "faults") {
		f := Fault{At: genSeconds(t, "at", 30), Kind: rapid.SampledFrom(kinds).Draw(t, "kind"), For: genSeconds(t, "for", 15)}
		switch f.Kind {
		case Partition:
			for range rapid.IntRange(1, 3).Draw(t, "groups") {
				f.Groups = append(f.Groups, rapid.SliceOfN(genSelector(nodes), 1, 3).Draw(t, "group"))
			}
			if rapid.Bool().Draw(t, "not group") {
				f.Groups = append(f.Groups, []Selector{Not(rapid.SliceOfN(genSelector(nodes), 1, 3).Draw(t, "not")...)})
			}
			f.OneWay = rapid.Bool().Draw(t, "oneway")
		case Loss, Duplicate, Chaos:
			f.Rate = rapid.Float64Range(0, 0.5).Draw(t, "rate")
		case Heal:
		default:
			f.Target = genSelector(nodes).Draw(t, "target")
			if rapid.Bool().Draw(t, "not target") {
				f.Target = Not(f.Target)
			}
		}
		if f.Kind == Chaos && f.For == 0 {
			f.For = time.Second
		}
		p.Faults = append(p.Faults, f)
	}
	for range rapid.IntRange(0, 4).Draw(t, "commands") {
		c := Command{At: genSeconds(t, "cat", 40),
			Kind: roles.Kind(rapid.IntRange(1, 4).Draw(t, "ckind")), Target: genSelector(nodes).Draw(t, "ctarget"),
			Reason: roles.Operator}
		if rapid.Bool().Draw(t, "to") {
			c.To = Selector(fmt.Sprintf("n%d", rapid.IntRange(1, nodes).Draw(t, "to node")))
		}
		p.Commands = append(p.Commands, c)
	}
	p.Duration = p.HealTime() + LeaderWithin + 5*time.Second
	return p
}

// TestGeneratedPlansNeverPanic: whatever the plan, a run ends with a
// verdict, never a panic, and the safety properties hold (liveness may fail:
// a plan may crash a majority for good).
func TestGeneratedPlansNeverPanic(t *testing.T) {
	safety := map[string]bool{PropPanic: true, PropOneLeader: true, PropLogAgreement: true, PropShapeMatches: true, PropVotersAreEtcd: true}
	rapid.Check(t, func(t *rapid.T) {
		p := genPlan(t)
		seed := rapid.Uint64().Draw(t, "seed")
		r := Run(p, seed, Options{})
		for _, v := range r.Violations {
			if safety[v.Property] {
				t.Fatalf("seed %d: %v", seed, v)
			}
		}
	})
}
