package world

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"revoada.dev/revoada/checkers"
	"revoada.dev/revoada/sim"
)

// runFaults injects each fault at its time, one after another, and
// schedules its undoing when it has a For. Partitions undo only if no
// later partition or heal replaced them, as in the simulator.
func (w *world) runFaults(ctx context.Context, wg *sync.WaitGroup) {
	faults := slices.Clone(w.plan.Faults)
	slices.SortStableFunc(faults, func(a, b sim.Fault) int { return cmp.Compare(a.At, b.At) })
	wg.Go(func() {
		var partGen int
		var mu sync.Mutex
		for _, f := range faults {
			if !w.wait(ctx, f.At) {
				return
			}
			targets := w.inject(ctx, f)
			if f.For <= 0 {
				continue
			}
			mu.Lock()
			if f.Kind == sim.Partition {
				partGen++
			}
			gen := partGen
			mu.Unlock()
			wg.Go(func() {
				if !w.wait(ctx, f.At+f.For) {
					return
				}
				mu.Lock()
				stale := f.Kind == sim.Partition && gen != partGen
				mu.Unlock()
				if !stale {
					w.undo(ctx, f, targets)
				}
			})
		}
	})
}

// inject carries one fault out and returns the nodes it hit.
func (w *world) inject(ctx context.Context, f sim.Fault) []int {
	switch f.Kind {
	case sim.Partition:
		w.partition(f)
		return nil
	case sim.Heal:
		w.heal()
		return nil
	}
	targets := w.resolve(f.Target)
	for _, i := range targets {
		name := w.c.nodes[i].name
		switch f.Kind {
		case sim.Crash:
			w.logf("crash %s (SIGKILL)", name)
			w.c.kill(i)
			w.mark(name, checkers.MarkCrash, "")
		case sim.Restart:
			w.restart(i)
		case sim.Pause:
			w.logf("pause %s (SIGSTOP)", name)
			w.c.pause(i)
			w.mark(name, checkers.MarkPause, "")
		case sim.Resume:
			w.resumeNode(i)
		}
	}
	return targets
}

// undo takes a fault back when its For ends: a crash restarts the same
// node, a pause resumes it, a partition heals.
func (w *world) undo(ctx context.Context, f sim.Fault, targets []int) {
	switch f.Kind {
	case sim.Crash:
		for _, i := range targets {
			w.restart(i)
		}
	case sim.Pause:
		for _, i := range targets {
			w.resumeNode(i)
		}
	case sim.Partition:
		w.heal()
	}
}

func (w *world) restart(i int) {
	name := w.c.nodes[i].name
	if running, _ := w.c.up(i); running {
		return
	}
	w.logf("restart %s from its data directory", name)
	if err := w.c.start(i); err != nil {
		w.logf("restart %s: %v", name, err)
		return
	}
	w.mark(name, checkers.MarkStart, "restart")
}

func (w *world) resumeNode(i int) {
	name := w.c.nodes[i].name
	w.logf("resume %s (SIGCONT)", name)
	w.c.resume(i)
	w.mark(name, checkers.MarkResume, "")
}

// partition cuts the links between the fault's groups (the nodes in no
// group form one more), or only those from the first group to the rest
// when one-way.
func (w *world) partition(f sim.Fault) {
	members := w.groupMembers(f.Groups)
	n := len(w.c.nodes)
	group := make([]int, n)
	for i := range group {
		group[i] = len(members)
	}
	var names []string
	for g, m := range members {
		for _, i := range m {
			group[i] = g
		}
		names = append(names, "["+w.names(m)+"]")
	}
	var rest []int
	for i, g := range group {
		if g == len(members) {
			rest = append(rest, i)
		}
	}
	if len(rest) > 0 {
		names = append(names, "["+w.names(rest)+"]")
	}
	cut := make([][]bool, n)
	for a := range n {
		cut[a] = make([]bool, n)
		for b := range n {
			if f.OneWay {
				cut[a][b] = group[a] == 0 && group[b] != 0
			} else {
				cut[a][b] = group[a] != group[b]
			}
		}
	}
	detail := strings.Join(names, " | ")
	if f.OneWay {
		detail += " one-way"
	}
	w.logf("partition %s (proxies blackholed)", detail)
	w.c.block(cut)
	w.mark("", checkers.MarkPartition, detail)
}

