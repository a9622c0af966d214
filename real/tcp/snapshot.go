package tcp

import (
	"bufio"
	"context"
	"fmt"
	"time"

	"revoada.dev/revoada/core/node"
	"revoada.dev/revoada/net/transport"
	"revoada.dev/revoada/net/wire"
)

// sendSnapshot is Send for a MsgSnap: encoded now, it goes in chunks on a
// connection of its own, from a goroutine of its own, at most
// transport.SnapsInFlightMax per peer and SnapsInFlightNodeMax per node
// (more are refused with ErrQueueFull: raft sends the next snapshot after
// it hears of this one).
func (t *Transport) sendSnapshot(m node.Message) error {
	enc := wire.AppendMessage(nil, m)
	if len(enc) > wire.SnapBytesMax {
		return t.drop(transport.DropOversized, m.To)
	}
	return t.withPeer(m.To, func(p *peer) error {
		if p.down(t.since()) {
			return t.drop(transport.DropUnreachable, m.To)
		}
		select {
		case p.snaps <- struct{}{}:
		default:
			return t.drop(transport.DropQueueFull, m.To)
		}
		select {
		case t.snapsOut <- struct{}{}:
		default:
			<-p.snaps
			return t.drop(transport.DropQueueFull, m.To)
		}
		t.wg.Go(func() {
			defer func() { <-t.snapsOut; <-p.snaps }()
			t.transferSnapshot(p, enc)
		})
		return nil
	})
}

// transferSnapshot sends one snapshot and reports how it went: done, or
// failed (and unreachable too when the dial failed). After Close it
// reports nothing.
func (t *Transport) transferSnapshot(p *peer, enc []byte) {
	dialled, err := t.pushSnapshot(p, enc)
	switch {
	case err == nil:
		t.stats.Sent()
		t.report(transport.Report{Peer: p.id, Kind: transport.SnapshotDone})
		return
	case p.ctx.Err() != nil:
		t.dropN(t.dropReason(), p, 1)
	default:
		t.dropN(transport.DropUnreachable, p, 1)
	}
	t.cfg.Logger.Debug("tcp: snapshot failed", "peer", p.id.Short(), "bytes", len(enc), "err", err)
	if t.ctx.Err() != nil {
		return
	}
	if !dialled {
		t.report(transport.Report{Peer: p.id, Kind: transport.Unreachable})
	}
	t.report(transport.Report{Peer: p.id, Kind: transport.SnapshotFailed})
}

// pushSnapshot dials p and sends enc in SnapChunk frames and a SnapEnd,
// each write under IOTimeout, then waits for the receiver's SnapEnd: it
// comes once the receiver has decoded and delivered the snapshot, so the
// wait is IOTimeout per chunk. It says whether the dial succeeded.
func (t *Transport) pushSnapshot(p *peer, enc []byte) (bool, error) {
	l, err := t.dial(p)
	if err != nil {
		return false, err
	}
	defer l.Close()
	stop := context.AfterFunc(p.ctx, func() { l.Close() })
	defer stop()
	w := bufio.NewWriterSize(l, bufferBytes)
	var frame []byte
	chunks := 0
	for off := 0; off < len(enc); off += wire.SnapChunkBytes {
		if frame, err = wire.AppendFrame(frame[:0], wire.FrameSnapChunk, enc[off:min(off+wire.SnapChunkBytes, len(enc))]); err != nil {
			panic(fmt.Sprintf("tcp: framing a snapshot chunk: %v", err))
		}
		if err := t.write(l, w, [][]byte{frame}); err != nil {
			return true, err
		}
		p.counters.sentFrames([][]byte{frame})
		chunks++
	}
	end := [][]byte{snapEndFrame(len(enc))}
	if err := t.write(l, w, end); err != nil {
		return true, err
	}
	p.counters.sentFrames(end)
	if err := l.SetReadDeadline(time.Now().Add(t.cfg.IOTimeout * time.Duration(1+chunks))); err != nil {
		return true, err
	}
	f, err := wire.ReadFrame(l, wire.SnapChunkBytes)
	if err != nil {
		return true, err
	}
	if total, err := wire.DecodeSnapEnd(f.Payload); f.Kind != wire.FrameSnapEnd || err != nil || total != len(enc) {
		return true, fmt.Errorf("%w: a %s frame where the snapshot's end belongs", errCorrupt, f.Kind)
	}
	return true, nil
}
