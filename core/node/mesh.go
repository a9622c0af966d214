package node

import (
	"fmt"
	"slices"

	"go.etcd.io/raft/v3"

	"revoada.dev/revoada/core/cover"
	"revoada.dev/revoada/core/membership"
	"revoada.dev/revoada/core/policy"
	"revoada.dev/revoada/core/roles"
)

// The self-healing layer: gossip membership runs beside raft on every node,
// and the raft leader audits the shape every AuditTicks with package policy,
// submitting the shift it decides on like any client request. Membership
// messages ride the same transport as raft's (MsgGossip). A policy shift
// carries a Fence, so a deposed leader's decision never commits under
// another leader.
//
// The damper runs on ticks, as raft's timeouts do, never on a wall clock: a
// wall clock that steps (an NTP correction, a VM restored, a bad CMOS
// battery) would move every node's damper at once, and a node whose clock
// jumped ahead would shorten it for the whole mesh with the stamps it
// proposed. Each node remembers the tick at which it applied each node's
// last changing shift (noteShifts); the log says which shift that is
// (Machine.Shifted), so a shift this node did not see applied — before it
// started, or inside a snapshot it installed — counts from the moment it
// learned of it. A restart or a snapshot install makes the damper longer,
// never shorter, and only for non-recovery shifts: the damper never holds
// recovery (package policy, rule 5).

// Decision is one audit by this node as leader, with the request that
// carries its shift (nil when it withheld).
type Decision struct {
	policy.Decision
	Request *RequestID
}

// Membership is the gossip membership a node runs beside raft:
// *membership.Membership, the pure core's, by default and in the simulator;
// or one a driver supplies through Config.Membership, which runs on its
// own (real/gossip, over hashicorp/memberlist: it sends and hears nothing
// through the node, so its Tick and Step do nothing and its Ready holds
// changes only). Its ticks (Member.LastHeardTick, SuspectSinceTick,
// UptimeTicks) are the node's.
type Membership interface {
	Tick()
	Step(membership.Message)
	Ready() membership.Ready
	Join(seeds []roles.NodeID)
	UpdateSelf(func(*membership.State)) error
	Members() []membership.Member
	State(roles.NodeID) (membership.State, bool)
	// Confirm asks id for its uptime now (Member.UptimeConfirmed).
	Confirm(id roles.NodeID)
}

var _ Membership = (*membership.Membership)(nil)

// selfHealing is the part of a Node that exists when Config.Gossip or
// Config.Membership is set.
type selfHealing struct {
	gossip    Membership
	pol       *policy.Policy // nil without Config.Policy
	ticks     uint64
	shape     [32]byte // the shape digest last published in our state
	decisions []Decision
	changes   []membership.Change
	inflight  uint64 // Seq of the policy's last shift request, while pending
	// decided holds, for the policy shift in flight, the gossiped uptime
	// of every node it changes as the audit saw it (see promotable).
	decided map[roles.NodeID]uint64
	// decidedAt is membership's tick at that audit: a new voter's uptime
	// counts only once confirmed after it (see promotable).
	decidedAt uint64
	joined    bool // gossip joined its seeds: the node has been in the shape
	// states counts the drains that brought a change of the states
	// membership holds (a member joined, was updated or forgotten), or
	// that may have lost one (membership counted items dropped over its
	// limits, ChangesMax among them), for what is derived from the states
	// (chooseRoot); pure is the core's membership, the one whose changes
	// say so (see statesGen), and dropped its count of drops then.
	states  uint64
	pure    *membership.Membership
	dropped uint64
}

// directTicks: a node heard from within this many ticks is known directly,
// not just through gossip, and may be promoted.
func (n *Node) directTicks() uint64 { return 2 * uint64(n.cfg.ElectionTicks) }

