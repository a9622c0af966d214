package tcp

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"revoada.dev/revoada/core/node"
	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/net/transport"
	"revoada.dev/revoada/net/transport/transporttest"
	"revoada.dev/revoada/net/wire"
)

var mesh = roles.Digest{0x6d, 0x65, 0x73, 0x68}

func testKey(i byte) ed25519.PrivateKey {
	var seed [ed25519.SeedSize]byte
	seed[0], seed[1] = i, 0x42
	return ed25519.NewKeyFromSeed(seed[:])
}

// countingHandler counts the log records of refusals.
type countingHandler struct{ refusals atomic.Int64 }

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "tcp: refused a peer" {
		h.refusals.Add(1)
	}
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

// node is a transport under test with its recorder and log.
type testNode struct {
	*Transport
	key ed25519.PrivateKey
	rec *transporttest.Recorder
	log *countingHandler
}

func newNode(t *testing.T, i byte, tune func(*Config)) *testNode {
	t.Helper()
	n := &testNode{key: testKey(i), rec: transporttest.NewRecorder(), log: &countingHandler{}}
	cfg := Config{Key: n.key, Mesh: mesh, Listen: "127.0.0.1:0", Handler: n.rec, Logger: slog.New(n.log)}
	if tune != nil {
		tune(&cfg)
	}
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.Transport = tr
	t.Cleanup(func() {
		n.rec.Open()
		if err := tr.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return n
}

// noLeak checks, once t's other cleanups have closed everything, that
// the goroutine count is back where it was.
func noLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() { transporttest.NoLeak(t, before) })
}

// waitRefused waits, within the guard, for reason to be counted n times.
func waitRefused(t *testing.T, tr *Transport, reason transport.RefuseReason, n uint64) {
	t.Helper()
	deadline := time.Now().Add(transporttest.Guard)
	for tr.Stats().Refused[reason] < n {
		if time.Now().After(deadline) {
			t.Fatalf("waited for %d refusals for %s: stats %+v", n, reason, tr.Stats())
		}
		time.Sleep(2 * time.Millisecond) // polling: a refusal has no channel to wait on
	}
}

// stillServes checks that a well-behaved peer still gets a message through.
func stillServes(t *testing.T, to *testNode, seq uint64) {
	t.Helper()
	from := newNode(t, 99, nil)
	from.SetPeer(to.id, to.Addr())
	if err := from.Send(transporttest.MsgApp(from.id, to.id, seq, 8)); err != nil {
		t.Fatal(err)
	}
	to.rec.WaitSeq(t, from.id, seq)
}

// dialTLS completes a TLS 1.3 handshake with the listener at addr as the
// holder of cert (none if nil), and returns the connection.
func dialTLS(t *testing.T, addr string, cert *tls.Certificate) *tls.Conn {
	t.Helper()
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	conn, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// helloConn is a connection of node key to the listener, past both Hellos.
func helloConn(t *testing.T, to *testNode, key ed25519.PrivateKey) *tls.Conn {
	t.Helper()
	cert, err := Certificate(key)
	if err != nil {
		t.Fatal(err)
	}
	conn := dialTLS(t, to.Addr(), &cert)
	write(t, conn, frame(t, wire.FrameHello, wire.AppendHello(nil, wire.Hello{Mesh: mesh, Node: NodeID(key)})))
	if f, err := wire.ReadFrame(conn, wire.HelloBytes); err != nil || f.Kind != wire.FrameHello {
		t.Fatalf("the listener's hello: %v %v", f.Kind, err)
	}
	return conn
}

func frame(t *testing.T, kind wire.FrameKind, payload []byte) []byte {
	t.Helper()
	f, err := wire.AppendFrame(nil, kind, payload)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func write(t *testing.T, w io.Writer, b []byte) {
	t.Helper()
	if _, err := w.Write(b); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// closedByPeer checks that the listener closed conn: a read ends.
func closedByPeer(t *testing.T, conn net.Conn) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(transporttest.Guard))
	if _, err := io.Copy(io.Discard, conn); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the listener kept a bad connection open")
	}
}

