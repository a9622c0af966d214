package gossip

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"

	"revoada.dev/revoada/core/membership"
)

// Errors. Every one is returned wrapped, with what was wrong; test with
// errors.Is.
var (
	// ErrConfig: a Config that cannot start a node.
	ErrConfig = errors.New("gossip: bad config")
	// ErrStateTooLarge: the node's signed state does not fit memberlist's
	// node meta (MetaBytesMax).
	ErrStateTooLarge = errors.New("gossip: signed state over the meta limit")
	// ErrClosed: the Gossip was closed.
	ErrClosed = errors.New("gossip: closed")
	// ErrLeft: the node left the mesh; it cannot change its state any more.
	ErrLeft = errors.New("gossip: left")
)

// MetaBytesMax is memberlist's limit on a node's meta, where the node's
// encoded SignedState travels. The fixed part of a signed state is 253
// bytes, so its three strings (GossipAddr, RaftAddr, SoftwareVersion) may
// hold 259 bytes together; membership allows each 255 (StringBytesMax), so
// a state near that limit is refused with ErrStateTooLarge.
const MetaBytesMax = memberlist.MetaMaxSize

// Defaults for Config's zero fields.
const (
	DefaultTickInterval = 100 * time.Millisecond // real/host's tick
	DefaultPeersMax     = 1024
	DefaultChangesMax   = 4096
	// meshLabelPrefix names the mesh in memberlist's label (Config.Mesh).
	meshLabelPrefix = "revoada/mesh/"
)

// Config is one node's gossip.
type Config struct {
	// Key is the node's ed25519 key; its public half is the node's ID and,
	// in hex, its memberlist name.
	Key ed25519.PrivateKey
	// Bind is the IP:PORT to listen on, UDP and TCP; port 0 picks a free
	// one (Gossip.Addr reports it). The host must be an IP literal.
	Bind string
	// Advertise is the IP:PORT others reach this node at; "" for Bind's
	// (with the bound port). Needed when Bind is 0.0.0.0 on a multi-homed
	// machine, or behind NAT.
	Advertise string
	// Seeds are HOST:PORT addresses of nodes to join, HOST an IP or a DNS
	// name (memberlist resolves it, and joins every address it resolves
	// to). While the node knows no live member it retries them every
	// Timing.RejoinInterval.
	Seeds []string
	// Mesh names the mesh. memberlist's packets and streams are labelled
	// with it and a node drops whatever carries another label, so nodes of
	// different meshes never merge. This is separation, not secrecy: the
	// label is plain text on the wire, and anyone who knows the name can
	// speak to the mesh (what keeps a stranger out is the signed state, and
	// above this package the mesh shape).
	Mesh string
	// Self is the node's initial state. A zero Node is filled with the
	// key's; an empty GossipAddr with this node's advertised address. It
	// is signed with Key; a restarting node passes a higher Incarnation
	// than its last (peers refuse a state older than the one they hold).
	Self membership.State
	// Timing is memberlist's; the zero Timing is LANTiming.
	Timing Timing
	// TickInterval is the length of the ticks Members reports
	// (LastHeardTick, SuspectSinceTick, UptimeTicks); 0 for
	// DefaultTickInterval. Ticks count from New.
	TickInterval time.Duration
	// PeersMax bounds the view (departed and dead members included, the
	// longest dead forgotten first); 0 for DefaultPeersMax.
	PeersMax int
	// ChangesMax bounds the changes pending until Changes is called; more
	// are dropped and counted. 0 for DefaultChangesMax.
	ChangesMax int
	// Logger receives this package's records and memberlist's log lines;
	// nil discards them.
	Logger *slog.Logger
}

// Timing is memberlist's timing (see memberlist.Config for each field),
// plus this package's own waits. memberlist forgets a Dead node after
// GossipToTheDeadTime; until then the node's name cannot come back at
// another address (a restart on a new port or machine: memberlist refuses
// it as a name conflict, counted in Counters.Conflicts).
type Timing struct {
	ProbeInterval, ProbeTimeout time.Duration
	GossipInterval              time.Duration
	GossipNodes                 int
	GossipToTheDeadTime         time.Duration
	PushPullInterval            time.Duration
	TCPTimeout                  time.Duration
	IndirectChecks              int
	RetransmitMult              int
	SuspicionMult               int
	SuspicionMaxTimeoutMult     int
	// RejoinInterval: how often the seeds are tried again while no other
	// member is alive.
	RejoinInterval time.Duration
	// BroadcastWait bounds how long Leave waits for its leave to be
	// gossiped, when given no timeout.
	BroadcastWait time.Duration
}

// LANTiming is memberlist's DefaultLANConfig: probes every second, gossip
// every 200 ms to 3 nodes, a push-pull every 30 s.
func LANTiming() Timing {
	c := memberlist.DefaultLANConfig()
	return Timing{
		ProbeInterval: c.ProbeInterval, ProbeTimeout: c.ProbeTimeout,
		GossipInterval: c.GossipInterval, GossipNodes: c.GossipNodes, GossipToTheDeadTime: c.GossipToTheDeadTime,
		PushPullInterval: c.PushPullInterval, TCPTimeout: c.TCPTimeout, IndirectChecks: c.IndirectChecks,
		RetransmitMult: c.RetransmitMult, SuspicionMult: c.SuspicionMult, SuspicionMaxTimeoutMult: c.SuspicionMaxTimeoutMult,
		RejoinInterval: 5 * time.Second, BroadcastWait: 5 * time.Second,
	}
}