// Members is this node's membership view of the members of the shape it
// knows, sorted by NodeID; nil when the node runs no gossip. Gossip keeps a
// node that left until its failure detector gives up on it — on slow links
// long after the shape said so — but the shape decides who is a member.
func (n *Node) Members() []membership.Member {
	if n.heal == nil {
		return nil
	}
	return slices.DeleteFunc(n.heal.gossip.Members(), func(m membership.Member) bool { return !n.inView(m.State.Node) })
}

// incarnationShift places a life's gossip incarnations above every
// refutation of the lives before it (2^32 refutations per life).
const incarnationShift = 32

func (n *Node) startSelfHealing() error {
	cfg := n.cfg
	if cfg.Gossip == nil && cfg.Membership == nil {
		return nil
	}
	r, ok := cfg.Bootstrap.Roles(cfg.ID)
	if !ok {
		r = roles.Worker // joining: a worker once admitted
	}
	// Each life of the node gossips in an incarnation space of its own: a
	// refutation raises the incarnation by one, and a life that refuted a
	// suspicion up to the next life's number would otherwise share its
	// stamps, and its peers keep the first state they saw of a stamp — the
	// new life's uptime and shape never reached them (explore-5407: a node
	// promoted a moment after it restarted, on its first life's uptime).
	self := membership.State{Node: cfg.ID, Incarnation: cfg.Incarnation << incarnationShift, Roles: r, Capacity: cfg.Capacity, RaftAddr: cfg.Addr}
	var g Membership
	var err error
	if cfg.Membership != nil {
		g, err = cfg.Membership(self)
	} else {
		g, err = membership.New(*cfg.Gossip, self)
	}
	if err != nil {
		return fmt.Errorf("node: membership: %w", err)
	}
	// The core's membership reports every state it takes or forgets as a
	// Change (Joined, Updated, Forgotten), and the node drains them after
	// every call that may take one; a driver's is not relied on so.
	pure, _ := g.(*membership.Membership)
	n.heal = &selfHealing{gossip: g, pure: pure}
	n.sync = newSyncing()
	if cfg.Policy != nil {
		n.heal.pol = policy.New(*cfg.Policy)
	}
	n.joinGossip(cfg.Bootstrap)
	n.shiftApplied()
	return nil
}

// joinGossip starts gossiping with the members of shape once this node is
// one: a node outside the shape (joining, or gone) stays silent, since
// every member drops what it sends.
func (n *Node) joinGossip(shape roles.Shape) {
	h := n.heal
	if _, in := shape.Roles(n.cfg.ID); !in || h.joined {
		return
	}
	var seeds []roles.NodeID
	for _, id := range shape.Nodes() {
		if id != n.cfg.ID {
			seeds = append(seeds, id)
		}
	}
	h.gossip.Join(seeds)
	h.joined = true
	n.drainGossip()
}

// tickSelfHealing advances gossip and, on the leader, audits the shape.
func (n *Node) tickSelfHealing() {
	h := n.heal
	if h == nil {
		return
	}
	if !h.joined {
		n.joinGossip(n.view())
	}
	if !h.joined || !n.InShape() {
		return // outside the shape: silent (joinGossip)
	}
	h.ticks++
	h.gossip.Tick()
	// An audit every AuditTicks, and one as soon as the policy's last shift
	// has its result: a replacement's second step (demote after promote)
	// need not wait out a whole audit period.
	_, pending := n.pending[h.inflight]
	settled := h.inflight != 0 && !pending
	if h.pol != nil && n.cfg.AuditTicks > 0 && (h.ticks%uint64(n.cfg.AuditTicks) == 0 || settled) &&
		n.rn.BasicStatus().RaftState == raft.StateLeader {
		n.audit()
	}
	n.drainGossip()
}

// stepGossip takes a membership message. A node outside the shape (one
// that left, or is not admitted yet) takes none and answers none: a node
// that left and still answered pings stayed Healthy in the views of the
// members that pinged it, and a stale member spread it back into the
// others' after a partition healed (explore, once nodes could leave).
func (n *Node) stepGossip(m *membership.Message) {
	if n.heal == nil || m == nil || !n.heal.joined || !n.InShape() {
		return
	}
	n.heal.gossip.Step(*m)
	n.drainGossip()
}

