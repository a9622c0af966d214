// Package policy is the leader's audit of the mesh shape: each audit compares
// the committed shape with the target topology and either proposes one shift
// or withholds, with a typed, explainable reason.
//
// # The rules, and why each is safe
//
// An audit sees the committed shape, the leader's view of every node (its
// membership health, whether raft heard from it lately, whether its log is
// caught up, its uptime) and the damper history the replicated log carries
// (History). It applies these rules in order; the first that decides, wins.
//
//  1. Quorum guard. No shift unless a strict majority of the current voters
//     is reachable from the proposer (Healthy in membership and recently
//     active in raft). A minority side cannot commit anyway, and a proposal
//     it queued could commit later, after the majority has moved on. The
//     node adds fencing on top (package node): a shift carries the term of
//     the leader that decided it and the digest of the shape it was decided
//     on, and is refused at apply if either changed.
//  2. Missing is Suspect, never Dead. A shape member absent from the view
//     (never heard of: a partition at boot, a restarted leader) is Suspect
//     since the first audit that missed it. Only membership's own Dead
//     verdict makes a node dead: guessing death from silence is how a
//     healthy majority gets demoted.
//  3. Replace before remove. A failed voter (Dead, or Suspect for GraceTicks)
//     first gets a replacement: a candidate that is Healthy, heard from
//     directly, up for StabilizeTicks, and caught up is promoted (package
//     topology orders add before remove). The failed voter itself is demoted
//     only when membership holds it Dead (suspect past its own grace, then
//     dead), only while the remaining voters keep a live majority, and only
//     when the removal gains something: from an even group, or one above
//     the target, or when a second voter is dead too (then the group left
//     is even, and the next removal gains). A lone dead voter of an odd
//     group stays: "Dead" is most often a voter cut off or restarting, and
//     a 3-voter mesh that dropped one would die at the next crash before
//     the voter could be restored. A voter that comes back is a candidate
//     again: with the target sized on the whole mesh (rule 4), the policy
//     restores it rather than shrinking further. A voter leaving at an
//     operator's request (NodeView.Leaving) is replaced the same way, first:
//     package node holds the operator's shift until the voters it leaves
//     reach the target, so removing a voter never comes before its
//     replacement.
//  4. Never below target, never below a live majority. The target is sized
//     on every node of the mesh but observers, dead, alive or quarantined,
//     so neither a failure nor a quarantine shrinks the target, and the
//     policy never scales down to fit the survivors. Every proposed step is checked
//     against the voter set it leaves: a strict majority of those voters
//     must be reachable, and a healthy voter leaves only while the voters
//     that remain are at least the target, and only once every one of them
//     has been a voter and up for StabilizeTicks (a voter promoted or
//     restarted a moment ago is the likeliest to be down unnoticed).
//  5. Damper. At most one shift per node per DamperTicks, on the leader's
//     own ticks since it learned of that node's last shift (History; package
//     node keeps it: the log says which shift was the last, so a restart, a
//     snapshot install or a new leader keeps the memory, made longer by the
//     gap, never shorter). Never on a wall clock: one that steps ahead would
//     shorten every damper at once. A scale-down picks, among the excess
//     voters, one the damper lets go. The damper never holds taking roles
//     from a Dead node, nor a promotion that restores the voter count after
//     a loss: damping exists to stop thrash, not recovery.
//  6. Flapping. A node whose health changed FlapMax times within
//     FlapWindowTicks is quarantined — a worker at once, a voter only while
//     the live voters left keep the target and a live majority — and restored
//     after QuietTicks without a change. Health history is the leader's own
//     observation; the damper holds a restore too.
//  7. Plan. package topology plans the steps towards the target; the audit
//     proposes only the first, and withholds "unsatisfiable" when no
//     candidate can close the gap rather than proposing shifts that cannot
//     help.
//
// Policy is pure and deterministic: time is ticks, inputs are values, output
// is a Decision. Not safe for concurrent use.
package policy

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/core/topology"
)

