package topology_test

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/core/topology"
)

func id(b byte) roles.NodeID {
	var n roles.NodeID
	n[0], n[31] = b, b
	return n
}

// node is a healthy, caught-up node n<b> with capacity 1.
func node(b byte, r roles.Roles) topology.Node {
	return topology.Node{ID: id(b), Roles: r, Healthy: true, CaughtUp: true, Capacity: 1}
}

func sick(n topology.Node) topology.Node { n.Healthy = false; return n }

func capacity(n topology.Node, c uint64) topology.Node { n.Capacity = c; return n }

// show writes shifts one per line with node numbers, e.g. "promote n4 (scaling-up)".
func show(shifts []roles.Shift) string {
	var b strings.Builder
	for _, sh := range shifts {
		for _, c := range sh {
			fmt.Fprintf(&b, "%s n%d", c.Kind, c.Node[0])
			if c.Roles != 0 {
				fmt.Fprintf(&b, " %s", c.Roles)
			}
			fmt.Fprintf(&b, " (%s)\n", c.Reason)
		}
	}
	return b.String()
}

var three = topology.Target{Voters: 3, ControlPlane: 3}

func TestPlanNoChange(t *testing.T) {
	nodes := []topology.Node{
		node(1, roles.ControlPlane), node(2, roles.ControlPlane), node(3, roles.ControlPlane),
		node(4, roles.Worker), node(5, roles.Quarantined), sick(node(6, roles.Worker)),
	}
	shifts, err := topology.Plan(nodes, three)
	if err != nil || shifts != nil {
		t.Errorf("Plan = %q, %v; want nothing", show(shifts), err)
	}
}

