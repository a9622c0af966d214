package transport_test

import (
	"sync"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"

	"revoada.dev/revoada/core/node"
	"revoada.dev/revoada/net/transport"
	"revoada.dev/revoada/net/transport/memtransport"
	"revoada.dev/revoada/net/transport/transporttest"
)

// TestFaultyConformance: at zero rates a Faulty is the transport it wraps,
// contract and all.
func TestFaultyConformance(t *testing.T) {
	transporttest.Run(t, memtransport.Endpoints(func(i int, tr transport.Transport) transport.Transport {
		return transport.NewFaulty(tr, uint64(i))
	}))
}

// counting counts what it is given to send.
type counting struct {
	transport.Transport
	mu   sync.Mutex
	sent int
}

func (c *counting) Send(node.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent++
	return nil
}

// TestFaultyRates: a message is lost or sent twice about as often as the
// rates say, a snapshot never, and rates outside [0, 1] are refused.
func TestFaultyRates(t *testing.T) {
	inner := &counting{}
	f := transport.NewFaulty(inner, 1)
	if err := f.SetRates(0.2, 0.1); err != nil {
		t.Fatal(err)
	}
	const n = 10_000
	for range n {
		if err := f.Send(node.Message{Kind: node.MsgGossip}); err != nil {
			t.Fatal(err)
		}
	}
	lost, dup := f.Faults()
	if lost < n*15/100 || lost > n*25/100 || dup < n*5/100 || dup > n*15/100 {
		t.Errorf("%d lost and %d duplicated of %d at rates 0.2 and 0.1", lost, dup, n)
	}
	if want := n - int(lost) + int(dup); inner.sent != want {
		t.Errorf("%d sent, want %d", inner.sent, want)
	}
	if err := f.SetRates(1, 1); err != nil {
		t.Fatal(err)
	}
	inner.sent = 0
	snap := node.Message{Kind: node.MsgRaft, Raft: &pb.Message{Type: pb.MsgSnap.Enum()}}
	if err := f.Send(snap); err != nil || inner.sent != 1 {
		t.Errorf("a snapshot at loss 1: sent %d times, err %v", inner.sent, err)
	}
	for _, r := range [][2]float64{{-0.1, 0}, {0, 1.5}, {2, 0}} {
		if err := f.SetRates(r[0], r[1]); err == nil {
			t.Errorf("SetRates(%v, %v) took them", r[0], r[1])
		}
	}
}
