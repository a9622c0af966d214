// Package transporttest is the conformance suite of the transport contract
// (net/transport), in the manner of testing/fstest: every transport runs
//
//	func TestConformance(t *testing.T) {
//		transporttest.Run(t, func(t *testing.T, keys []ed25519.PrivateKey, hs []transport.Handler) []transporttest.Endpoint {
//			... one transport per key, delivering to hs[i] ...
//		})
//	}
//
// and passes the same subtests. Each subtest makes a fresh network of two
// or three nodes, closes every transport itself and then checks that the
// goroutine count is back where it was before the network was made: every
// subtest is also a leak test, so subtests never run in parallel.
//
// Nothing in the suite depends on timing for its verdict: it waits for
// what it expects (a message, a report) on channels, with a generous
// deadline (Guard) only as a guard against a hung transport, and polls the
// goroutine count, which has no channel to wait on, within the same guard.
package transporttest

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"

	"revoada.dev/revoada/core/node"
	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/net/transport"
	"revoada.dev/revoada/net/wire"
)

// Guard bounds every wait; hitting it is a failure, never a way to pass.
const Guard = 30 * time.Second

// Endpoint is one transport of a network and the address its peers reach
// it at.
type Endpoint struct {
	Transport transport.Transport
	Addr      string
}

// Factory makes a fresh network of transports, one per key, transport i
// belonging to the node whose ID is keys[i]'s public key and delivering to
// handlers[i]. The transports know no peers yet. The suite closes them.
type Factory func(t *testing.T, keys []ed25519.PrivateKey, handlers []transport.Handler) []Endpoint

// Run runs the conformance suite.
func Run(t *testing.T, f Factory) {
	s := suite{factory: f}
	for _, c := range []struct {
		name string
		fn   func(*testing.T)
	}{
		{"OrderedPerPeer", s.orderedPerPeer},
		{"ConcurrentSend", s.concurrentSend},
		{"QueueFullDropsAndReports", s.queueFull},
		{"RemovedPeerGetsNothing", s.removedPeer},
		{"UnknownPeerRefused", s.unknownPeer},
		{"BadMessagesRefused", s.badMessages},
		{"UnreachableReported", s.unreachable},
		{"WrongNodeAtAddress", s.wrongNode},
		{"SnapshotWhole", s.snapshotWhole},
		{"SnapshotFailedReported", s.snapshotFailed},
		{"SnapshotsInFlightBounded", s.snapshotsBounded},
		{"SlowPeerHoldsNoOther", s.slowPeer},
		{"CloseEndsEverything", s.closeEnds},
	} {
		t.Run(c.name, c.fn)
	}
}

type suite struct {
	factory Factory
}

// member is one node of a test network.
type member struct {
	id   roles.NodeID
	tr   transport.Transport
	addr string
	rec  *Recorder
}

// network makes n members, each knowing every other as a peer when
// connect is set. Its cleanup closes every transport (a closed one again:
// Close is idempotent) and waits for the goroutine count to come back.
func (s suite) network(t *testing.T, n int, connect bool) []*member {
	t.Helper()
	before := runtime.NumGoroutine()
	keys := make([]ed25519.PrivateKey, n)
	hs := make([]transport.Handler, n)
	ms := make([]*member, n)
	for i := range n {
		var seed [ed25519.SeedSize]byte
		seed[0], seed[1] = byte(i+1), 0x7e
		keys[i] = ed25519.NewKeyFromSeed(seed[:])
		rec := NewRecorder()
		hs[i] = rec
		ms[i] = &member{id: roles.NodeID(keys[i].Public().(ed25519.PublicKey)), rec: rec}
	}
	eps := s.factory(t, keys, hs)
	if len(eps) != n {
		t.Fatalf("factory made %d transports for %d keys", len(eps), n)
	}
	for i, ep := range eps {
		ms[i].tr, ms[i].addr = ep.Transport, ep.Addr
	}
	t.Cleanup(func() {
		for _, m := range ms {
			m.rec.Open() // a handler held shut would hold Close
			if err := m.tr.Close(); err != nil {
				t.Errorf("close %s: %v", m.id.Short(), err)
			}
		}
		NoLeak(t, before)
	})
	if connect {
		for _, a := range ms {
			for _, b := range ms {
				if a != b {
					a.tr.SetPeer(b.id, b.addr)
				}
			}
		}
	}
	return ms
}

// NoLeak waits, within Guard, for the goroutine count to come down to
// before, and fails with every goroutine's stack if it does not.
func NoLeak(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(Guard)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after close, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond) // polling: a goroutine's end has no channel
	}
}

