package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"revoada.dev/revoada/core/roles"
)

// settled runs p with the seed to its end and returns the simulator, so that
// a test can resolve selectors against the mesh it left.
func settled(t *testing.T, p *Plan, seed uint64) *simulator {
	t.Helper()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	sw, restore := installEntropy()
	defer restore()
	s := newSimulator(p, seed, Options{}, sw)
	s.boot()
	s.loop()
	return s
}

func selectorPlan(faults ...Fault) *Plan {
	return &Plan{Name: "selectors", Nodes: 6, ControlPlane: 5, Duration: 20 * time.Second,
		Network: Network{LatencyMin: time.Millisecond, LatencyMax: 10 * time.Millisecond}, Faults: faults}
}

// TestFollowerIsAVoterNotTheLeader: follower picks a live voter other than
// the leader, each of them in time, and nothing when the leader is the only
// live voter.
func TestFollowerIsAVoterNotTheLeader(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		s := settled(t, selectorPlan(Fault{At: 5 * time.Second, Kind: Crash, Target: "follower"}), seed)
		l := s.leader()
		if l < 0 {
			t.Fatalf("seed %d: no leader at the end", seed)
		}
		live := s.liveVoters()
		if len(live) != 4 {
			t.Fatalf("seed %d: live voters %s, want four after crashing a follower", seed, s.nodeNames(live))
		}
		seen := map[int]bool{}
		for range 200 {
			got := s.resolve("follower")
			if len(got) != 1 || got[0] == l || !slices.Contains(live, got[0]) {
				t.Fatalf("seed %d: follower picked %s; leader %s, live voters %s", seed, s.nodeNames(got), s.nodes[l].name, s.nodeNames(live))
			}
			seen[got[0]] = true
		}
		if len(seen) != len(live)-1 {
			t.Fatalf("seed %d: follower picked only %d of the %d followers", seed, len(seen), len(live)-1)
		}
	}
	solo := &Plan{Name: "solo", Nodes: 3, ControlPlane: 1, Duration: 10 * time.Second, Network: selectorPlan().Network}
	if got := settled(t, solo, 1).resolve("follower"); len(got) != 0 {
		t.Fatalf("a mesh whose one voter leads: follower picked %v, want none", got)
	}
}

// TestNotIsTheComplement: a not-selector picks every node, up or down, that
// its selectors do not; in a partition, a selector it shares with another
// group stands for the same nodes.
func TestNotIsTheComplement(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		s := settled(t, selectorPlan(Fault{At: 5 * time.Second, Kind: Crash, Target: "n6"}), seed)
		l := s.leader()
		var want []int
		for i := range s.nodes {
			if i != l && i != 4 {
				want = append(want, i)
			}
		}
		if got := s.resolve(Not("leader", "n5")); !slices.Equal(got, want) {
			t.Fatalf("seed %d: not leader,n5 picked %s, want %s (n6 is down)", seed, s.nodeNames(got), s.nodeNames(want))
		}
		for range 50 {
			members := s.groupMembers([][]Selector{{"random-voter"}, {Not("random-voter")}}, "test")
			all := append(slices.Clone(members[0]), members[1]...)
			slices.Sort(all)
			if len(members[0]) != 1 || len(all) != len(s.nodes) || len(slices.Compact(all)) != len(s.nodes) {
				t.Fatalf("seed %d: groups %s | %s are not one voter and its complement", seed, s.nodeNames(members[0]), s.nodeNames(members[1]))
			}
		}
	}
}

// TestNotTargetsCrashEveryOtherNode: crash {not: [leader]} leaves the leader
// alone in the mesh, and the run's materialized plan names each node it
// crashed.
func TestNotTargetsCrashEveryOtherNode(t *testing.T) {
	p := selectorPlan(Fault{At: 5 * time.Second, Kind: Crash, Target: Not("leader")})
	r := Run(p, 1, Options{})
	var crashed []Selector
	for _, f := range r.Materialized.Faults {
		crashed = append(crashed, f.Target)
	}
	if len(crashed) != p.Nodes-1 || slices.Contains(crashed, Not("leader")) {
		t.Fatalf("crashed %v, want every node but one, by name", crashed)
	}
}

