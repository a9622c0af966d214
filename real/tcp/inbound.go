package tcp

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/net/transport"
	"revoada.dev/revoada/net/wire"
)

// link is a TLS connection whose Close closes the socket at once: a
// tls.Conn's Close first writes a close_notify alert, which waits for a
// write in progress, up to its deadline.
type link struct {
	*tls.Conn
	raw net.Conn
}

func (l link) Close() error { return l.raw.Close() }

// inStream is a peer's current inbound message stream; done is closed
// when its reader has ended.
type inStream struct {
	link link
	done chan struct{}
}

// accept is the listener's goroutine: each connection gets a goroutine,
// up to ConnsInMax at once; one over is closed (RefuseBusy).
func (t *Transport) accept() {
	var delay time.Duration
	for {
		raw, err := t.ln.Accept()
		if err != nil {
			if t.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second) // as net/http's Server does
			t.cfg.Logger.Warn("tcp: accept", "err", err, "retry_in", delay)
			if !sleep(t.ctx, delay) {
				return
			}
			continue
		}
		delay = 0
		select {
		case t.connSlots <- struct{}{}:
		default:
			t.refuse(remoteHost(raw), fmt.Errorf("%w: %d inbound connections open", errBusy, ConnsInMax), false)
			raw.Close()
			continue
		}
		t.wg.Go(func() {
			defer func() { <-t.connSlots }()
			t.serve(raw)
		})
	}
}

// serve runs one inbound connection: the handshake, then a message stream
// or a snapshot transfer, as its first frame says. Whatever is refused is
// counted and logged; the connection is then closed.
func (t *Transport) serve(raw net.Conn) {
	l := link{Conn: tls.Server(raw, t.server), raw: raw}
	stop := context.AfterFunc(t.ctx, func() { raw.Close() })
	defer stop()
	defer raw.Close()
	r := bufio.NewReaderSize(l, bufferBytes)
	peer, err := t.handshake(l, r)
	if err != nil {
		t.refuse(remoteHost(raw), err, true)
		return
	}
	first, err := t.readFrame(l, r, t.cfg.PingInterval+t.cfg.IOTimeout, wire.FrameBytesMax)
	if err == nil {
		switch first.Kind {
		case wire.FrameSnapChunk:
			err = t.receiveSnapshot(l, r, peer, first)
		case wire.FrameMsg, wire.FramePing:
			err = t.receiveStream(l, r, peer, first)
		default:
			err = fmt.Errorf("%w: a stream that begins with a %s frame", errCorrupt, first.Kind)
		}
	}
	if err != nil {
		t.refuse(peer.Short()+"@"+remoteHost(raw), err, false)
	}
}

// handshake runs the listener's side of a connection's start, within
// IOTimeout: TLS 1.3 with a client certificate, then the peer's Hello,
// whose node must be the certificate's key and whose mesh this one, then
// this node's Hello. It returns the authenticated peer.
func (t *Transport) handshake(l link, r *bufio.Reader) (roles.NodeID, error) {
	if err := l.SetDeadline(time.Now().Add(t.cfg.IOTimeout)); err != nil {
		return roles.NodeID{}, err
	}
	if err := l.HandshakeContext(t.ctx); err != nil {
		return roles.NodeID{}, err
	}
	id, err := peerID(l.ConnectionState())
	if err != nil {
		return roles.NodeID{}, err
	}
	f, err := wire.ReadFrame(r, wire.HelloBytes)
	if err != nil {
		return roles.NodeID{}, err
	}
	if err := t.checkHello(f, id); err != nil {
		return roles.NodeID{}, err
	}
	if _, err := l.Write(t.hello); err != nil {
		return roles.NodeID{}, err
	}
	return id, nil
}

// checkHello checks a Hello frame from the peer whose key is id.
func (t *Transport) checkHello(f wire.Frame, id roles.NodeID) error {
	if f.Kind != wire.FrameHello {
		return fmt.Errorf("%w: a %s frame where a hello belongs", errCorrupt, f.Kind)
	}
	h, err := wire.DecodeHello(f.Payload)
	switch {
	case err != nil:
		return err
	case h.Node != id:
		return fmt.Errorf("%w: a hello from %s over the key of %s", errWrongKey, h.Node.Short(), id.Short())
	case h.Mesh != t.cfg.Mesh:
		return fmt.Errorf("%w: mesh %s, this node's is %s", errMesh, h.Mesh, t.cfg.Mesh)
	}
	return nil
}

// readFrame reads one frame of at most max bytes within timeout.
func (t *Transport) readFrame(l link, r *bufio.Reader, timeout time.Duration, max int) (wire.Frame, error) {
	if err := l.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return wire.Frame{}, err
	}
	return wire.ReadFrame(r, max)
}

