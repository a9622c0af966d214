package topology

import (
	"cmp"
	"fmt"
	"slices"

	"revoada.dev/revoada/core/roles"
)

// Node is what the reactor knows of one node: its committed roles and the
// policy's view of its health.
type Node struct {
	ID    roles.NodeID
	Roles roles.Roles
	// Healthy is the failure detector's verdict after the policy's grace
	// period; an unhealthy node is never promoted and loses its roles.
	Healthy bool
	// CaughtUp says the node's log is close enough to the leader's for it to
	// become a voter without stalling commits (Raft §4.2.1); only caught-up
	// nodes are promoted to voter.
	CaughtUp bool
	// Capacity ranks candidates; higher is better.
	Capacity uint64
	// UptimeTicks ranks candidates of equal capacity; longer is better.
	UptimeTicks uint64
}

// assignable reports whether the node may hold roles at all.
func (n Node) assignable() bool { return n.Roles != roles.Quarantined && n.Roles != roles.Observer }

// candidate reports whether the node may be promoted to voter.
func (n Node) candidate() bool {
	return n.Healthy && n.CaughtUp && n.assignable() && !n.Roles.Has(roles.Etcd)
}

// Eligible counts the nodes a Strategy should size the mesh for: healthy,
// neither quarantined nor observers. Not-yet-caught-up nodes count: they are
// workers now and candidates soon.
//
// Sizing on healthy nodes means a failure can shrink the target as well as
// trigger a replacement: a 5-node Phalanx that loses a node wants 1 voter,
// not 3 (as 0.1.4 did, sizing on survivors). A policy that would rather
// replace than shrink sizes on every assignable node instead.
func Eligible(nodes []Node) int {
	n := 0
	for _, nd := range nodes {
		if nd.Healthy && nd.assignable() {
			n++
		}
	}
	return n
}

// rank orders nodes best first: higher Capacity, then longer uptime, then
// NodeID order. It is a total order, so every choice Plan makes is
// deterministic.
func rank(a, b Node) int {
	if c := cmp.Compare(b.Capacity, a.Capacity); c != 0 {
		return c
	}
	if c := cmp.Compare(b.UptimeTicks, a.UptimeTicks); c != 0 {
		return c
	}
	return a.ID.Compare(b.ID)
}

// Plan compares the current shape with the target and returns the shifts that
// move toward it, in order, or none when the shape already matches. Each
// shift is one command and changes at most one voter, so each step is a
// simple conf change; the caller proposes them one at a time, in order.
//
// What it aims for:
//   - Voters: healthy voters stay (no churn for its own sake), the best of
//     them when there are too many; free seats go to the best candidates —
//     healthy, caught-up nodes that are neither quarantined nor observers —
//     ranked by Capacity, then uptime, then NodeID. Unhealthy voters leave.
//   - Control plane: t.ControlPlane of the voters hold all four roles,
//     preferring those that already do; the other voters hold etcd alone.
//   - Everyone else assignable holds no control-plane role (a Worker).
//
// Order, so that a healthy majority of voters, if there is one, survives
// every step: a failed voter's replacement is promoted before the failed
// voter is demoted (add before remove); further promotions follow, then the
// remaining unhealthy voters are demoted, and only then the excess healthy
// ones, worst first; role changes that move no voter come last. No step
// leaves zero etcd holders: when no healthy voter or candidate exists, the
// best-ranked current voter stays, unhealthy.
//
// Reasons: a promotion that replaces a failed voter and every demotion of an
// unhealthy node carry ReplacingFailed; other promotions ScalingUp, other
// demotions ScalingDown.
//
// Plan is stateless: a node evicted while unhealthy is an ordinary candidate
// again once healthy. It does not check the voter count's parity (that is
// the strategy's rule) nor whether a quorum is reachable (the policy's
// guard). When the target cannot be met, Plan returns the shifts that move
// toward it together with an *UnsatisfiableError giving the shortfall.
// Malformed input (a node listed twice, an invalid role set, no voter) is a
// plain error with no shifts; so is a target that fails Validate's count
// rules (zero voters, control-plane count outside 1..Voters), which wraps
// ErrUnsatisfiable.
func Plan(nodes []Node, t Target) ([]roles.Shift, error) {
	shape, err := load(nodes)
	if err != nil {
		return nil, err
	}
	if err := t.check(len(nodes)); err != nil {
		return nil, err
	}
	sorted := slices.SortedFunc(slices.Values(nodes), rank)
	c := choose(sorted, t)
	p := planner{shape: shape}
	p.moveVoters(c)
	p.settleRoles(sorted, c.want)
	if short := c.shortfall(sorted, t); short != nil {
		return p.shifts, short
	}
	return p.shifts, nil
}

