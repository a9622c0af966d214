package transport

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	pb "go.etcd.io/raft/v3/raftpb"

	"revoada.dev/revoada/core/node"
	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/net/wire"
)

// The parts below are what every transport does the same way: the checks
// Send makes, the counters behind Stats, a peer's bounded queue. They are
// here so that the transports share one reading of the contract.

// IsSnapshot reports whether m is a raft MsgSnap: the one message that
// travels the snapshot lane, may exceed wire.FrameBytesMax and is reported.
func IsSnapshot(m node.Message) bool {
	return m.Kind == node.MsgRaft && m.Raft.GetType() == pb.MsgSnap
}

// BytesMax is the most m's encoding may take: wire.SnapBytesMax for a
// MsgSnap (sent in chunks), wire.FrameBytesMax for any other.
func BytesMax(m node.Message) int {
	if IsSnapshot(m) {
		return wire.SnapBytesMax
	}
	return wire.FrameBytesMax
}

// CheckFrom is Send's first check: a transport sends only its own node's
// messages. Error: ErrMisaddressed.
func CheckFrom(self roles.NodeID, m node.Message) error {
	if m.From != self {
		return fmt.Errorf("%w: from %s, this node is %s", ErrMisaddressed, m.From.Short(), self.Short())
	}
	return nil
}

// CheckInbound is what a receiver checks of a decoded message before it
// delivers it: addressed to this node, from the peer that authenticated.
// Error: a message naming both, for a RefuseMisrouted.
func CheckInbound(self, peer roles.NodeID, m node.Message) error {
	if m.To != self || m.From != peer {
		return fmt.Errorf("transport: a message from %s to %s on the stream of peer %s to %s",
			m.From.Short(), m.To.Short(), peer.Short(), self.Short())
	}
	return nil
}

// Counters is the concurrent form of Stats: every method is safe for
// concurrent use.
type Counters struct {
	sent, received, reports atomic.Uint64
	dropped                 [dropReasons]atomic.Uint64
	refused                 [refuseReasons]atomic.Uint64
}

// Drop counts a message dropped for r and returns the error Send answers
// for it, wrapping r.Err() and naming the peer.
func (c *Counters) Drop(r DropReason, peer roles.NodeID) error {
	c.dropped[r].Add(1)
	return fmt.Errorf("%w: to %s", r.Err(), peer.Short())
}

// DropN counts n messages dropped for r.
func (c *Counters) DropN(r DropReason, n int) { c.dropped[r].Add(uint64(n)) }

// Refuse counts something refused for r.
func (c *Counters) Refuse(r RefuseReason) { c.refused[r].Add(1) }

// Sent counts a message handed to its peer's connection.
func (c *Counters) Sent() { c.sent.Add(1) }

// SentN counts n messages handed to their peer's connection.
func (c *Counters) SentN(n int) { c.sent.Add(uint64(n)) }

// Received counts a message given to Handler.Receive.
func (c *Counters) Received() { c.received.Add(1) }

// Reported counts a Handler.Report.
func (c *Counters) Reported() { c.reports.Add(1) }

// Stats is a copy of the counters (each read on its own).
func (c *Counters) Stats() Stats {
	s := Stats{Sent: c.sent.Load(), Received: c.received.Load(), Reports: c.reports.Load()}
	for i := range c.dropped {
		s.Dropped[i] = c.dropped[i].Load()
	}
	for i := range c.refused {
		s.Refused[i] = c.refused[i].Load()
	}
	return s
}

// Queue is one peer's bounded FIFO of encoded messages: at most
// PeerQueueMax of them and PeerQueueBytesMax bytes. Push never blocks;
// one goroutine drains it, woken through Ready. Safe for concurrent use.
type Queue struct {
	mu    sync.Mutex
	items [][]byte
	bytes int
	ready chan struct{} // capacity one: a wake-up is pending
}

// NewQueue returns an empty queue.
func NewQueue() *Queue { return &Queue{ready: make(chan struct{}, 1)} }

// Push appends b and wakes the drainer; false when the queue is full.
func (q *Queue) Push(b []byte) bool {
	q.mu.Lock()
	full := len(q.items) >= PeerQueueMax || q.bytes+len(b) > PeerQueueBytesMax
	if !full {
		q.items = append(q.items, b)
		q.bytes += len(b)
	}
	q.mu.Unlock()
	if !full {
		q.Wake()
	}
	return !full
}

// Force appends b past the bounds, and wakes the drainer: for a message
// bounded elsewhere (a MsgSnap, by the snapshot slots). b does not count
// towards the byte bound.
func (q *Queue) Force(b []byte) {
	q.mu.Lock()
	q.items = append(q.items, b)
	q.mu.Unlock()
	q.Wake()
}

