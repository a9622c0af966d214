package host

import (
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"

	"revoada.dev/revoada/core/membership"
	"revoada.dev/revoada/core/node"
	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/core/store"
)

// loop is the state only the loop goroutine touches.
type loop struct {
	h        *Node
	n        *node.Node
	waiters  map[node.RequestID]chan<- node.Result // bounded by node.PendingMax
	decision *node.Decision                        // the node's last audit as leader
	addrs    map[roles.NodeID]string               // gossiped addresses given to the transport
	ticker   *time.Ticker                          // the node's clock (Node.SetClockRate)
	lead     uint64                                // the leader the node last knew, for Stats.LeaderChanges
}

// run is the loop goroutine. See the package doc.
func (h *Node) run(n *node.Node) {
	defer close(h.done)
	l := &loop{h: h, n: n, waiters: map[node.RequestID]chan<- node.Result{}, addrs: map[roles.NodeID]string{}}
	if err := l.serve(); err != nil {
		h.log.Error("node stopped", "err", err)
		h.err = err
	}
}

// serve runs until Close or a storage error.
func (l *loop) serve() error {
	if err := l.campaignAlone(); err != nil {
		return err
	}
	l.h.applied.Store(l.n.AppliedIndex())
	l.countMembers()
	l.ticker = time.NewTicker(l.h.cfg.TickInterval)
	defer l.ticker.Stop()
	for {
		select {
		case <-l.h.stop:
			return l.h.storage.Sync()
		case <-l.ticker.C:
			l.n.Tick()
			l.h.ticks.Add(1)
		case op := <-l.h.inbox:
			op(l)
			l.drainInbox()
		case op := <-l.h.peers:
			op(l)
			l.drainPeers()
		}
		if err := l.ready(); err != nil {
			return err
		}
	}
}

// drainInbox runs the ops already waiting, up to opsPerReadyMax, so that
// concurrent writes share one Ready and one fsync (group commit).
func (l *loop) drainInbox() {
	for range opsPerReadyMax {
		select {
		case op := <-l.h.inbox:
			op(l)
		default:
			return
		}
	}
}

// drainPeers steps what peers sent that is already waiting, up to
// PeerInboxMax, before handling its Ready: a burst of appends is persisted
// with one fsync.
func (l *loop) drainPeers() {
	for range PeerInboxMax {
		select {
		case op := <-l.h.peers:
			op(l)
		default:
			return
		}
	}
}

// campaignAlone ticks a node that is the only member of its shape through
// its election timeout (at most three timeouts: raft draws it from [e, 2e)),
// so that it leads before it serves its first request.
func (l *loop) campaignAlone() error {
	if l.n.Shape().Len() != 1 {
		return l.ready()
	}
	for range 3 * l.h.electionTicks {
		if err := l.ready(); err != nil {
			return err
		}
		if l.n.Status().State == raft.StateLeader {
			return nil
		}
		l.n.Tick()
	}
	return l.ready()
}

// ready handles the node's pending Ready batches, as the package doc says.
func (l *loop) ready() error {
	for range readyLoopsMax {
		if !l.n.HasReady() {
			break
		}
		rd := l.n.Ready()
		if err := l.h.storage.Save(rd.Persist); err != nil {
			return err
		}
		if rd.MustSync {
			if err := l.h.storage.Sync(); err != nil {
				return err
			}
		}
		l.observe(rd)
		l.learnJoined(rd.Applied) // before the leader's notice to a joined node leaves
		unsent := l.send(rd.Messages)
		l.publish(rd.Events)
		l.h.resources.Store(int64(l.n.Store().Len())) // counted before a caller hears of its write
		l.deliver(rd.Results)
		if k := len(rd.Decisions); k > 0 {
			l.decision = &rd.Decisions[k-1]
		}
		l.learnAddrs(rd.Membership)
		l.n.Advance(rd)
		l.reportUnsent(unsent)
	}
	return nil
}