// commandTrace runs p with seed 1 and returns its verdict and the trace
// events of the named kinds, as "node event" strings.
func commandTrace(t *testing.T, p *Plan, kinds ...string) (*Result, []string) {
	t.Helper()
	var buf bytes.Buffer
	r := Run(p, 1, Options{Trace: &buf})
	var out []string
	for line := range strings.SplitSeq(strings.TrimSpace(buf.String()), "\n") {
		var ev struct {
			T  int64  `json:"t"`
			N  string `json:"n"`
			Ev string `json:"ev"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatal(err)
		}
		if slices.Contains(kinds, ev.Ev) {
			out = append(out, ev.N+" "+ev.Ev)
		}
	}
	return r, out
}

func toPlan(faults ...Fault) *Plan {
	return &Plan{Name: "to", Nodes: 5, ControlPlane: 3, Duration: 60 * time.Second, Network: selectorPlan().Network,
		Faults:   faults,
		Commands: []Command{{At: 10 * time.Second, Kind: roles.Promote, Target: "n4", Reason: roles.Operator, To: "n5"}},
		Expect:   Expect{CommandsComplete: true}}
}

// TestCommandTo: a command with To is submitted to that node; while it is
// down each attempt fails at once and is retried there; when it never comes
// back the command gives up after OperatorAttemptsMax attempts.
func TestCommandTo(t *testing.T) {
	r, evs := commandTrace(t, toPlan(), "submit")
	if !r.OK() || !slices.Equal(evs, []string{"n5 submit"}) {
		t.Fatalf("verdict %s, submits %v; want ok and one submit to n5", r.Summary(), evs)
	}
	r, evs = commandTrace(t, toPlan(Fault{At: 9 * time.Second, Kind: Crash, Target: "n5", For: 5 * time.Second}), "submit", "unreachable")
	want := []string{"operator unreachable", "operator unreachable", "operator unreachable", "operator unreachable", "n5 submit"}
	if !r.OK() || !slices.Equal(evs, want) {
		t.Fatalf("verdict %s, events %v; want ok and %v", r.Summary(), evs, want)
	}
	r, evs = commandTrace(t, toPlan(Fault{At: 9 * time.Second, Kind: Crash, Target: "n5"}), "submit", "unreachable")
	if !r.Violated(PropCommandsDone) || len(evs) != OperatorAttemptsMax || slices.Contains(evs, "n5 submit") {
		t.Fatalf("verdict %s after %d events; want %s after %d unreachable attempts", r.Summary(), len(evs), PropCommandsDone, OperatorAttemptsMax)
	}
}

// TestSelectorErrors: a selector a plan cannot use is a *SelectorError
// naming where it stands.
func TestSelectorErrors(t *testing.T) {
	cmd := func(c Command) *Plan {
		p := selectorPlan()
		c.Kind, c.Reason = roles.Promote, roles.Operator
		p.Commands = []Command{c}
		return p
	}
	fault := func(f Fault) *Plan { return selectorPlan(f) }
	for _, tc := range []struct {
		name  string
		plan  *Plan
		field string
		msg   string
	}{
		{"unknown", fault(Fault{Kind: Crash, Target: "boss"}), "target", `unknown node selector "boss"`},
		{"empty not", fault(Fault{Kind: Pause, Target: Not()}), "target", "not needs at least one selector"},
		{"unknown in a not", fault(Fault{Kind: Crash, Target: Not("leader", "boss")}), "target", `unknown node selector "boss"`},
		{"not in a not", fault(Fault{Kind: Crash, Target: Not(Not("n1"))}), "target", "a not cannot list a not"},
		{"node beyond the mesh in a not", fault(Fault{Kind: Crash, Target: Not("n7")}), "target", `node "n7" is not in a mesh of 6 nodes`},
		{"not in a group", fault(Fault{Kind: Partition, Groups: [][]Selector{{"n1", Not("n1")}}}), "groups[0][1]", "a not is a group of its own"},
		{"two not groups", fault(Fault{Kind: Partition, Groups: [][]Selector{{Not("n1")}, {Not("n2")}}}), "groups[1][0]", "at most one not group"},
		{"to beyond the mesh", cmd(Command{Target: "n4", To: "n9"}), "to", `node "n9" is not in a mesh of 6 nodes`},
		{"to a dynamic selector", cmd(Command{Target: "n4", To: "leader"}), "to", `"leader" is not a node name (want n1..n6)`},
		{"command to many", cmd(Command{Target: Not("n1")}), "target", "may pick many nodes"},
		{"to in a shift", cmd(Command{Target: "n4", With: []Command{{Kind: roles.Promote, Target: "n5", To: "n1"}}}), "with[0].to", "leave it out of the others"},
		{"target in a shift", cmd(Command{Target: "n4", With: []Command{{Kind: roles.Promote, Target: "boss"}}}), "with[0].target", "unknown node selector"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.plan.Validate()
			var se *SelectorError
			if !errors.As(err, &se) || se.Field != tc.field || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Validate: %v; want a *SelectorError at %q saying %q", err, tc.field, tc.msg)
			}
		})
	}
	p := selectorPlan()
	p.Workload = &Workload{Face: "nomad", Script: []ScriptOp{{Node: Not("n1"), Verb: "get", Key: "k"}}}
	var se *SelectorError
	if err := p.Validate(); !errors.As(err, &se) || se.Field != "node" {
		t.Fatalf("a script operation on a not: %v, want a *SelectorError at node", err)
	}
	for _, sel := range []Selector{"follower", Not("leader"), Not("follower", "minority", "n6")} {
		if err := ValidateSelector(sel, 6); err != nil {
			t.Errorf("ValidateSelector(%q): %v", sel, err)
		}
	}
}