func (w *world) heal() {
	n := len(w.c.nodes)
	cut := make([][]bool, n)
	for a := range cut {
		cut[a] = make([]bool, n)
	}
	w.logf("heal every partition")
	w.c.block(cut)
	w.mark("", checkers.MarkHeal, "")
}

// groupMembers resolves a partition's groups: the plain ones in order,
// then a not-group, whose selectors stand for what they picked in the
// other groups.
func (w *world) groupMembers(groups [][]sim.Selector) [][]int {
	members := make([][]int, len(groups))
	picked := map[sim.Selector][]int{}
	not, negated := -1, []sim.Selector(nil)
	for g, sels := range groups {
		if len(sels) == 1 {
			if listed, ok := sels[0].Negated(); ok {
				not, negated = g, listed
				continue
			}
		}
		for _, sel := range sels {
			nodes := w.resolve(sel)
			members[g] = append(members[g], nodes...)
			picked[sel] = append(picked[sel], nodes...)
		}
	}
	if not >= 0 {
		members[not] = w.complement(negated, picked)
	}
	return members
}

// complement is every node none of sels picks (picked stands for a
// selector resolved already).
func (w *world) complement(sels []sim.Selector, picked map[sim.Selector][]int) []int {
	out := make([]bool, len(w.c.nodes))
	for _, sel := range sels {
		nodes, ok := picked[sel]
		if !ok {
			nodes = w.resolve(sel)
		}
		for _, i := range nodes {
			out[i] = true
		}
	}
	var rest []int
	for i, o := range out {
		if !o {
			rest = append(rest, i)
		}
	}
	return rest
}

// resolve picks the nodes a selector names now, from the latest view of
// the mesh, as the simulator's resolve does from its nodes.
func (w *world) resolve(sel sim.Selector) []int {
	if sels, ok := sel.Negated(); ok {
		return w.complement(sels, nil)
	}
	switch sel {
	case "leader":
		if l := w.leaderNow(); l >= 0 {
			return []int{l}
		}
		return w.pick(w.liveVoters(), 1)
	case "follower":
		l := w.leaderNow()
		return w.pick(slices.DeleteFunc(w.liveVoters(), func(i int) bool { return i == l }), 1)
	case "random-voter":
		return w.pick(w.liveVoters(), 1)
	case "random-worker":
		voters := w.voters()
		var ws []int
		for i := range w.c.nodes {
			if running, _ := w.c.up(i); running && !slices.Contains(voters, i) {
				ws = append(ws, i)
			}
		}
		return w.pick(ws, 1)
	case "random":
		var up []int
		for i := range w.c.nodes {
			if running, _ := w.c.up(i); running {
				up = append(up, i)
			}
		}
		return w.pick(up, 1)
	case "minority", "majority":
		voters := w.voters()
		k := (len(voters) - 1) / 2
		if sel == "majority" {
			k = len(voters)/2 + 1
		}
		return w.pick(voters, k)
	}
	n, ok := sel.Node()
	if !ok {
		panic(fmt.Sprintf("world: unvalidated selector %q", sel))
	}
	return []int{n - 1}
}

func (w *world) liveVoters() []int {
	return slices.DeleteFunc(w.voters(), func(i int) bool {
		running, _ := w.c.up(i)
		return !running
	})
}

// pick draws k distinct nodes of from, in order.
func (w *world) pick(from []int, k int) []int {
	from = slices.Clone(from)
	w.mu.Lock()
	w.rng.Shuffle(len(from), func(i, j int) { from[i], from[j] = from[j], from[i] })
	w.mu.Unlock()
	out := from[:min(k, len(from))]
	slices.Sort(out)
	return out
}

func (w *world) names(idx []int) string {
	names := make([]string, len(idx))
	for k, i := range idx {
		names[k] = w.c.nodes[i].name
	}
	return strings.Join(names, ",")
}