// Health of a node as membership sees it.
type Health uint8

// The health states. Missing is a node of the shape absent from the view.
const (
	Healthy Health = iota + 1
	Suspect
	Dead
	Missing
)

// NodeView is what the leader knows of one node at an audit.
type NodeView struct {
	ID           roles.NodeID
	Health       Health
	SuspectSince uint64 // tick it became Suspect (when Health is Suspect)
	// Direct says the leader heard from the node itself recently (not only
	// of it, through gossip): only such nodes are promoted.
	Direct     bool
	RaftActive bool // raft heard from it recently (leader's progress)
	CaughtUp   bool // its log is within the catch-up lag of the commit index
	Capacity   uint64
	// UptimeTicks is how long the node has been up, as it publishes it.
	UptimeTicks uint64
	// Leaving marks a voter that an operator's shift takes out of the
	// voters, held by the leader until a replacement stands (rule 3).
	Leaving bool
}

// History is what the leader knows of past shifts, on its own ticks: Now,
// and, for each node a committed shift changed, the tick at which the leader
// learned of the last such shift (applied it, or found it in its log or a
// snapshot when it started or installed one).
type History struct {
	Now     uint64
	Shifted map[roles.NodeID]uint64
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
	// catch a policy without its quorum guard, damper or stabilisation.
	// Never set it in production.
	Unsafe struct{ NoQuorumGuard, NoDamper, NoStabilize bool }
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
	Grace                           // a voter is Suspect, within its grace period, or not Dead yet
	Damper                          // the node to change was changed too recently
	NoCandidate                     // no eligible node to promote
	Unsatisfiable                   // the target cannot be met with the nodes there are
	Unsafe                          // the next step would leave too few voters, or no live majority
	InFlight                        // the previous shift has not committed yet
)

var reasonNames = map[Reason]string{
	Converged: "converged", NoQuorum: "no-quorum", Grace: "grace", Damper: "damper",
	NoCandidate: "no-candidate", Unsatisfiable: "unsatisfiable", Unsafe: "unsafe", InFlight: "in-flight",
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
	// DamperBypassed is set when the damper would have held the shift but
	// rule 5 let a recovery through.
	DamperBypassed bool
}

func (d Decision) String() string {
	if d.Shift != nil {
		return fmt.Sprintf("propose %v", d.Shift)
	}
	return fmt.Sprintf("withhold %s: %s", d.Withheld, d.Detail)
}

// Policy remembers what flap detection and the missing-node rule need
// across audits: both are the leader's own observations.
type Policy struct {
	cfg     Config
	changes map[roles.NodeID][]uint64 // ticks of recent health changes
	health  map[roles.NodeID]Health
	missing map[roles.NodeID]uint64 // tick since which a shape member is absent from the view
}

// New returns a policy with no history.
func New(cfg Config) *Policy {
	return &Policy{cfg: cfg, changes: map[roles.NodeID][]uint64{}, health: map[roles.NodeID]Health{}, missing: map[roles.NodeID]uint64{}}
}

// audit is one audit's inputs, indexed.
type audit struct {
	shape roles.Shape
	byID  map[roles.NodeID]NodeView
	now   uint64
	log   History
}

// Audit decides what to do about the shape at tick now (the leader's own
// ticks, for health), given the log's damper history.
func (p *Policy) Audit(shape roles.Shape, views []NodeView, now uint64, log History) Decision {
	a := audit{shape: shape, byID: make(map[roles.NodeID]NodeView, max(len(views), shape.Len())), now: now, log: log}
	for _, v := range views {
		a.byID[v.ID] = v
	}
	p.fillMissing(&a)
	p.observe(&a)
	d := Decision{At: now}
	d.Reachable, d.Voters = a.reachable(shape.Voters())
	if 2*d.Reachable <= d.Voters && !p.cfg.Unsafe.NoQuorumGuard {
		d.Withheld, d.Detail = NoQuorum, fmt.Sprintf("%d of %d voters reachable", d.Reachable, d.Voters)
		return d
	}
	if sh, ok := p.flapping(&a); ok {
		d.Shift = sh
		return d
	}
	pd := p.plan(&a)
	pd.Reachable, pd.Voters = d.Reachable, d.Voters
	return pd
}

