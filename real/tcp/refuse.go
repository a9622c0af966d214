package tcp

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"os"
	"sync"
	"time"

	"revoada.dev/revoada/net/transport"
	"revoada.dev/revoada/net/wire"
)

// The transport's own error classes, beside wire's and errWrongKey.
var (
	errMesh      = errors.New("tcp: peer of another mesh")
	errCorrupt   = errors.New("tcp: frame out of place")
	errMisrouted = errors.New("tcp: message misrouted")
	errBusy      = errors.New("tcp: busy")
)

// refuse counts and logs what a peer (who: its node ID or its address)
// made this node refuse; err is why. An error that only says the
// connection ended (EOF, reset, closed) after the handshake is no refusal:
// peers leave.
func (t *Transport) refuse(who string, err error, handshake bool) {
	reason, ok := classify(err, handshake)
	if !ok || t.ctx.Err() != nil { // closing cuts connections short
		t.cfg.Logger.Debug("tcp: inbound connection ended", "peer", who, "err", err)
		return
	}
	t.logs.log(who, reason, err)
	t.stats.Refuse(reason) // after the log: a count seen implies its log line is written
}

// classify names the refusal err is; false for an ordinary end.
func classify(err error, handshake bool) (transport.RefuseReason, bool) {
	var header tls.RecordHeaderError
	for _, c := range []struct {
		class  error
		reason transport.RefuseReason
	}{
		{errWrongKey, transport.RefuseIdentity},
		{errMesh, transport.RefuseMesh},
		{wire.ErrVersion, transport.RefuseVersion},
		{wire.ErrMagic, transport.RefuseMagic},
		{wire.ErrOversized, transport.RefuseOversized},
		{wire.ErrTruncated, transport.RefuseTruncated},
		{wire.ErrChecksum, transport.RefuseChecksum},
		{wire.ErrKind, transport.RefuseCorrupt},
		{wire.ErrField, transport.RefuseCorrupt},
		{wire.ErrTrailing, transport.RefuseCorrupt},
		{errCorrupt, transport.RefuseCorrupt},
		{errMisrouted, transport.RefuseMisrouted},
		{errBusy, transport.RefuseBusy},
		{os.ErrDeadlineExceeded, transport.RefuseTimeout},
	} {
		if errors.Is(err, c.class) {
			return c.reason, true
		}
	}
	switch {
	case errors.As(err, &header):
		return transport.RefuseNotTLS, true
	case handshake:
		return transport.RefuseHandshake, true
	}
	return 0, false
}

// logLimiter logs a refusal at most once per peer and interval, with the
// count of those it held back since. It remembers at most logPeersMax
// peers: past that it forgets those whose interval is over, or else all.
type logLimiter struct {
	logger   *slog.Logger
	interval time.Duration

	mu    sync.Mutex
	peers map[string]*logState
}

type logState struct {
	last       time.Time
	suppressed int
}

func newLogLimiter(logger *slog.Logger, interval time.Duration) *logLimiter {
	return &logLimiter{logger: logger, interval: interval, peers: map[string]*logState{}}
}

func (l *logLimiter) log(who string, reason transport.RefuseReason, err error) {
	now := time.Now()
	l.mu.Lock()
	s := l.peers[who]
	if s != nil && now.Sub(s.last) < l.interval {
		s.suppressed++
		l.mu.Unlock()
		return
	}
	if s == nil {
		l.forgetLocked(now)
		s = &logState{}
		l.peers[who] = s
	}
	suppressed := s.suppressed
	s.suppressed, s.last = 0, now
	l.mu.Unlock()
	l.logger.Warn("tcp: refused a peer", "peer", who, "reason", reason.String(), "err", err, "suppressed", suppressed)
}

func (l *logLimiter) forgetLocked(now time.Time) {
	if len(l.peers) < logPeersMax {
		return
	}
	for who, s := range l.peers {
		if now.Sub(s.last) >= l.interval {
			delete(l.peers, who)
		}
	}
	if len(l.peers) >= logPeersMax {
		clear(l.peers)
	}
}
