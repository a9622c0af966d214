package sim

import (
	"fmt"
	"time"

	"revoada.dev/revoada/checkers"
	"revoada.dev/revoada/core/membership"
	"revoada.dev/revoada/core/node"
	"revoada.dev/revoada/core/policy"
	"revoada.dev/revoada/core/roles"
)

// The self-healing properties, checked when a plan has a Target.
const (
	PropQuorumGuard = "quorum-guard"  // no shift proposed from a view without a quorum of voters
	PropDamper      = "damper"        // no node shifted by the policy twice within the damper
	PropDeadPromote = "dead-promoted" // no dead or quarantined node gains a role
)

// Default policy timing in the simulator.
const (
	AuditEvery     = time.Second
	deadFor        = 10 * time.Second // down this long, a node is dead beyond doubt
	defaultDamper  = time.Minute
	gossipInterval = 2 // ticks
	// GossipRound is one gossip round: what the membership liveness
	// monitor counts in (Liveness.Membership).
	GossipRound = gossipInterval * TickInterval
)

func ticks(d time.Duration) uint64 { return uint64(d / TickInterval) }

// selfHealing turns on membership and, with a target, the policy.
func (s *simulator) selfHealing(cfg *node.Config, sn *simNode, inc string) {
	p := s.plan
	if p.Target == "" {
		return
	}
	g := membership.DefaultConfig(nodeSecret(sn.name), s.streams.rand("gossip/"+sn.name+"/"+inc))
	g.GossipIntervalTicks = gossipInterval
	if p.Policy.PhiThreshold > 0 {
		g.PhiThreshold = p.Policy.PhiThreshold
	}
	if s.hooks.HastyDetector {
		g.PhiThreshold, g.Unsafe.NoProbe = 1, true
	}
	strategy, err := p.strategy()
	if err != nil {
		panic(fmt.Sprintf("sim: unvalidated target: %v", err))
	}
	pc := policy.DefaultConfig(strategy)
	knob := func(d time.Duration, into *uint64) {
		if d > 0 {
			*into = ticks(d)
		}
	}
	knob(p.Policy.Grace, &pc.GraceTicks)
	knob(p.Policy.Damper, &pc.DamperTicks)
	knob(p.Policy.Stabilize, &pc.StabilizeTicks)
	pc.Unsafe.NoQuorumGuard, pc.Unsafe.NoDamper, pc.Unsafe.NoStabilize = s.hooks.NoQuorumGuard, s.hooks.NoDamper, s.hooks.NoStabilize
	cfg.Gossip, cfg.Policy = &g, &pc
	cfg.AuditTicks = int(ticks(AuditEvery))
	if p.Policy.AuditEvery > 0 {
		cfg.AuditTicks = int(ticks(p.Policy.AuditEvery))
	}
	cfg.Capacity = membership.Capacity{CPUMilli: 4000, MemoryBytes: 16 << 30, StorageBytes: 100 << 30, Pods: 110}
}

func (s *simulator) damper() time.Duration { return s.plan.Policy.DamperOrDefault() }

// DamperOrDefault is the damper the policy runs with: Damper, or a minute.
func (k PolicyKnobs) DamperOrDefault() time.Duration {
	if k.Damper > 0 {
		return k.Damper
	}
	return defaultDamper
}

func (s *simulator) onMembership(i int, c membership.Change) {
	if c.Kind != membership.HealthChanged {
		return
	}
	target, ok := s.byID[c.Node]
	if !ok {
		return
	}
	s.trace.event(s.now, s.nodes[i].name, "health", fmt.Sprintf("%s %s -> %s", s.nodes[target].name, c.Was, c.Health))
	// False: the node is a member of the committed shape (one that left
	// is silent by design), up, reachable both ways, each takes what the
	// other sends (a node outside the other's shape — not yet admitted, or
	// gone — is dropped by design), and it has not been down lately
	// (suspecting a node that was down a moment ago is right, only late).
	t, sn := s.nodes[target], s.nodes[i]
	_, member := s.check.ref.Shape().Roles(t.id)
	if c.Health == membership.Suspect && member && t.n != nil && !t.paused && s.hears(i, target, node.MsgGossip) && s.hears(target, i, node.MsgGossip) &&
		t.n.IsMember(sn.id) && sn.n.IsMember(t.id) && (t.incarnation <= 1 || t.startedAt+deadFor <= s.now) {
		s.stats.FalseSuspicions++
	}
}

