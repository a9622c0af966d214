// Package policy is the leader's audit of the mesh shape: each audit compares
// the committed shape with the target topology and either proposes one shift
// or withholds, with a typed, explainable reason.
//
// The rules, in the order an audit applies them:
//
//  1. Quorum guard. No shift unless a strict majority of the current voters
//     is reachable from the proposer (healthy in membership and recently
//     active in raft). A minority side never promotes or demotes: it cannot
//     commit anyway, and a proposal it queued could commit later, after the
//     majority has moved on.
//  2. Grace. A voter that is only Suspect is not replaced until it has been
//     Suspect for GraceTicks; Dead voters are replaced at once.
//  3. Damper. At most one shift per node per DamperTicks, and a node must
//     have been up StabilizeTicks before it is promoted, so a flapping or
//     just-restarted node does not make the control plane thrash.
//  4. Plan. package topology plans the steps towards the target; the audit
//     proposes only the first (one voter change at a time, add before
//     remove), and withholds "unsatisfiable" when no candidate can close
//     the gap, rather than proposing shifts that cannot help.
//  5. Flapping. A node whose health changed FlapMax times within
//     FlapWindowTicks is quarantined (if it holds no last voter), and
//     restored after QuietTicks without a change.
//
// Policy is pure and deterministic: time is ticks, inputs are values, output
// is a Decision. Not safe for concurrent use.
package policy

import (
	"errors"
	"fmt"
	"slices"

	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/core/topology"
)

// Health of a node as membership sees it.
type Health uint8

// The health states.
const (
	Healthy Health = iota + 1
	Suspect
	Dead
)

// NodeView is what the leader knows of one node at an audit.
type NodeView struct {
	ID           roles.NodeID
	Health       Health
	SuspectSince uint64 // tick it became Suspect (when Health is Suspect)
	RaftActive   bool   // raft heard from it recently (leader's progress)
	CaughtUp     bool   // its log is within the catch-up lag of the commit index
	Capacity     uint64
	UptimeTicks  uint64
}

// Config tunes the policy. Counts are in ticks.
type Config struct {
	Target          topology.Strategy
	GraceTicks      uint64 // a Suspect voter is replaced after this long
	DamperTicks     uint64 // at most one shift per node per this long
	StabilizeTicks  uint64 // a node must be up this long to be promoted
	FlapMax         int    // health changes within FlapWindowTicks that quarantine a node
	FlapWindowTicks uint64
	QuietTicks      uint64 // a quarantined node is restored after this long without a change

	// Unsafe plants bugs: tests set it to prove the simulator's checks
	// catch a policy without its quorum guard or damper. Never set it in
	// production.
	Unsafe struct{ NoQuorumGuard, NoDamper bool }
}

// DefaultConfig: with 100 ms ticks, a 3 s grace, a one-minute damper, 5 s of
// stabilisation, and quarantine after 4 health changes within a minute,
// restored after two quiet minutes.
func DefaultConfig(target topology.Strategy) Config {
	return Config{Target: target, GraceTicks: 30, DamperTicks: 600, StabilizeTicks: 50,
		FlapMax: 4, FlapWindowTicks: 600, QuietTicks: 1200}
}

// Reason says why an audit withheld.
type Reason uint8

// The reasons an audit withholds.
const (
	Converged     Reason = iota + 1 // the shape matches the target
	NoQuorum                        // the proposer does not see a majority of voters
	Grace                           // a voter is Suspect, within its grace period
	Damper                          // the node to change was changed too recently, or is not stable yet
	NoCandidate                     // no eligible node to promote
	Unsatisfiable                   // the target cannot be met with the nodes there are
)

var reasonNames = map[Reason]string{
	Converged: "converged", NoQuorum: "no-quorum", Grace: "grace", Damper: "damper",
	NoCandidate: "no-candidate", Unsatisfiable: "unsatisfiable",
}