// fillMissing gives every shape member absent from the views a Missing view,
// Suspect-like since the first audit that missed it (rule 2).
func (p *Policy) fillMissing(a *audit) {
	for _, id := range a.shape.Nodes() {
		if _, ok := a.byID[id]; ok {
			delete(p.missing, id)
			continue
		}
		since, ok := p.missing[id]
		if !ok {
			since = a.now
			p.missing[id] = since
		}
		a.byID[id] = NodeView{ID: id, Health: Missing, SuspectSince: since}
	}
}

// deadVoters counts the voters membership holds Dead.
func (a *audit) deadVoters(voters []roles.NodeID) int {
	n := 0
	for _, id := range voters {
		if a.byID[id].Health == Dead {
			n++
		}
	}
	return n
}

// reachable counts the voters that are Healthy and raft-active.
func (a *audit) reachable(voters []roles.NodeID) (reach, total int) {
	for _, id := range voters {
		if v := a.byID[id]; v.Health == Healthy && v.RaftActive {
			reach++
		}
	}
	return reach, len(voters)
}

// failed: Dead, or Suspect (or Missing) for GraceTicks: a voter to replace.
func (p *Policy) failed(v NodeView, now uint64) bool {
	switch v.Health {
	case Dead:
		return true
	case Suspect, Missing:
		return now >= v.SuspectSince+p.cfg.GraceTicks
	}
	return false
}

// target sizes the strategy on every member but observers — dead and
// quarantined ones included — so no failure and no quarantine shrinks it
// (rule 4).
func (p *Policy) target(shape roles.Shape) (topology.Target, error) {
	n := 0
	for _, m := range shape.Members() {
		if m.Roles != roles.Observer {
			n++
		}
	}
	return p.cfg.Target.Target(n)
}

// Candidate reports whether a node may be promoted (rule 3): Healthy, heard
// from directly, caught up, and up for StabilizeTicks.
func (p *Policy) Candidate(v NodeView) bool {
	stable := v.UptimeTicks >= p.cfg.StabilizeTicks || p.cfg.Unsafe.NoStabilize
	return v.Health == Healthy && v.Direct && v.CaughtUp && stable && !v.Leaving
}

// TargetVoters is the number of voters the target asks of the shape (rule
// 4), or false when the target cannot be sized on it.
func (p *Policy) TargetVoters(shape roles.Shape) (int, bool) {
	t, err := p.target(shape)
	return t.Voters, err == nil
}

// plan asks topology for the steps to the target and proposes the first,
// unless a rule holds it.
func (p *Policy) plan(a *audit) Decision {
	d := Decision{At: a.now}
	var nodes []topology.Node
	for _, m := range a.shape.Members() {
		v := a.byID[m.Node]
		n := topology.Node{ID: m.Node, Roles: m.Roles, Capacity: v.Capacity, UptimeTicks: v.UptimeTicks}
		if m.Roles.Has(roles.Etcd) {
			n.Healthy, n.CaughtUp = !p.failed(v, a.now) && !v.Leaving, true
			if p.damped(a, m.Node) {
				// A voter the damper holds ranks first, so a scale-down
				// picks one the damper lets go rather than wait it out.
				n.Capacity, n.UptimeTicks = math.MaxUint64, math.MaxUint64
			}
		} else {
			n.Healthy, n.CaughtUp = p.Candidate(v), p.Candidate(v)
		}
		nodes = append(nodes, n)
	}
	target, err := p.target(a.shape)
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
		d.Withheld, d.Detail = Converged, fmt.Sprintf("%d voters, target %d", len(a.shape.Voters()), target.Voters)
		return d
	}
	step := steps[0]
	why, detail, bypassed := p.hold(a, step, target)
	if why != 0 {
		d.Withheld, d.Detail = why, detail
		return d
	}
	d.Shift, d.DamperBypassed = step, bypassed
	return d
}

