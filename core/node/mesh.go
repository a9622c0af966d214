package node

import (
	"fmt"
	"slices"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"

	"revoada.dev/revoada/core/cover"
	"revoada.dev/revoada/core/membership"
	"revoada.dev/revoada/core/policy"
	"revoada.dev/revoada/core/roles"
)

// The self-healing layer: gossip membership runs beside raft on every node,
// and the raft leader audits the shape every AuditTicks with package policy,
// submitting the shift it decides on like any client request. Membership
// messages ride the same transport as raft's (MsgGossip). Every node feeds
// the shifts it applies to its own policy's damper, so a new leader knows
// which nodes were shifted recently.

// UptimeEveryTicks is how often a node republishes its uptime in its
// gossiped state (each update is signed and disseminated).
const UptimeEveryTicks = 20

// Decision is one audit by this node as leader, with the request that
// carries its shift (nil when it withheld).
type Decision struct {
	policy.Decision
	Request *RequestID
}

// selfHealing is the part of a Node that exists when Config.Gossip is set.
type selfHealing struct {
	gossip    *membership.Membership
	pol       *policy.Policy // nil without Config.Policy
	ticks     uint64
	shape     [32]byte          // the shape digest last published in our state
	heard     map[uint64]uint64 // raft ID -> tick of the last raft message from it
	decisions []Decision
	changes   []membership.Change
}

// Members is this node's membership view, sorted by NodeID; nil when the
// node runs no gossip.
func (n *Node) Members() []membership.Member {
	if n.heal == nil {
		return nil
	}
	return n.heal.gossip.Members()
}

func (n *Node) startSelfHealing() error {
	cfg := n.cfg
	if cfg.Gossip == nil {
		return nil
	}
	r, _ := cfg.Bootstrap.Roles(cfg.ID)
	self := membership.State{Node: cfg.ID, Incarnation: cfg.Incarnation, Roles: r, Capacity: cfg.Capacity}
	g, err := membership.New(*cfg.Gossip, self)
	if err != nil {
		return fmt.Errorf("node: membership: %w", err)
	}
	var seeds []roles.NodeID
	for _, m := range cfg.Bootstrap.Members() {
		if m.Node != cfg.ID {
			seeds = append(seeds, m.Node)
		}
	}
	g.Join(seeds)
	n.heal = &selfHealing{gossip: g, heard: map[uint64]uint64{}}
	if cfg.Policy != nil {
		n.heal.pol = policy.New(*cfg.Policy)
	}
	n.drainGossip()
	return nil
}

// tickSelfHealing advances gossip and, on the leader, audits the shape.
func (n *Node) tickSelfHealing() {
	h := n.heal
	if h == nil {
		return
	}
	h.ticks++
	h.gossip.Tick()
	if h.ticks%UptimeEveryTicks == 0 {
		_ = h.gossip.UpdateSelf(func(s *membership.State) { s.UptimeTicks = h.ticks })
	}
	if h.pol != nil && n.cfg.AuditTicks > 0 && h.ticks%uint64(n.cfg.AuditTicks) == 0 &&
		n.rn.BasicStatus().RaftState == raft.StateLeader {
		n.audit()
	}
	n.drainGossip()
}

func (n *Node) stepGossip(m *membership.Message) {
	if n.heal == nil || m == nil {
		return
	}
	n.heal.gossip.Step(*m)
	n.drainGossip()
}

// drainGossip moves membership's output into the node's outbox.
func (n *Node) drainGossip() {
	rd := n.heal.gossip.Ready()
	for i := range rd.Messages {
		m := rd.Messages[i]
		n.out = append(n.out, Message{From: n.cfg.ID, To: m.To, Kind: MsgGossip, Gossip: &m})
	}
	n.heal.changes = append(n.heal.changes, rd.Changes...)
}

// audit runs the policy on the leader's view and submits its shift.
func (n *Node) audit() {
	h := n.heal
	d := Decision{Decision: h.pol.Audit(n.machine.shape, n.views(), h.ticks)}
	if d.Withheld == policy.NoQuorum || d.Withheld == policy.Damper {
		n.cover.Sometimes(cover.PolicyWithheld)
	}
	if d.Shift != nil {
		id, err := n.submit(Request{Shift: slices.Clone(d.Shift)})
		if err == nil {
			d.Request = &id
			h.pol.Proposed(d.Shift, h.ticks)
		}
	}
	h.decisions = append(h.decisions, d)
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
			RaftActive: true, CaughtUp: true, Capacity: m.State.Capacity.CPUMilli, UptimeTicks: m.State.UptimeTicks}
		if id != n.cfg.ID {
			if pr, member := st.Progress[id.RaftID()]; member {
				// Not pr.RecentActive: CheckQuorum clears it every election
				// timeout, and an audit in step with that clearing would
				// never see a quorum.
				last, ok := h.heard[id.RaftID()]
				v.RaftActive = ok && h.ticks-last <= uint64(n.cfg.ElectionTicks)
				v.CaughtUp = pr.Match+n.cfg.CatchUpLagMax >= st.GetCommit()
			}
		}
		out = append(out, v)
	}
	return out
}

// raftHeard notes a raft message from a peer, for the quorum view.
func (n *Node) raftHeard(m *pb.Message) {
	if n.heal != nil {
		n.heal.heard[m.GetFrom()] = n.heal.ticks
	}
}

// shiftApplied feeds a committed shift to the damper and publishes the new
// shape in this node's gossiped state.
func (n *Node) shiftApplied(sh roles.Shift) {
	h := n.heal
	if h == nil {
		return
	}
	if h.pol != nil {
		h.pol.Proposed(sh, h.ticks)
	}
	d := n.machine.derive().digest
	if d == h.shape {
		return
	}
	h.shape = d
	r, _ := n.machine.shape.Roles(n.cfg.ID)
	_ = h.gossip.UpdateSelf(func(s *membership.State) {
		s.Roles = r
		s.StateRoot = membership.StateRoot{Index: n.applied, ShapeHash: d}
	})
	n.drainGossip()
}
