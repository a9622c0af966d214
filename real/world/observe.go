package world

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"revoada.dev/revoada/checkers"
	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/sim"
)

// view is what the nodes said at the latest sample: the observer's picture
// of the mesh, from which selectors resolve and monitors judge.
type view struct {
	at       time.Duration
	st       []*Status   // per node; nil for one that did not answer (down, paused, slow)
	leader   int         // the answering leader of the highest term, -1 for none
	shape    roles.Shape // the shape of the node that applied the most
	applied  uint64
	cpCount  int           // control-plane nodes in shape
	cpChange time.Duration // when cpCount last changed
	seen     bool          // a shape was read at least once
}

// settle is the committed-everywhere check's mark: the most any voter had
// applied SettleTime before the end, and the voters then.
type settle struct {
	taken   bool
	applied uint64
	voters  []int
}

// liveness holds the run's monitors (sim's, judged the same way): armed
// at the plan's heal time, observed at every sample from then on.
type liveness struct {
	leader, shape, members *checkers.Monitor
}

// observe polls every node's status every sampleEvery until ctx ends,
// keeping the view, the marks of leaders and roles changing, and the
// monitors. It closes first after the first sample.
func (w *world) observe(ctx context.Context, first chan<- struct{}) {
	l := w.plan.Expect.Liveness
	w.live.leader = checkers.NewMonitor(sim.PropLeaderAfter, w.plan.LeaderWithin())
	if l.Shape != nil {
		w.live.shape = checkers.NewMonitor(sim.PropShapeWithin, l.Shape.Within)
	}
	if l.Membership > 0 {
		w.live.members = checkers.NewMonitor(sim.PropMembershipAgree, time.Duration(l.Membership)*sim.GossipRound)
	}
	w.mu.Lock()
	w.view = view{leader: -1}
	w.mu.Unlock()
	t := time.NewTicker(sampleEvery)
	defer t.Stop()
	for {
		w.sample(ctx)
		if first != nil {
			close(first)
			first = nil
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sample takes one status from every node at once and updates the view.
func (w *world) sample(ctx context.Context) {
	sts := make([]*Status, len(w.c.nodes))
	var wg sync.WaitGroup
	for i := range w.c.nodes {
		if running, paused := w.c.up(i); !running || paused {
			continue
		}
		wg.Go(func() {
			if st, err := w.status(ctx, i); err == nil {
				sts[i] = &st
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return
	}
	now := w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	prev := w.view
	v := view{at: now, st: sts, leader: -1, shape: prev.shape, applied: prev.applied, cpCount: prev.cpCount, cpChange: prev.cpChange, seen: prev.seen}
	var term uint64
	for i, st := range sts {
		if st == nil {
			continue
		}
		if st.Leading && st.Term > term {
			v.leader, term = i, st.Term
		}
		if !v.seen || st.Applied > v.applied {
			if shape, err := roles.NewShape(st.Shape); err == nil {
				v.shape, v.applied, v.seen = shape, st.Applied, true
			}
		}
	}
	if v.seen {
		v.cpCount = v.shape.ControlPlaneCount()
		if prev.seen && v.cpCount != prev.cpCount {
			v.cpChange = now
		}
	}
	w.view = v
	if !w.settle.taken && now >= w.plan.Duration-sim.SettleTime && v.seen {
		w.settle = settle{taken: true, applied: v.applied, voters: w.votersOf(v)}
		w.logf("settle mark: index %d, applied by the end on every voter of %s that hears from all", v.applied, w.names(w.settle.voters))
	}
	w.markChanges(prev, v, term)
	if v.seen {
		w.trackMembers(v)
	}
	if now >= w.plan.HealTime() {
		w.judgeSample(now)
	}
}

// markChanges marks a new leader and roles that changed, for the report.
// Called with w.mu held.
func (w *world) markChanges(prev, v view, term uint64) {
	if v.leader >= 0 && (prev.leader != v.leader || prev.st[prev.leader] == nil || prev.st[prev.leader].Term != term) {
		w.marks = append(w.marks, checkers.Mark{At: v.at, Node: w.c.nodes[v.leader].name, Kind: checkers.MarkState, Detail: fmt.Sprintf("leader term %d", term)})
		w.logf("%s leads term %d", w.c.nodes[v.leader].name, term)
	}
	if !v.seen {
		return
	}
	if !prev.seen || v.cpCount != prev.cpCount || !v.shape.Equal(prev.shape) {
		var cp []int
		for _, m := range v.shape.Members() {
			if m.Roles.IsControlPlane() {
				cp = append(cp, w.index(m.Node))
			}
		}
		slices.Sort(cp)
		w.logf("shape: %d control-plane nodes (%s) at index %d", v.cpCount, w.names(cp), v.applied)
	}
	for _, m := range v.shape.Members() {
		was, ok := prev.shape.Roles(m.Node)
		if !prev.seen || !ok || was != m.Roles {
			if i := w.index(m.Node); i >= 0 && prev.seen {
				w.marks = append(w.marks, checkers.Mark{At: v.at, Node: w.c.nodes[i].name, Kind: checkers.MarkRoles, Detail: roleName(m.Roles)})
			}
		}
	}
	if prev.seen && len(w.seenShifts) < seenShiftsMax {
		if sh := rolesShift(prev.shape, v.shape); len(sh) > 0 {
			w.seenShifts = append(w.seenShifts, checkers.RoleOp{Client: len(w.plan.Commands) + len(w.seenShifts), Invoke: prev.at, Shift: sh, Outcome: checkers.RoleUnknown})
		}
	}
}

// seenShiftsMax bounds the role changes observed for the roles model:
// each is an operation of unknown outcome, which the model may place
// anywhere after its invocation.
const seenShiftsMax = 64

// rolesShift is the shift that changes the roles of prev's members to
// next's (joins and leaves aside: only the operator's commands make
// those): what the policy committed between two samples, as far as the
// observer can tell. The simulator gives the roles model the policy's
// shifts themselves; a real run sees only their effect.
func rolesShift(prev, next roles.Shape) roles.Shift {
	var promote, demote roles.Shift
	for _, m := range next.Members() {
		was, ok := prev.Roles(m.Node)
		if !ok || was == m.Roles {
			continue
		}
		c := roles.Command{Node: m.Node, Reason: roles.Rebalance}
		switch {
		case m.Roles == roles.Quarantined:
			c.Kind = roles.Quarantine
			promote = append(promote, c)
			continue
		case was == roles.Quarantined:
			c.Kind = roles.Restore
			promote = append(promote, c)
			was = roles.Worker
		}
		if gained := m.Roles &^ was &^ roles.Worker; gained != 0 {
			promote = append(promote, roles.Command{Kind: roles.Promote, Node: m.Node, Roles: gained, Reason: c.Reason})
		}
		if lost := was &^ m.Roles &^ roles.Worker; lost != 0 {
			demote = append(demote, roles.Command{Kind: roles.Demote, Node: m.Node, Roles: lost, Reason: c.Reason})
		}
	}
	return append(promote, demote...)
}

// trackMembers notes the nodes of v's shape, and when a node some
// earlier shape held was first seen out of it (it left). Called with w.mu
// held.
func (w *world) trackMembers(v view) {
	for i, p := range w.c.nodes {
		if _, member := v.shape.Roles(p.id); member {
			w.wasMember[i] = true
			delete(w.outSince, i)
		} else if _, out := w.outSince[i]; w.wasMember[i] && !out {
			w.outSince[i] = v.at
			w.logf("%s left the shape", p.name)
		}
	}
}

// checkNotLeft checks the simulator's PropLeftServes for an operation
// node i answered: no client operation succeeds there once the node has
// been out of the shape for sim.LeftServesGrace. Called with w.mu held.
func (w *world) checkNotLeft(i int, op *checkers.Op) {
	at, out := w.outSince[i]
	if !out || op.Return-at <= sim.LeftServesGrace || len(w.leftServes) >= sim.ViolationsMax {
		return
	}
	w.leftServes = append(w.leftServes, sim.Violation{Property: sim.PropLeftServes, At: op.Return, Node: op.Node,
		Detail: fmt.Sprintf("c%d %s %s answered %v after the node left the shape (at %v)", op.Client, op.Verb, op.Key, op.Return-at, at)})
}

func roleName(r roles.Roles) string {
	if r.IsControlPlane() {
		return "control-plane"
	}
	return r.String()
}

// index is the node whose ID is id, -1 for none.
func (w *world) index(id roles.NodeID) int {
	for i, p := range w.c.nodes {
		if p.id == id {
			return i
		}
	}
	return -1
}

// judgeSample observes every monitor once, as the simulator's sample
// does. Called with w.mu held.
func (w *world) judgeSample(now time.Duration) {
	v := w.view
	w.live.leader.Observe(now, !w.hasLeader(v))
	if m := w.live.shape; m != nil {
		m.Observe(now, !w.shapeAtTarget(v, w.plan.Expect.Liveness.Shape.ControlPlane))
	}
	if m := w.live.members; m != nil {
		m.Observe(now, w.membershipOdd(v) != "")
	}
}

// hasLeader: an answering node leads a term no answering voter has gone
// past.
func (w *world) hasLeader(v view) bool {
	if v.leader < 0 {
		return false
	}
	top := uint64(0)
	for i, st := range v.st {
		if st != nil && slices.Contains(v.shape.Voters(), w.c.nodes[i].id) {
			top = max(top, st.Term)
		}
	}
	return v.st[v.leader].Term >= top
}

// shapeAtTarget: the shape holds want control-plane nodes, every one of
// them running.
func (w *world) shapeAtTarget(v view, want int) bool {
	if !v.seen {
		return false
	}
	up := 0
	for _, m := range v.shape.Members() {
		if m.Roles.IsControlPlane() {
			if running, _ := w.c.up(w.index(m.Node)); !running {
				return false
			}
			up++
		}
	}
	return up == want
}

// membershipOdd names a live member that answered and whose gossip view
// of who is healthy is not exactly the live members, or "". Members are
// the view's shape's, as the simulator's are the committed shape's: a
// node outside it is silent and dropped by every member (a node not
// admitted yet, or one that left).
func (w *world) membershipOdd(v view) string {
	live := slices.DeleteFunc(w.c.live(), func(i int) bool {
		_, member := v.shape.Roles(w.c.nodes[i].id)
		return !member
	})
	for _, i := range live {
		st := v.st[i]
		if st == nil {
			continue // it did not answer in time: nothing to judge
		}
		var healthy []int
		for _, id := range st.Healthy {
			healthy = append(healthy, w.index(id))
		}
		slices.Sort(healthy)
		if !slices.Equal(healthy, live) {
			return w.c.nodes[i].name
		}
	}
	return ""
}

// leaderNow is the leader of the latest view, -1 for none.
func (w *world) leaderNow() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if l := w.view.leader; l >= 0 {
		if running, paused := w.c.up(l); running && !paused {
			return l
		}
	}
	return -1
}

// voters are the voters of the latest view's shape (the bootstrap's before
// any was read).
func (w *world) voters() []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.view.seen {
		return w.bootVoters()
	}
	return w.votersOf(w.view)
}

// votersOf are the voters of v's shape, sorted.
func (w *world) votersOf(v view) []int {
	var out []int
	for _, id := range v.shape.Voters() {
		if i := w.index(id); i >= 0 {
			out = append(out, i)
		}
	}
	slices.Sort(out)
	return out
}

func (w *world) bootVoters() []int {
	var out []int
	for i := range w.plan.ControlPlane {
		out = append(out, i)
	}
	return out
}