// receiveStream delivers the messages of peer's stream, in order, and
// answers its Pings, until the stream ends or breaks. A newer stream from
// the same peer replaces it: the newer waits for this one's reader to end,
// so the peer's messages are never delivered out of order.
func (t *Transport) receiveStream(l link, r *bufio.Reader, peer roles.NodeID, f wire.Frame) error {
	s := &inStream{link: l, done: make(chan struct{})}
	defer close(s.done)
	t.replaceStream(peer, s)
	defer t.unregisterStream(peer, s)
	counters := t.perPeer.get(peer)
	for {
		switch f.Kind {
		case wire.FrameMsg:
			counters.receivedFrame(f)
			m, err := wire.DecodeMessage(f.Payload)
			if err != nil {
				return err
			}
			if err := transport.CheckInbound(t.id, peer, m); err != nil {
				return fmt.Errorf("%w: %w", errMisrouted, err)
			}
			t.stats.Received()
			t.cfg.Handler.Receive(m)
		case wire.FramePing:
			if err := l.SetWriteDeadline(time.Now().Add(t.cfg.IOTimeout)); err != nil {
				return err
			}
			if _, err := l.Write(t.ping); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w: a %s frame in a message stream", errCorrupt, f.Kind)
		}
		var err error
		if f, err = t.readFrame(l, r, t.cfg.PingInterval+t.cfg.IOTimeout, wire.FrameBytesMax); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

func (t *Transport) replaceStream(peer roles.NodeID, s *inStream) {
	t.inMu.Lock()
	old := t.streams[peer]
	t.streams[peer] = s
	t.inMu.Unlock()
	if old != nil {
		old.link.Close()
		<-old.done
	}
}

func (t *Transport) unregisterStream(peer roles.NodeID, s *inStream) {
	t.inMu.Lock()
	defer t.inMu.Unlock()
	if t.streams[peer] == s {
		delete(t.streams, peer)
	}
}

// receiveSnapshot reassembles a MsgSnap from its chunks (at most
// wire.SnapBytesMax), delivers it, and answers with a SnapEnd of the same
// total, which the sender takes as SnapshotDone. At most
// transport.SnapsInFlightNodeMax are received at once.
func (t *Transport) receiveSnapshot(l link, r *bufio.Reader, peer roles.NodeID, f wire.Frame) error {
	select {
	case t.snapsIn <- struct{}{}:
		defer func() { <-t.snapsIn }()
	default:
		return fmt.Errorf("%w: %d snapshots coming in", errBusy, transport.SnapsInFlightNodeMax)
	}
	var buf []byte
	counters := t.perPeer.get(peer)
	for {
		counters.receivedFrame(f)
		switch f.Kind {
		case wire.FrameSnapChunk:
			if len(buf)+len(f.Payload) > wire.SnapBytesMax {
				return fmt.Errorf("%w: a snapshot of over %d bytes", wire.ErrOversized, wire.SnapBytesMax)
			}
			buf = append(buf, f.Payload...)
		case wire.FrameSnapEnd:
			return t.deliverSnapshot(l, peer, buf, f)
		default:
			return fmt.Errorf("%w: a %s frame in a snapshot", errCorrupt, f.Kind)
		}
		var err error
		if f, err = t.readFrame(l, r, t.cfg.IOTimeout, wire.SnapChunkBytes); err != nil {
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("%w: the stream ended inside a snapshot: %w", wire.ErrTruncated, io.ErrUnexpectedEOF)
			}
			return err
		}
	}
}

// deliverSnapshot checks and delivers a reassembled snapshot, and acks it.
func (t *Transport) deliverSnapshot(l link, peer roles.NodeID, buf []byte, end wire.Frame) error {
	total, err := wire.DecodeSnapEnd(end.Payload)
	if err != nil {
		return err
	}
	if total != len(buf) {
		return fmt.Errorf("%w: a snapshot end says %d bytes, %d came", errCorrupt, total, len(buf))
	}
	m, err := wire.DecodeMessage(buf)
	if err != nil {
		return err
	}
	if err := transport.CheckInbound(t.id, peer, m); err != nil {
		return fmt.Errorf("%w: %w", errMisrouted, err)
	}
	if !transport.IsSnapshot(m) {
		return fmt.Errorf("%w: a %s message in snapshot chunks", errCorrupt, m.Kind)
	}
	t.stats.Received()
	t.cfg.Handler.Receive(m)
	if err := l.SetWriteDeadline(time.Now().Add(t.cfg.IOTimeout)); err != nil {
		return err
	}
	_, err = l.Write(snapEndFrame(total))
	return err
}

func snapEndFrame(total int) []byte {
	f, err := wire.AppendFrame(nil, wire.FrameSnapEnd, wire.AppendSnapEnd(nil, total))
	if err != nil {
		panic(fmt.Sprintf("tcp: framing a snapshot end of %d: %v", total, err))
	}
	return f
}

func remoteHost(c net.Conn) string {
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return c.RemoteAddr().String()
	}
	return host
}
