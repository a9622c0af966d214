package node

import (
	"slices"

	"go.etcd.io/raft/v3"

	"revoada.dev/revoada/core/attest"
	"revoada.dev/revoada/core/membership"
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
// shift removed, whenever the shape it applied changes. Again, for the
// notices the network lost, every election timeout: every raft member to
// the members whose gossiped state shows another shape; the leader, or
// every raft member while none is known, to the members that gossip none
// or are down; the leader to the nodes removed in the last
// ShapeResendElections election timeouts (tickShape). A node takes a
// notice newer than what it applied from a sender in its own view of the
// shape (see stepShape), and from then on answers IsMember, InShape and
// routing from it. A voter the shift removed needs it too: raft may never
// tell it that its removal committed.
// The machine is untouched: the log, when raft reaches the node, applies to
// the state it was built on.

// ShapeResendElections is how many election timeouts a leader waits before
// it sends its shape to the nodes outside raft again.
const ShapeResendElections = 10

// shapeView is the newest shape a node outside raft was sent.
type shapeView struct {
	index   uint64
	shape   roles.Shape
	members *memberSet // shape's, once asked for (viewSet)
}

// view is the shape the node answers from: the one it applied, or a newer
// one a leader sent it.
func (n *Node) view() roles.Shape {
	if n.seen.index > n.applied {
		return n.seen.shape
	}
	return n.machine.shape
}

// viewSet is the members of view(), indexed: a new one for every shape
// a notice brings and every shape the machine applies.
func (n *Node) viewSet() *memberSet {
	if n.seen.index > n.applied {
		if n.seen.members == nil {
			n.seen.members = newMemberSet(n.seen.shape)
		}
		return n.seen.members
	}
	return n.machine.memberSet()
}

// unplaced: a joining node that has learned no shape yet, from a notice or
// from raft. It knows only some members (its seeds, Config.Bootstrap), and
// its first notice may come from a leader it does not know: until then it
// takes messages from any node its driver let through (real/tcp: one that
// proved its key and the mesh's name).
func (n *Node) unplaced() bool {
	return n.cfg.Join && n.seen.index == 0 && n.applied == 0
}

// View returns a copy of the shape the node answers from: the one it
// applied, or a newer one a leader sent it.
func (n *Node) View() roles.Shape { return n.view().Clone() }

// InShape reports whether this node is a member of the newest shape it
// knows: false for a joining node until its Join commits, and for a node
// whose Leave committed.
func (n *Node) InShape() bool { return n.self().in }

// self is what the node answers from view() for every message (IsMember)
// and every tick: its members, and the node's own place among them.
func (n *Node) self() *viewMemo {
	c := &n.viewMemo
	if !c.valid || c.seen != n.seen.index || c.applied != n.applied || c.machine != n.machine {
		r, in := n.view().Roles(n.cfg.ID)
		*c = viewMemo{valid: true, seen: n.seen.index, applied: n.applied, machine: n.machine, members: *n.viewSet(), in: in, roles: r}
	}
	return c
}

// viewMemo is view()'s member set and the node's own place in it, read
// from the node's own fields only: a driver asks for every message, and
// the node's machine and the set it keeps are cache misses away. It holds
// while the fields it was read at do: the seen notice's index (a new
// notice is always at a higher one), the applied index (the machine's
// shape changes only by applying an entry, which moves it) and the
// machine (restored from a snapshot, or made for a joining node).
type viewMemo struct {
	valid         bool
	seen, applied uint64
	machine       *Machine
	members       memberSet // a copy of viewSet's, sharing its slots
	in            bool
	roles         roles.Roles
}

// stepShape takes a shape notice newer than any shape the node knows, from
// a member of the shape it knows. Not from a stranger on its index alone:
// the transport proves a peer's key and its mesh's name, not that it
// belongs — a stranger's notice could make the node drop every real
// member, or never take a real notice again. A stranger's notice is taken
// only when its attested role history leads back to a shape the node knows
// (StepStranger).
func (n *Node) stepShape(from roles.NodeID, sn *ShapeNotice) {
	if !n.IsMember(from) || sn.Index <= max(n.seen.index, n.applied) {
		return // a stranger's, or old news
	}
	n.takeShape(sn.Index, sn.Shape)
}

// takeShape answers from shape, newer than any the node applied, from now
// on: a notice taken from a member, or from a stranger whose role history
// proved it.
func (n *Node) takeShape(index uint64, shape roles.Shape) {
	n.seen = shapeView{index: index, shape: shape}
	n.learnPeers(shape)
	n.shiftApplied()
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

// tickShape resends the shape, for the notices the network lost or that
// reached a node that could not take them yet. With membership, every
// election timeout, a node that applies the log (a raft member, or the
// leader) sends its applied shape to every member whose gossiped state
// shows an older one; the leader also to the members that gossip none (a
// joined node is silent until it hears it is one), to those it holds
// suspect or dead (a joined worker that restarted has forgotten its
// notice, and is silent again until it hears one), and to the nodes
// removed lately. Every raft member sends, not the leader only: a
// restarted learner's shape may not hold the leader, whose messages it
// then drops, and an older member it knows tells it of the new. While no
// leader is known, every raft member sends to the silent and the down too:
// a mesh without a leader (explore-4894: none for 16 s after a heal, on
// 480–740 ms links) must not keep a restarted worker silent, and so dead
// to every view. A member outside its own shape (a voter that left while
// down, restarted) only relays. Without membership, every
// ShapeResendElections election timeouts, every raft member sends it to
// all the others.
func (n *Node) tickShape() {
	leader := n.status.State == raft.StateLeader
	period := uint64(n.cfg.ElectionTicks)
	if n.heal == nil {
		period *= ShapeResendElections
	}
	if !leader && (!n.status.Member || !n.InShape()) {
		n.relayShape()
		return
	}
	if n.ticks-n.announcedAt < period {
		return
	}
	n.announcedAt = n.ticks
	d := n.machine.derive().digest
	var notice *ShapeNotice
	send := func(to roles.NodeID) {
		if notice == nil {
			notice = &ShapeNotice{Index: n.applied, Shape: n.machine.shape, Chain: n.chainTail()}
		}
		n.send(to, Message{Kind: MsgShape, Shape: notice})
	}
	toDown := leader || n.status.Lead == 0 // who sends to the silent and the down
	var down map[roles.NodeID]bool
	if n.heal != nil && toDown {
		for _, m := range n.heal.gossip.Members() {
			if m.Health != membership.Healthy {
				if down == nil {
					down = map[roles.NodeID]bool{}
				}
				down[m.State.Node] = true
			}
		}
	}
	for _, id := range n.machine.shape.Nodes() {
		if id == n.cfg.ID {
			continue
		}
		if n.heal == nil {
			send(id)
			continue
		}
		st, ok := n.heal.gossip.State(id)
		switch {
		case (!ok || down[id]) && toDown:
			send(id)
		case ok && st.StateRoot.ShapeHash != d && st.StateRoot.Index < n.applied:
			send(id)
		}
	}
	if leader {
		n.gone = slices.DeleteFunc(n.gone, func(g goneNode) bool { return n.ticks >= g.until })
		for _, g := range n.gone {
			send(g.id)
		}
	}
}

// chainTail is the last ShapeNoticeBlocksMax blocks of the role history,
// for a resent notice.
func (n *Node) chainTail() []attest.Block {
	c := n.machine.Chain()
	from := max(0, c.Len()-ShapeNoticeBlocksMax)
	out := make([]attest.Block, 0, c.Len()-from)
	for seq := from; seq < c.Len(); seq++ {
		b, _, _ := c.Block(uint64(seq))
		out = append(out, b)
	}
	return out
}

// StepStranger is what a driver does with a message from a node outside
// the node's shape, instead of Step: it tells the node (Stranger), and a
// shape notice is taken if its chain proves it. That is how a node cut off
// or down while every member it knew was replaced catches up: the new
// members are strangers to it, but their role history leads back to a
// shape it knows, each block signed by a leader that was a voter there and
// co-signed by a majority of the voters at its index (attest.Follows). The
// notice is taken as a member's would be.
func (n *Node) StepStranger(m Message) {
	n.Stranger(m.From)
	sn := m.Shape
	if m.Kind != MsgShape || sn == nil || len(sn.Chain) == 0 || n.unplaced() {
		return
	}
	last, shape, err := attest.Follows(n.machine.Chain(), sn.Chain, nil)
	// The notice's own index is the stranger's word: the node takes the
	// raft index of the last attested block instead, so that an inflated
	// index cannot make it refuse every real notice after.
	if err != nil || !shape.Equal(sn.Shape) || last.Index <= max(n.seen.index, n.applied) {
		return
	}
	n.takeShape(last.Index, shape)
}

// Stranger tells the node that its driver dropped a message from a node
// outside its shape. A node that applies the log answers one that was a
// member once (it knows its raft ID) with its shape, at most once an
// election timeout: a node that left and restarted has forgotten it (its
// own log never said so, or it never applied that far), and keeps talking
// to a mesh that drops every word until it is told.
func (n *Node) Stranger(from roles.NodeID) {
	if !n.status.Member || n.peers[from.RaftID()] != from || n.unplaced() {
		return
	}
	if last, ok := n.told[from]; ok && n.ticks-last < uint64(n.cfg.ElectionTicks) {
		return
	}
	if n.told == nil || len(n.told) >= toldMax {
		n.told = map[roles.NodeID]uint64{}
	}
	n.told[from] = n.ticks
	n.send(from, Message{Kind: MsgShape, Shape: &ShapeNotice{Index: n.applied, Shape: n.machine.shape}})
}

// toldMax bounds Stranger's memory; past it, it starts afresh.
const toldMax = 1024

// relayShape is tickShape on a member outside raft: every
// ShapeResendElections election timeouts it sends the shape it knows to the
// members whose gossiped shape is older. The leader's notices reach the
// others long before; what is still stale then is a node that cannot hear
// the leader — a learner restarted with a shape older than every raft
// member, which drops their messages as a stranger's — and it may still
// know this node.
func (n *Node) relayShape() {
	if n.heal == nil || !n.InShape() || n.ticks-n.announcedAt < uint64(ShapeResendElections*n.cfg.ElectionTicks) {
		return
	}
	n.announcedAt = n.ticks
	view, index := n.view(), max(n.applied, n.seen.index)
	var notice *ShapeNotice
	for _, id := range view.Nodes() {
		if id == n.cfg.ID {
			continue
		}
		if st, ok := n.heal.gossip.State(id); ok && st.StateRoot.Index < index && st.StateRoot.ShapeHash != n.heal.shape {
			if notice == nil {
				notice = &ShapeNotice{Index: index, Shape: view}
			}
			n.send(id, Message{Kind: MsgShape, Shape: notice})
		}
	}
}

// goneNode is a node a shift removed, which the leader that applied it
// keeps telling until the tick until.
type goneNode struct {
	id    roles.NodeID
	until uint64
}

// announceShape sends the applied shape to its members outside raft and to
// the members of before that it no longer holds.
func (n *Node) announceShape(before roles.Shape) {
	n.announcedAt = n.ticks
	shape := n.machine.shape
	notice := &ShapeNotice{Index: n.applied, Shape: shape}
	for _, id := range shape.Nodes() {
		if id != n.cfg.ID && !n.inRaft(id.RaftID()) {
			n.send(id, Message{Kind: MsgShape, Shape: notice})
		}
	}
	for _, id := range before.Nodes() {
		if _, ok := shape.Roles(id); !ok && id != n.cfg.ID {
			n.send(id, Message{Kind: MsgShape, Shape: notice})
			n.gone = append(n.gone, goneNode{id: id, until: n.ticks + uint64(ShapeResendElections*n.cfg.ElectionTicks)})
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
	for _, id := range s.Nodes() {
		n.peers[id.RaftID()] = id
	}
}