// hold applies rules 3, 4 and 5 to one planned step: the reason to withhold
// it, or zero, and whether rule 5 let it past the damper.
func (p *Policy) hold(a *audit, step roles.Shift, target topology.Target) (why Reason, detail string, bypassed bool) {
	next, change, rej := a.shape.Plan(step)
	if rej != nil {
		return NoCandidate, rej.Error(), false
	}
	voters := a.shape.Voters()
	live, _ := a.reachable(voters)
	for _, id := range change.Remove {
		v := a.byID[id]
		switch {
		case v.Health == Dead:
			// Rule 3: from an odd group at or below target, a lone dead
			// voter stays: removing it gains no fault tolerance, and the
			// voter is most often only cut off or restarting. With two
			// dead, the first removal leaves an even group whose next
			// removal does gain.
			if len(voters)%2 == 1 && len(voters) <= target.Voters && a.deadVoters(voters) < 2 {
				return NoCandidate, fmt.Sprintf("no replacement for dead voter %s; removing it alone would not help", id.Short()), false
			}
		case p.failed(v, a.now):
			return Grace, fmt.Sprintf("voter %s is %s since tick %d, not dead", id.Short(), v.Health, v.SuspectSince), false
		case v.Health == Healthy && len(voters)-1 < target.Voters:
			return Unsafe, fmt.Sprintf("demoting %s would leave %d voters, target %d", id.Short(), len(voters)-1, target.Voters), false
		case v.Health == Healthy:
			if other, ok := p.unsettled(a, voters, id); ok {
				return Grace, fmt.Sprintf("scaling down waits for voter %s to settle", other.Short()), false
			}
		case v.Health != Healthy:
			return Grace, fmt.Sprintf("voter %s is %s since tick %d", id.Short(), v.Health, v.SuspectSince), false
		}
	}
	if reach, total := a.reachable(next.Voters()); 2*reach <= total && !p.cfg.Unsafe.NoQuorumGuard {
		return Unsafe, fmt.Sprintf("%v would leave %d of %d voters reachable", step, reach, total), false
	}
	if p.cfg.Unsafe.NoDamper {
		return 0, "", false
	}
	// A voter leaving at an operator's request counts as lost: replacing
	// it is recovery, as replacing a failed one is.
	for _, id := range voters {
		if v := a.byID[id]; v.Leaving && v.Health == Healthy && v.RaftActive {
			live--
		}
	}
	restoring := len(change.Add) > 0 && live < target.Voters
	for _, c := range step {
		last, ok := a.log.Shifted[c.Node]
		if !ok || a.log.Now >= last+p.cfg.DamperTicks {
			continue
		}
		// Taking roles from a dead node is recovery too, voter or not (an
		// operator may have given a role to a node that died since).
		deadRemoval := (slices.Contains(change.Remove, c.Node) || c.Kind == roles.Demote) && a.byID[c.Node].Health == Dead
		if deadRemoval || restoring && slices.Contains(change.Add, c.Node) {
			bypassed = true // rule 5: the damper never holds recovery
			continue
		}
		return Damper, fmt.Sprintf("%s was shifted at tick %d (now %d)", c.Node.Short(), last, a.log.Now), false
	}
	return 0, "", bypassed
}

