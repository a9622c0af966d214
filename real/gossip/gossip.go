package gossip

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"revoada.dev/revoada/core/membership"
	"revoada.dev/revoada/core/roles"
)

// Gossip is one node's membership over memberlist. Its methods are safe for
// concurrent use.
type Gossip struct {
	cfg     Config
	id      roles.NodeID
	name    string // id in hex: the memberlist name
	log     *slog.Logger
	start   time.Time
	bindIP  string
	port    int    // bound
	advIP   net.IP // advertised
	advPort int
	addr    string // advIP:advPort

	ml      *memberlist.Memberlist
	intents *memberlist.TransmitLimitedQueue // this node's leave intent, gossiped
	live    atomic.Int32                     // members not Dead or departed, self included: the queue's size estimate
	wake    chan struct{}                    // a token when changes are pending

	// life orders memberlist calls before Close's Shutdown: memberlist
	// panics on a Leave after it.
	life   sync.RWMutex
	closed bool
	stop   chan struct{}
	wg     sync.WaitGroup // the rejoin loop and Leave's senders

	// mu guards the view. memberlist calls the delegates with its own
	// node lock held, so the order is memberlist's lock, then mu: nothing
	// holding mu calls into memberlist.
	mu       sync.Mutex
	self     membership.SignedState
	meta     []byte // self, encoded: the node meta
	left     bool   // Leave was called
	peers    map[roles.NodeID]*peer
	changes  []membership.Change
	counters Counters
	refusals map[string]time.Time // last refusal logged, by memberlist name
}

// peer is a member as this node sees it.
type peer struct {
	signed membership.SignedState
	health membership.Health // Unknown once departed
	addr   net.IP
	port   uint16
	// leaveStamp is the stamp of a verified leave intent (zero if none):
	// the node left at or after its state of that stamp.
	leaveStamp membership.Stamp
	departed   bool // left gracefully: out of Members, kept against replays
	heard      time.Time
	since      time.Time // became Suspect, or Dead
	uptime     time.Duration
	uptimeInc  uint64    // the incarnation uptime was reported at
	pinged     time.Time // when the probe that uptime answered went out
}

// Counters count what the node took and refused, and why.
type Counters struct {
	Accepted      uint64 // states taken into the view (joins and updates)
	RefusedName   uint64 // nodes whose memberlist name is not the hex of the key their state is signed for
	Forged        uint64 // states whose signature does not verify
	Corrupt       uint64 // metas that are not one encoded signed state
	Replayed      uint64 // states older than the one held
	Equivocated   uint64 // a state differing from the one held under the same stamp
	RefusedMerges uint64 // joins refused because the other side lists a node that fails the checks above
	Conflicts     uint64 // two addresses claiming one name (memberlist's ConflictDelegate)
	Dropped       uint64 // peers over PeersMax, changes over ChangesMax
	Suspected     uint64 // this node's probes that failed
	Leaves        uint64 // verified leave intents taken
	BadIntents    uint64 // leave intents that did not decode or verify
}

// Refused is the number of alive messages and joins refused for their node's
// identity or state: names, forgeries, corrupt metas, replays, equivocations
// and merges.
func (c Counters) Refused() uint64 {
	return c.RefusedName + c.Forged + c.Corrupt + c.Replayed + c.Equivocated + c.RefusedMerges
}