// load builds the current shape, which validates the nodes.
func load(nodes []Node) (roles.Shape, error) {
	ms := make([]roles.Member, len(nodes))
	for i, n := range nodes {
		ms[i] = roles.Member{Node: n.ID, Roles: n.Roles}
	}
	s, err := roles.NewShape(ms)
	if err != nil {
		return roles.Shape{}, fmt.Errorf("topology: %w", err)
	}
	return s, nil
}

// choice is the end state Plan aims for and the voter moves that reach it.
type choice struct {
	stay   []Node // current voters that stay, best first
	add    []Node // candidates promoted to voter, best first
	sick   []Node // unhealthy voters that leave, worst first
	excess []Node // healthy voters that leave, worst first
	// fallback is set when no healthy voter or candidate exists and stay
	// holds only the best unhealthy voter, kept so the voter set is not empty.
	fallback bool
	want     map[roles.NodeID]roles.Roles // end roles of every assignable node
}

// choose picks the end state from nodes sorted best first.
func choose(sorted []Node, t Target) choice {
	var healthy, sick, cands []Node
	for _, n := range sorted {
		switch {
		case n.Roles.Has(roles.Etcd) && n.Healthy:
			healthy = append(healthy, n)
		case n.Roles.Has(roles.Etcd):
			sick = append(sick, n)
		case n.candidate():
			cands = append(cands, n)
		}
	}
	var c choice
	keep := min(t.Voters, len(healthy))
	c.stay, c.excess = healthy[:keep], slices.Clone(healthy[keep:])
	c.add = cands[:min(t.Voters-keep, len(cands))]
	c.sick = slices.Clone(sick)
	if len(c.stay)+len(c.add) == 0 {
		// A valid shape has a voter, and none is healthy: keep the best.
		c.stay, c.sick, c.fallback = sick[:1], slices.Clone(sick[1:]), true
	}
	slices.Reverse(c.excess)
	slices.Reverse(c.sick)
	c.want = wantRoles(sorted, c, t.ControlPlane)
	return c
}

// wantRoles gives every assignable node its end roles: cp of the voters hold
// the whole control plane — first those that already do, then the best
// healthy ones — the other voters etcd alone, everyone else Worker.
func wantRoles(sorted []Node, c choice, cp int) map[roles.NodeID]roles.Roles {
	want := make(map[roles.NodeID]roles.Roles, len(sorted))
	for _, n := range sorted {
		if n.assignable() {
			want[n.ID] = roles.Worker
		}
	}
	voters := slices.SortedFunc(slices.Values(slices.Concat(c.stay, c.add)), rank)
	for _, v := range voters {
		want[v.ID] = roles.Etcd
	}
	for _, full := range []bool{true, false} {
		for _, v := range voters {
			if cp > 0 && want[v.ID] == roles.Etcd && v.Roles.Has(roles.ControlPlane) == full && (full || v.Healthy) {
				want[v.ID] = roles.ControlPlane
				cp--
			}
		}
	}
	return want
}