// MsgApp is a raft append from one node to another: seq is its Index (the
// suite's sequence number) and the one entry carries data bytes.
func MsgApp(from, to roles.NodeID, seq uint64, data int) node.Message {
	return node.Message{From: from, To: to, Kind: node.MsgRaft, Raft: &pb.Message{
		Type: new(pb.MsgApp), From: new(from.RaftID()), To: new(to.RaftID()), Term: new(uint64(3)),
		LogTerm: new(uint64(3)), Index: new(seq), Commit: new(seq),
		Entries: []*pb.Entry{{Term: new(uint64(3)), Index: new(seq + 1), Type: new(pb.EntryNormal), Data: make([]byte, data)}},
	}}
}

// MsgSnap is a raft snapshot from one node to another, of the given data,
// at index seq.
func MsgSnap(from, to roles.NodeID, seq uint64, data []byte) node.Message {
	return node.Message{From: from, To: to, Kind: node.MsgRaft, Raft: &pb.Message{
		Type: new(pb.MsgSnap), From: new(from.RaftID()), To: new(to.RaftID()), Term: new(uint64(3)),
		Snapshot: &pb.Snapshot{Data: data, Metadata: &pb.SnapshotMetadata{
			Index: new(seq), Term: new(uint64(3)), ConfState: &pb.ConfState{Voters: []uint64{from.RaftID(), to.RaftID()}}}},
	}}
}

// seqOf is the suite's sequence number of a message it made.
func seqOf(m node.Message) uint64 {
	if transport.IsSnapshot(m) {
		return m.Raft.GetSnapshot().GetMetadata().GetIndex()
	}
	return m.Raft.GetIndex()
}

// sendAll sends msgs seq 1..n from a to b and fails on any refusal.
func sendAll(t *testing.T, a, b *member, first, n uint64) {
	t.Helper()
	for seq := first; seq < first+n; seq++ {
		if err := a.tr.Send(MsgApp(a.id, b.id, seq, 64)); err != nil {
			t.Fatalf("send %d from %s to %s: %v", seq, a.id.Short(), b.id.Short(), err)
		}
	}
}

// checkSubsequence checks that got is in order and each at most once, and
// comes from accepted.
func checkSubsequence(t *testing.T, got []uint64, accepted map[uint64]bool) {
	t.Helper()
	for i, seq := range got {
		if !accepted[seq] {
			t.Fatalf("delivered %d, which Send never accepted", seq)
		}
		if i > 0 && seq <= got[i-1] {
			t.Fatalf("delivered %d after %d: out of order or twice", seq, got[i-1])
		}
	}
}

// orderedPerPeer: each of two nodes sends the other 1000 messages at once;
// each receives them all, in order, once, from the right sender.
func (s suite) orderedPerPeer(t *testing.T) {
	ms := s.network(t, 2, true)
	a, b := ms[0], ms[1]
	const n = 1000
	var wg sync.WaitGroup
	wg.Go(func() { sendAll(t, a, b, 1, n) })
	wg.Go(func() { sendAll(t, b, a, 1, n) })
	wg.Wait()
	for _, pair := range [][2]*member{{a, b}, {b, a}} {
		from, to := pair[0], pair[1]
		to.rec.WaitMessages(t, from.id, n)
		got := to.rec.Seqs(from.id)
		if len(got) != n || got[0] != 1 || !slices.IsSorted(got) || got[n-1] != n {
			t.Fatalf("%s got %d messages from %s, want 1..%d in order: %v", to.id.Short(), len(got), from.id.Short(), n, head(got))
		}
		for _, m := range to.rec.Messages(from.id) {
			if m.To != to.id || m.From != from.id || len(m.Raft.Entries) != 1 || len(m.Raft.Entries[0].Data) != 64 {
				t.Fatalf("delivered a message %s→%s with %d entries", m.From.Short(), m.To.Short(), len(m.Raft.Entries))
			}
		}
		if st := from.tr.Stats(); st.Sent < n || st.DroppedTotal() != 0 {
			t.Fatalf("%s stats: %+v", from.id.Short(), st)
		}
		if st := to.tr.Stats(); st.Received < n {
			t.Fatalf("%s received %d, want %d", to.id.Short(), st.Received, n)
		}
	}
}