// drainGossip moves membership's output into the node's outbox.
func (n *Node) drainGossip() {
	rd := n.heal.gossip.Ready()
	n.room(len(rd.Messages))
	for i := range rd.Messages { // Ready's slice is new each time: point into it
		n.out = append(n.out, Message{From: n.cfg.ID, To: rd.Messages[i].To, Kind: MsgGossip, Gossip: &rd.Messages[i]})
	}
	h := n.heal
	moved := false
	for _, c := range rd.Changes {
		if c.Kind != membership.HealthChanged {
			moved = true
			break
		}
	}
	if h.pure != nil {
		if d := h.pure.Counters().Dropped; d != h.dropped {
			h.dropped, moved = d, true
		}
	}
	if moved {
		h.states++
	}
	h.changes = append(h.changes, rd.Changes...)
}

// statesGen names the peers' states membership holds now: the same
// generation, the same states. ok is false when no generation can say
// so (a driver's membership), and every State must be asked again.
func (n *Node) statesGen() (gen uint64, ok bool) {
	return n.heal.states, n.heal.pure != nil
}

// audit runs the policy on the leader's view and submits its shift, fenced
// by this leader's term and the shape it decided on. One policy shift is in
// flight at a time: the next audit waits for its result, so it decides on a
// shape that includes it.
func (n *Node) audit() {
	h := n.heal
	if _, pending := n.pending[h.inflight]; h.inflight != 0 && pending {
		h.decisions = append(h.decisions, Decision{Decision: policy.Decision{At: h.ticks, Withheld: policy.InFlight,
			Detail: fmt.Sprintf("shift %d still pending", h.inflight)}})
		return
	}
	h.inflight, h.decided = 0, nil
	views := n.views()
	for _, id := range n.leaving() {
		if i := slices.IndexFunc(views, func(v policy.NodeView) bool { return v.ID == id }); i >= 0 {
			views[i].Leaving = true
		}
	}
	d := Decision{Decision: h.pol.Audit(n.machine.shape, views, h.ticks, n.damperHistory())}
	if d.Withheld == policy.NoQuorum || d.Withheld == policy.Damper {
		n.cover.Sometimes(cover.PolicyWithheld)
	}
	if d.DamperBypassed {
		n.cover.Sometimes(cover.DamperBypassed)
	}
	if d.Shift != nil {
		fence := &Fence{Term: n.rn.BasicStatus().GetTerm(), Basis: n.machine.derive().basis}
		// In flight before it is submitted: submit proposes at once on
		// the leader, and promotable must know it as the current decision.
		h.inflight, h.decided, h.decidedAt = n.seq+1, n.uptimes(d.Shift), n.gossipNow()
		id, err := n.submit(Request{Shift: slices.Clone(d.Shift), Fence: fence})
		if err != nil {
			h.inflight, h.decided = 0, nil
		} else {
			d.Request = &id
		}
	}
	h.decisions = append(h.decisions, d)
}

// gossipNow is membership's tick: its own member's LastHeardTick.
func (n *Node) gossipNow() uint64 {
	for _, m := range n.heal.gossip.Members() {
		if m.State.Node == n.cfg.ID {
			return m.LastHeardTick
		}
	}
	return 0
}

// uptimes is the gossiped uptime of every node a shift names. (Not the
// incarnation: a refutation raises that too, without a restart.)
func (n *Node) uptimes(sh roles.Shift) map[roles.NodeID]uint64 {
	out := map[roles.NodeID]uint64{}
	for _, m := range n.heal.gossip.Members() {
		for _, c := range sh {
			if c.Node == m.State.Node {
				out[c.Node] = m.UptimeTicks
			}
		}
	}
	return out
}