// TestBadInput sends each class of bad input to a listener: each is
// refused and counted under its reason, logged once per peer and
// interval, and the transport keeps serving.
func TestBadInput(t *testing.T) {
	noLeak(t)
	msgFrame := func(t *testing.T, m node.Message) []byte {
		f, err := wire.AppendMsgFrame(nil, m)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	other := testKey(7)
	for _, c := range []struct {
		name   string
		reason transport.RefuseReason
		send   func(t *testing.T, to *testNode) net.Conn
	}{
		{"GarbageOnThePort", transport.RefuseNotTLS, func(t *testing.T, to *testNode) net.Conn {
			conn, err := net.Dial("tcp", to.Addr())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close() })
			write(t, conn, []byte("GET / HTTP/1.1\r\nHost: revoada\r\n\r\n"))
			return conn
		}},
		{"ClientWithoutCertificate", transport.RefuseHandshake, func(t *testing.T, to *testNode) net.Conn {
			return dialTLS(t, to.Addr(), nil) // TLS 1.3: the client's handshake ends before the server's check
		}},
		{"ClientWithAnECDSAKey", transport.RefuseIdentity, func(t *testing.T, to *testNode) net.Conn {
			cert := ecdsaCert(t)
			return dialTLS(t, to.Addr(), &cert)
		}},
		{"HelloForAnotherNode", transport.RefuseIdentity, func(t *testing.T, to *testNode) net.Conn {
			cert, err := Certificate(other)
			if err != nil {
				t.Fatal(err)
			}
			conn := dialTLS(t, to.Addr(), &cert)
			write(t, conn, frame(t, wire.FrameHello, wire.AppendHello(nil, wire.Hello{Mesh: mesh, Node: NodeID(testKey(8))})))
			return conn
		}},
		{"HelloOfAnotherMesh", transport.RefuseMesh, func(t *testing.T, to *testNode) net.Conn {
			cert, err := Certificate(other)
			if err != nil {
				t.Fatal(err)
			}
			conn := dialTLS(t, to.Addr(), &cert)
			write(t, conn, frame(t, wire.FrameHello, wire.AppendHello(nil, wire.Hello{Mesh: roles.Digest{9}, Node: NodeID(other)})))
			return conn
		}},
		{"AnotherProtocolVersion", transport.RefuseVersion, func(t *testing.T, to *testNode) net.Conn {
			cert, err := Certificate(other)
			if err != nil {
				t.Fatal(err)
			}
			conn := dialTLS(t, to.Addr(), &cert)
			f := frame(t, wire.FrameHello, wire.AppendHello(nil, wire.Hello{Mesh: mesh, Node: NodeID(other)}))
			f[2] = wire.ProtocolVersion + 1
			write(t, conn, f)
			return conn
		}},
		{"GarbageAfterTLS", transport.RefuseMagic, func(t *testing.T, to *testNode) net.Conn {
			conn := helloConn(t, to, other)
			write(t, conn, []byte("not a frame at all"))
			return conn
		}},
		{"OversizedFrame", transport.RefuseOversized, func(t *testing.T, to *testNode) net.Conn {
			conn := helloConn(t, to, other)
			h := frame(t, wire.FramePing, nil)
			h[3] = byte(wire.FrameMsg)
			binary.BigEndian.PutUint32(h[4:8], wire.FrameBytesMax+1)
			write(t, conn, h)
			return conn
		}},
		{"TruncatedFrame", transport.RefuseTruncated, func(t *testing.T, to *testNode) net.Conn {
			conn := helloConn(t, to, other)
			f := msgFrame(t, transporttest.MsgApp(NodeID(other), to.id, 1, 100))
			write(t, conn, f[:len(f)-10])
			conn.CloseWrite()
			return conn
		}},
		{"FlippedByte", transport.RefuseChecksum, func(t *testing.T, to *testNode) net.Conn {
			conn := helloConn(t, to, other)
			f := msgFrame(t, transporttest.MsgApp(NodeID(other), to.id, 1, 100))
			f[len(f)-1] ^= 1
			write(t, conn, f)
			return conn
		}},
		{"MessageToAnotherNode", transport.RefuseMisrouted, func(t *testing.T, to *testNode) net.Conn {
			conn := helloConn(t, to, other)
			write(t, conn, msgFrame(t, transporttest.MsgApp(NodeID(other), NodeID(testKey(8)), 1, 8)))
			return conn
		}},
		{"MessageFromAnotherNode", transport.RefuseMisrouted, func(t *testing.T, to *testNode) net.Conn {
			conn := helloConn(t, to, other)
			write(t, conn, msgFrame(t, transporttest.MsgApp(NodeID(testKey(8)), to.id, 1, 8)))
			return conn
		}},
		{"SnapshotChunkOverLimit", transport.RefuseOversized, func(t *testing.T, to *testNode) net.Conn {
			conn := helloConn(t, to, other)
			h := frame(t, wire.FramePing, nil)
			h[3] = byte(wire.FrameSnapChunk)
			binary.BigEndian.PutUint32(h[4:8], wire.SnapChunkBytes+1)
			write(t, conn, h)
			return conn
		}},
		{"SnapshotEndWrongTotal", transport.RefuseCorrupt, func(t *testing.T, to *testNode) net.Conn {
			conn := helloConn(t, to, other)
			write(t, conn, frame(t, wire.FrameSnapChunk, make([]byte, 10)))
			write(t, conn, frame(t, wire.FrameSnapEnd, wire.AppendSnapEnd(nil, 11)))
			return conn
		}},
		{"SnapshotCutShort", transport.RefuseTruncated, func(t *testing.T, to *testNode) net.Conn {
			conn := helloConn(t, to, other)
			write(t, conn, frame(t, wire.FrameSnapChunk, make([]byte, 10)))
			conn.CloseWrite()
			return conn
		}},
		{"SnapshotOfAnotherMessage", transport.RefuseCorrupt, func(t *testing.T, to *testNode) net.Conn {
			conn := helloConn(t, to, other)
			enc := wire.AppendMessage(nil, transporttest.MsgApp(NodeID(other), to.id, 1, 8))
			write(t, conn, frame(t, wire.FrameSnapChunk, enc))
			write(t, conn, frame(t, wire.FrameSnapEnd, wire.AppendSnapEnd(nil, len(enc))))
			return conn
		}},
		{"SnapshotEndWithoutChunks", transport.RefuseCorrupt, func(t *testing.T, to *testNode) net.Conn {
			conn := helloConn(t, to, other)
			write(t, conn, frame(t, wire.FrameSnapEnd, wire.AppendSnapEnd(nil, 10)))
			return conn
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			to := newNode(t, 1, nil)
			const tries = 3
			for i := range tries {
				closedByPeer(t, c.send(t, to))
				waitRefused(t, to.Transport, c.reason, uint64(i+1))
			}
			if got := to.Stats().RefusedTotal(); got != tries {
				t.Fatalf("%d refusals counted, want %d: %+v", got, tries, to.Stats().Refused)
			}
			if n := to.log.refusals.Load(); n != 1 {
				t.Fatalf("%d refusals from one peer logged in one interval, want 1", n)
			}
			if n := to.rec.Count(); n != 0 {
				t.Fatalf("%d messages delivered from bad input", n)
			}
			stillServes(t, to, 1)
		})
	}
}

// ecdsaCert is a certificate of a P-256 key: not a node key.
func ecdsaCert(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