// unsettled finds a voter, other than the one leaving, that joined the
// voters or (re)started less than StabilizeTicks ago (rule 4). A voluntary
// scale-down leaves fewer voters to carry the quorum, so it waits until the
// ones that stay have proven themselves: a voter that has just been
// promoted, or has just restarted, is the likeliest to be down already
// without the failure detector knowing yet.
func (p *Policy) unsettled(a *audit, voters []roles.NodeID, leaving roles.NodeID) (roles.NodeID, bool) {
	for _, id := range voters {
		if id == leaving {
			continue
		}
		v := a.byID[id]
		last, shifted := a.log.Shifted[id]
		if !v.RaftActive || v.UptimeTicks < p.cfg.StabilizeTicks || shifted && a.log.Now < last+p.cfg.StabilizeTicks {
			return id, true
		}
	}
	return roles.NodeID{}, false
}

var healthNames = map[Health]string{Healthy: "healthy", Suspect: "suspect", Dead: "dead", Missing: "missing"}

func (h Health) String() string {
	if s, ok := healthNames[h]; ok {
		return s
	}
	return fmt.Sprintf("health(%d)", uint8(h))
}

// observe records health transitions for flap detection.
func (p *Policy) observe(a *audit) {
	for _, id := range sortedIDs(a.byID) {
		v := a.byID[id]
		if prev, ok := p.health[id]; ok && prev != v.Health {
			ch := append(p.changes[id], a.now)
			if len(ch) > p.cfg.FlapMax+1 {
				ch = ch[len(ch)-(p.cfg.FlapMax+1):]
			}
			p.changes[id] = ch
		}
		p.health[id] = v.Health
	}
}

func sortedIDs(m map[roles.NodeID]NodeView) []roles.NodeID {
	ids := make([]roles.NodeID, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, roles.NodeID.Compare)
	return ids
}

// flapping quarantines a node that changed health FlapMax times within the
// window, and restores a quarantined node after QuietTicks of calm (rule 6).
func (p *Policy) flapping(a *audit) (roles.Shift, bool) {
	for _, id := range sortedIDs(a.byID) {
		v := a.byID[id]
		r, ok := a.shape.Roles(id)
		if !ok {
			continue
		}
		ch := p.changes[id]
		recent := 0
		for _, t := range ch {
			if a.now < t+p.cfg.FlapWindowTicks {
				recent++
			}
		}
		switch {
		case r != roles.Quarantined && recent >= p.cfg.FlapMax && !p.damped(a, id) && p.mayRemove(a, id):
			sh := roles.Shift{{Kind: roles.Quarantine, Node: id, Reason: roles.HealthDegraded}}
			if _, _, rej := a.shape.Plan(sh); rej == nil {
				return sh, true
			}
		case r == roles.Quarantined && v.Health == Healthy && (len(ch) == 0 || a.now >= ch[len(ch)-1]+p.cfg.QuietTicks) &&
			!p.damped(a, id):
			// The damper holds a restore too: a leader that saw none of the
			// flapping (its predecessor quarantined the node, then died)
			// has no health history, but the log has the quarantine.
			return roles.Shift{{Kind: roles.Restore, Node: id, Reason: roles.Rebalance}}, true
		}
	}
	return nil, false
}

// mayRemove: a voter may be quarantined only while the live voters left
// keep the target count (a dead voter awaiting replacement counts for
// nothing) and a live majority; a worker always may.
func (p *Policy) mayRemove(a *audit, id roles.NodeID) bool {
	voters := a.shape.Voters()
	if !slices.Contains(voters, id) {
		return true
	}
	target, err := p.target(a.shape)
	if err != nil {
		return false
	}
	rest := slices.DeleteFunc(slices.Clone(voters), func(x roles.NodeID) bool { return x == id })
	reach, total := a.reachable(rest)
	return reach >= target.Voters && 2*reach > total
}

func (p *Policy) damped(a *audit, id roles.NodeID) bool {
	t, ok := a.log.Shifted[id]
	return ok && a.log.Now < t+p.cfg.DamperTicks && !p.cfg.Unsafe.NoDamper
}