// concurrentSend: four goroutines send to two peers at once; every peer
// gets every message once, each goroutine's in its order.
func (s suite) concurrentSend(t *testing.T) {
	ms := s.network(t, 3, true)
	a := ms[0]
	const senders, n = 4, 250
	var wg sync.WaitGroup
	for g := range uint64(senders) {
		wg.Go(func() {
			for i := range uint64(n) {
				for _, to := range ms[1:] {
					if err := a.tr.Send(MsgApp(a.id, to.id, g<<32|i, 16)); err != nil {
						t.Errorf("send: %v", err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	for _, to := range ms[1:] {
		to.rec.WaitMessages(t, a.id, senders*n)
		next := make([]uint64, senders)
		for _, seq := range to.rec.Seqs(a.id) {
			g, i := seq>>32, seq&(1<<32-1)
			if g >= senders || i != next[g] {
				t.Fatalf("from sender %d got %d, want %d", g, i, next[min(g, senders-1)])
			}
			next[g]++
		}
	}
}

// queueFull: a receiver that stops receiving makes the sender's queue fill;
// Send then answers ErrQueueFull, counted, and the handler hears that the
// peer is unreachable. Once the receiver takes messages again, what it got
// is in order, each once, and a later message arrives.
func (s suite) queueFull(t *testing.T) {
	ms := s.network(t, 2, true)
	a, b := ms[0], ms[1]
	b.rec.Shut()
	accepted := map[uint64]bool{}
	var refused uint64
	const sendsMax = 200_000 // a queue and the kernel's buffers hold far fewer KiB messages
	seq := uint64(1)
	for ; seq <= sendsMax && refused == 0; seq++ {
		err := a.tr.Send(MsgApp(a.id, b.id, seq, 1024))
		switch {
		case err == nil:
			accepted[seq] = true
		case errors.Is(err, transport.ErrQueueFull):
			refused++
		default:
			t.Fatalf("send %d: %v", seq, err)
		}
	}
	if refused == 0 {
		t.Fatalf("%d sends to a receiver that takes nothing, none refused", sendsMax)
	}
	a.rec.WaitReport(t, transport.Report{Peer: b.id, Kind: transport.Unreachable})
	if st := a.tr.Stats(); st.Dropped[transport.DropQueueFull] != refused {
		t.Fatalf("dropped for a full queue: %d counted, %d refused", st.Dropped[transport.DropQueueFull], refused)
	}
	b.rec.Open()
	marker := seq
	deadline := time.Now().Add(Guard)
	for {
		err := a.tr.Send(MsgApp(a.id, b.id, marker, 1024))
		if err == nil {
			break
		}
		if !errors.Is(err, transport.ErrQueueFull) && !errors.Is(err, transport.ErrUnreachable) || time.Now().After(deadline) {
			t.Fatalf("send the marker: %v", err)
		}
		time.Sleep(time.Millisecond) // polling: the queue drains with no signal to the sender
	}
	accepted[marker] = true
	b.rec.WaitSeq(t, a.id, marker)
	got := b.rec.Seqs(a.id)
	checkSubsequence(t, got, accepted)
	t.Logf("%d accepted, %d refused, %d delivered", len(accepted), refused, len(got))
}

// removedPeer: after RemovePeer, Send to the peer is refused and the peer
// gets nothing; set again, it gets what follows.
func (s suite) removedPeer(t *testing.T) {
	ms := s.network(t, 2, true)
	a, b := ms[0], ms[1]
	sendAll(t, a, b, 1, 10)
	b.rec.WaitMessages(t, a.id, 10)
	a.tr.RemovePeer(b.id)
	for seq := uint64(11); seq <= 20; seq++ {
		if err := a.tr.Send(MsgApp(a.id, b.id, seq, 8)); !errors.Is(err, transport.ErrUnknownPeer) {
			t.Fatalf("send to a removed peer: %v", err)
		}
	}
	a.tr.SetPeer(b.id, b.addr)
	sendAll(t, a, b, 21, 1)
	b.rec.WaitSeq(t, a.id, 21)
	got := b.rec.Seqs(a.id)
	if want := []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 21}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if st := a.tr.Stats(); st.Dropped[transport.DropUnknownPeer] != 10 {
		t.Fatalf("dropped for an unknown peer: %d, want 10", st.Dropped[transport.DropUnknownPeer])
	}
}

// unknownPeer: Send to a node never set is refused and counted.
func (s suite) unknownPeer(t *testing.T) {
	ms := s.network(t, 2, false)
	a, b := ms[0], ms[1]
	if err := a.tr.Send(MsgApp(a.id, b.id, 1, 8)); !errors.Is(err, transport.ErrUnknownPeer) {
		t.Fatalf("send to an unknown peer: %v", err)
	}
	if st := a.tr.Stats(); st.Dropped[transport.DropUnknownPeer] != 1 || st.DroppedTotal() != 1 {
		t.Fatalf("stats: %+v", st)
	}
}

// badMessages: a message over the frame limit that is not a snapshot, and
// a message from another node, are refused and counted; nothing arrives.
func (s suite) badMessages(t *testing.T) {
	ms := s.network(t, 2, true)
	a, b := ms[0], ms[1]
	if err := a.tr.Send(MsgApp(a.id, b.id, 1, wire.FrameBytesMax)); !errors.Is(err, transport.ErrOversized) {
		t.Fatalf("send a message over FrameBytesMax: %v", err)
	}
	if err := a.tr.Send(MsgApp(b.id, b.id, 2, 8)); !errors.Is(err, transport.ErrMisaddressed) {
		t.Fatalf("send a message from another node: %v", err)
	}
	st := a.tr.Stats()
	if st.Dropped[transport.DropOversized] != 1 || st.Dropped[transport.DropMisaddressed] != 1 {
		t.Fatalf("stats: %+v", st)
	}
	sendAll(t, a, b, 3, 1)
	b.rec.WaitSeq(t, a.id, 3)
	if got := b.rec.Seqs(a.id); !slices.Equal(got, []uint64{3}) {
		t.Fatalf("got %v, want [3]", got)
	}
}

// unreachable: a peer whose transport is closed is reported unreachable.
func (s suite) unreachable(t *testing.T) {
	ms := s.network(t, 3, true)
	a, c := ms[0], ms[2]
	if err := c.tr.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.tr.Send(MsgApp(a.id, c.id, 1, 8)); err != nil && !errors.Is(err, transport.ErrUnreachable) {
		t.Fatalf("send to a closed peer: %v", err)
	}
	a.rec.WaitReport(t, transport.Report{Peer: c.id, Kind: transport.Unreachable})
	if got := c.rec.Seqs(a.id); len(got) != 0 {
		t.Fatalf("a closed transport delivered %v", got)
	}
}

// wrongNode: a peer set at the address of another node is unreachable,
// and the node listening there gets nothing; set right, it is reached.
func (s suite) wrongNode(t *testing.T) {
	ms := s.network(t, 3, true)
	a, b, c := ms[0], ms[1], ms[2]
	a.tr.SetPeer(b.id, c.addr)
	if err := a.tr.Send(MsgApp(a.id, b.id, 1, 8)); err != nil && !errors.Is(err, transport.ErrUnreachable) {
		t.Fatalf("send: %v", err)
	}
	a.rec.WaitReport(t, transport.Report{Peer: b.id, Kind: transport.Unreachable})
	a.tr.SetPeer(b.id, b.addr)
	sendAll(t, a, b, 2, 1)
	b.rec.WaitSeq(t, a.id, 2)
	if got := b.rec.Seqs(a.id); !slices.Equal(got, []uint64{2}) {
		t.Fatalf("b got %v, want [2]", got)
	}
	if n := c.rec.Count(); n != 0 {
		t.Fatalf("c, at the address a took for b's, got %d messages", n)
	}
}

// snapshotWhole: a MsgSnap over FrameBytesMax (so chunked by a stream
// transport) arrives whole, once, and is reported done; messages after it
// still arrive.
func (s suite) snapshotWhole(t *testing.T) {
	ms := s.network(t, 2, true)
	a, b := ms[0], ms[1]
	data := make([]byte, 2*wire.FrameBytesMax+12345)
	for i := range data {
		data[i] = byte(i * 7 / 5)
	}
	if err := a.tr.Send(MsgSnap(a.id, b.id, 100, data)); err != nil {
		t.Fatalf("send a snapshot: %v", err)
	}
	a.rec.WaitReport(t, transport.Report{Peer: b.id, Kind: transport.SnapshotDone})
	b.rec.WaitSeq(t, a.id, 100)
	sendAll(t, a, b, 101, 1)
	b.rec.WaitSeq(t, a.id, 101)
	var snaps int
	for _, m := range b.rec.Messages(a.id) {
		if transport.IsSnapshot(m) {
			snaps++
			if !bytes.Equal(m.Raft.Snapshot.Data, data) || m.Raft.Snapshot.Metadata.GetIndex() != 100 {
				t.Fatalf("snapshot of %d bytes at %d arrived as %d bytes at %d", len(data), 100, len(m.Raft.Snapshot.Data), m.Raft.Snapshot.Metadata.GetIndex())
			}
		}
	}
	if snaps != 1 {
		t.Fatalf("%d snapshots delivered, want 1", snaps)
	}
	if r := a.rec.Reports(); slices.Contains(r, transport.Report{Peer: b.id, Kind: transport.SnapshotFailed}) {
		t.Fatalf("reports: %v", r)
	}
}

// snapshotFailed: a MsgSnap to a peer that is gone is reported failed.
func (s suite) snapshotFailed(t *testing.T) {
	ms := s.network(t, 3, true)
	a, c := ms[0], ms[2]
	if err := c.tr.Close(); err != nil {
		t.Fatal(err)
	}
	err := a.tr.Send(MsgSnap(a.id, c.id, 7, make([]byte, 1000)))
	if err != nil {
		if !errors.Is(err, transport.ErrUnreachable) {
			t.Fatalf("send a snapshot to a closed peer: %v", err)
		}
		return // refused: the error is the report
	}
	a.rec.WaitReport(t, transport.Report{Peer: c.id, Kind: transport.SnapshotFailed})
	if r := a.rec.Reports(); slices.Contains(r, transport.Report{Peer: c.id, Kind: transport.SnapshotDone}) {
		t.Fatalf("reports: %v", r)
	}
}

// snapshotsBounded: while a MsgSnap is on its way to a peer that does not
// take it, a second to that peer is refused (transport.SnapsInFlightMax is
// 1); once the peer takes the first, it is reported done.
func (s suite) snapshotsBounded(t *testing.T) {
	ms := s.network(t, 2, true)
	a, b := ms[0], ms[1]
	b.rec.Shut()
	if err := a.tr.Send(MsgSnap(a.id, b.id, 1, make([]byte, 1000))); err != nil {
		t.Fatalf("send a snapshot: %v", err)
	}
	if err := a.tr.Send(MsgSnap(a.id, b.id, 2, make([]byte, 1000))); !errors.Is(err, transport.ErrQueueFull) {
		t.Fatalf("send a second snapshot while the first is on its way: %v", err)
	}
	b.rec.Open()
	a.rec.WaitReport(t, transport.Report{Peer: b.id, Kind: transport.SnapshotDone})
	if got := b.rec.Seqs(a.id); !slices.Equal(got, []uint64{1}) {
		t.Fatalf("got %v, want [1]", got)
	}
}

// slowPeer: a peer that takes nothing holds back only its own messages.
func (s suite) slowPeer(t *testing.T) {
	ms := s.network(t, 3, true)
	a, b, c := ms[0], ms[1], ms[2]
	b.rec.Shut()
	sendAll(t, a, b, 1, 100)
	sendAll(t, a, c, 1, 100)
	c.rec.WaitMessages(t, a.id, 100)
	b.rec.Open()
	b.rec.WaitMessages(t, a.id, 100)
}

// closeEnds: Close returns once every goroutine has ended (the network's
// cleanup checks the count), with connections up in every direction and a
// receiver that was held in Receive just released; Send after Close is refused, and
// Close again is a no-op.
func (s suite) closeEnds(t *testing.T) {
	ms := s.network(t, 3, true)
	for _, a := range ms {
		for _, b := range ms {
			if a != b {
				sendAll(t, a, b, 1, 5)
			}
		}
	}
	for _, b := range ms {
		for _, a := range ms {
			if a != b {
				b.rec.WaitMessages(t, a.id, 5)
			}
		}
	}
	ms[2].rec.Shut()
	sendAll(t, ms[0], ms[2], 6, 3)
	// Every receiver is released before any transport closes: an
	// in-memory transport delivers from the sender's goroutine, so the
	// sender's Close would otherwise wait on a Receive that only a later
	// Open ends.
	for _, m := range ms {
		m.rec.Open()
	}
	for _, m := range ms {
		if err := m.tr.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
	}
	a, b := ms[0], ms[1]
	if err := a.tr.Send(MsgApp(a.id, b.id, 9, 8)); !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("send after close: %v", err)
	}
	if err := a.tr.Close(); err != nil {
		t.Fatalf("close again: %v", err)
	}
	a.tr.SetPeer(b.id, b.addr) // no-ops after close
	a.tr.RemovePeer(b.id)
}

func head(s []uint64) string {
	if len(s) > 10 {
		return fmt.Sprint(s[:10], "...")
	}
	return fmt.Sprint(s)
}
