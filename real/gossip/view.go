package gossip

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/memberlist"

	"revoada.dev/revoada/core/membership"
	"revoada.dev/revoada/core/roles"
)

// Why a node is refused. memberlist logs the error and drops the alive
// message or the join.
var (
	errName        = errors.New("gossip: node name is not the hex of its state's key")
	errCorrupt     = errors.New("gossip: node meta is not one signed state")
	errForged      = errors.New("gossip: node state signature does not verify")
	errReplayed    = errors.New("gossip: node state older than the one held")
	errEquivocated = errors.New("gossip: node state differs from the one held under the same stamp")
	errFull        = errors.New("gossip: view full")
)

// refusalLogInterval: a node refused again within it is counted, not
// logged again.
const refusalLogInterval = 30 * time.Second

// identify checks that meta is one signed state, signed by the key whose
// hex is name.
func identify(name string, meta []byte) (membership.SignedState, error) {
	s, rest, err := membership.DecodeSignedState(meta)
	switch {
	case err != nil || len(rest) > 0:
		return membership.SignedState{}, errCorrupt
	case s.State.Node.String() != name:
		return membership.SignedState{}, errName
	case !s.Verify():
		return membership.SignedState{}, errForged
	}
	return s, nil
}

// delegate is Gossip as memberlist's Delegate, AliveDelegate,
// MergeDelegate, PingDelegate and ConflictDelegate; events is it as the
// EventDelegate. memberlist calls them from its goroutines, some with its
// node lock held: they take mu and never call memberlist.
type (
	delegate Gossip
	events   Gossip
)

var (
	_ memberlist.Delegate         = (*delegate)(nil)
	_ memberlist.AliveDelegate    = (*delegate)(nil)
	_ memberlist.MergeDelegate    = (*delegate)(nil)
	_ memberlist.PingDelegate     = (*delegate)(nil)
	_ memberlist.ConflictDelegate = (*delegate)(nil)
	_ memberlist.EventDelegate    = (*events)(nil)
)

// NodeMeta is the node's encoded signed state (setSelf keeps it within
// MetaBytesMax, memberlist's limit). memberlist keeps the slice; no one
// writes to it.
func (d *delegate) NodeMeta(limit int) []byte {
	g := (*Gossip)(d)
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.meta) > limit {
		panic(fmt.Sprintf("gossip: meta of %d bytes over memberlist's %d", len(g.meta), limit))
	}
	return g.meta
}

// NotifyMsg takes a user message: a leave intent is the only kind.
func (d *delegate) NotifyMsg(b []byte) { (*Gossip)(d).takeIntent(b) }

// GetBroadcasts gossips this node's leave intent.
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.intents.GetBroadcasts(overhead, limit)
}

// LocalState and MergeRemoteState carry nothing: every state is in the
// node metas, which push-pull carries already.
func (d *delegate) LocalState(bool) []byte        { return nil }
func (d *delegate) MergeRemoteState([]byte, bool) {}

// NotifyAlive admits a node's alive message only if its name is the hex of
// the key its meta is signed for, the signature verifies, and the state is
// not older than (or, at one stamp, different from) the one held.
func (d *delegate) NotifyAlive(n *memberlist.Node) error {
	g := (*Gossip)(d)
	s, err := identify(n.Name, n.Meta)
	g.mu.Lock()
	defer g.mu.Unlock()
	if err != nil {
		g.refused(n, err)
		return err
	}
	if n.Name == g.name {
		return nil // memberlist refutes a stale alive message about this node
	}
	p := g.peers[s.State.Node]
	switch {
	case p == nil:
		if len(g.peers) >= g.cfg.PeersMax && g.oldestGone() == nil {
			g.counters.Dropped++
			return errFull
		}
	case s.State.Stamp().Compare(p.signed.State.Stamp()) < 0:
		g.counters.Replayed++
		return errReplayed
	case s.State.Stamp() == p.signed.State.Stamp() && !sameState(s, p.signed):
		g.counters.Equivocated++
		return errEquivocated
	}
	return nil
}

func sameState(a, b membership.SignedState) bool {
	return a.State == b.State && bytes.Equal(a.Sig, b.Sig)
}

// NotifyMerge refuses a join when the other side lists any node that fails
// identify: it is not a revoada mesh, or not one that checks.
func (d *delegate) NotifyMerge(nodes []*memberlist.Node) error {
	g := (*Gossip)(d)
	for _, n := range nodes {
		if _, err := identify(n.Name, n.Meta); err != nil {
			g.mu.Lock()
			g.counters.RefusedMerges++
			g.refused(n, err)
			g.mu.Unlock()
			return fmt.Errorf("gossip: join refused: %w", err)
		}
	}
	return nil
}

