package tcp

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"revoada.dev/revoada/net/transport"
	"revoada.dev/revoada/net/wire"
)

// runPeer is p's goroutine: it dials p when there is something to send,
// streams p's queue over the connection until it breaks, and backs off
// after failed dials, and after streams that broke before their first
// Ping (a listener that takes the handshake and then hangs up must not
// make it redial in a tight loop). It ends when p is removed or the
// transport closed.
func (t *Transport) runPeer(p *peer) {
	defer func() { t.dropN(t.dropReason(), p, p.queue.Clear()) }()
	failures := 0
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-p.queue.Ready():
		}
		conn, err := t.dial(p)
		if err != nil {
			if p.ctx.Err() != nil {
				return
			}
			failures++
			t.unreachable(p, p.queue.Clear(), err)
			wait := t.backoff(p, failures)
			p.downUntil.Store(int64(t.since() + wait)) // Send refuses meanwhile: see peer.downUntil
			if !sleep(p.ctx, wait) {
				return
			}
			continue
		}
		began := t.since()
		p.queue.Wake() // the wake-up that made it dial was taken above
		err = t.stream(p, conn)
		if p.ctx.Err() != nil {
			return
		}
		t.unreachable(p, 0, err)
		if t.since()-began >= t.cfg.PingInterval {
			failures = 0
		} else {
			failures++ // what is queued waits out the backoff: the peer answered a moment ago
			if !sleep(p.ctx, t.backoff(p, failures)) {
				return
			}
		}
		p.queue.Wake() // what is queued goes on the next connection
	}
}

// unreachable reports p unreachable, counting lost messages lost.
func (t *Transport) unreachable(p *peer, lost int, err error) {
	t.dropN(transport.DropUnreachable, p, lost)
	t.cfg.Logger.Debug("tcp: peer unreachable", "peer", p.id.Short(), "addr", p.addr, "lost", lost, "err", err)
	t.report(transport.Report{Peer: p.id, Kind: transport.Unreachable})
}

// sleep waits d or until ctx ends; it says whether it waited d.
func sleep(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// dial connects to p: TCP, the TLS 1.3 handshake pinning p's key, and the
// Hello each way (the listener's must name this mesh and p), all within
// DialTimeout. The connection is closed when p's context ends.
func (t *Transport) dial(p *peer) (link, error) {
	ctx, cancel := context.WithTimeout(p.ctx, t.cfg.DialTimeout)
	defer cancel()
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return link{}, fmt.Errorf("tcp: dialling %s: %w", p.addr, err)
	}
	l := link{Conn: tls.Client(raw, clientConfig(t.cert, p.id)), raw: raw}
	deadline, _ := ctx.Deadline()
	if err := t.greet(ctx, l, deadline, p); err != nil {
		l.Close()
		return link{}, err
	}
	return l, nil
}

// greet runs the dialer's side of a connection's start, by deadline or
// until ctx ends.
func (t *Transport) greet(ctx context.Context, conn link, deadline time.Time, p *peer) error {
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	if err := t.greetSteps(ctx, conn, deadline, p); err != nil {
		stop()
		return err
	}
	if !stop() { // ctx ended: its deadline may land after the one cleared below
		return fmt.Errorf("tcp: greeting %s: %w", p.id.Short(), ctx.Err())
	}
	return conn.SetDeadline(time.Time{})
}

func (t *Transport) greetSteps(ctx context.Context, conn link, deadline time.Time, p *peer) error {
	if err := conn.SetDeadline(deadline); err != nil {
		return err
	}
	if err := conn.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("tcp: TLS with %s at %s: %w", p.id.Short(), p.addr, err)
	}
	if _, err := conn.Write(t.hello); err != nil {
		return fmt.Errorf("tcp: hello to %s: %w", p.id.Short(), err)
	}
	f, err := wire.ReadFrame(conn, wire.HelloBytes)
	if err != nil {
		return fmt.Errorf("tcp: hello from %s: %w", p.id.Short(), err)
	}
	return t.checkHello(f, p.id)
}

// stream sends p's queue over conn until the connection fails or p's
// context ends, with a Ping every PingInterval; a reader goroutine takes
// the listener's Pings back, so a peer that stops answering is found even
// while nothing is sent. It closes conn and returns why it stopped.
func (t *Transport) stream(p *peer, conn link) error {
	stopClose := context.AfterFunc(p.ctx, func() { conn.Close() })
	defer stopClose()
	done := make(chan struct{})
	var readErr error
	t.wg.Go(func() {
		readErr = t.readPongs(conn)
		close(done)
	})
	err := t.writeLoop(p, conn, done)
	conn.Close()
	<-done
	if err == nil {
		err = readErr
	}
	return err
}

// writeLoop writes p's queue and the pings, each batch under IOTimeout,
// until a write fails, the reader is done or p's context ends.
func (t *Transport) writeLoop(p *peer, conn link, readerDone <-chan struct{}) error {
	w := bufio.NewWriterSize(conn, bufferBytes)
	ticker := time.NewTicker(t.cfg.PingInterval)
	defer ticker.Stop()
	var batch [][]byte
	for {
		select {
		case <-p.ctx.Done():
			return nil
		case <-readerDone:
			return nil
		case <-ticker.C:
			if err := t.write(conn, w, [][]byte{t.ping}); err != nil {
				return err
			}
		case <-p.queue.Ready():
			batch = p.queue.Take(batch[:0])
			if err := t.write(conn, w, batch); err != nil {
				t.dropN(transport.DropUnreachable, p, len(batch))
				return err
			}
			t.stats.SentN(len(batch))
			p.counters.sentFrames(batch)
			clear(batch)
		}
	}
}

// write writes frames and flushes them. The write deadline is IOTimeout
// from the start and renewed after each buffer's worth, so no deadline
// covers more than a buffer and a frame, however long the batch.
func (t *Transport) write(conn link, w *bufio.Writer, frames [][]byte) error {
	written := bufferBytes // renew before the first frame
	for _, f := range frames {
		if written >= bufferBytes {
			if err := conn.SetWriteDeadline(time.Now().Add(t.cfg.IOTimeout)); err != nil {
				return err
			}
			written = 0
		}
		if _, err := w.Write(f); err != nil {
			return err
		}
		written += len(f)
	}
	return w.Flush()
}

// readPongs reads the listener's Pings until the connection fails; a
// silence of PingInterval+IOTimeout, or anything but a Ping, ends it.
func (t *Transport) readPongs(conn link) error {
	r := bufio.NewReaderSize(conn, 64)
	for {
		if err := conn.SetReadDeadline(time.Now().Add(t.cfg.PingInterval + t.cfg.IOTimeout)); err != nil {
			conn.Close()
			return err
		}
		f, err := wire.ReadFrame(r, 0)
		if err == nil && f.Kind != wire.FramePing {
			err = fmt.Errorf("%w: a %s frame from a listener", errCorrupt, f.Kind)
		}
		if err != nil {
			conn.Close()
			return err
		}
	}
}
