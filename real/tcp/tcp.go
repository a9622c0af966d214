package tcp

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"revoada.dev/revoada/core/node"
	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/net/transport"
	"revoada.dev/revoada/net/wire"
)

// Defaults of Config's durations; see the package doc for their anchors.
const (
	DefaultDialTimeout  = 1 * time.Second
	DefaultIOTimeout    = 5 * time.Second
	DefaultPingInterval = 5 * time.Second / 3
	DefaultBackoffMin   = 100 * time.Millisecond
	DefaultBackoffMax   = 5 * time.Second
	DefaultLogInterval  = time.Minute
)

// Limits; see the package doc.
const (
	// ConnsInMax bounds the inbound connections open at once.
	ConnsInMax = 256
	// bufferBytes is each stream's write buffer, and the read buffer of
	// every inbound connection.
	bufferBytes = 64 << 10
	// logPeersMax bounds the peers whose last refusal log is remembered.
	logPeersMax = 1024
)

// Config configures a Transport.
type Config struct {
	Key     ed25519.PrivateKey // the node's key; its public key is the node ID
	Mesh    roles.Digest       // names the mesh: peers of another are refused
	Listen  string             // host:port to listen on ("127.0.0.1:0" in tests)
	Handler transport.Handler  // what peers send, and reports
	Logger  *slog.Logger       // nil: discard

	// Durations; zero means the default.
	DialTimeout  time.Duration // a dial and its TLS handshake and Hello
	IOTimeout    time.Duration // every read and write of a frame
	PingInterval time.Duration // a stream's keep-alive; silence for PingInterval+IOTimeout ends it
	BackoffMin   time.Duration // the first wait after a failed dial
	BackoffMax   time.Duration // the longest
	LogInterval  time.Duration // at most one refusal log per peer per interval
}

