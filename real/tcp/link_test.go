package tcp

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"revoada.dev/revoada/net/transport"
	"revoada.dev/revoada/net/transport/transporttest"
	"revoada.dev/revoada/net/wire"
)

// TestMutualTLS: both sides prove their node key, with TLS 1.3 only, and
// a wrong key is refused in either direction.
func TestMutualTLS(t *testing.T) {
	b := newNode(t, 2, nil)
	t.Run("ListenerShowsItsKey", func(t *testing.T) {
		conn := helloConn(t, b, testKey(3))
		cs := conn.ConnectionState()
		if cs.Version != tls.VersionTLS13 {
			t.Fatalf("TLS version %x, want 1.3", cs.Version)
		}
		got, err := peerID(cs)
		if err != nil || got != b.id {
			t.Fatalf("listener key %s, %v; want %s", got.Short(), err, b.id.Short())
		}
		if uris := cs.PeerCertificates[0].URIs; len(uris) != 1 || uris[0].String() != SPIFFEPrefix+b.id.String() {
			t.Fatalf("URI SANs %v", uris)
		}
	})
	t.Run("ListenerRefusesTLS12", func(t *testing.T) {
		cert, err := Certificate(testKey(3))
		if err != nil {
			t.Fatal(err)
		}
		before := b.Stats().Refused[transport.RefuseHandshake]
		_, err = tls.Dial("tcp", b.Addr(), &tls.Config{MaxVersion: tls.VersionTLS12, InsecureSkipVerify: true, Certificates: []tls.Certificate{cert}})
		if err == nil {
			t.Fatal("a TLS 1.2 handshake succeeded")
		}
		waitRefused(t, b.Transport, transport.RefuseHandshake, before+1)
	})
	t.Run("DialerRefusesAnotherListenerKey", func(t *testing.T) {
		a, c := newNode(t, 1, nil), newNode(t, 3, nil)
		a.SetPeer(b.id, c.Addr()) // c listens where a looks for b
		if err := a.Send(transporttest.MsgApp(a.id, b.id, 1, 8)); err != nil {
			t.Fatal(err)
		}
		a.rec.WaitReport(t, transport.Report{Peer: b.id, Kind: transport.Unreachable})
		waitRefused(t, c.Transport, transport.RefuseHandshake, 1) // the dialer's alert
		if c.rec.Count() != 0 || b.rec.Count() != 0 {
			t.Fatal("a message went to a listener with the wrong key")
		}
	})
	t.Run("DialerRefusesAListenerOfAnotherMesh", func(t *testing.T) {
		a := newNode(t, 1, nil)
		d := newNode(t, 4, func(c *Config) { c.Mesh[0] ^= 1 })
		a.SetPeer(d.id, d.Addr())
		if err := a.Send(transporttest.MsgApp(a.id, d.id, 1, 8)); err != nil {
			t.Fatal(err)
		}
		a.rec.WaitReport(t, transport.Report{Peer: d.id, Kind: transport.Unreachable})
		waitRefused(t, d.Transport, transport.RefuseMesh, 1)
		if d.rec.Count() != 0 {
			t.Fatal("a message crossed meshes")
		}
	})
}

// fakeListener accepts one connection as node key's listener would,
// exchanges Hellos, then reads and discards without ever answering: a
// peer that hangs.
func fakeListener(t *testing.T, n *testNode) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		raw, err := ln.Accept()
		if err != nil {
			return
		}
		defer raw.Close()
		conn := tls.Server(raw, serverConfig(n.cert))
		if _, err := wire.ReadFrame(conn, wire.HelloBytes); err != nil {
			return
		}
		if _, err := conn.Write(n.hello); err != nil {
			return
		}
		io.Copy(io.Discard, conn)
	}()
	return ln.Addr().String()
}

// TestHungPeerFound: a peer that stops answering Pings is found within
// PingInterval+IOTimeout and reported unreachable, though nothing is sent.
func TestHungPeerFound(t *testing.T) {
	quick := func(c *Config) { c.PingInterval, c.IOTimeout = 20*time.Millisecond, 100*time.Millisecond }
	a, b := newNode(t, 1, quick), newNode(t, 2, nil)
	a.SetPeer(b.id, fakeListener(t, b))
	if err := a.Send(transporttest.MsgApp(a.id, b.id, 1, 8)); err != nil {
		t.Fatal(err)
	}
	a.rec.WaitReport(t, transport.Report{Peer: b.id, Kind: transport.Unreachable})
	if st := a.Stats(); st.Sent != 1 {
		t.Fatalf("the message was not written before the peer was found hung: %+v", st)
	}
}

// TestIdlePeerDropped: an inbound connection silent for longer than
// PingInterval+IOTimeout is closed and counted.
func TestIdlePeerDropped(t *testing.T) {
	b := newNode(t, 2, func(c *Config) { c.PingInterval, c.IOTimeout = 20*time.Millisecond, 100*time.Millisecond })
	conn := helloConn(t, b, testKey(3))
	closedByPeer(t, conn)
	waitRefused(t, b.Transport, transport.RefuseTimeout, 1)
}

// TestReconnect: a peer that restarts on its address is reached again
// after the backoff, and what arrives is in order.
func TestReconnect(t *testing.T) {
	a, b := newNode(t, 1, func(c *Config) { c.BackoffMin, c.BackoffMax = 10*time.Millisecond, 40*time.Millisecond }), newNode(t, 2, nil)
	addr := b.Addr()
	a.SetPeer(b.id, addr)
	if err := a.Send(transporttest.MsgApp(a.id, b.id, 1, 8)); err != nil {
		t.Fatal(err)
	}
	b.rec.WaitSeq(t, a.id, 1)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	a.rec.WaitReport(t, transport.Report{Peer: b.id, Kind: transport.Unreachable})

	rec := transporttest.NewRecorder()
	b2, err := New(Config{Key: b.key, Mesh: mesh, Listen: addr, Handler: rec})
	if err != nil {
		t.Skipf("listening again on %s: %v", addr, err)
	}
	defer b2.Close()
	deadline := time.Now().Add(transporttest.Guard)
	for seq := uint64(2); ; seq++ {
		err := a.Send(transporttest.MsgApp(a.id, b.id, seq, 8))
		if err != nil && !errors.Is(err, transport.ErrUnreachable) {
			t.Fatal(err)
		}
		if rec.Count() > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no message reached the restarted peer: %+v", a.Stats())
		}
		time.Sleep(5 * time.Millisecond) // polling: a resend every few ms, as raft's heartbeats would
	}
	got := rec.Seqs(a.id)
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("out of order after reconnecting: %v", got)
		}
	}
}