// onDecision traces an audit and judges the proposals: the quorum view it
// was made from, and that it promotes no node dead beyond doubt.
func (s *simulator) onDecision(i int, d node.Decision) {
	name := s.nodes[i].name
	if d.Shift == nil {
		s.trace.event(s.now, name, "audit", fmt.Sprintf("withhold %s (%d/%d voters)", d.Withheld, d.Reachable, d.Voters))
		return
	}
	s.trace.event(s.now, name, "audit", fmt.Sprintf("propose %v (%d/%d voters) %s", d.Shift, d.Reachable, d.Voters, d.Request))
	s.stats.PolicyShifts++
	if 2*d.Reachable <= d.Voters {
		s.check.fail(s.now, PropQuorumGuard, name, "proposed %v seeing %d of %d voters", d.Shift, d.Reachable, d.Voters)
	}
	for _, c := range d.Shift {
		t := s.nodes[s.byID[c.Node]]
		gains := c.Kind == roles.Promote || c.Kind == roles.Restore
		if gains && t.n == nil && s.now-t.downSince >= deadFor {
			s.check.fail(s.now, PropDeadPromote, name, "proposed %v while %s has been down since %v", c, t.name, t.downSince)
		}
		if r, _ := s.check.ref.Shape().Roles(c.Node); c.Kind == roles.Promote && r == roles.Quarantined {
			s.check.fail(s.now, PropDeadPromote, name, "proposed %v for quarantined %s", c, t.name)
		}
	}
	if d.Request != nil {
		s.policyReqs[*d.Request] = policyReq{at: s.now, node: i, ticks: s.tickCounts(), bypassed: d.DamperBypassed, inc: s.incarnations()}
		// The policy's answer goes to the leader, not to a client the
		// simulator follows: for the role model its outcome is unknown.
		s.roleOps = append(s.roleOps, checkers.RoleOp{Client: len(s.ops) + i, Invoke: s.now, Shift: d.Shift, Outcome: checkers.RoleUnknown})
	}
}

// policyReq is a policy request in flight: when and by which node it was
// proposed, and how many ticks that node had run by then.
type policyReq struct {
	at       time.Duration
	node     int
	ticks    []uint64 // every node's ticks run by then
	bypassed bool     // the policy let a recovery past its damper (its rule 5)
	inc      []uint64 // every node's incarnation then
}

// shiftMark is when a node was last shifted (committed), and how many ticks
// every node had run when that shift was proposed.
type shiftMark struct {
	at    time.Duration
	ticks []uint64
}

// incarnations is every node's incarnation.
func (s *simulator) incarnations() []uint64 {
	out := make([]uint64, len(s.nodes))
	for i, sn := range s.nodes {
		out[i] = sn.incarnation
	}
	return out
}

// tickCounts is every node's ticks run so far.
func (s *simulator) tickCounts() []uint64 {
	out := make([]uint64, len(s.nodes))
	for i, sn := range s.nodes {
		out[i] = sn.ticks
	}
	return out
}

// policyCommitted judges the damper on shifts the log committed: a node a
// committed shift changed (the policy's or an operator's) may not be
// proposed by the policy for another shift within the damper of that
// shift's proposal, unless the policy let a recovery through (policy
// rule 5: the damper never holds recovery). The damper runs on ticks, never
// on a wall clock, so the second proposal is in time when the simulated time
// in between is the damper (less a tick of phase), or some node ran the
// damper's ticks in between (a clock skewed fast shortens the damper in real
// time, and that is the policy keeping its rule). Nothing else excuses it:
// a wall clock that jumped, a node that restarted or installed a snapshot,
// a new leader.
func (s *simulator) policyCommitted(before roles.Shape, a node.Applied) {
	if a.Request == nil || a.Result == nil || !a.Result.Changed || a.Result.Duplicate {
		return
	}
	req, ok := s.policyReqs[*a.Request]
	if !ok {
		// An operator's shift is not damped, but it starts the damper of
		// the nodes it changed: the policy may not shift them again within
		// the damper of its submission.
		if op, ok := s.operatorReqs[*a.Request]; ok {
			delete(s.operatorReqs, *a.Request)
			for _, c := range a.Shift {
				s.shifted[c.Node] = op
			}
		}
		return
	}
	delete(s.policyReqs, *a.Request)
	s.cover.Sometimes(CoverPolicyShift)
	damperTicks := ticks(s.damper())
	for _, c := range a.Shift {
		if last, ok := s.shifted[c.Node]; ok && !req.bypassed {
			var ran uint64 // the most ticks any node ran in between
			for j := range s.nodes {
				ran = max(ran, req.ticks[j]-last.ticks[j])
			}
			if ran+1 < damperTicks && req.at-last.at < s.damper()-TickInterval {
				s.check.fail(s.now, PropDamper, s.nodes[s.byID[c.Node]].name, "shifted at %v and proposed again at %v by %s, no node having run more than %d ticks in between (damper %v, %d ticks)",
					last.at, req.at, s.nodes[req.node].name, ran, s.damper(), damperTicks)
			}
		}
		s.shifted[c.Node] = shiftMark{at: req.at, ticks: req.ticks}
	}
	s.policyShiftCommitted(before, s.check.ref.Shape(), a, req)
}

// checkRestored times the mesh's recovery: from the first crash fault to the
// moment the committed shape has the expected control-plane count again, all
// on live nodes.
func (s *simulator) checkRestored() {
	if s.firstCrash < 0 || s.restoredAt >= 0 || s.plan.Expect.Converge == nil {
		return
	}
	shape := s.check.ref.Shape()
	live := 0
	for _, m := range shape.Members() {
		if m.Roles.IsControlPlane() && s.nodes[s.byID[m.Node]].n != nil {
			live++
		}
	}
	if live == s.plan.Expect.Converge.ControlPlane && shape.ControlPlaneCount() == live {
		s.restoredAt = s.now
	}
}

// crashed notes the first crash, for Stats.Restored (measured only when the
// plan expects a control-plane count).
func (s *simulator) crashed() {
	if s.plan.Expect.Converge == nil {
		return
	}
	if s.firstCrash < 0 {
		s.firstCrash = s.now
	}
	s.restoredAt = -1
	s.checkRestored()
}
