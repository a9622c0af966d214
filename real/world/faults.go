package world

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"revoada.dev/revoada/checkers"
	"revoada.dev/revoada/core/roles"
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
	case sim.Loss, sim.Duplicate:
		w.setRate(ctx, f.Kind, f.Rate)
		return nil
	case sim.ClockSkew:
		targets := w.resolve(f.Target)
		w.setClocks(ctx, targets, f.Rate)
		return targets
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
	case sim.ClockSkew:
		w.setClocks(ctx, targets, 1)
	case sim.Loss:
		w.setRate(ctx, f.Kind, w.plan.Network.Loss)
	case sim.Duplicate:
		w.setRate(ctx, f.Kind, w.plan.Network.Duplicate)
	}
}

// setClocks makes the nodes' clocks run at rate times their speed (the
// ticker of their loop); a node down now gets it when it restarts.
func (w *world) setClocks(ctx context.Context, nodes []int, rate float64) {
	for _, i := range nodes {
		w.mu.Lock()
		w.clock[i] = rate
		w.mu.Unlock()
		name := w.c.nodes[i].name
		w.logf("%s's clock runs at %v× (its tick interval over %v)", name, rate, rate)
		if running, paused := w.c.up(i); running && !paused {
			if err := w.setFaults(ctx, i); err != nil {
				w.logf("%v", err)
			}
		}
		w.mark(name, checkers.MarkFault, fmt.Sprintf("clock rate %v", rate))
	}
}

// setRate sets the loss or duplication of every node's transport; a node
// down now gets it when it restarts.
func (w *world) setRate(ctx context.Context, kind sim.FaultKind, rate float64) {
	w.mu.Lock()
	if kind == sim.Loss {
		w.loss = rate
	} else {
		w.dup = rate
	}
	w.mu.Unlock()
	w.logf("%s %v on every link (the nodes' transports)", kind, rate)
	for i := range w.c.nodes {
		if running, paused := w.c.up(i); running && !paused {
			if err := w.setFaults(ctx, i); err != nil {
				w.logf("%v", err)
			}
		}
	}
	w.mark("", checkers.MarkFault, fmt.Sprintf("%s %v", kind, rate))
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
	w.mu.Lock()
	faulty := w.loss > 0 || w.dup > 0 || w.clock[i] != 1
	w.mu.Unlock()
	if faulty {
		go w.faultsOnRestart(i)
	}
}

// faultsOnRestart gives a restarted node the network's loss and
// duplication and its clock's rate once its socket answers (until then it
// runs faultless: a restarted node serves after it opened its disk, which
// takes a few ticks).
func (w *world) faultsOnRestart(i int) {
	deadline := time.Now().Add(startWaitMax)
	for time.Now().Before(deadline) {
		if running, paused := w.c.up(i); !running || paused {
			return
		}
		if w.setFaults(context.Background(), i) == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
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

// complement is sim.Complement over the latest view.
func (w *world) complement(sels []sim.Selector, picked map[sim.Selector][]int) []int {
	return sim.Complement(worldSelect{w}, sels, picked)
}

// resolve picks the nodes a selector names now, from the latest view of
// the mesh, as the simulator resolves it from its nodes (sim.Resolve).
func (w *world) resolve(sel sim.Selector) []int { return sim.Resolve(worldSelect{w}, sel) }

// worldSelect is the latest view of the processes as a sim.SelectorMesh.
type worldSelect struct{ w *world }

func (m worldSelect) Nodes() int                   { return len(m.w.c.nodes) }
func (m worldSelect) Leader() int                  { return m.w.leaderNow() }
func (m worldSelect) Voters() []int                { return m.w.voters() }
func (m worldSelect) Pick(from []int, k int) []int { return m.w.pick(from, k) }
func (m worldSelect) Up(i int) bool {
	running, _ := m.w.c.up(i)
	return running
}

// Worker: holds the worker role alone in the latest view's shape (the
// bootstrap's before any was read), as the simulator's: a node outside
// the shape is none.
func (m worldSelect) Worker(i int) bool {
	m.w.mu.Lock()
	shape, seen := m.w.view.shape, m.w.view.seen
	m.w.mu.Unlock()
	if !seen {
		shape = m.w.bootShape()
	}
	r, _ := shape.Roles(m.w.c.nodes[i].id)
	return r == roles.Worker
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