func TestPlanTable(t *testing.T) {
	cp, w := roles.ControlPlane, roles.Worker
	for _, tc := range []struct {
		name   string
		nodes  []topology.Node
		target topology.Target
		want   string
		short  int // voters short; -1 for no error
	}{
		{
			name: "replace a failed voter: promote the best worker first, then demote",
			nodes: []topology.Node{
				node(1, cp), node(2, cp), sick(node(3, cp)),
				capacity(node(4, w), 1), capacity(node(5, w), 2),
			},
			target: three,
			want:   "promote n5 (replacing-failed)\ndemote n3 (replacing-failed)\n",
			short:  -1,
		},
		{
			name: "shrink: unhealthy first, then the worst healthy",
			nodes: []topology.Node{
				capacity(node(1, cp), 5), capacity(node(2, cp), 0), capacity(node(3, cp), 5),
				capacity(node(4, cp), 5), sick(node(5, cp)),
			},
			target: three,
			want:   "demote n5 (replacing-failed)\ndemote n2 (scaling-down)\n",
			short:  -1,
		},
		{
			name: "grow: each replacement pairs with a failed voter, then plain growth",
			nodes: []topology.Node{
				node(1, cp), sick(node(2, cp)), node(3, w), node(4, w), node(5, w), node(6, w),
			},
			target: topology.Target{Voters: 5, ControlPlane: 5},
			want: "promote n3 (replacing-failed)\ndemote n2 (replacing-failed)\n" +
				"promote n4 (scaling-up)\npromote n5 (scaling-up)\npromote n6 (scaling-up)\n",
			short: -1,
		},
		{
			name: "capacity, then uptime, then id",
			nodes: []topology.Node{
				node(1, cp),
				{ID: id(2), Roles: w, Healthy: true, CaughtUp: true, Capacity: 3, UptimeTicks: 1},
				{ID: id(3), Roles: w, Healthy: true, CaughtUp: true, Capacity: 3, UptimeTicks: 9},
				{ID: id(4), Roles: w, Healthy: true, CaughtUp: true, Capacity: 3, UptimeTicks: 9},
				{ID: id(5), Roles: w, Healthy: true, CaughtUp: true, Capacity: 9},
			},
			target: three,
			want:   "promote n5 (scaling-up)\npromote n3 (scaling-up)\n",
			short:  -1,
		},
		{
			name: "only healthy, caught-up, assignable nodes are promoted",
			nodes: []topology.Node{
				node(1, cp), sick(capacity(node(2, w), 9)),
				{ID: id(3), Roles: w, Healthy: true, Capacity: 9}, // not caught up
				capacity(node(4, roles.Quarantined), 9), capacity(node(5, roles.Observer), 9),
				node(6, w),
			},
			target: three,
			want:   "promote n6 (scaling-up)\n",
			short:  1,
		},
		{
			name:   "the last voter stays even when unhealthy",
			nodes:  []topology.Node{sick(node(1, cp)), sick(node(2, w))},
			target: topology.Target{Voters: 1, ControlPlane: 1},
			want:   "",
			short:  1,
		},
		{
			name: "all voters failed, nothing to promote: the best one stays",
			nodes: []topology.Node{
				sick(capacity(node(1, cp), 1)), sick(capacity(node(2, cp), 7)), sick(capacity(node(3, cp), 1)),
			},
			target: three,
			want:   "demote n3 (replacing-failed)\ndemote n1 (replacing-failed)\n",
			short:  3,
		},
		{
			name: "fewer control-plane than voters: the rest hold etcd alone",
			nodes: []topology.Node{
				capacity(node(1, cp), 1), capacity(node(2, cp), 2), node(3, roles.Etcd), node(4, w),
			},
			target: topology.Target{Voters: 3, ControlPlane: 1},
			want:   "demote n1 api-server,scheduler,controller-manager (scaling-down)\n",
			short:  -1,
		},
		{
			name: "stray control-plane roles on non-voters are removed",
			nodes: []topology.Node{
				node(1, cp), node(2, roles.APIServer), sick(node(3, roles.Scheduler)),
			},
			target: topology.Target{Voters: 1, ControlPlane: 1},
			want:   "demote n2 api-server (scaling-down)\ndemote n3 scheduler (replacing-failed)\n",
			short:  -1,
		},
		{
			name:   "too few nodes for the workers",
			nodes:  []topology.Node{node(1, cp), node(2, cp), node(3, cp), sick(node(4, w))},
			target: topology.Target{Voters: 3, ControlPlane: 3, WorkersMin: 1},
			want:   "",
			short:  0,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			shifts, err := topology.Plan(tc.nodes, tc.target)
			if got := show(shifts); got != tc.want {
				t.Errorf("shifts:\n%s\nwant:\n%s", got, tc.want)
			}
			var ue *topology.UnsatisfiableError
			switch {
			case tc.short < 0 && err != nil:
				t.Errorf("unexpected error %v", err)
			case tc.short >= 0 && !errors.As(err, &ue):
				t.Errorf("error %v, want *UnsatisfiableError", err)
			case tc.short >= 0 && ue.VotersShort != tc.short:
				t.Errorf("%v: voters short %d, want %d", err, ue.VotersShort, tc.short)
			}
		})
	}
}

// apply applies the shifts to the nodes' shape and returns the nodes with
// their new roles.
func apply(t *testing.T, nodes []topology.Node, shifts []roles.Shift) []topology.Node {
	t.Helper()
	s := shapeOf(t, nodes)
	for _, sh := range shifts {
		if _, rej := s.Apply(sh); rej != nil {
			t.Fatalf("%v rejected: %v", sh, rej)
		}
	}
	out := slices.Clone(nodes)
	for i := range out {
		out[i].Roles, _ = s.Roles(out[i].ID)
	}
	return out
}

func TestPlanEvictedNodeRejoins(t *testing.T) {
	cp, w := roles.ControlPlane, roles.Worker
	nodes := []topology.Node{node(1, cp), node(2, cp), sick(node(3, cp)), node(4, w)}
	shifts, err := topology.Plan(nodes, three)
	if err != nil || show(shifts) != "promote n4 (replacing-failed)\ndemote n3 (replacing-failed)\n" {
		t.Fatalf("first round: %q, %v", show(shifts), err)
	}
	nodes = apply(t, nodes, shifts)
	nodes[2].Healthy = true  // n3 is back
	nodes[3].Healthy = false // n4 fails
	shifts, err = topology.Plan(nodes, three)
	if err != nil || show(shifts) != "promote n3 (replacing-failed)\ndemote n4 (replacing-failed)\n" {
		t.Fatalf("second round: %q, %v", show(shifts), err)
	}
}

