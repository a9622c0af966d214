package world

import (
	"cmp"
	"fmt"
	"slices"

	"revoada.dev/revoada/checkers"
	"revoada.dev/revoada/sim"
)

// judge judges the run as the simulator judges its own, with the checks a
// real run can feed from the outside: the client history (sim.BlackBox:
// porcupine, watches, lists, revisions) and its progress, the role
// commands against the roles model, the liveness monitors, commands
// complete and convergence from the nodes' statuses, a node that answers
// clients after it left (left-serves, as the simulator judges it), and
// nodes that died unbidden (not a node that left and then stopped). What
// only the simulator sees (every node's applied entries: log agreement,
// one leader per term, shapes matching the log) is not judged here.
func (w *world) judge() *sim.Result {
	w.mu.Lock()
	defer w.mu.Unlock()
	end := w.plan.Duration
	res := &sim.Result{Scenario: w.plan.Name, SimTime: end, History: slices.Clone(w.history)}
	fail := func(prop string, node, format string, args ...any) {
		if len(res.Violations) < sim.ViolationsMax {
			res.Violations = append(res.Violations, sim.Violation{Property: prop, At: end, Node: node, Detail: fmt.Sprintf(format, args...)})
		}
	}
	slices.SortStableFunc(w.marks, func(a, b checkers.Mark) int { return cmp.Compare(a.At, b.At) })
	res.Marks = slices.Clone(w.marks)
	if w.plan.Workload != nil {
		for _, v := range sim.BlackBox(res.History, res.Marks, end, sim.CheckTimeoutDefault) {
			if len(res.Violations) < sim.ViolationsMax {
				res.Violations = append(res.Violations, v)
			}
		}
		ok := 0
		for _, op := range res.History {
			if op.Outcome == checkers.OutcomeOK {
				ok++
			}
		}
		res.Stats.Ops, res.Stats.OpsOK = len(res.History), ok
		if end > 0 {
			res.Stats.OpsPerSecond = float64(res.Stats.Ops) / end.Seconds()
		}
		if p := w.plan.Expect.Progress; p > 0 {
			if n := len(res.History); n == 0 || float64(ok)/float64(n) < p {
				fail(sim.PropProgress, "", "%d of %d operations succeeded, want at least %.2f of them", ok, n, p)
			}
		}
	}
	if len(w.roleOps) > 0 {
		ops := append(slices.Clone(w.roleOps), w.seenShifts...)
		if v := checkers.RolesLinearizable(w.bootShape(), ops, checkers.Options{Marks: res.Marks}); !v.OK() {
			fail(sim.PropRoles, "", "%s", v.String())
		}
	}
	for _, m := range []*checkers.Monitor{w.live.leader, w.live.shape, w.live.members} {
		if m == nil {
			continue
		}
		m.End(end)
		res.Monitors = append(res.Monitors, *m)
		if m.Failed {
			fail(m.Name, "", "hot for more than %v at %v (the last fault healed at %v): %v", m.Bound, m.FailedAt, w.plan.HealTime(), m.Hot)
		}
	}
	res.Stats.CommandsTotal = len(w.commands)
	for k, op := range w.commands {
		if op.done {
			res.Stats.CommandsDone++
		} else if w.plan.Expect.CommandsComplete {
			fail(sim.PropCommandsDone, "", "command %d (%s %s at %v) has no result after %d attempts: %s", k, op.cmd.Kind, op.cmd.Target, op.cmd.At, op.attempts, op.outcome)
		}
	}
	w.judgeApplied(fail)
	if c := w.plan.Expect.Converge; c != nil {
		w.judgeConverge(c, fail)
	}
	for _, e := range w.c.exits() {
		if !w.stoppedAfterLeaving(e) {
			fail(PropNodeExited, e.name, "%v", e)
		}
	}
	for _, v := range w.leftServes {
		if len(res.Violations) < sim.ViolationsMax {
			res.Violations = append(res.Violations, v)
		}
	}
	return res
}

// stoppedAfterLeaving: the exit is a clean one (status 0) of a node out of
// the shape it was in, as a node stops once it left by 'mesh leave' (a
// Leave through another node, as the plan's, leaves its process running,
// silent, as in the simulator). Called with w.mu held.
func (w *world) stoppedAfterLeaving(e exit) bool {
	_, out := w.outSince[e.node]
	return e.err == nil && out
}

// judgeApplied is the simulator's committed-everywhere from the nodes'
// statuses: every voter of the end that was a voter SettleTime before it,
// runs unpaused and hears from every node has applied at least what any
// voter had applied then; and every running node answered its status.
func (w *world) judgeApplied(fail func(prop, node, format string, args ...any)) {
	for i, st := range w.final {
		name := w.c.nodes[i].name
		running, paused := w.c.up(i)
		switch {
		case !running || paused:
		case st == nil:
			fail(sim.PropAllApplied, name, "did not answer its status within %v after the end", finalWait)
		case !w.settle.taken || !slices.Contains(w.settle.voters, i) || !slices.Contains(w.votersOf(w.view), i) || !w.c.hearsFromAll(i):
		case st.Applied < w.settle.applied:
			fail(sim.PropAllApplied, name, "applied up to %d; %d was applied elsewhere %v before the end", st.Applied, w.settle.applied, sim.SettleTime)
		}
	}
}

// judgeConverge: at the end, the shape of the node that applied the most
// holds ControlPlane control-plane nodes, all running, and reached that
// count within Within of the plan's calm (as first seen by the observer).
func (w *world) judgeConverge(c *sim.Converge, fail func(prop, node, format string, args ...any)) {
	v := w.view
	if !v.seen {
		fail(sim.PropConverge, "", "no node ever told its shape")
		return
	}
	for _, m := range v.shape.Members() {
		i := w.index(m.Node)
		if running, _ := w.c.up(i); m.Roles.IsControlPlane() && !running {
			fail(sim.PropConverge, w.c.nodes[i].name, "holds %s at the end but is down", m.Roles)
		}
	}
	calm := w.plan.CalmAt()
	switch {
	case v.cpCount != c.ControlPlane:
		fail(sim.PropConverge, "", "%d control-plane nodes at the end, want %d", v.cpCount, c.ControlPlane)
	case v.cpChange > calm+c.Within:
		fail(sim.PropConverge, "", "reached %d control-plane nodes at %v, later than %v after the last fault healed or command was issued (%v)", v.cpCount, v.cpChange, c.Within, calm)
	}
}