// refused counts a refusal by its reason and logs it, once per node per
// refusalLogInterval. mu is held.
func (g *Gossip) refused(n *memberlist.Node, err error) {
	switch err {
	case errName:
		g.counters.RefusedName++
	case errCorrupt:
		g.counters.Corrupt++
	case errForged:
		g.counters.Forged++
	}
	now := time.Now()
	if last, ok := g.refusals[n.Name]; ok && now.Sub(last) < refusalLogInterval {
		return
	}
	if len(g.refusals) >= g.cfg.PeersMax {
		clear(g.refusals)
	}
	g.refusals[n.Name] = now
	g.log.Warn("gossip: node refused", "name", n.Name, "addr", n.Address(), "err", err)
}

// ackPayloadBytes: this node's incarnation and uptime in milliseconds,
// sent in every ack it gives a probe.
const ackPayloadBytes = 16

// AckPayload tells a prober this node's incarnation and uptime.
func (d *delegate) AckPayload() []byte {
	g := (*Gossip)(d)
	g.mu.Lock()
	inc := g.self.State.Incarnation
	g.mu.Unlock()
	b := binary.BigEndian.AppendUint64(make([]byte, 0, ackPayloadBytes), inc)
	return binary.BigEndian.AppendUint64(b, uint64(time.Since(g.start).Milliseconds()))
}

// NotifyPingComplete: this node's own probe of n was answered, directly.
// n was heard from; a Suspect is Healthy again.
func (d *delegate) NotifyPingComplete(n *memberlist.Node, rtt time.Duration, payload []byte) {
	g := (*Gossip)(d)
	id, err := roles.ParseNodeID(n.Name)
	if err != nil {
		return
	}
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.peers[id]
	if p == nil || p.departed {
		return
	}
	p.heard = now
	if len(payload) == ackPayloadBytes {
		if inc := binary.BigEndian.Uint64(payload); inc >= p.uptimeInc {
			p.uptimeInc = inc
			p.uptime = time.Duration(binary.BigEndian.Uint64(payload[8:])) * time.Millisecond
			p.pinged = now.Add(-rtt) // the answer was made after the ping went out
		}
	}
	if p.health == membership.Suspect {
		g.setHealth(p, membership.Healthy, now)
	}
}

// NotifyConflict: two addresses claim one name. memberlist keeps the first.
func (d *delegate) NotifyConflict(existing, other *memberlist.Node) {
	g := (*Gossip)(d)
	g.mu.Lock()
	g.counters.Conflicts++
	g.mu.Unlock()
	g.log.Warn("gossip: two addresses claim one node", "name", existing.Name, "kept", existing.Address(), "other", other.Address())
}

// localSuspect: this node's probe of the node named name failed, and
// memberlist now holds it suspect.
func (g *Gossip) localSuspect(name string) {
	id, err := roles.ParseNodeID(name)
	if err != nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if p := g.peers[id]; p != nil && p.health == membership.Healthy {
		g.counters.Suspected++
		g.setHealth(p, membership.Suspect, time.Now())
	}
}