// New starts a node: it binds cfg.Bind, signs cfg.Self and advertises it,
// and joins cfg.Seeds in the background (Join joins at once). It starts
// memberlist's goroutines and one of its own; Close ends them.
func New(cfg Config) (*Gossip, error) {
	bindIP, bindPort, err := cfg.fill()
	if err != nil {
		return nil, err
	}
	g := &Gossip{cfg: cfg, log: cfg.Logger, start: time.Now(), bindIP: bindIP,
		peers: map[roles.NodeID]*peer{}, refusals: map[string]time.Time{},
		wake: make(chan struct{}, 1), stop: make(chan struct{})}
	g.id = roles.NodeID(cfg.Key.Public().(ed25519.PublicKey))
	g.name = g.id.String()
	g.live.Store(1)
	g.intents = &memberlist.TransmitLimitedQueue{RetransmitMult: cfg.Timing.RetransmitMult,
		NumNodes: func() int { return int(g.live.Load()) }}

	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
		BindAddrs: []string{bindIP}, BindPort: bindPort, Logger: log.New((*logBridge)(g), "", 0)})
	if err != nil {
		return nil, fmt.Errorf("gossip: binding %s: %w", cfg.Bind, err)
	}
	g.port = nt.GetAutoBindPort()
	advHost, advPort := "", 0
	if cfg.Advertise != "" {
		advHost, advPort, _ = hostPort("advertise", cfg.Advertise) // checked by fill
		if advPort == 0 {
			advPort = g.port
		}
	}
	if g.advIP, g.advPort, err = nt.FinalAdvertiseAddr(advHost, advPort); err != nil {
		_ = nt.Shutdown()
		return nil, fmt.Errorf("gossip: advertise address: %w", err)
	}
	g.addr = net.JoinHostPort(g.advIP.String(), strconv.Itoa(g.advPort))

	self := cfg.Self
	if self.Node == (roles.NodeID{}) {
		self.Node = g.id
	}
	if self.GossipAddr == "" {
		self.GossipAddr = g.addr
	}
	if err := g.setSelf(self); err != nil {
		_ = nt.Shutdown()
		return nil, err
	}
	if g.ml, err = memberlist.Create(g.memberlistConfig(nt)); err != nil {
		_ = nt.Shutdown()
		return nil, fmt.Errorf("gossip: starting memberlist: %w", err)
	}
	if len(cfg.Seeds) > 0 {
		g.wg.Add(1)
		go g.rejoin()
	}
	return g, nil
}

// setSelf signs s and makes it the node meta. Called before memberlist
// starts, or with mu held.
func (g *Gossip) setSelf(s membership.State) error {
	signed, err := membership.Sign(g.cfg.Key, s)
	if err != nil {
		return fmt.Errorf("gossip: %w", err)
	}
	meta := membership.AppendSignedState(nil, signed)
	if len(meta) > MetaBytesMax {
		return fmt.Errorf("%w: %d bytes (max %d; the state's strings take %d)", ErrStateTooLarge,
			len(meta), MetaBytesMax, len(s.GossipAddr)+len(s.RaftAddr)+len(s.SoftwareVersion))
	}
	g.self, g.meta = signed, meta
	return nil
}

// ID is the node's ID; its hex form is its memberlist name.
func (g *Gossip) ID() roles.NodeID { return g.id }

// Addr is the IP:PORT other nodes reach this node at (the bound port when
// Config.Bind asked for port 0).
func (g *Gossip) Addr() string { return g.addr }

// Self returns the node's current signed state.
func (g *Gossip) Self() membership.SignedState {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.self
}

// Join joins the mesh through addrs (HOST:PORT, HOST an IP or a DNS name)
// now, and reports how many addresses answered; an error only if none did.
func (g *Gossip) Join(addrs ...string) (int, error) {
	g.life.RLock()
	defer g.life.RUnlock()
	if g.closed {
		return 0, ErrClosed
	}
	n, err := g.ml.Join(addrs)
	if err != nil {
		return n, fmt.Errorf("gossip: join: %w", err)
	}
	return n, nil
}

// rejoin joins the seeds at once and again every RejoinInterval while no
// other member is alive (a seed not up yet, or a partition that outlived
// every other member).
func (g *Gossip) rejoin() {
	defer g.wg.Done()
	t := time.NewTicker(g.cfg.Timing.RejoinInterval)
	defer t.Stop()
	for {
		if g.live.Load() <= 1 {
			if _, err := g.Join(g.cfg.Seeds...); err != nil && !errors.Is(err, ErrClosed) {
				g.log.Debug("gossip: seeds not reached", "seeds", g.cfg.Seeds, "err", err)
			}
		}
		select {
		case <-g.stop:
			return
		case <-t.C:
		}
	}
}