func (r Reason) String() string {
	if s, ok := reasonNames[r]; ok {
		return s
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// Decision is the outcome of one audit: a shift to propose, or the reason
// none is.
type Decision struct {
	At       uint64
	Shift    roles.Shift // nil when withheld
	Withheld Reason      // zero when a shift is proposed
	Detail   string
	// Reachable of Voters is the quorum view the audit saw: voters healthy
	// in membership and active in raft.
	Reachable, Voters int
}

func (d Decision) String() string {
	if d.Shift != nil {
		return fmt.Sprintf("propose %v", d.Shift)
	}
	return fmt.Sprintf("withhold %s: %s", d.Withheld, d.Detail)
}

// Policy remembers what the damper and flap detection need across audits.
type Policy struct {
	cfg       Config
	lastShift map[roles.NodeID]uint64   // tick of the last shift that changed the node
	changes   map[roles.NodeID][]uint64 // ticks of recent health changes
	health    map[roles.NodeID]Health
}

// New returns a policy with no history.
func New(cfg Config) *Policy {
	return &Policy{cfg: cfg, lastShift: map[roles.NodeID]uint64{}, changes: map[roles.NodeID][]uint64{}, health: map[roles.NodeID]Health{}}
}

// Proposed tells the policy a shift was proposed at tick now, for the damper.
func (p *Policy) Proposed(sh roles.Shift, now uint64) {
	for _, c := range sh {
		p.lastShift[c.Node] = now
	}
}

// Audit decides what to do about the shape at tick now.
func (p *Policy) Audit(shape roles.Shape, views []NodeView, now uint64) Decision {
	views = slices.Clone(views)
	slices.SortFunc(views, func(a, b NodeView) int { return a.ID.Compare(b.ID) })
	p.observe(views, now)
	d := Decision{At: now}
	d.Reachable, d.Voters = reachable(shape, views)
	if ok, detail := quorum(shape, views); !ok && !p.cfg.Unsafe.NoQuorumGuard {
		d.Withheld, d.Detail = NoQuorum, detail
		return d
	}
	if sh, ok := p.flapping(shape, views, now); ok {
		d.Shift = sh
		return d
	}
	byID := map[roles.NodeID]NodeView{}
	for _, v := range views {
		byID[v.ID] = v
	}
	if id, ok := p.inGrace(shape, byID, now); ok {
		d.Withheld, d.Detail = Grace, fmt.Sprintf("voter %s is suspect since tick %d", id.Short(), byID[id].SuspectSince)
		return d
	}
	pd := p.plan(shape, byID, now)
	pd.Reachable, pd.Voters = d.Reachable, d.Voters
	return pd
}

// quorum: a strict majority of the voters is healthy and raft-active.
func quorum(shape roles.Shape, views []NodeView) (bool, string) {
	reach, voters := reachable(shape, views)
	if 2*reach > voters {
		return true, ""
	}
	return false, fmt.Sprintf("%d of %d voters reachable", reach, voters)
}

func reachable(shape roles.Shape, views []NodeView) (reach, voters int) {
	vs := shape.Voters()
	for _, v := range views {
		if v.Health == Healthy && v.RaftActive && slices.Contains(vs, v.ID) {
			reach++
		}
	}
	return reach, len(vs)
}

func (p *Policy) inGrace(shape roles.Shape, byID map[roles.NodeID]NodeView, now uint64) (roles.NodeID, bool) {
	for _, id := range shape.Voters() {
		if v := byID[id]; v.Health == Suspect && now < v.SuspectSince+p.cfg.GraceTicks {
			return id, true
		}
	}
	return roles.NodeID{}, false
}

// plan asks topology for the steps to the target and proposes the first,
// unless the damper holds it.
func (p *Policy) plan(shape roles.Shape, byID map[roles.NodeID]NodeView, now uint64) Decision {
	d := Decision{At: now}
	eligible := 0
	var nodes []topology.Node
	for _, m := range shape.Members() {
		v := byID[m.Node]
		healthy := v.Health == Healthy || (v.Health == Suspect && now < v.SuspectSince+p.cfg.GraceTicks)
		stable := v.UptimeTicks >= p.cfg.StabilizeTicks
		nodes = append(nodes, topology.Node{ID: m.Node, Roles: m.Roles, Healthy: healthy,
			CaughtUp: v.CaughtUp && stable, Capacity: v.Capacity, UptimeTicks: v.UptimeTicks})
		if healthy && m.Roles != roles.Quarantined && m.Roles != roles.Observer {
			eligible++
		}
	}
	target, err := p.cfg.Target.Target(eligible)
	if err != nil {
		d.Withheld, d.Detail = Unsatisfiable, err.Error()
		return d
	}
	steps, err := topology.Plan(nodes, target)
	switch {
	case len(steps) == 0 && errors.Is(err, topology.ErrUnsatisfiable):
		d.Withheld, d.Detail = Unsatisfiable, err.Error()
		return d
	case len(steps) == 0 && err != nil:
		d.Withheld, d.Detail = NoCandidate, err.Error()
		return d
	case len(steps) == 0:
		d.Withheld, d.Detail = Converged, fmt.Sprintf("%d voters, target %d", len(shape.Voters()), target.Voters)
		return d
	}
	for _, c := range steps[0] {
		if last, ok := p.lastShift[c.Node]; ok && now < last+p.cfg.DamperTicks && !p.cfg.Unsafe.NoDamper {
			d.Withheld, d.Detail = Damper, fmt.Sprintf("%s was shifted at tick %d", c.Node.Short(), last)
			return d
		}
	}
	d.Shift = steps[0]
	return d
}

// observe records health transitions for flap detection.
func (p *Policy) observe(views []NodeView, now uint64) {
	for _, v := range views {
		if prev, ok := p.health[v.ID]; ok && prev != v.Health {
			ch := append(p.changes[v.ID], now)
			if len(ch) > p.cfg.FlapMax+1 {
				ch = ch[len(ch)-(p.cfg.FlapMax+1):]
			}
			p.changes[v.ID] = ch
		}
		p.health[v.ID] = v.Health
	}
}

// flapping quarantines a node that changed health FlapMax times within the
// window, and restores a quarantined node after QuietTicks of calm.
func (p *Policy) flapping(shape roles.Shape, views []NodeView, now uint64) (roles.Shift, bool) {
	for _, v := range views {
		r, _ := shape.Roles(v.ID)
		ch := p.changes[v.ID]
		recent := 0
		for _, t := range ch {
			if now < t+p.cfg.FlapWindowTicks {
				recent++
			}
		}
		switch {
		case r != roles.Quarantined && recent >= p.cfg.FlapMax && !damped(p.lastShift, v.ID, now, p.cfg.DamperTicks):
			sh := roles.Shift{{Kind: roles.Quarantine, Node: v.ID, Reason: roles.HealthDegraded}}
			if _, _, rej := shape.Plan(sh); rej == nil {
				return sh, true
			}
		case r == roles.Quarantined && v.Health == Healthy && (len(ch) == 0 || now >= ch[len(ch)-1]+p.cfg.QuietTicks) &&
			!damped(p.lastShift, v.ID, now, p.cfg.DamperTicks):
			// The damper holds a restore too: a leader that saw none of the
			// flapping (its predecessor quarantined the node, then died)
			// has no health history, but knows the quarantine from the log.
			return roles.Shift{{Kind: roles.Restore, Node: v.ID, Reason: roles.Rebalance}}, true
		}
	}
	return nil, false
}

func damped(last map[roles.NodeID]uint64, id roles.NodeID, now, damper uint64) bool {
	t, ok := last[id]
	return ok && now < t+damper
}