// NotifyJoin: a node entered memberlist's view, or came back from dead or
// departed. NotifyAlive admitted its meta just before, under memberlist's
// lock.
func (e *events) NotifyJoin(n *memberlist.Node) {
	g := (*Gossip)(e)
	if n.Name == g.name {
		return
	}
	s, _, err := membership.DecodeSignedState(n.Meta)
	if err != nil {
		return // NotifyAlive refused it: cannot happen
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	id := s.State.Node
	p := g.peers[id]
	if p != nil && !p.departed {
		p.addr, p.port = n.Addr, n.Port
		g.takeState(p, s)
		g.setHealth(p, membership.Healthy, time.Now())
		return
	}
	if p == nil && len(g.peers) >= g.cfg.PeersMax && !g.evictGone() {
		g.counters.Dropped++
		return
	}
	g.peers[id] = &peer{signed: s, health: membership.Healthy, addr: n.Addr, port: n.Port}
	g.live.Add(1)
	g.counters.Accepted++
	g.change(membership.Change{Kind: membership.Joined, Node: id, Health: membership.Healthy,
		Incarnation: s.State.Incarnation, Version: s.State.Version})
}

// NotifyUpdate: a member advertised a new meta. It is the member's own word,
// newer than what was held: a Suspect is Healthy again.
func (e *events) NotifyUpdate(n *memberlist.Node) {
	g := (*Gossip)(e)
	if n.Name == g.name {
		return
	}
	s, _, err := membership.DecodeSignedState(n.Meta)
	if err != nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.peers[s.State.Node]
	if p == nil || p.departed {
		return
	}
	p.addr, p.port = n.Addr, n.Port
	if g.takeState(p, s) && p.health == membership.Suspect {
		g.setHealth(p, membership.Healthy, time.Now())
	}
}

// NotifyLeave: memberlist holds the node dead or left. With a leave intent
// for its current state it departed; without one it failed.
func (e *events) NotifyLeave(n *memberlist.Node) {
	g := (*Gossip)(e)
	id, err := roles.ParseNodeID(n.Name)
	if err != nil || n.Name == g.name {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.peers[id]
	switch {
	case p == nil || p.departed:
	case p.leaving():
		g.depart(p, time.Now())
	default:
		g.setHealth(p, membership.Dead, time.Now())
	}
}

// leaving reports whether the peer announced its leave at or after its
// current state.
func (p *peer) leaving() bool {
	return p.leaveStamp != (membership.Stamp{}) && p.leaveStamp.Compare(p.signed.State.Stamp()) >= 0
}

// takeState replaces p's state with s if s is newer, and reports whether it
// did. mu is held.
func (g *Gossip) takeState(p *peer, s membership.SignedState) bool {
	if s.State.Stamp().Compare(p.signed.State.Stamp()) <= 0 {
		return false
	}
	p.signed = s
	g.counters.Accepted++
	g.change(membership.Change{Kind: membership.Updated, Node: s.State.Node, Health: p.health,
		Incarnation: s.State.Incarnation, Version: s.State.Version})
	return true
}

// setHealth moves p to h. mu is held.
func (g *Gossip) setHealth(p *peer, h membership.Health, now time.Time) {
	was := p.health
	if was == h {
		return
	}
	p.health = h
	switch {
	case isLive(was) && !isLive(h):
		g.live.Add(-1)
	case !isLive(was) && isLive(h):
		g.live.Add(1)
	}
	if h == membership.Suspect || h == membership.Dead && was != membership.Suspect {
		p.since = now
	}
	g.change(membership.Change{Kind: membership.HealthChanged, Node: p.signed.State.Node, Health: h, Was: was,
		Incarnation: p.signed.State.Incarnation, Version: p.signed.State.Version})
}

func isLive(h membership.Health) bool { return h == membership.Healthy || h == membership.Suspect }

// depart takes p out of the view: it left gracefully. It is kept, out of
// Members, so that an older state of it is still refused. mu is held.
func (g *Gossip) depart(p *peer, now time.Time) {
	was := p.health
	if isLive(was) {
		g.live.Add(-1)
	}
	p.departed, p.health, p.since = true, membership.Unknown, now
	g.change(membership.Change{Kind: membership.Forgotten, Node: p.signed.State.Node, Health: membership.Unknown, Was: was,
		Incarnation: p.signed.State.Incarnation, Version: p.signed.State.Version})
}

// oldestGone is the peer Dead or departed longest, nil if none. mu is held.
func (g *Gossip) oldestGone() *peer {
	var oldest *peer
	for _, p := range g.peers {
		if (p.departed || p.health == membership.Dead) && (oldest == nil || p.since.Before(oldest.since)) {
			oldest = p
		}
	}
	return oldest
}

// evictGone forgets the peer Dead or departed longest to make room; false
// if there is none. A Dead one is Forgotten in the changes. mu is held.
func (g *Gossip) evictGone() bool {
	p := g.oldestGone()
	if p == nil {
		return false
	}
	delete(g.peers, p.signed.State.Node)
	if !p.departed {
		g.change(membership.Change{Kind: membership.Forgotten, Node: p.signed.State.Node, Health: membership.Unknown,
			Was: membership.Dead, Incarnation: p.signed.State.Incarnation, Version: p.signed.State.Version})
	}
	return true
}

// change records c, within ChangesMax, and wakes the reader. mu is held.
func (g *Gossip) change(c membership.Change) {
	if len(g.changes) >= g.cfg.ChangesMax {
		g.counters.Dropped++
		return
	}
	g.changes = append(g.changes, c)
	select {
	case g.wake <- struct{}{}:
	default:
	}
}