// promotable re-checks the new voters of this leader's own policy shift at
// the moment it would make them voters, which may be long after the audit
// decided (the learners had to catch up): each must still be a candidate —
// Healthy, heard from directly, up for the stabilisation time — by an
// uptime it gave answering a Ping sent after the decision (membership's
// Confirm: the node waits for that answer, asking again until it comes).
// The audit's uptime may come from a message that waited long to arrive:
// explore-5407's leader, paused, took on resuming messages a worker sent
// before it crashed, and promoted it, just restarted, on its first life's
// uptime. fenced reports a new voter that restarted since the decision
// (its uptime went back): the decision was about a process that no longer
// runs, and the policy must decide again.
// Shifts of operators, and of other leaders, pass.
func (n *Node) promotable(req Request, add []roles.NodeID) (ok, fenced bool) {
	h := n.heal
	if h == nil || h.pol == nil || req.Fence == nil || req.ID.Origin != n.cfg.ID {
		return true, false
	}
	if req.ID.Seq != h.inflight {
		return false, true // a decision no longer in flight (it timed out): decide again
	}
	views, members := n.views(), h.gossip.Members()
	ok = true
	for _, id := range add {
		i := slices.IndexFunc(views, func(v policy.NodeView) bool { return v.ID == id })
		j := slices.IndexFunc(members, func(m membership.Member) bool { return m.State.Node == id })
		if i < 0 || j < 0 {
			return false, false
		}
		v, m := views[i], members[j]
		if m.ConfirmedTick < h.decidedAt || m.ConfirmedTick == 0 {
			h.gossip.Confirm(id)
			ok = false
			continue
		}
		if up, known := h.decided[id]; known && m.UptimeConfirmed < up {
			return false, true // its uptime went back: it restarted
		}
		stable := m.UptimeConfirmed >= n.cfg.Policy.StabilizeTicks || n.cfg.Policy.Unsafe.NoStabilize
		if v.Health != policy.Healthy || !v.Direct || !stable {
			ok = false
		}
	}
	return ok, false
}

// views is what the leader knows of every node: membership's health and
// state, raft's activity and progress for members. Workers are not raft
// members: they count as caught up, and the learner stage makes them so
// before they vote.
func (n *Node) views() []policy.NodeView {
	h := n.heal
	st := n.rn.Status()
	var out []policy.NodeView
	for _, m := range h.gossip.Members() {
		id := m.State.Node
		v := policy.NodeView{ID: id, Health: policy.Health(m.Health), SuspectSince: m.SuspectSinceTick,
			Direct:     id == n.cfg.ID || m.LastHeardTick > 0 && h.ticks-m.LastHeardTick <= n.directTicks(),
			RaftActive: true, CaughtUp: true, Capacity: m.State.Capacity.CPUMilli, UptimeTicks: m.UptimeTicks}
		if id == n.cfg.ID {
			v.UptimeTicks = h.ticks
		} else {
			if pr, member := st.Progress[id.RaftID()]; member {
				// Not pr.RecentActive: CheckQuorum clears it every election
				// timeout, and an audit in step with that clearing would
				// never see a quorum.
				v.RaftActive = n.raftActive(id.RaftID())
				v.CaughtUp = replicaCaughtUp(pr, st.GetCommit(), n.cfg.CatchUpLagMax)
				n.deafness(&v)
			}
		}
		out = append(out, v)
	}
	return n.silentMembers(st, out)
}

// silentMembers adds the raft members membership has no state of — a
// restarted leader never learns the states of nodes that died while it was
// down — but only once raft has not heard from them past the deafness
// threshold: then they are Dead by raft's evidence. Until then they stay
// out of the view, and the policy holds them Missing (never dead).
func (n *Node) silentMembers(st raft.Status, views []policy.NodeView) []policy.NodeView {
	for _, raftID := range sortedKeys(st.Progress) {
		id, ok := n.peers[raftID]
		if !ok || raftID == n.raftID || slices.ContainsFunc(views, func(v policy.NodeView) bool { return v.ID == id }) {
			continue
		}
		v := policy.NodeView{ID: id, Health: policy.Healthy, RaftActive: n.raftActive(raftID)}
		n.deafness(&v)
		if v.Health == policy.Dead {
			views = append(views, v)
		}
	}
	return views
}