// UpdateSelf applies f to a copy of the node's state and, if anything
// changed, signs it with the next Version and queues its advertisement
// (gossiped within a GossipInterval or two, and carried by every push-pull
// after); it does not wait for the broadcast, so an event loop may call
// it. f cannot change Node,
// Incarnation or Version. On an error (a string too long, a state over
// MetaBytesMax, a node that left or closed) the state is unchanged.
func (g *Gossip) UpdateSelf(f func(*membership.State)) error {
	g.life.RLock()
	defer g.life.RUnlock()
	if g.closed {
		return ErrClosed
	}
	if changed, err := g.resign(f); err != nil || !changed {
		return err
	}
	// UpdateNode(0) would wait for the broadcast without bound; the
	// shortest timeout queues it and returns.
	_ = g.ml.UpdateNode(time.Nanosecond)
	return nil
}

// resign applies f to a copy of the node's state and signs the result at
// the next Version, if f changed anything.
func (g *Gossip) resign(f func(*membership.State)) (changed bool, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.left {
		return false, ErrLeft
	}
	old := g.self.State
	s := old
	f(&s)
	s.Node, s.Incarnation, s.Version = old.Node, old.Incarnation, old.Version
	if s == old {
		return false, nil
	}
	s.Version++
	return true, g.setSelf(s)
}

// Leave leaves the mesh gracefully: the node signs a leave intent for its
// current state, sends it to every live member over TCP and gossips it,
// then has memberlist announce the leave; all within timeout (0 for
// Timing.BroadcastWait). Other nodes see it depart
// (a Forgotten change), not fail. The node keeps answering until Close,
// which should follow. A second Leave does nothing.
func (g *Gossip) Leave(timeout time.Duration) error {
	if timeout <= 0 {
		timeout = g.cfg.Timing.BroadcastWait
	}
	g.life.RLock()
	defer g.life.RUnlock()
	if g.closed {
		return ErrClosed
	}
	intent, to := g.leaving()
	if intent == nil {
		return nil
	}
	// The intent must reach the others before memberlist's leave does,
	// which they would otherwise take for a failure: it goes directly over
	// TCP and by gossip, and memberlist's leave is queued only once the
	// gossip is done (behind it, on every receiver's packet queue).
	deadline := time.Now().Add(timeout)
	b := &intentBroadcast{msg: intent, done: make(chan struct{})}
	g.intents.QueueBroadcast(b)
	if len(to) > 0 {
		g.sendAll(to, intent, timeout)
		wait := time.NewTimer(time.Until(deadline))
		select {
		case <-b.done:
		case <-wait.C:
		}
		wait.Stop()
	}
	if err := g.ml.Leave(max(time.Until(deadline), time.Millisecond)); err != nil {
		return fmt.Errorf("gossip: leave: %w", err)
	}
	return nil
}

// leaving marks the node left and returns its leave intent and the live
// members to send it to; a nil intent if it had left already.
func (g *Gossip) leaving() (intent []byte, to []*memberlist.Node) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.left {
		return nil, nil
	}
	g.left = true
	for _, p := range g.peers {
		if isLive(p.health) {
			to = append(to, &memberlist.Node{Name: p.signed.State.Node.String(), Addr: p.addr, Port: p.port})
		}
	}
	return appendIntent(nil, g.cfg.Key, g.self.State.Stamp()), to
}

// sendAll sends msg to every node in to over TCP, at once, and waits up to
// timeout for the sends. A send still under way then ends within
// Timing.TCPTimeout; Close waits for it.
func (g *Gossip) sendAll(to []*memberlist.Node, msg []byte, timeout time.Duration) {
	done := make(chan struct{}, len(to))
	for _, n := range to {
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			if err := g.ml.SendReliable(n, msg); err != nil {
				g.log.Debug("gossip: leave intent not sent", "node", n.Name[:12], "err", err)
			}
			done <- struct{}{}
		}()
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for range to {
		select {
		case <-done:
		case <-deadline.C:
			return
		}
	}
}

