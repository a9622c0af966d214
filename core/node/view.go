package node

import (
	"slices"

	"go.etcd.io/raft/v3"

	"revoada.dev/revoada/core/roles"
)

// # The shape outside raft
//
// Raft replicates the log, and with it the shape, to its voters and
// learners only. A worker keeps the shape it last applied (its bootstrap
// shape, or the one it held when it was last demoted), and a node joining a
// running mesh starts from the shape it was given. Yet every node needs a
// current shape: its driver drops messages from nodes outside it
// (IsMember), so a worker that never learned of a join would refuse the
// joiner forever, and a node that left must learn that it did.
//
// So the leader sends a ShapeNotice — the shape it applied, at its index —
// to every node of the shape that is no raft member, and to the nodes a
// shift removed: whenever the shape it applied changes, and again every
// ShapeResendElections election timeouts for the notices the network lost.
// A node that is no raft member takes a notice newer than what it holds
// from a sender in its own view of the shape, and from then on answers
// IsMember, InShape and routing from it. Its machine is untouched: the
// log, when raft reaches the node, applies to the state it was built on.

// ShapeResendElections is how many election timeouts a leader waits before
// it sends its shape to the nodes outside raft again.
const ShapeResendElections = 10

// shapeView is the newest shape a node outside raft was sent.
type shapeView struct {
	index uint64
	shape roles.Shape
}

// view is the shape the node answers from: the one it applied, or a newer
// one a leader sent it.
func (n *Node) view() roles.Shape {
	if n.seen.index > n.applied && !n.status.Member {
		return n.seen.shape
	}
	return n.machine.shape
}

// InShape reports whether this node is a member of the newest shape it
// knows: false for a joining node until its Join commits, and for a node
// whose Leave committed.
func (n *Node) InShape() bool {
	_, ok := n.view().Roles(n.cfg.ID)
	return ok
}

// stepShape takes a leader's shape notice.
func (n *Node) stepShape(from roles.NodeID, sn *ShapeNotice) {
	if _, ok := n.view().Roles(from); !ok || n.status.Member || sn.Index <= max(n.seen.index, n.applied) {
		return // a stranger's, one raft brings anyway, or old news
	}
	n.seen = shapeView{index: sn.Index, shape: sn.Shape}
	n.learnPeers(sn.Shape)
}

// shapeMoved runs after the node applied entries or installed a snapshot:
// it learns the raft IDs of new members, and a leader announces a shape
// that changed.
func (n *Node) shapeMoved() {
	shape := n.machine.shape
	if shape.Equal(n.announced) {
		return
	}
	n.learnPeers(shape)
	if n.rn.BasicStatus().RaftState == raft.StateLeader {
		n.announceShape(n.announced)
	}
	n.announced = shape
}

// tickShape resends the shape on a leader.
func (n *Node) tickShape() {
	if n.ticks-n.announcedAt >= uint64(ShapeResendElections*n.cfg.ElectionTicks) {
		n.announceShape(roles.Shape{})
	}
}

// announceShape sends the applied shape to its members outside raft and to
// the members of before that it no longer holds.
func (n *Node) announceShape(before roles.Shape) {
	n.announcedAt = n.ticks
	shape := n.machine.shape
	notice := &ShapeNotice{Index: n.applied, Shape: shape}
	for _, m := range shape.Members() {
		if m.Node != n.cfg.ID && !n.inRaft(m.Node.RaftID()) {
			n.send(m.Node, Message{Kind: MsgShape, Shape: notice})
		}
	}
	if before.Len() == 0 {
		return
	}
	for _, m := range before.Members() {
		if _, ok := shape.Roles(m.Node); !ok && m.Node != n.cfg.ID {
			n.send(m.Node, Message{Kind: MsgShape, Shape: notice})
		}
	}
}

func (n *Node) inRaft(id uint64) bool {
	return slices.Contains(n.conf.GetVoters(), id) || slices.Contains(n.conf.GetLearners(), id) ||
		slices.Contains(n.conf.GetVotersOutgoing(), id)
}

// learnPeers maps the raft IDs of the shape's members to their node IDs.
// Entries are never removed: a node that left keeps its ID's mapping, which
// raft, having removed it, no longer uses.
func (n *Node) learnPeers(s roles.Shape) {
	for _, m := range s.Members() {
		n.peers[m.Node.RaftID()] = m.Node
	}
}