func TestPlanBadInput(t *testing.T) {
	cp := roles.ControlPlane
	for name, nodes := range map[string][]topology.Node{
		"listed twice": {node(1, cp), node(1, cp)},
		"no voter":     {node(1, roles.Worker)},
		"bad roles":    {node(1, cp), node(2, roles.Worker|roles.Etcd)},
		"empty":        nil,
	} {
		if shifts, err := topology.Plan(nodes, three); err == nil || errors.Is(err, topology.ErrUnsatisfiable) || shifts != nil {
			t.Errorf("%s: %q, %v; want a plain error", name, show(shifts), err)
		}
	}
	for _, bad := range []topology.Target{{}, {Voters: 3}, {Voters: 1, ControlPlane: 2}, {Voters: 1, ControlPlane: 1, WorkersMin: -1}} {
		if shifts, err := topology.Plan([]topology.Node{node(1, cp)}, bad); !errors.Is(err, topology.ErrUnsatisfiable) || shifts != nil {
			t.Errorf("target %v: %q, %v; want ErrUnsatisfiable and no shifts", bad, show(shifts), err)
		}
	}
}

// --- properties ---

func shapeOf(t interface{ Fatalf(string, ...any) }, nodes []topology.Node) roles.Shape {
	ms := make([]roles.Member, len(nodes))
	for i, n := range nodes {
		ms[i] = roles.Member{Node: n.ID, Roles: n.Roles}
	}
	s, err := roles.NewShape(ms)
	if err != nil {
		t.Fatalf("shape: %v", err)
	}
	return s
}

var genRoles = []roles.Roles{
	roles.Worker, roles.Worker, roles.ControlPlane, roles.ControlPlane, roles.Etcd,
	roles.APIServer, roles.Etcd | roles.Scheduler, roles.Quarantined, roles.Observer,
}

func genNodes(t *rapid.T) []topology.Node {
	ids := rapid.SliceOfNDistinct(rapid.ByteRange(1, 255), 1, 12, func(b byte) byte { return b }).Draw(t, "ids")
	nodes := make([]topology.Node, len(ids))
	voters := 0
	for i, b := range ids {
		nodes[i] = topology.Node{
			ID:          id(b),
			Roles:       rapid.SampledFrom(genRoles).Draw(t, "roles"),
			Healthy:     rapid.Float64Range(0, 1).Draw(t, "health") < 0.75,
			CaughtUp:    rapid.Float64Range(0, 1).Draw(t, "caught-up") < 0.75,
			Capacity:    rapid.Uint64Range(0, 3).Draw(t, "capacity"),
			UptimeTicks: rapid.Uint64Range(0, 3).Draw(t, "uptime"),
		}
		if nodes[i].Roles.Has(roles.Etcd) {
			voters++
		}
	}
	if voters == 0 {
		nodes[rapid.IntRange(0, len(nodes)-1).Draw(t, "first voter")].Roles = roles.ControlPlane
	}
	return nodes
}

func genTarget(t *rapid.T, nodes []topology.Node) topology.Target {
	if eligible := topology.Eligible(nodes); eligible > 0 && rapid.Bool().Draw(t, "from strategy") {
		s := rapid.SampledFrom(topology.Builtin()).Draw(t, "strategy")
		tg, err := s.Target(eligible)
		if err != nil {
			t.Fatalf("%s.Target(%d): %v", s.Name(), eligible, err)
		}
		return tg
	}
	v := rapid.IntRange(1, 13).Draw(t, "voters")
	return topology.Target{
		Voters:       v,
		ControlPlane: rapid.IntRange(1, v).Draw(t, "control-plane"),
		WorkersMin:   rapid.IntRange(0, 4).Draw(t, "workers"),
	}
}

// better is the reactor's ranking, restated: capacity, uptime, then ID.
func better(a, b topology.Node) int {
	if a.Capacity != b.Capacity {
		return cmp.Compare(b.Capacity, a.Capacity)
	}
	if a.UptimeTicks != b.UptimeTicks {
		return cmp.Compare(b.UptimeTicks, a.UptimeTicks)
	}
	return a.ID.Compare(b.ID)
}

