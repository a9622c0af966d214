package tcp

import (
	"testing"
	"time"

	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/net/transport"
	"revoada.dev/revoada/net/transport/transporttest"
	"revoada.dev/revoada/net/wire"
)

// TestPeerStats: the bytes of the message frames one side writes to a
// peer are the bytes the peer counts as read from it, and a message Send
// refuses is counted against the peer it was for, under its reason.
func TestPeerStats(t *testing.T) {
	noLeak(t)
	a, b := newNode(t, 1, nil), newNode(t, 2, nil)
	a.SetPeer(b.id, b.Addr())
	want := 0
	for seq := range uint64(3) {
		m := transporttest.MsgApp(a.id, b.id, seq+1, 64)
		f, err := wire.AppendMsgFrame(nil, m)
		if err != nil {
			t.Fatal(err)
		}
		want += len(f)
		if err := a.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	b.rec.WaitMessages(t, a.id, 3)
	stranger := testKey(9)
	if err := a.Send(transporttest.MsgApp(a.id, NodeID(stranger), 1, 8)); err == nil {
		t.Fatal("a message to a peer never set was accepted")
	}
	// The sender counts a batch once its write returned, which may be just
	// after the receiver delivered it: poll.
	deadline := time.Now().Add(transporttest.Guard)
	for {
		sent, got := peerStats(a.Transport, b.id), peerStats(b.Transport, a.id)
		if sent.SentBytes == uint64(want) && got.ReceivedBytes == uint64(want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d bytes of frames sent; a counts %+v, b counts %+v", want, sent, got)
		}
		time.Sleep(2 * time.Millisecond) // polling: a counter has no channel to wait on
	}
	if d := peerStats(a.Transport, NodeID(stranger)).Dropped; d[transport.DropUnknownPeer] != 1 {
		t.Fatalf("drops to the unknown peer: %v", d)
	}
	if s := a.PeerStats(); len(s) != 2 || s[0].Peer.Compare(s[1].Peer) >= 0 {
		t.Fatalf("PeerStats not two peers sorted by ID: %+v", s)
	}
}

// peerStats is tr's PeerStats of id, zero if it has none.
func peerStats(tr *Transport, id roles.NodeID) PeerStats {
	for _, s := range tr.PeerStats() {
		if s.Peer == id {
			return s
		}
	}
	return PeerStats{}
}
