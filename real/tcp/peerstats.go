package tcp

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"

	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/net/transport"
	"revoada.dev/revoada/net/wire"
)

// PeerStatsMax bounds the peers whose traffic is counted apart
// (Transport.PeerStats): any node of the mesh that proves its key may
// connect, so the table must not grow with them. Traffic of peers beyond
// it is counted only in Stats.
const PeerStatsMax = 1024

// PeerStats is what the transport carried to and from one peer, and what
// it dropped on the way to it, since it was made. Bytes are those of the
// frames that carry messages and snapshots (wire's framing included), not
// of Hellos, Pings or TLS.
type PeerStats struct {
	Peer          roles.NodeID
	SentBytes     uint64 // written to the peer's connections whole
	ReceivedBytes uint64 // read from the peer's streams and snapshot transfers
	// Dropped counts the messages to the peer dropped, by
	// transport.DropReason, as Stats.Dropped does for all peers.
	Dropped [len(transport.Stats{}.Dropped)]uint64
}

// peerCounters is one peer's PeerStats, counted concurrently. A nil
// *peerCounters, for a peer beyond PeerStatsMax, counts nothing.
type peerCounters struct {
	sent, received atomic.Uint64
	dropped        [len(transport.Stats{}.Dropped)]atomic.Uint64
}

func (c *peerCounters) sentFrames(frames [][]byte) {
	if c == nil {
		return
	}
	n := 0
	for _, f := range frames {
		n += len(f)
	}
	c.sent.Add(uint64(n))
}

func (c *peerCounters) receivedFrame(f wire.Frame) {
	if c != nil {
		c.received.Add(uint64(wire.FrameHeaderBytes + len(f.Payload)))
	}
}

func (c *peerCounters) drop(r transport.DropReason, n int) {
	if c != nil && n > 0 {
		c.dropped[r].Add(uint64(n))
	}
}

// peerTable holds the peerCounters of up to PeerStatsMax peers.
type peerTable struct {
	mu sync.Mutex
	m  map[roles.NodeID]*peerCounters
}

// get returns id's counters, made on first use; nil once the table is full.
func (pt *peerTable) get(id roles.NodeID) *peerCounters {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	if c, ok := pt.m[id]; ok {
		return c
	}
	if len(pt.m) >= PeerStatsMax {
		return nil
	}
	if pt.m == nil {
		pt.m = map[roles.NodeID]*peerCounters{}
	}
	c := &peerCounters{}
	pt.m[id] = c
	return c
}

// PeerStats returns each counted peer's traffic, sorted by peer ID. A peer
// stays in it once counted, removed or not, as its counters only grow.
func (t *Transport) PeerStats() []PeerStats {
	t.perPeer.mu.Lock()
	out := make([]PeerStats, 0, len(t.perPeer.m))
	for id, c := range t.perPeer.m {
		s := PeerStats{Peer: id, SentBytes: c.sent.Load(), ReceivedBytes: c.received.Load()}
		for i := range c.dropped {
			s.Dropped[i] = c.dropped[i].Load()
		}
		out = append(out, s)
	}
	t.perPeer.mu.Unlock()
	slices.SortFunc(out, func(a, b PeerStats) int { return a.Peer.Compare(b.Peer) })
	return out
}

// drop counts a message to peer to dropped for r, in Stats and in the
// peer's counters, and returns Send's error for it.
func (t *Transport) drop(r transport.DropReason, to roles.NodeID) error {
	t.perPeer.get(to).drop(r, 1)
	return t.stats.Drop(r, to)
}

// dropN counts n messages to p dropped for r.
func (t *Transport) dropN(r transport.DropReason, p *peer, n int) {
	p.counters.drop(r, n)
	t.stats.DropN(r, n)
}

// withPeer is peers.With, counting in to's counters the drops With counts
// itself (no such peer, or the table closed).
func (t *Transport) withPeer(to roles.NodeID, fn func(*peer) error) error {
	err := t.peers.With(to, &t.stats, fn)
	switch {
	case err == nil:
	case errors.Is(err, transport.ErrUnknownPeer):
		t.perPeer.get(to).drop(transport.DropUnknownPeer, 1)
	case errors.Is(err, transport.ErrClosed):
		t.perPeer.get(to).drop(transport.DropClosed, 1)
	}
	return err
}