func assignable(n topology.Node) bool {
	return n.Roles != roles.Quarantined && n.Roles != roles.Observer
}

// bruteVoterSet tries every subset of the nodes that holds only healthy
// voters and promotable candidates, and keeps the best by: the most members
// up to the target, then the most current voters kept (no churn), then the
// best members in ranking order compared position by position. With no such
// subset, the best current voter alone. It returns the set in NodeID order
// and whether it fell back.
func bruteVoterSet(nodes []topology.Node, target int) ([]roles.NodeID, bool) {
	var best []topology.Node
	bestKept := -1
	for mask := 1; mask < 1<<len(nodes); mask++ {
		var set []topology.Node
		kept, ok := 0, true
		for i, n := range nodes {
			if mask&(1<<i) == 0 {
				continue
			}
			voter := n.Roles.Has(roles.Etcd)
			switch {
			case voter && n.Healthy:
				kept++
			case !voter && n.Healthy && n.CaughtUp && assignable(n):
			default:
				ok = false
			}
			set = append(set, n)
		}
		if !ok || len(set) > target {
			continue
		}
		slices.SortFunc(set, better)
		if c := cmp.Or(cmp.Compare(len(set), len(best)), cmp.Compare(kept, bestKept), -slices.CompareFunc(set, best, better)); c > 0 {
			best, bestKept = set, kept
		}
	}
	fallback := best == nil
	if fallback {
		for _, n := range slices.SortedFunc(slices.Values(nodes), better) {
			if n.Roles.Has(roles.Etcd) {
				best = []topology.Node{n}
				break
			}
		}
	}
	ids := make([]roles.NodeID, len(best))
	for i, n := range best {
		ids[i] = n.ID
	}
	slices.SortFunc(ids, roles.NodeID.Compare)
	return ids, fallback
}