// shortfall reports how far the chosen end state falls short of the target,
// or nil when it meets it.
func (c choice) shortfall(sorted []Node, t Target) *UnsatisfiableError {
	reach := len(c.stay) + len(c.add)
	if c.fallback {
		reach = 0
	}
	workers := 0
	for _, n := range sorted {
		if n.Healthy && c.want[n.ID] == roles.Worker {
			workers++
		}
	}
	votersShort, workersShort := t.Voters-reach, max(0, t.WorkersMin-workers)
	if votersShort == 0 && workersShort == 0 {
		return nil
	}
	e := unsatisfiable(t, len(sorted), "can reach %d of %d voters (%d healthy voters, %d healthy caught-up candidates) and %d of %d workers",
		reach, t.Voters, reach-len(c.add), len(c.add), workers, t.WorkersMin)
	e.VotersShort, e.WorkersShort = votersShort, workersShort
	return e
}

// planner accumulates shifts, applying each to its copy of the shape.
type planner struct {
	shape  roles.Shape
	shifts []roles.Shift
}

// step appends a one-command shift. A rejection or a shift that moves more
// than one voter is a bug in Plan, not bad input: it panics.
func (p *planner) step(c roles.Command) {
	sh := roles.Shift{c}
	next, change, rej := p.shape.Plan(sh)
	if rej != nil {
		panic(fmt.Sprintf("topology: planned %v was rejected: %v", c, rej))
	}
	if len(change.Add)+len(change.Remove) > 1 {
		panic(fmt.Sprintf("topology: planned %v changes %d voters", c, len(change.Add)+len(change.Remove)))
	}
	p.shape = next
	p.shifts = append(p.shifts, sh)
}

// moveVoters adds and removes voters, add before remove.
func (p *planner) moveVoters(c choice) {
	pairs := min(len(c.add), len(c.sick))
	for i := range pairs {
		p.promote(c.add[i], c.want[c.add[i].ID], roles.ReplacingFailed)
		p.demote(c.sick[i], roles.ReplacingFailed)
	}
	for _, n := range c.add[pairs:] {
		p.promote(n, c.want[n.ID], roles.ScalingUp)
	}
	for _, n := range c.sick[pairs:] {
		p.demote(n, roles.ReplacingFailed)
	}
	for _, n := range c.excess {
		p.demote(n, roles.ScalingDown)
	}
}

// promote makes a worker a voter with the roles it should end with.
func (p *planner) promote(n Node, want roles.Roles, why roles.Reason) {
	p.step(roles.Command{Kind: roles.Promote, Node: n.ID, Roles: commandRoles(want &^ n.Roles), Reason: why})
}

// demote takes every control-plane role from a voter.
func (p *planner) demote(n Node, why roles.Reason) {
	p.step(roles.Command{Kind: roles.Demote, Node: n.ID, Reason: why})
}

// settleRoles moves every node, in NodeID order, to its wanted roles; no
// voter moves any more. Unhealthy nodes only ever lose roles.
func (p *planner) settleRoles(sorted []Node, want map[roles.NodeID]roles.Roles) {
	byID := slices.SortedFunc(slices.Values(sorted), func(a, b Node) int { return a.ID.Compare(b.ID) })
	for _, n := range byID {
		w, ok := want[n.ID]
		if !ok {
			continue
		}
		cur, _ := p.shape.Roles(n.ID)
		if missing := w &^ cur & roles.ControlPlane; missing != 0 && n.Healthy {
			p.step(roles.Command{Kind: roles.Promote, Node: n.ID, Roles: commandRoles(missing), Reason: roles.ScalingUp})
		}
		if extra := cur & roles.ControlPlane &^ w; extra != 0 {
			why := roles.ScalingDown
			if !n.Healthy {
				why = roles.ReplacingFailed
			}
			p.step(roles.Command{Kind: roles.Demote, Node: n.ID, Roles: commandRoles(extra), Reason: why})
		}
	}
}

// commandRoles writes the whole control plane as zero, the Command default.
func commandRoles(r roles.Roles) roles.Roles {
	r &= roles.ControlPlane
	if r == roles.ControlPlane {
		return 0
	}
	return r
}
