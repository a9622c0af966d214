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

// header is a frame header of kind claiming n payload bytes.
func header(t *testing.T, kind wire.FrameKind, n uint32) []byte {
	h := frame(t, wire.FramePing, nil)
	h[3] = byte(kind)
	binary.BigEndian.PutUint32(h[4:8], n)
	return h
}

func msgFrame(t *testing.T, m node.Message) []byte {
	f, err := wire.AppendMsgFrame(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// badCase is one class of bad input: a whole exchange (send), or what a
// peer with a good key writes after both Hellos (after), then perhaps
// ends its side (cut).
type badCase struct {
	name   string
	reason transport.RefuseReason
	send   func(t *testing.T, to *testNode) net.Conn
	after  func(t *testing.T, to *testNode) [][]byte
	cut    bool
}

// run makes the case's connection to the listener to.
func (c badCase) run(t *testing.T, to *testNode, key ed25519.PrivateKey) net.Conn {
	if c.send != nil {
		return c.send(t, to)
	}
	conn := helloConn(t, to, key)
	for _, b := range c.after(t, to) {
		write(t, conn, b)
	}
	if c.cut {
		conn.CloseWrite()
	}
	return conn
}

// TestBadInput sends each class of bad input to a listener: each is
// refused and counted under its reason, logged once per peer and
// interval, and the transport keeps serving.
func TestBadInput(t *testing.T) {
	noLeak(t)
	other := testKey(7)
	otherID, strangerID := NodeID(other), NodeID(testKey(8))
	// withHello is a TLS connection with other's key that sends hello.
	withHello := func(hello func(t *testing.T) []byte) func(t *testing.T, to *testNode) net.Conn {
		return func(t *testing.T, to *testNode) net.Conn {
			cert, err := Certificate(other)
			if err != nil {
				t.Fatal(err)
			}
			conn := dialTLS(t, to.Addr(), &cert)
			write(t, conn, hello(t))
			return conn
		}
	}
	hello := func(t *testing.T, h wire.Hello) []byte { return frame(t, wire.FrameHello, wire.AppendHello(nil, h)) }
	frames := func(fs ...func(t *testing.T, to *testNode) []byte) func(t *testing.T, to *testNode) [][]byte {
		return func(t *testing.T, to *testNode) [][]byte {
			var out [][]byte
			for _, f := range fs {
				out = append(out, f(t, to))
			}
			return out
		}
	}
	chunk := func(t *testing.T, _ *testNode) []byte { return frame(t, wire.FrameSnapChunk, make([]byte, 10)) }
	for _, c := range []badCase{
		{name: "GarbageOnThePort", reason: transport.RefuseNotTLS, send: func(t *testing.T, to *testNode) net.Conn {
			conn, err := net.Dial("tcp", to.Addr())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close() })
			write(t, conn, []byte("GET / HTTP/1.1\r\nHost: revoada\r\n\r\n"))
			return conn
		}},
		{name: "ClientWithoutCertificate", reason: transport.RefuseHandshake, send: func(t *testing.T, to *testNode) net.Conn {
			return dialTLS(t, to.Addr(), nil) // TLS 1.3: the client's handshake ends before the server's check
		}},
		{name: "ClientWithAnECDSAKey", reason: transport.RefuseIdentity, send: func(t *testing.T, to *testNode) net.Conn {
			cert := ecdsaCert(t)
			return dialTLS(t, to.Addr(), &cert)
		}},
		{name: "HelloForAnotherNode", reason: transport.RefuseIdentity, send: withHello(func(t *testing.T) []byte {
			return hello(t, wire.Hello{Mesh: mesh, Node: strangerID})
		})},
		{name: "HelloOfAnotherMesh", reason: transport.RefuseMesh, send: withHello(func(t *testing.T) []byte {
			return hello(t, wire.Hello{Mesh: roles.Digest{9}, Node: otherID})
		})},
		{name: "AnotherProtocolVersion", reason: transport.RefuseVersion, send: withHello(func(t *testing.T) []byte {
			f := hello(t, wire.Hello{Mesh: mesh, Node: otherID})
			f[2] = wire.ProtocolVersion + 1
			return f
		})},
		{name: "GarbageAfterTLS", reason: transport.RefuseMagic, after: frames(func(*testing.T, *testNode) []byte {
			return []byte("not a frame at all")
		})},
		{name: "OversizedFrame", reason: transport.RefuseOversized, after: frames(func(t *testing.T, _ *testNode) []byte {
			return header(t, wire.FrameMsg, wire.FrameBytesMax+1)
		})},
		{name: "TruncatedFrame", reason: transport.RefuseTruncated, cut: true, after: frames(func(t *testing.T, to *testNode) []byte {
			f := msgFrame(t, transporttest.MsgApp(otherID, to.id, 1, 100))
			return f[:len(f)-10]
		})},
		{name: "FlippedByte", reason: transport.RefuseChecksum, after: frames(func(t *testing.T, to *testNode) []byte {
			f := msgFrame(t, transporttest.MsgApp(otherID, to.id, 1, 100))
			f[len(f)-1] ^= 1
			return f
		})},
		{name: "MessageToAnotherNode", reason: transport.RefuseMisrouted, after: frames(func(t *testing.T, _ *testNode) []byte {
			return msgFrame(t, transporttest.MsgApp(otherID, strangerID, 1, 8))
		})},
		{name: "MessageFromAnotherNode", reason: transport.RefuseMisrouted, after: frames(func(t *testing.T, to *testNode) []byte {
			return msgFrame(t, transporttest.MsgApp(strangerID, to.id, 1, 8))
		})},
		{name: "SnapshotChunkOverLimit", reason: transport.RefuseOversized, after: frames(func(t *testing.T, _ *testNode) []byte {
			return header(t, wire.FrameSnapChunk, wire.SnapChunkBytes+1)
		})},
		{name: "SnapshotEndWrongTotal", reason: transport.RefuseCorrupt, after: frames(chunk, func(t *testing.T, _ *testNode) []byte {
			return frame(t, wire.FrameSnapEnd, wire.AppendSnapEnd(nil, 11))
		})},
		{name: "SnapshotCutShort", reason: transport.RefuseTruncated, cut: true, after: frames(chunk)},
		{name: "SnapshotOfAnotherMessage", reason: transport.RefuseCorrupt, after: func(t *testing.T, to *testNode) [][]byte {
			enc := wire.AppendMessage(nil, transporttest.MsgApp(otherID, to.id, 1, 8))
			return [][]byte{frame(t, wire.FrameSnapChunk, enc), frame(t, wire.FrameSnapEnd, wire.AppendSnapEnd(nil, len(enc)))}
		}},
		{name: "SnapshotEndWithoutChunks", reason: transport.RefuseCorrupt, after: frames(func(t *testing.T, _ *testNode) []byte {
			return frame(t, wire.FrameSnapEnd, wire.AppendSnapEnd(nil, 10))
		})},
	} {
		t.Run(c.name, func(t *testing.T) {
			to := newNode(t, 1, nil)
			const tries = 3
			for i := range tries {
				closedByPeer(t, c.run(t, to, other))
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