// observe records what a Ready says for Stats, once it is durable.
func (l *loop) observe(rd node.Ready) {
	h := l.h
	if hs := rd.Persist.HardState; hs != nil {
		h.committed.Store(hs.GetCommit())
	}
	h.applied.Store(l.n.AppliedIndex())
	if st := rd.Status; st != nil {
		if st.Lead != raft.None && st.Lead != l.lead {
			h.leaderChanges.Add(1)
		}
		l.lead = st.Lead
		h.hasLeader.Store(st.Lead != raft.None)
		h.isLeader.Store(st.State == raft.StateLeader)
	}
	if len(rd.Decisions) > 0 {
		h.auditsMu.Lock()
		for _, d := range rd.Decisions {
			decision := "propose"
			if d.Shift == nil {
				decision = d.Withheld.String()
			}
			h.audits[decision]++
		}
		h.auditsMu.Unlock()
	}
	if len(rd.Membership) > 0 {
		l.countMembers()
	}
}

// countMembers counts the node's gossip view by health, for Stats.
func (l *loop) countMembers() {
	var by [len(l.h.members)]int64
	for _, m := range l.n.Members() {
		if int(m.Health) < len(by) {
			by[m.Health]++
		}
	}
	for i, n := range by {
		l.h.members[i].Store(n)
	}
}

// send hands the messages to the transport and returns the raft messages
// that did not leave.
func (l *loop) send(msgs []node.Message) (unsent []node.Message) {
	for _, m := range msgs {
		switch {
		case l.h.tr == nil || m.To == (roles.NodeID{}):
			l.h.unsent.Add(1)
			l.h.log.Debug("message not sent: no transport or no peer", "to", m.To.Short(), "kind", m.Kind.String())
		default:
			err := l.h.tr.Send(m)
			if err == nil {
				continue
			}
			l.h.sendErrors.Add(1)
			l.h.log.Debug("send failed", "to", m.To.Short(), "err", err)
		}
		if m.Raft != nil {
			unsent = append(unsent, m)
		}
	}
	return unsent
}

// reportUnsent tells raft of the messages that did not leave: the peer is
// unreachable, and a snapshot for it failed (raft sends it nothing else
// until it hears how its snapshot went).
func (l *loop) reportUnsent(unsent []node.Message) {
	for _, m := range unsent {
		if m.Raft.GetType() == pb.MsgSnap {
			l.n.ReportSnapshot(m.To, false)
		}
		l.n.ReportUnreachable(m.To)
	}
}

// publish feeds the store's events to the watches: a Reset (a snapshot
// replaced the store) ends them all.
func (l *loop) publish(evs []store.Event) {
	for _, ev := range evs {
		if ev.Type == store.Reset {
			l.h.fan.Reset(ev.Revision)
			continue
		}
		l.h.fan.Publish(ev)
	}
}

func (l *loop) deliver(results []node.Result) {
	for _, r := range results {
		if w, ok := l.waiters[r.ID]; ok {
			delete(l.waiters, r.ID)
			w <- r
		}
	}
}

// learnJoined gives the transport the address of every node a Join in
// the applied entries admitted, unless it knows one already: a Join of a
// member changes nothing, its address included (the member's own gossiped
// state says where it is).
func (l *loop) learnJoined(applied []node.Applied) {
	for _, a := range applied {
		for _, c := range a.Shift {
			_, configured := l.h.cfg.Peers[c.Node]
			if c.Kind == roles.Join && c.Addr != "" && !configured && l.addrs[c.Node] == "" && c.Node != l.h.id {
				l.addrs[c.Node] = c.Addr
				l.h.SetPeer(c.Node, c.Addr)
			}
		}
	}
}

// learnAddrs gives the transport the gossiped address of every node whose
// state joined or changed: how the members find a node admitted after they
// started, and it them. A state is signed by its node, and the transport
// checks the key of whoever answers at the address, so a false address
// reaches no one.
func (l *loop) learnAddrs(changes []membership.Change) {
	var members []membership.Member
	for _, c := range changes {
		if c.Kind != membership.Joined && c.Kind != membership.Updated {
			continue
		}
		if members == nil {
			members = l.n.Members()
		}
		for _, m := range members {
			if m.State.Node == c.Node && m.State.RaftAddr != "" && l.addrs[c.Node] != m.State.RaftAddr {
				l.addrs[c.Node] = m.State.RaftAddr
				l.h.SetPeer(c.Node, m.State.RaftAddr)
			}
		}
	}
}
