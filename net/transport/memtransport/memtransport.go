// Package memtransport is an in-memory transport.Transport: the transports
// of one Network reach each other by address, through channels and a
// goroutine per peer, with no sockets. Tests of hosts use it; it passes
// transporttest.Run.
//
// It keeps the contract the way real/tcp does, without a network: Send
// encodes every message with net/wire and the peer's goroutine decodes it,
// so a receiver gets its own copy of the bytes production sends, and the
// same limits hold. An address names the transport registered at it, and
// that transport's node ID stands for the key a TLS handshake would prove:
// a peer set at an address where another node (or none) listens is
// unreachable, and nothing is delivered to the wrong node.
//
// Delivery is synchronous: a peer's goroutine calls the receiver's
// Handler.Receive itself, so a slow receiver holds back that peer's queue,
// which then fills and drops, as a TCP stream's backpressure does. A MsgSnap
// goes through the same queue as the messages around it (so, here, it
// keeps their order; the contract does not promise it), outside the queue's
// byte bound, at most transport.SnapsInFlightMax per peer, and is reported
// SnapshotDone once the receiver's Receive has returned.
package memtransport

import (
	"fmt"
	"sync"

	"revoada.dev/revoada/core/node"
	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/net/transport"
	"revoada.dev/revoada/net/wire"
)

// Network is a set of transports that reach each other by address. Safe
// for concurrent use.
type Network struct {
	mu    sync.Mutex
	nodes map[string]*Transport
}

// NewNetwork returns an empty network.
func NewNetwork() *Network { return &Network{nodes: map[string]*Transport{}} }

// New makes the transport of node id, listening at addr, delivering to h.
// Error: an address already taken.
func (n *Network) New(id roles.NodeID, addr string, h transport.Handler) (*Transport, error) {
	t := &Transport{id: id, addr: addr, net: n, handler: h,
		overflows: transport.NewOverflows(), stop: make(chan struct{})}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, taken := n.nodes[addr]; taken {
		return nil, fmt.Errorf("memtransport: address %q is taken", addr)
	}
	n.nodes[addr] = t
	t.wg.Go(func() { t.overflows.Run(t.stop, t.report) })
	return t, nil
}

// lookup returns the open transport at addr, if any.
func (n *Network) lookup(addr string) *Transport {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.nodes[addr]
}

func (n *Network) unregister(t *Transport) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.nodes[t.addr] == t {
		delete(n.nodes, t.addr)
	}
}

// Transport is one node's transport on a Network.
type Transport struct {
	id        roles.NodeID
	addr      string
	net       *Network
	handler   transport.Handler
	stats     transport.Counters
	overflows *transport.Overflows
	stop      chan struct{} // closed by Close

	peers  transport.Peers[*peer]
	wg     sync.WaitGroup // peer goroutines and the overflow reporter
	active sync.WaitGroup // Handler calls on this transport in progress
}

var _ transport.Transport = (*Transport)(nil)

// peer is a peer's queue and the goroutine that drains it.
type peer struct {
	id    roles.NodeID
	addr  string
	queue *transport.Queue
	snaps chan struct{} // a slot per MsgSnap in the queue
	stop  chan struct{}
}

func (p *peer) Addr() string { return p.addr }
func (p *peer) Stop()        { close(p.stop) }

// ID is the node this transport belongs to.
func (t *Transport) ID() roles.NodeID { return t.id }

// Send implements transport.Transport.
func (t *Transport) Send(m node.Message) error {
	if err := transport.CheckFrom(t.id, m); err != nil {
		t.stats.DropN(transport.DropMisaddressed, 1)
		return err
	}
	enc := wire.AppendMessage(nil, m)
	if len(enc) > transport.BytesMax(m) {
		return t.stats.Drop(transport.DropOversized, m.To)
	}
	return t.peers.With(m.To, &t.stats, func(p *peer) error {
		if transport.IsSnapshot(m) {
			select {
			case p.snaps <- struct{}{}:
			default:
				return t.stats.Drop(transport.DropQueueFull, m.To)
			}
			p.queue.Force(enc) // outside the queue's bounds: see the package doc
			return nil
		}
		if !p.queue.Push(enc) {
			t.overflows.Add(m.To)
			return t.stats.Drop(transport.DropQueueFull, m.To)
		}
		return nil
	})
}

