package host

import (
	"fmt"
	"time"

	"revoada.dev/revoada/core/membership"
	"revoada.dev/revoada/core/node"
	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/real/gossip"
)

// Memberlist runs the node's membership over hashicorp/memberlist
// (real/gossip) instead of the core's own gossip through the transport.
type Memberlist struct {
	Bind   string        // IP:PORT for memberlist, UDP and TCP; port 0 for any
	Seeds  []string      // HOST:PORT of other nodes' memberlist
	Timing gossip.Timing // the zero Timing is gossip.LANTiming
}

// memberlistView is a real/gossip view as the node's Membership. memberlist
// runs on its own goroutines and network: Step and Join do nothing, and
// Ready hands over the changes it gathered.
//
// Ticks: the node calls Tick once per node tick, and Members rebases the
// view's wall-clock ticks onto that count, keeping each one's age: the
// host's ticker may fall behind the wall clock under load, and the node
// measures "heard lately" and suspicion ages against its own ticks. One
// thing differs from the core's gossip: memberlist probes each member only
// once per round of all members, so the last answer to this node's own
// probe lags by up to members × ProbeInterval, longer than the node's
// "heard directly" window (two election timeouts), and memberlist exposes
// no other sign of direct contact. A member memberlist holds alive — its
// probes, direct or indirect, are answered — is reported as heard now.
type memberlistView struct {
	g     *gossip.Gossip
	ticks uint64 // the node's
}

// Confirm does nothing: memberlist probes each member on its own schedule,
// and every uptime it reports answers one of those probes.
func (v *memberlistView) Confirm(roles.NodeID) {}

func (v *memberlistView) Tick()                                      { v.ticks++ }
func (v *memberlistView) Step(membership.Message)                    {}
func (v *memberlistView) Join([]roles.NodeID)                        {}
func (v *memberlistView) UpdateSelf(f func(*membership.State)) error { return v.g.UpdateSelf(f) }
func (v *memberlistView) Ready() membership.Ready                    { return membership.Ready{Changes: v.g.Changes()} }
func (v *memberlistView) State(id roles.NodeID) (membership.State, bool) {
	s, ok := v.g.State(id)
	return s.State, ok
}

func (v *memberlistView) Members() []membership.Member {
	ms := v.g.Members()
	var now uint64 // the view's current tick: its own entry's LastHeardTick
	for _, m := range ms {
		if m.State.Node == v.g.ID() {
			now = m.LastHeardTick
		}
	}
	rebase := func(t uint64) uint64 {
		if t == 0 {
			return 0
		}
		return v.ticks - min(v.ticks, now-min(now, t))
	}
	for i := range ms {
		m := &ms[i]
		m.SuspectSinceTick = rebase(m.SuspectSinceTick)
		m.LastHeardTick = rebase(m.LastHeardTick)
		m.ConfirmedTick = rebase(m.ConfirmedTick)
		if m.Health == membership.Healthy {
			m.LastHeardTick = v.ticks
		}
	}
	return ms
}

// memberlistMaker is the node's Config.Membership for c: memberlist, named
// by the node's key, in a mesh of the given name.
func (h *Node) memberlistMaker(c Memberlist, mesh string) func(membership.State) (node.Membership, error) {
	return func(self membership.State) (node.Membership, error) {
		g, err := gossip.New(gossip.Config{Key: h.key, Bind: c.Bind, Seeds: c.Seeds, Mesh: mesh, Self: self,
			Timing: c.Timing, TickInterval: h.cfg.TickInterval, Logger: h.log})
		if err != nil {
			return nil, fmt.Errorf("memberlist: %w", err)
		}
		h.ml = g
		return &memberlistView{g: g}, nil
	}
}

// GossipAddr is where the node's memberlist listens; "" without one.
func (h *Node) GossipAddr() string {
	if h.ml == nil {
		return ""
	}
	return h.ml.Addr()
}

// leaveMemberlist tells memberlist's peers this node leaves, waiting at most
// timeout for the word to spread; nothing without memberlist.
func (h *Node) leaveMemberlist(timeout time.Duration) {
	if h.ml != nil {
		if err := h.ml.Leave(timeout); err != nil {
			h.log.Warn("memberlist leave", "err", err)
		}
	}
}