func (c Config) withDefaults() Config {
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&c.DialTimeout, DefaultDialTimeout}, {&c.IOTimeout, DefaultIOTimeout}, {&c.PingInterval, DefaultPingInterval},
		{&c.BackoffMin, DefaultBackoffMin}, {&c.BackoffMax, DefaultBackoffMax}, {&c.LogInterval, DefaultLogInterval},
	} {
		if *d.v <= 0 {
			*d.v = d.def
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Transport is the TCP transport of one node. See the package doc.
type Transport struct {
	cfg    Config
	id     roles.NodeID
	cert   tls.Certificate
	server *tls.Config
	ln     net.Listener
	hello  []byte // this node's Hello frame
	ping   []byte // a Ping frame
	epoch  time.Time

	stats     transport.Counters
	perPeer   peerTable // PeerStats
	overflows *transport.Overflows
	logs      *logLimiter

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine started

	peers transport.Peers[*peer]

	snapsOut  chan struct{} // a slot per MsgSnap being sent
	snapsIn   chan struct{} // a slot per MsgSnap being received
	connSlots chan struct{} // a slot per inbound connection

	inMu    sync.Mutex
	streams map[roles.NodeID]*inStream // each peer's current inbound stream
}

var _ transport.Transport = (*Transport)(nil)

// New makes node cfg.Key's transport and starts listening on cfg.Listen.
func New(cfg Config) (*Transport, error) {
	cfg = cfg.withDefaults()
	if len(cfg.Key) != ed25519.PrivateKeySize || cfg.Handler == nil {
		return nil, errors.New("tcp: a config needs an ed25519 key and a handler")
	}
	cert, err := Certificate(cfg.Key)
	if err != nil {
		return nil, err
	}
	id := NodeID(cfg.Key)
	hello, err := wire.AppendFrame(nil, wire.FrameHello, wire.AppendHello(nil, wire.Hello{Mesh: cfg.Mesh, Node: id}))
	if err != nil {
		panic(fmt.Sprintf("tcp: framing a hello: %v", err))
	}
	ping, err := wire.AppendFrame(nil, wire.FramePing, nil)
	if err != nil {
		panic(fmt.Sprintf("tcp: framing a ping: %v", err))
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("tcp: %w", err)
	}
	t := &Transport{cfg: cfg, id: id, cert: cert, server: serverConfig(cert), ln: ln, hello: hello, ping: ping,
		epoch: time.Now(), overflows: transport.NewOverflows(), logs: newLogLimiter(cfg.Logger, cfg.LogInterval),
		streams:  map[roles.NodeID]*inStream{},
		snapsOut: make(chan struct{}, transport.SnapsInFlightNodeMax), snapsIn: make(chan struct{}, transport.SnapsInFlightNodeMax),
		connSlots: make(chan struct{}, ConnsInMax)}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.wg.Go(t.accept)
	t.wg.Go(func() { t.overflows.Run(t.ctx.Done(), t.report) })
	return t, nil
}

// Addr is the address the transport listens on.
func (t *Transport) Addr() string { return t.ln.Addr().String() }

// ID is the node this transport belongs to.
func (t *Transport) ID() roles.NodeID { return t.id }

// Send implements transport.Transport.
func (t *Transport) Send(m node.Message) error {
	if err := transport.CheckFrom(t.id, m); err != nil {
		t.perPeer.get(m.To).drop(transport.DropMisaddressed, 1)
		t.stats.DropN(transport.DropMisaddressed, 1)
		return err
	}
	if transport.IsSnapshot(m) {
		return t.sendSnapshot(m)
	}
	frame, err := wire.AppendMsgFrame(nil, m)
	if err != nil {
		return t.drop(transport.DropOversized, m.To)
	}
	return t.withPeer(m.To, func(p *peer) error {
		if p.down(t.since()) {
			return t.drop(transport.DropUnreachable, m.To)
		}
		if !p.queue.Push(frame) {
			t.overflows.Add(m.To)
			return t.drop(transport.DropQueueFull, m.To)
		}
		return nil
	})
}

// since is the monotonic time since the transport was made.
func (t *Transport) since() time.Duration { return time.Since(t.epoch) }

// SetPeer implements transport.Transport.
func (t *Transport) SetPeer(id roles.NodeID, addr string) {
	t.peers.Set(id, addr, func() *peer { return newPeer(t, id, addr) },
		func(p *peer) { t.wg.Go(func() { t.runPeer(p) }) })
}

// RemovePeer implements transport.Transport.
func (t *Transport) RemovePeer(id roles.NodeID) { t.peers.Remove(id) }

// Stats implements transport.Transport.
func (t *Transport) Stats() transport.Stats { return t.stats.Stats() }

// Close implements transport.Transport.
func (t *Transport) Close() error {
	// every peer's context, and every connection's, derives from t.ctx
	if !t.peers.Close(t.cancel) {
		return nil
	}
	err := t.ln.Close()
	t.wg.Wait()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("tcp: %w", err)
	}
	return nil
}

// report tells the handler, counted.
func (t *Transport) report(r transport.Report) {
	t.stats.Reported()
	t.cfg.Handler.Report(r)
}

// dropReason is what a peer's leftover messages count as when its context
// ends: removed, or closed with the transport.
func (t *Transport) dropReason() transport.DropReason {
	if t.ctx.Err() != nil {
		return transport.DropClosed
	}
	return transport.DropRemoved
}

// peer is one peer's queue and state; its goroutine is runPeer.
type peer struct {
	id    roles.NodeID
	addr  string
	queue *transport.Queue
	// counters is the peer's PeerStats (nil beyond PeerStatsMax).
	counters *peerCounters
	snaps    chan struct{} // a slot per MsgSnap on its way
	ctx      context.Context
	cancel   context.CancelFunc
	// downUntil is, after a failed dial, the time (since the epoch) until
	// which Send refuses messages with ErrUnreachable: they would only wait
	// out the backoff and go stale, as etcd drops a message it has no
	// connection for.
	downUntil atomic.Int64
	rng       *rand.Rand // the jitter of backoffs; runPeer's alone
}

func newPeer(t *Transport, id roles.NodeID, addr string) *peer {
	p := &peer{id: id, addr: addr, queue: transport.NewQueue(), counters: t.perPeer.get(id), snaps: make(chan struct{}, transport.SnapsInFlightMax)}
	p.ctx, p.cancel = context.WithCancel(t.ctx)
	seed := func(n roles.NodeID) uint64 { return n.RaftID() }
	p.rng = rand.New(rand.NewPCG(seed(t.id), seed(id)))
	return p
}

func (p *peer) Addr() string { return p.addr }
func (p *peer) Stop()        { p.cancel() }

func (p *peer) down(now time.Duration) bool { return now < time.Duration(p.downUntil.Load()) }

// backoff returns the wait after the given number of failed dials in a
// row: BackoffMin doubled per failure up to BackoffMax, then jittered into
// [d/2, d) so that nodes that failed together do not redial together.
func (t *Transport) backoff(p *peer, failures int) time.Duration {
	d := t.cfg.BackoffMin
	for range min(failures-1, 30) {
		if d >= t.cfg.BackoffMax {
			break
		}
		d *= 2
	}
	d = min(d, t.cfg.BackoffMax)
	return d/2 + time.Duration(p.rng.Int64N(int64(d/2)+1))
}