// FastTiming is for tests on loopback: probes every 200 ms (100 ms to
// answer: tighter, and a loaded 2-core machine makes false suspicions),
// gossip every 20 ms, a push-pull every second. A node shut down without
// leaving is Dead within about four seconds.
func FastTiming() Timing {
	return Timing{
		ProbeInterval: 200 * time.Millisecond, ProbeTimeout: 100 * time.Millisecond,
		GossipInterval: 20 * time.Millisecond, GossipNodes: 3, GossipToTheDeadTime: time.Second,
		PushPullInterval: time.Second, TCPTimeout: time.Second, IndirectChecks: 2,
		RetransmitMult: 4, SuspicionMult: 4, SuspicionMaxTimeoutMult: 4,
		RejoinInterval: 200 * time.Millisecond, BroadcastWait: time.Second,
	}
}

// fill checks cfg and fills its zero fields. It returns the bind and
// advertise hosts and ports.
func (cfg *Config) fill() (bindIP string, bindPort int, err error) {
	if len(cfg.Key) != ed25519.PrivateKeySize {
		return "", 0, fmt.Errorf("%w: key of %d bytes, want an ed25519 private key", ErrConfig, len(cfg.Key))
	}
	if cfg.Mesh == "" {
		return "", 0, fmt.Errorf("%w: no mesh name", ErrConfig)
	}
	if n := len(meshLabelPrefix) + len(cfg.Mesh); n > memberlist.LabelMaxSize {
		return "", 0, fmt.Errorf("%w: mesh name of %d bytes (max %d)", ErrConfig, len(cfg.Mesh), memberlist.LabelMaxSize-len(meshLabelPrefix))
	}
	if bindIP, bindPort, err = hostPort("bind", cfg.Bind); err != nil {
		return "", 0, err
	}
	if cfg.Advertise != "" {
		if _, _, err := hostPort("advertise", cfg.Advertise); err != nil {
			return "", 0, err
		}
	}
	for _, seed := range cfg.Seeds {
		if _, port, err := net.SplitHostPort(seed); err != nil || port == "" {
			return "", 0, fmt.Errorf("%w: seed %q is not HOST:PORT", ErrConfig, seed)
		}
	}
	if cfg.Timing == (Timing{}) {
		cfg.Timing = LANTiming()
	}
	if err := cfg.Timing.check(); err != nil {
		return "", 0, err
	}
	if cfg.TickInterval < 0 || cfg.PeersMax < 0 || cfg.ChangesMax < 0 {
		return "", 0, fmt.Errorf("%w: negative TickInterval, PeersMax or ChangesMax", ErrConfig)
	}
	if cfg.TickInterval == 0 {
		cfg.TickInterval = DefaultTickInterval
	}
	if cfg.PeersMax == 0 {
		cfg.PeersMax = DefaultPeersMax
	}
	if cfg.ChangesMax == 0 {
		cfg.ChangesMax = DefaultChangesMax
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return bindIP, bindPort, nil
}

// hostPort splits an IP:PORT.
func hostPort(what, s string) (string, int, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, fmt.Errorf("%w: %s address %q: %v", ErrConfig, what, s, err)
	}
	if net.ParseIP(host) == nil {
		return "", 0, fmt.Errorf("%w: %s address %q: host is not an IP", ErrConfig, what, s)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("%w: %s address %q: port: %v", ErrConfig, what, s, err)
	}
	return host, int(p), nil
}

func (t Timing) check() error {
	for _, d := range []time.Duration{t.ProbeInterval, t.ProbeTimeout, t.GossipInterval, t.GossipToTheDeadTime,
		t.PushPullInterval, t.TCPTimeout, t.RejoinInterval, t.BroadcastWait} {
		if d <= 0 {
			return fmt.Errorf("%w: a Timing duration is not positive: %+v", ErrConfig, t)
		}
	}
	for _, n := range []int{t.GossipNodes, t.IndirectChecks, t.RetransmitMult, t.SuspicionMult, t.SuspicionMaxTimeoutMult} {
		if n <= 0 {
			return fmt.Errorf("%w: a Timing count is not positive: %+v", ErrConfig, t)
		}
	}
	if t.ProbeTimeout > t.ProbeInterval {
		return fmt.Errorf("%w: ProbeTimeout %v over ProbeInterval %v", ErrConfig, t.ProbeTimeout, t.ProbeInterval)
	}
	return nil
}

// memberlistConfig is memberlist's config for this node, over transport t.
func (g *Gossip) memberlistConfig(t memberlist.NodeAwareTransport) *memberlist.Config {
	c := memberlist.DefaultLANConfig()
	tm := g.cfg.Timing
	c.Name = g.name
	c.Transport = t
	c.Label = meshLabelPrefix + g.cfg.Mesh
	c.ProbeInterval, c.ProbeTimeout = tm.ProbeInterval, tm.ProbeTimeout
	c.GossipInterval, c.GossipNodes, c.GossipToTheDeadTime = tm.GossipInterval, tm.GossipNodes, tm.GossipToTheDeadTime
	c.PushPullInterval, c.TCPTimeout, c.IndirectChecks = tm.PushPullInterval, tm.TCPTimeout, tm.IndirectChecks
	c.RetransmitMult, c.SuspicionMult, c.SuspicionMaxTimeoutMult = tm.RetransmitMult, tm.SuspicionMult, tm.SuspicionMaxTimeoutMult
	c.BindAddr, c.BindPort = g.bindIP, g.port // BindPort: the port of a seed given without one
	c.AdvertiseAddr, c.AdvertisePort = g.advIP.String(), g.advPort
	c.Delegate = (*delegate)(g)
	c.Events = (*events)(g)
	c.Alive = (*delegate)(g)
	c.Merge = (*delegate)(g)
	c.Ping = (*delegate)(g)
	c.Conflict = (*delegate)(g)
	c.Logger = log.New((*logBridge)(g), "", 0)
	return c
}