// SetPeer implements transport.Transport.
func (t *Transport) SetPeer(id roles.NodeID, addr string) {
	t.peers.Set(id, addr, func() *peer {
		return &peer{id: id, addr: addr, queue: transport.NewQueue(),
			snaps: make(chan struct{}, transport.SnapsInFlightMax), stop: make(chan struct{})}
	}, func(p *peer) { t.wg.Go(func() { t.drain(p) }) })
}

// RemovePeer implements transport.Transport.
func (t *Transport) RemovePeer(id roles.NodeID) { t.peers.Remove(id) }

// Stats implements transport.Transport.
func (t *Transport) Stats() transport.Stats { return t.stats.Stats() }

// Close implements transport.Transport.
func (t *Transport) Close() error {
	t.net.unregister(t)
	if t.peers.Close(func() { close(t.stop) }) {
		t.wg.Wait()
		t.active.Wait()
	}
	return nil
}

// drain is p's goroutine: it delivers p's queue in order until p is
// removed or the transport closed, then counts what is left as dropped.
func (t *Transport) drain(p *peer) {
	var batch [][]byte
	for {
		select {
		case <-p.stop:
			t.dropLeft(p)
			return
		case <-p.queue.Ready():
		}
		batch = p.queue.Take(batch[:0])
		for i, enc := range batch {
			select {
			case <-p.stop:
				t.stats.DropN(t.stopReason(), len(batch)-i)
				t.dropLeft(p)
				return
			default:
			}
			t.deliver(p, enc)
			batch[i] = nil
		}
	}
}

// dropLeft counts what is left in p's queue as dropped, and reports each
// MsgSnap among it failed (a no-op once the transport is closed).
func (t *Transport) dropLeft(p *peer) {
	t.stats.DropN(t.stopReason(), p.queue.Clear())
	for range len(p.snaps) {
		<-p.snaps
		t.report(transport.Report{Peer: p.id, Kind: transport.SnapshotFailed})
	}
}

func (t *Transport) stopReason() transport.DropReason {
	select {
	case <-t.stop:
		return transport.DropClosed
	default:
		return transport.DropRemoved
	}
}

// deliver hands one encoded message to the transport at p's address, if
// that is p, and reports a MsgSnap's outcome.
func (t *Transport) deliver(p *peer, enc []byte) {
	m, err := wire.DecodeMessage(enc)
	if err != nil {
		panic(fmt.Sprintf("memtransport: decoding what Send encoded: %v", err))
	}
	snap := transport.IsSnapshot(m)
	ok := false
	if to := t.net.lookup(p.addr); to != nil && to.id == p.id {
		ok = to.receive(t.id, m)
	}
	if snap {
		<-p.snaps // its slot is held until the receiver has it
	}
	switch {
	case ok:
		t.stats.Sent()
		if snap {
			t.report(transport.Report{Peer: p.id, Kind: transport.SnapshotDone})
		}
	default:
		t.stats.DropN(transport.DropUnreachable, 1)
		t.report(transport.Report{Peer: p.id, Kind: transport.Unreachable})
		if snap {
			t.report(transport.Report{Peer: p.id, Kind: transport.SnapshotFailed})
		}
	}
}

// receive delivers m from peer from, unless this transport is closed or m
// is misrouted; it says whether it delivered.
func (t *Transport) receive(from roles.NodeID, m node.Message) bool {
	if !t.peers.IfOpen(func() { t.active.Add(1) }) {
		return false
	}
	defer t.active.Done()
	if transport.CheckInbound(t.id, from, m) != nil {
		t.stats.Refuse(transport.RefuseMisrouted)
		return false
	}
	t.stats.Received()
	t.handler.Receive(m)
	return true
}

// report calls the handler's Report unless the transport is closed.
func (t *Transport) report(r transport.Report) {
	if !t.peers.IfOpen(func() { t.active.Add(1) }) {
		return
	}
	defer t.active.Done()
	t.stats.Reported()
	t.handler.Report(r)
}