// Close stops the node without leaving (others find it failed, unless Leave
// came first) and ends every goroutine this package started; memberlist's
// per-connection handlers end within Timing.TCPTimeout. Safe to call more
// than once.
func (g *Gossip) Close() error {
	g.life.Lock()
	if g.closed {
		g.life.Unlock()
		return nil
	}
	g.closed = true
	close(g.stop)
	err := g.ml.Shutdown()
	g.life.Unlock()
	g.wg.Wait()
	if err != nil {
		return fmt.Errorf("gossip: shutdown: %w", err)
	}
	return nil
}

// Changes returns the changes to the view since the last call, in the order
// they happened, and forgets them. The kinds are membership's:
//
//   - Joined: a node entered the view, Healthy.
//   - Updated: a member's signed state was replaced by a newer one.
//   - HealthChanged: Was → Health. Suspect is this node's own probe of the
//     member failing (memberlist marks it suspect then; suspicions that
//     other nodes raise are not visible through memberlist's API), Healthy
//     again when a probe is answered or the member advertises a newer
//     state, Dead when memberlist declares it failed.
//   - Forgotten: the member left gracefully (Was is its health before),
//     or, Was Dead, was evicted to make room (PeersMax).
func (g *Gossip) Changes() []membership.Change {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.changes
	g.changes = nil
	return c
}

// Wake has a token whenever changes are pending: a loop may wait on it
// instead of polling Changes.
func (g *Gossip) Wake() <-chan struct{} { return g.wake }

// Members returns the node itself and every member it knows that has not
// departed, sorted by NodeID. Phi is 0: memberlist's detector is not φ
// accrual. LastHeardTick is the last time this node's own probe of the
// member was answered (memberlist probes each member about once per
// members × ProbeInterval, so it lags); UptimeTicks is what the member said
// in that answer, and UptimeConfirmed too, with ConfirmedTick when that
// probe went out: every uptime here answers a probe. Ticks are
// Config.TickInterval long and count from New.
func (g *Gossip) Members() []membership.Member {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.tick(time.Now())
	out := make([]membership.Member, 0, len(g.peers)+1)
	out = append(out, membership.Member{State: g.self.State, Health: membership.Healthy, LastHeardTick: now, UptimeTicks: now, UptimeConfirmed: now, ConfirmedTick: now})
	for _, p := range g.peers {
		if p.departed {
			continue
		}
		m := membership.Member{State: p.signed.State, Health: p.health, LastHeardTick: g.tick(p.heard)}
		if p.health != membership.Healthy {
			m.SuspectSinceTick = g.tick(p.since)
		}
		if p.uptimeInc == p.signed.State.Incarnation {
			m.UptimeTicks = uint64(p.uptime / g.cfg.TickInterval)
			if !p.pinged.IsZero() {
				m.UptimeConfirmed, m.ConfirmedTick = m.UptimeTicks, max(g.tick(p.pinged), 1)
			}
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b membership.Member) int { return a.State.Node.Compare(b.State.Node) })
	return out
}

// Counters returns the counts so far.
func (g *Gossip) Counters() Counters {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.counters
}

// tick is t in ticks since New, from 1; 0 for the zero time.
func (g *Gossip) tick(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	return 1 + uint64(max(0, t.Sub(g.start))/g.cfg.TickInterval)
}

// State returns the signed state held for id (this node's own included),
// as its node signed it, and whether id is in the view and has not
// departed.
func (g *Gossip) State(id roles.NodeID) (membership.SignedState, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if id == g.id {
		return g.self, true
	}
	if p := g.peers[id]; p != nil && !p.departed {
		return p.signed, true
	}
	return membership.SignedState{}, false
}