func TestPlanProperties(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		nodes := genNodes(rt)
		tg := genTarget(rt, nodes)
		shifts, err := topology.Plan(nodes, tg)
		byID := map[roles.NodeID]topology.Node{}
		for _, n := range nodes {
			byID[n.ID] = n
		}

		// Deterministic whatever the input order.
		perm := rapid.Permutation(nodes).Draw(rt, "permutation")
		shifts2, err2 := topology.Plan(perm, tg)
		if show(shifts) != show(shifts2) || fmt.Sprint(err) != fmt.Sprint(err2) {
			rt.Fatalf("order matters:\n%s%v\nvs\n%s%v", show(shifts), err, show(shifts2), err2)
		}
		if err != nil && !errors.Is(err, topology.ErrUnsatisfiable) {
			rt.Fatalf("Plan: %v", err)
		}

		// Step by step: accepted, one command, at most one voter, never zero
		// voters, a healthy majority kept if there was one, honest reasons,
		// and only eligible nodes promoted.
		s := shapeOf(rt, nodes)
		healthyMajority := func(s roles.Shape) bool {
			h := 0
			for _, v := range s.Voters() {
				if byID[v].Healthy {
					h++
				}
			}
			return 2*h > len(s.Voters())
		}
		hadMajority := healthyMajority(s)
		want, fallback := bruteVoterSet(nodes, tg.Voters)
		totalAdds := 0
		for _, v := range want {
			if !byID[v].Roles.Has(roles.Etcd) {
				totalAdds++
			}
		}
		adds, sickRemoved := 0, 0
		for i, sh := range shifts {
			if len(sh) != 1 {
				rt.Fatalf("shift %d has %d commands", i, len(sh))
			}
			c, n := sh[0], byID[sh[0].Node]
			before := s.Voters()
			if _, rej := s.Apply(sh); rej != nil {
				rt.Fatalf("shift %d (%v) rejected: %v\n%s", i, c, rej, show(shifts))
			}
			after := s.Voters()
			added := len(after) > len(before)
			if added {
				adds++
			}
			if len(after) < len(before) && !n.Healthy {
				// Add before remove: a failed voter leaves only once its
				// replacement, if there is one, has joined.
				if sickRemoved++; adds < min(totalAdds, sickRemoved) {
					rt.Fatalf("shift %d removes failed %v before its replacement joins\n%s", i, c, show(shifts))
				}
			}
			switch {
			case len(after) == 0:
				rt.Fatalf("shift %d leaves no voter", i)
			case abs(len(after)-len(before)) > 1 || len(after) == len(before) && !slices.Equal(after, before):
				rt.Fatalf("shift %d changes more than one voter: %v -> %v", i, before, after)
			case hadMajority && !healthyMajority(s):
				rt.Fatalf("shift %d (%v) loses the healthy majority\n%s", i, c, show(shifts))
			case c.Kind != roles.Promote && c.Kind != roles.Demote:
				rt.Fatalf("shift %d: unexpected %v", i, c)
			case !assignable(n):
				rt.Fatalf("shift %d touches %v, which is %s", i, c, n.Roles)
			case c.Kind == roles.Promote && !n.Healthy:
				rt.Fatalf("shift %d promotes unhealthy %v", i, c)
			case added && !n.CaughtUp:
				rt.Fatalf("shift %d adds a voter that is not caught up: %v", i, c)
			case c.Kind == roles.Demote && !n.Healthy && c.Reason != roles.ReplacingFailed,
				c.Kind == roles.Demote && n.Healthy && c.Reason != roles.ScalingDown,
				c.Kind == roles.Promote && c.Reason != roles.ScalingUp && !(added && c.Reason == roles.ReplacingFailed):
				rt.Fatalf("shift %d: reason of %v", i, c)
			}
		}

		// The end state: the brute-force voter set, the asked-for control
		// plane, workers everywhere else, observers and quarantined untouched.
		if got := s.Voters(); !slices.Equal(got, want) {
			rt.Fatalf("voters %v, brute force says %v\n%s", short(got), short(want), show(shifts))
		}
		full, workers := 0, 0
		for _, m := range s.Members() {
			n := byID[m.Node]
			switch {
			case !assignable(n):
				if m.Roles != n.Roles {
					rt.Fatalf("%v changed from %s to %s", short([]roles.NodeID{n.ID}), n.Roles, m.Roles)
				}
			case m.Roles == roles.ControlPlane:
				full++
			case m.Roles == roles.Worker:
				if n.Healthy {
					workers++
				}
			case m.Roles != roles.Etcd && !(fallback && n.Roles == m.Roles):
				rt.Fatalf("node ends with roles %s", m.Roles)
			}
		}
		reach := len(want)
		if fallback {
			reach = 0
		}
		if !fallback && full != min(tg.ControlPlane, len(want)) {
			rt.Fatalf("%d full control-plane nodes, want %d", full, min(tg.ControlPlane, len(want)))
		}

		// Unsatisfiable exactly when short, by the reported amounts.
		vShort, wShort := tg.Voters-reach, max(0, tg.WorkersMin-workers)
		var ue *topology.UnsatisfiableError
		if (vShort > 0 || wShort > 0) != (err != nil) {
			rt.Fatalf("short %d voters and %d workers, error %v", vShort, wShort, err)
		}
		if err != nil && (!errors.As(err, &ue) || ue.VotersShort != vShort || ue.WorkersShort != wShort) {
			rt.Fatalf("error %v, want shortfall %d voters, %d workers", err, vShort, wShort)
		}
		if vShort == 0 && len(s.Voters()) != tg.Voters {
			rt.Fatalf("enough candidates but %d voters, want %d", len(s.Voters()), tg.Voters)
		}

		// A fixed point: planning again from the end state changes nothing.
		end := slices.Clone(nodes)
		for i := range end {
			end[i].Roles, _ = s.Roles(end[i].ID)
		}
		again, err2 := topology.Plan(end, tg)
		var ue2 *topology.UnsatisfiableError
		if again != nil || (err2 != nil) != (err != nil) ||
			err2 != nil && (!errors.As(err2, &ue2) || ue2.VotersShort != vShort || ue2.WorkersShort != wShort) {
			rt.Fatalf("replanning the end state gives\n%s%v", show(again), err2)
		}
	})
}

func short(ids []roles.NodeID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = fmt.Sprintf("n%d", id[0])
	}
	return out
}