// Wake makes Ready fire once, if it is not already pending.
func (q *Queue) Wake() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// Ready fires after a Push (or a Wake) since it last fired.
func (q *Queue) Ready() <-chan struct{} { return q.ready }

// Take removes every queued message, oldest first, appending them to dst.
func (q *Queue) Take(dst [][]byte) [][]byte {
	q.mu.Lock()
	dst = append(dst, q.items...)
	clear(q.items)
	q.items, q.bytes = q.items[:0], 0
	q.mu.Unlock()
	return dst
}

// Clear drops every queued message and says how many there were.
func (q *Queue) Clear() int {
	q.mu.Lock()
	n := len(q.items)
	clear(q.items)
	q.items, q.bytes = q.items[:0], 0
	q.mu.Unlock()
	return n
}

// Overflows collects the peers whose queue overflowed and reports each
// Unreachable from a goroutine of its own (Run): Send calls no handler,
// and a peer's goroutine may be blocked on the network or on a slow
// receiver when its queue overflows. Its memory is bounded by the peers.
// Safe for concurrent use.
type Overflows struct {
	mu    sync.Mutex
	peers map[roles.NodeID]struct{}
	wake  chan struct{}
}

// NewOverflows returns an empty set.
func NewOverflows() *Overflows {
	return &Overflows{peers: map[roles.NodeID]struct{}{}, wake: make(chan struct{}, 1)}
}

// Add notes that peer's queue overflowed. It never blocks.
func (o *Overflows) Add(peer roles.NodeID) {
	o.mu.Lock()
	o.peers[peer] = struct{}{}
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// Run reports every peer added, once per wake-up, in NodeID order, until
// stop is closed.
func (o *Overflows) Run(stop <-chan struct{}, report func(Report)) {
	var ids []roles.NodeID
	for {
		select {
		case <-stop:
			return
		case <-o.wake:
		}
		o.mu.Lock()
		ids = ids[:0]
		for id := range o.peers {
			ids = append(ids, id)
		}
		clear(o.peers)
		o.mu.Unlock()
		slices.SortFunc(ids, roles.NodeID.Compare)
		for _, id := range ids {
			report(Report{Peer: id, Kind: Unreachable})
		}
	}
}

// Peer is what a transport keeps of a peer, for Peers.
type Peer interface {
	Addr() string // where the peer listens
	Stop()        // ends the peer's goroutines; called once, under Peers' lock
}

// Peers is a transport's peer table: each peer's state by ID, and whether
// the transport is closed, under one lock, so that a goroutine a transport
// starts for a peer (under the lock) is always one Close waits for. Safe
// for concurrent use.
type Peers[P Peer] struct {
	mu     sync.RWMutex
	closed bool
	m      map[roles.NodeID]P
}

// Set makes peer id at addr with make and starts it with start, both
// under the lock, unless the table is closed or id is at addr already; a
// peer id at another address is stopped and replaced.
func (ps *Peers[P]) Set(id roles.NodeID, addr string, make func() P, start func(P)) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.closed {
		return
	}
	if old, ok := ps.m[id]; ok {
		if old.Addr() == addr {
			return
		}
		old.Stop()
	}
	if ps.m == nil {
		ps.m = map[roles.NodeID]P{}
	}
	p := make()
	ps.m[id] = p
	start(p)
}

// Remove stops and forgets peer id, if the table has it and is open.
func (ps *Peers[P]) Remove(id roles.NodeID) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if p, ok := ps.m[id]; ok && !ps.closed {
		delete(ps.m, id)
		p.Stop()
	}
}

// Close marks the table closed and stops every peer, running also first
// under the lock; it says whether the table was open.
func (ps *Peers[P]) Close(also func()) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.closed {
		return false
	}
	ps.closed = true
	also()
	for _, p := range ps.m {
		p.Stop()
	}
	return true
}

// With runs fn with peer id under the read lock, so the peer is neither
// stopped nor the table closed while fn runs. If the table is closed or
// has no peer id, it counts the drop in c and returns Send's error.
func (ps *Peers[P]) With(id roles.NodeID, c *Counters, fn func(P) error) error {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	if ps.closed {
		return c.Drop(DropClosed, id)
	}
	p, ok := ps.m[id]
	if !ok {
		return c.Drop(DropUnknownPeer, id)
	}
	return fn(p)
}

// IfOpen runs fn under the read lock if the table is open, and says
// whether it did: a transport starts a Handler call this way, so that none
// starts once Close has begun.
func (ps *Peers[P]) IfOpen(fn func()) bool {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	if !ps.closed {
		fn()
	}
	return !ps.closed
}