// deafness: a member that membership holds Healthy but that has not
// answered raft for an election timeout is Suspect, since it last answered
// (or since this node leads, if later), and Dead after twice the policy's
// grace more. A node that can send but not receive keeps its gossip alive
// — its own pushes and pings reach everyone — yet votes for nothing: only
// raft's answers (which need what the leader sent) show it is deaf.
func (n *Node) deafness(v *policy.NodeView) {
	if v.RaftActive || v.Health != policy.Healthy {
		return
	}
	since := max(n.heard[v.ID.RaftID()], n.leaderSince)
	v.Health, v.SuspectSince = policy.Suspect, since
	if n.ticks >= since+2*n.cfg.Policy.GraceTicks+uint64(n.cfg.ElectionTicks) {
		v.Health = policy.Dead
	}
}

// shiftApplied publishes the shape the node answers from (view.go) in its
// gossiped state: the roles it holds there, and the shape's digest, by
// which a leader tells who missed a shape notice.
func (n *Node) shiftApplied() {
	h := n.heal
	if h == nil {
		return
	}
	shape, index := n.view(), max(n.applied, n.seen.index)
	d := shape.Digest()
	if index == n.applied {
		d = n.machine.derive().digest // the same, cached
	}
	if d == h.shape {
		return
	}
	h.shape = d
	r, _ := shape.Roles(n.cfg.ID)
	if r == 0 {
		r = roles.Worker // outside the shape: its state is not heard anyway
	}
	if n.sync != nil && n.status.Member && index == n.applied {
		n.publishRoot(r) // the whole root: its manifest and chain head are this index's too
		return
	}
	_ = h.gossip.UpdateSelf(func(s *membership.State) {
		s.Roles = r
		s.StateRoot.Index, s.StateRoot.ShapeHash = index, d // a worker's manifest stays the one it installed
		if r.Has(roles.Etcd) {
			// A voter's root is taken whole by workers (content.go): one
			// it cannot publish yet, its manifest an older index's, is none.
			s.StateRoot.ManifestHash, s.StateRoot.ChainHead = [32]byte{}, [32]byte{}
		}
	})
	n.drainGossip()
}

// knownVoters is where a request with no trusted leader goes: the voters of
// the node's own shape while it is a raft member (it applies the log), else
// the nodes its membership view holds Healthy that gossip an etcd role. A
// worker is no member and never applies the log: its shape is the bootstrap
// one, whose voters may all have been replaced long ago.
func (n *Node) knownVoters() []roles.NodeID {
	if n.status.Member || n.heal == nil {
		return n.view().Voters()
	}
	var out []roles.NodeID
	for _, m := range n.heal.gossip.Members() {
		if m.Health == membership.Healthy && m.State.Roles.Has(roles.Etcd) {
			out = append(out, m.State.Node)
		}
	}
	if len(out) == 0 {
		return n.view().Voters()
	}
	return out
}

// seenShift is when this node learned of a node's last changing shift: the
// shift's index, and this node's tick then.
type seenShift struct{ index, tick uint64 }

// noteShifts brings the damper's memory up to the log: every node whose last
// changing shift (by index) this node has not noted yet is noted as shifted
// now — it was applied just now, replayed at start, or arrived inside a
// snapshot, and in every case it happened no later than now.
func (n *Node) noteShifts() {
	for id, index := range n.machine.shifted {
		if s, ok := n.shiftSeen[id]; !ok || s.index != index {
			n.shiftSeen[id] = seenShift{index: index, tick: n.ticks}
		}
	}
}

// damperHistory is the policy's view of past shifts, on this node's ticks.
func (n *Node) damperHistory() policy.History {
	h := policy.History{Now: n.ticks, Shifted: make(map[roles.NodeID]uint64, len(n.shiftSeen))}
	for id, s := range n.shiftSeen {
		h.Shifted[id] = s.tick
	}
	return h
}
