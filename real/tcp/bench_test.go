package tcp_test

import (
	"crypto/ed25519"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"revoada.dev/revoada/core/node"
	"revoada.dev/revoada/net/transport"
	"revoada.dev/revoada/net/transport/transporttest"
	"revoada.dev/revoada/net/wire"
	"revoada.dev/revoada/real/tcp"
)

// counter is a handler that counts messages and closes done at want.
type counter struct {
	n    atomic.Int64
	want int64
	done chan struct{}
}

func (c *counter) Receive(node.Message) {
	if c.n.Add(1) == c.want {
		close(c.done)
	}
}
func (c *counter) Report(transport.Report) {}

// BenchmarkMsgApp1KiB sends b.N raft appends of one 1 KiB entry from one
// node to another over loopback TLS, and stops when the last has been
// received. A Send refused for a full queue is retried after a yield, so
// the figure is delivered throughput. SetBytes counts the 1 KiB entry.
//
//	go test -run '^$' -bench MsgApp1KiB -benchtime 200000x ./real/tcp/
func BenchmarkMsgApp1KiB(b *testing.B) {
	keys := [2]ed25519.PrivateKey{}
	for i := range keys {
		var seed [ed25519.SeedSize]byte
		seed[0] = byte(i + 1)
		keys[i] = ed25519.NewKeyFromSeed(seed[:])
	}
	recv := &counter{want: int64(b.N), done: make(chan struct{})}
	to, err := tcp.New(tcp.Config{Key: keys[1], Mesh: testMesh, Listen: "127.0.0.1:0", Handler: recv})
	if err != nil {
		b.Fatal(err)
	}
	defer to.Close()
	from, err := tcp.New(tcp.Config{Key: keys[0], Mesh: testMesh, Listen: "127.0.0.1:0", Handler: &counter{done: make(chan struct{})}})
	if err != nil {
		b.Fatal(err)
	}
	defer from.Close()
	from.SetPeer(to.ID(), to.Addr())
	m := transporttest.MsgApp(from.ID(), to.ID(), 1, 1024)
	b.SetBytes(1024)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		for {
			err := from.Send(m)
			if err == nil {
				break
			}
			if !errors.Is(err, transport.ErrQueueFull) {
				b.Fatal(err)
			}
			time.Sleep(50 * time.Microsecond) // backpressure: the queue drains
		}
	}
	select {
	case <-recv.done:
	case <-time.After(transporttest.Guard):
		b.Fatalf("%d of %d received", recv.n.Load(), b.N)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	b.ReportMetric(float64(len(wire.AppendMessage(nil, m))), "wire-bytes/msg")
}
