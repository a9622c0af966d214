package membership

import (
	"fmt"
	"math"
	"slices"

	"revoada.dev/revoada/core/roles"
)

// Health is what this node believes of a member.
type Health uint8

// The health states. The zero Health is Unknown: not a member.
const (
	Unknown Health = iota
	Healthy
	Suspect // φ rose and a probe went unanswered, or a peer said so; refutable
	Dead    // Suspect for SuspectGraceTicks; only a newer incarnation revives it
)

func (h Health) String() string {
	switch h {
	case Unknown:
		return "unknown"
	case Healthy:
		return "healthy"
	case Suspect:
		return "suspect"
	case Dead:
		return "dead"
	}
	return fmt.Sprintf("health(%d)", uint8(h))
}

// Member is one node as this node sees it.
type Member struct {
	State            State
	Health           Health
	Phi              float64 // the detector's suspicion now (0 for self)
	LastHeardTick    uint64  // last direct message from it (0 if never; now for self)
	SuspectSinceTick uint64  // when it became Suspect (Suspect and Dead only)
	// UptimeTicks is how long the member had been up when it last said so
	// itself, in a message at the incarnation of State; 0 if it has not
	// since this node learned that incarnation (now for self). It lags the
	// truth, never leads it.
	UptimeTicks uint64
	// UptimeConfirmed is the uptime the member gave in its answer to a
	// Ping this node sent at tick ConfirmedTick (Confirm; 0 and 0 if none
	// at the incarnation of State; now and now for self): unlike
	// UptimeTicks, which any message carries, even one sent long before
	// it arrived (from a life of the node that has since ended), it was
	// said after ConfirmedTick.
	UptimeConfirmed, ConfirmedTick uint64
}

// MsgKind is the kind of a Message.
type MsgKind uint8

// The message kinds. Ping, Ack and PingReq are SWIM's failure-detection
// messages; PushPull, PushPullReply and PushPullFinal are one three-way
// scuttlebutt exchange: digest, then the states the initiator lacks and the
// responder's digest, then the states the responder lacks. Gossip carries
// the states the sender learned lately (its broadcast queue) and asks for
// nothing.
const (
	Ping          MsgKind = iota + 1 // Seq; answered by Ack
	Ack                              // Seq of the Ping; Target is the node that answered (≠ From when relayed)
	PingReq                          // Seq; asks the receiver to Ping Target and relay the Ack
	PushPull                         // Digest: the sender's stamps
	PushPullReply                    // States the initiator lacks, newest first; Digest: the responder's stamps
	PushPullFinal                    // States the responder lacks, newest first
	Gossip                           // States: recent ones, least sent first
)

var kindNames = [...]string{"", "ping", "ack", "ping-req", "push-pull", "push-pull-reply", "push-pull-final", "gossip"}

func (k MsgKind) String() string {
	if int(k) < len(kindNames) && k != 0 {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Suspicion says some member suspects Node at Incarnation. Suspicions are not
// signed: a false one costs the accused a refutation (a newer incarnation,
// which wins everywhere), never its state.
type Suspicion struct {
	Node        roles.NodeID
	Incarnation uint64
}

// Message is what members exchange. It is data: the network may drop,
// delay, duplicate or reorder it. Every message carries up to
// SuspectsPerMessageMax suspicions (SWIM's piggybacking), the receiver's own
// first if the sender suspects it (Lifeguard's "buddy system").
//
// Uptime and Incarnation are the sender's own: its ticks since it started
// and its incarnation when it sent the message. They are outside any
// signature, believed of From only (the transport authenticates From), so a
// node that is up longer does not re-sign its state to say so.
type Message struct {
	From, To    roles.NodeID
	Kind        MsgKind
	Seq         uint64
	Target      roles.NodeID
	Digest      []Stamp
	States      []SignedState
	Suspects    []Suspicion
	Uptime      uint64
	Incarnation uint64
}

// ChangeKind is the kind of a Change.
type ChangeKind uint8

// The change kinds.
const (
	Joined        ChangeKind = iota + 1 // a node entered the view
	Updated                             // a member's state was replaced by a newer one
	HealthChanged                       // Was → Health
	Forgotten                           // a Dead member was evicted to make room (SeenMax)
)

var changeNames = [...]string{"", "joined", "updated", "health", "forgotten"}

func (k ChangeKind) String() string {
	if int(k) < len(changeNames) && k != 0 {
		return changeNames[k]
	}
	return fmt.Sprintf("change(%d)", uint8(k))
}

// Change is one event in the view.
type Change struct {
	Kind                 ChangeKind
	Node                 roles.NodeID
	Health, Was          Health
	Incarnation, Version uint64
}

// Ready is the output of the steps since the last Ready. Messages may be
// sent in any order (none depends on another's delivery); Changes are in the
// order they happened. Nothing needs persisting: a restarted node comes back
// with a higher Incarnation, and if it forgot its last one its peers tell it.
// A message's slices may be shared with other messages (a digest is kept
// until a stamp changes): no one writes to them, and Step writes to none of
// a message it takes, so the network may hand one message to many.
type Ready struct {
	Messages []Message
	Changes  []Change
}

// Counters count what the node dropped, and why.
type Counters struct {
	Accepted  uint64 // states taken into the view
	Forged    uint64 // states whose signature did not verify against their node
	Replayed  uint64 // verified states older than the one known
	Duplicate uint64 // states equal to the one known (or another with its stamp)
	Dropped   uint64 // items over a named limit: states, suspicions, peers, messages, changes, relays
	Misrouted uint64 // messages not addressed to this node, or of an unknown kind
	Refuted   uint64 // times this node raised its own incarnation
	Suspected uint64 // suspicions this node raised from its own probes
}

// Membership is one node's SWIM-style membership: the signed states of its
// peers and its belief in their health. Not safe for concurrent use; drive it
// from one goroutine.
type Membership struct {
	cfg         Config
	self        SignedState
	selfLearned uint64
	now         uint64
	phase       uint64 // rounds start at ticks where (now+phase) % GossipIntervalTicks == 0

	peers  peerIndex // lookups only; iteration uses sorted
	sorted []*peer   // the peers in NodeID order
	dead   int       // peers Dead
	// evictions counts the peers forgotten (evictDead), so Step knows
	// whether a peer it looked up may be gone.
	evictions uint64
	suspects  []roles.NodeID // Suspect peers, in the order they became Suspect
	order     []roles.NodeID // SWIM round-robin traversal
	// orderPeers[i] is order[i]'s peer when it entered the traversal
	// (forgotten if evicted since), so a round looks up no map.
	orderPeers []*peer
	next       int // position in order
	seeds      []roles.NodeID
	nextSeed   int // the seed the next unknown-seed retry starts from
	// seedsAbsent counts the seeds not in the view, so that a round with
	// none skips looking them up.
	seedsAbsent int

	probes   []probe
	relays   []relay
	confirms []probe // Confirm's Pings awaiting their Acks
	seq      uint64
	learnSeq uint64
	rounds   uint64      // rounds run, offset by a random phase: every PushPullEveryRounds-th is a full one
	queue    []broadcast // states to gossip, each a bounded number of times
	// queueSplit is how many entries lead the queue as broadcasts left
	// them, in order before the rest, also in order; -1 after an enqueue
	// (see sortQueue). queueSpare is the merge's other buffer.
	queueSplit int
	queueSpare []broadcast
	rtt        rttEstimate // of Ping and direct Ack: the probe timeout (probeTimeout)
	lhm        int         // Lifeguard local health multiplier, 0..LocalHealthMax
	alarmQ     float64     // alarmQuantile(PhiThreshold)
	// nextWatch is a tick no later than the first at which watch has work:
	// a Healthy peer's alarm or a Suspect's grace running out.
	nextWatch uint64
	heardAny  bool
	lastAny   uint64 // tick of the last message from anyone
	// digestMemo is digest's answer until a stamp changes (nil then). It is
	// shared by every message that carries it: no one writes to it.
	digestMemo   []Stamp
	digestSelfAt int // selfAt when digestMemo was made

	out      []Message
	slab     []Message // room for the next outboxes (room)
	slabBase []Message // the slab's whole array, for Recycle
	// stateSlab is room for the states of the next messages (stateRoom),
	// carved from stateBase, once the driver has called Recycle: before,
	// each message's states are an allocation of their own.
	stateSlab, stateBase []SignedState
	recycles             bool           // Recycle was called
	targets              []roles.NodeID // nextTargets' answer
	changes              []Change
	counters             Counters
}

// outSlabMessages is how many messages one allocation makes room for, over
// successive outboxes.
const outSlabMessages = 16

type peer struct {
	// What every message from the peer touches comes first, the detector
	// inline: one cache line or two rather than three objects.
	health    Health
	heard     bool
	lastBeat  uint64 // last tick fed to det
	alarmAt   uint64 // det's φ passes PhiThreshold at this tick unless a heartbeat comes first
	lastHeard uint64
	uptime    uint64 // the last uptime it sent itself, at uptimeInc
	uptimeInc uint64
	det       Detector

	signed  SignedState
	learned uint64 // learnSeq when this state arrived: orders states newest first

	toldDeadAt uint64 // when tellDead last told it

	// confirmed is the uptime the peer gave answering our Ping sent at
	// confirmedAt (Confirm), at incarnation confirmedInc.
	confirmed, confirmedInc, confirmedAt uint64

	suspectInc, suspectSince uint64
	cleared                  bool   // a suspicion at clearedInc was disproved by a direct message
	clearedInc               uint64 // and is not taken from gossip again
	deadSince                uint64
	forgotten                bool // evicted from the view (SeenMax): a queued broadcast of it is dropped
}

func (p *peer) stamp() Stamp       { return p.signed.State.Stamp() }
func (p *peer) node() roles.NodeID { return p.signed.State.Node }

// New returns a member whose own state is self, signed with cfg.Key. A zero
// self.Node is filled in with cfg.Self. A restarting node passes an
// Incarnation above its last one; if it does not know it, its peers tell it
// and it refutes above that.
func New(cfg Config, self State) (*Membership, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	if self.Node == (roles.NodeID{}) {
		self.Node = cfg.Self
	}
	if self.Node != cfg.Self {
		return nil, fmt.Errorf("%w: state of %s for node %s", ErrConfig, self.Node.Short(), cfg.Self.Short())
	}
	signed, err := Sign(cfg.Key, self)
	if err != nil {
		return nil, err
	}
	m := &Membership{cfg: cfg, self: signed, peers: newPeerIndex(), alarmQ: alarmQuantile(cfg.PhiThreshold)}
	m.selfLearned = m.nextLearn()
	m.phase = uint64(cfg.Rand.IntN(cfg.GossipIntervalTicks))
	m.rounds = uint64(cfg.Rand.IntN(cfg.PushPullEveryRounds))
	return m, nil
}

// Tick advances time by one tick: relays and probes time out, detectors are
// read, suspicions run out their grace, and every GossipIntervalTicks a
// round starts.
func (m *Membership) Tick() {
	m.now++
	m.expireRelays()
	m.expireConfirms()
	m.advanceProbes()
	m.watch()
	if (m.now+m.phase)%uint64(m.cfg.GossipIntervalTicks) == 0 {
		m.round()
	}
}

// Join remembers up to SeedsMax seeds (self and repeats skipped) and starts a
// push-pull with each. Seeds are contacted again every round while no other
// member is alive.
func (m *Membership) Join(seeds []roles.NodeID) {
	m.seeds = m.seeds[:0]
	for _, id := range seeds {
		if id == m.cfg.Self || slices.Contains(m.seeds, id) {
			continue
		}
		if len(m.seeds) >= m.cfg.SeedsMax {
			m.counters.Dropped++
			continue
		}
		m.seeds = append(m.seeds, id)
	}
	m.seedsAbsent = 0
	for _, id := range m.seeds {
		if m.peers.get(id) == nil {
			m.seedsAbsent++
		}
		m.sendPushPull(id)
	}
}

// UpdateSelf applies f to a copy of this node's state and, if anything
// changed, signs it with the next Version. f cannot change Node, Incarnation
// or Version. On an error (a string too long) the state is unchanged.
func (m *Membership) UpdateSelf(f func(*State)) error {
	s := m.self.State
	f(&s)
	s.Node, s.Incarnation, s.Version = m.self.State.Node, m.self.State.Incarnation, m.self.State.Version
	if s == m.self.State {
		return nil
	}
	s.Version++
	return m.resign(s)
}

// Refute raises this node's Incarnation and re-signs its state. The new
// incarnation beats every suspicion of an older one (SWIM §4.2). The node
// calls it itself when it hears itself suspected.
func (m *Membership) Refute() { m.refute(m.self.State.Incarnation) }

// refute takes an incarnation above both ours and above.
func (m *Membership) refute(above uint64) {
	s := m.self.State
	s.Incarnation, s.Version = max(s.Incarnation, above)+1, 0
	if err := m.resign(s); err != nil {
		panic(fmt.Sprintf("membership: re-signing a valid state: %v", err))
	}
	m.counters.Refuted++
	m.lhm = min(m.lhm+1, m.cfg.LocalHealthMax) // Lifeguard: being suspected is a sign of our own trouble
}

func (m *Membership) resign(s State) error {
	signed, err := Sign(m.cfg.Key, s)
	if err != nil {
		return err
	}
	m.self, m.selfLearned, m.digestMemo = signed, m.nextLearn(), nil
	m.enqueue(signed.State.Node, nil)
	return nil
}

// Self returns this node's current signed state.
func (m *Membership) Self() SignedState { return m.self }

// Ready returns the messages and changes produced since the last call, and
// forgets them.
func (m *Membership) Ready() Ready {
	rd := Ready{Messages: slices.Clip(m.out), Changes: m.changes}
	if len(m.out) > 0 && len(m.slab) > 0 && &m.out[0] == &m.slab[0] { // the outbox was carved from the slab
		m.slab = m.slab[len(m.out):]
	}
	m.out, m.changes = nil, nil
	return rd
}

// room makes space in the outbox for n more messages. An empty outbox is
// carved from the slab, an array that successive outboxes take their turns
// of (none shares a message with another), so a round's messages or a reply
// cost an allocation per outSlabMessages, not one each. A message handed
// out keeps at most its slab's outSlabMessages alive.
func (m *Membership) room(n int) {
	if m.out == nil && n <= outSlabMessages {
		if len(m.slab) < n {
			m.slab = make([]Message, outSlabMessages)
			m.slabBase = m.slab
		}
		m.out = m.slab[:0]
	}
	m.out = slices.Grow(m.out, n)
}

// Recycle tells membership that its driver is done with every message
// Ready has returned so far, and with their States (not their Digests,
// which membership keeps): later messages may be written over them. A
// driver that encodes each message as it sends it (the simulator) calls it
// when it has sent a batch, and so saves an allocation per message; one
// that never calls it gets fresh memory for every message. Messages not yet
// taken with Ready are kept.
func (m *Membership) Recycle() {
	m.recycles = true
	if m.out == nil {
		m.slab, m.stateSlab = m.slabBase, m.stateBase
	}
}

// stateSlabStates is how many states one allocation makes room for, over
// successive messages, once the driver recycles them.
const stateSlabStates = 128

// stateRoom returns an empty slice with room for n states: from the state
// slab when the driver recycles messages (see Recycle), else new.
func (m *Membership) stateRoom(n int) []SignedState {
	if !m.recycles || n > stateSlabStates {
		return make([]SignedState, 0, n)
	}
	if len(m.stateSlab) < n {
		m.stateSlab = make([]SignedState, stateSlabStates)
		m.stateBase = m.stateSlab
	}
	out := m.stateSlab[:0:n]
	m.stateSlab = m.stateSlab[n:]
	return out
}

// Members returns every member, self included, sorted by NodeID.
func (m *Membership) Members() []Member {
	out := make([]Member, 0, len(m.sorted)+1)
	out = append(out, Member{State: m.self.State, Health: Healthy, LastHeardTick: m.now, UptimeTicks: m.now, UptimeConfirmed: m.now, ConfirmedTick: m.now})
	for _, p := range m.sorted {
		mb := Member{State: p.signed.State, Health: p.health, Phi: p.det.Phi(m.now)}
		if p.heard {
			mb.LastHeardTick = p.lastHeard
		}
		if p.uptimeInc == p.signed.State.Incarnation {
			mb.UptimeTicks = p.uptime
		}
		if p.confirmedInc == p.signed.State.Incarnation {
			mb.UptimeConfirmed, mb.ConfirmedTick = p.confirmed, p.confirmedAt
		}
		if p.health != Healthy {
			mb.SuspectSinceTick = p.suspectSince
		}
		out = append(out, mb)
	}
	slices.SortFunc(out, func(a, b Member) int { return a.State.Node.Compare(b.State.Node) })
	return out
}

// Health is this node's belief about id: Healthy for itself, Unknown for a
// node not in its view.
func (m *Membership) Health(id roles.NodeID) Health {
	if id == m.cfg.Self {
		return Healthy
	}
	if p := m.peers.get(id); p != nil {
		return p.health
	}
	return Unknown
}

// State returns the newest state the view holds of node id (this node's
// own included), and whether it holds one.
func (m *Membership) State(id roles.NodeID) (State, bool) {
	if id == m.cfg.Self {
		return m.self.State, true
	}
	if p := m.peers.get(id); p != nil {
		return p.signed.State, true
	}
	return State{}, false
}

// Counters returns the counts so far.
func (m *Membership) Counters() Counters { return m.counters }

// Step takes one message from a peer. Any message is a heartbeat from its
// sender; states are merged, suspicions taken, and requests answered.
func (m *Membership) Step(msg Message) {
	if msg.To != m.cfg.Self || msg.From == m.cfg.Self || msg.Kind == 0 || msg.Kind > Gossip {
		m.counters.Misrouted++
		return
	}
	m.heardAny, m.lastAny = true, m.now
	p := m.peers.get(msg.From)
	m.heardFrom(p)
	evictions := m.evictions
	m.mergeStates(msg.States)
	if p == nil || m.evictions != evictions { // the sender may have just entered the view, or left it
		p = m.peers.get(msg.From)
		m.heardFrom(p)
	}
	if p != nil && msg.Incarnation >= p.uptimeInc {
		p.uptime, p.uptimeInc = msg.Uptime, msg.Incarnation
	}
	m.takeSuspicions(msg.From, msg.Suspects)
	m.tellDead(p, msg.Kind)
	switch msg.Kind {
	case Ping:
		m.send(Message{To: msg.From, Kind: Ack, Seq: msg.Seq, Target: m.cfg.Self})
	case Ack:
		m.onConfirm(p, msg)
		m.onAck(msg)
	case PingReq:
		m.onPingReq(msg)
	case PushPull:
		m.send(Message{To: msg.From, Kind: PushPullReply, States: m.newerThan(msg.Digest), Digest: m.digest()})
	case PushPullReply:
		if states := m.newerThan(msg.Digest); len(states) > 0 {
			m.send(Message{To: msg.From, Kind: PushPullFinal, States: states})
		}
	}
}

// heardFrom is direct evidence that p (nil: a node not in the view) is
// alive: a heartbeat for its detector, the end of any probe of it, and the
// end of a suspicion of it. Heard twice in one tick, a peer is heard once.
func (m *Membership) heardFrom(p *peer) {
	if p == nil {
		return
	}
	m.beat(p)
	p.heard, p.lastHeard = true, m.now
	m.endProbes(p.node())
	if p.health == Suspect {
		p.cleared, p.clearedInc = true, p.suspectInc
		m.setHealth(p, Healthy)
	}
}

// beat feeds the detector at most once per tick: several messages in one
// tick are one heartbeat, not intervals of zero.
func (m *Membership) beat(p *peer) {
	if m.now > p.lastBeat {
		p.det.Heartbeat(m.now)
		m.rearm(p)
		p.lastBeat = m.now
	}
}

// takeSuspicions applies the first SuspectsPerMessageMax suspicions: one of
// this node at its incarnation or later is refuted; one of a Healthy peer at
// its known incarnation or later makes it Suspect, unless this node already
// saw that suspicion disproved, or it is about the sender itself. One of a
// peer at an incarnation below the one this node holds says the sender
// missed the refutation: this node sends it the refuting states. Nothing
// else would before the suspicion's grace ran out: the refutation's
// gossip is spent, a quiet round sends only a Ping, and a push-pull comes
// every PushPullEveryRounds rounds or fewer (100 nodes at 5% loss: a live
// member held Dead once in four 300 s runs).
func (m *Membership) takeSuspicions(from roles.NodeID, ss []Suspicion) {
	if len(ss) > m.cfg.SuspectsPerMessageMax {
		m.counters.Dropped += uint64(len(ss) - m.cfg.SuspectsPerMessageMax)
		ss = ss[:m.cfg.SuspectsPerMessageMax]
	}
	var refuting []SignedState
	refute, above := false, uint64(0)
	for _, s := range ss {
		if s.Node == m.cfg.Self {
			if s.Incarnation >= m.self.State.Incarnation {
				refute, above = true, max(above, s.Incarnation)
			}
			continue
		}
		p := m.peers.get(s.Node)
		if p != nil && s.Node != from && s.Incarnation < p.signed.State.Incarnation && len(refuting) < m.cfg.StatesPerMessageMax {
			if refuting == nil {
				refuting = m.stateRoom(min(len(ss), m.cfg.StatesPerMessageMax))
			}
			refuting = append(refuting, p.signed)
			continue
		}
		if s.Node == from || p == nil || p.health != Healthy || s.Incarnation < p.signed.State.Incarnation ||
			(p.cleared && s.Incarnation <= p.clearedInc) {
			continue
		}
		m.suspect(p, s.Incarnation)
	}
	if len(refuting) > 0 {
		m.send(Message{To: from, Kind: Gossip, States: refuting})
	}
	if refute {
		m.refute(above)
	}
}

func (m *Membership) suspect(p *peer, inc uint64) {
	p.suspectInc, p.suspectSince = inc, m.now
	m.setHealth(p, Suspect)
}

// watch reads the detectors: a Healthy peer whose φ is above PhiThreshold
// (past its alarm tick, which each heartbeat moves) is probed (see
// advanceProbes), and a Suspect past its grace is Dead. It scans the peers
// only from nextWatch on, the earliest tick at which one of them can be
// due: a heartbeat lowers it to its new alarm, a health change to now.
func (m *Membership) watch() {
	if m.now < m.nextWatch {
		return
	}
	next := uint64(math.MaxUint64)
	for _, p := range m.sorted {
		switch p.health {
		case Healthy:
			if m.now < p.alarmAt {
				next = min(next, p.alarmAt)
				continue
			}
			switch {
			case m.cfg.Unsafe.NoProbe:
				m.counters.Suspected++
				m.suspect(p, p.signed.State.Incarnation)
			case len(m.probes) < m.cfg.ProbesInFlightMax && !m.probing(p.node()):
				m.startProbe(p.node())
			}
			next = min(next, m.now+1) // due until a heartbeat or its probe settles it
		case Suspect:
			if dead := p.suspectSince + uint64(m.cfg.SuspectGraceTicks); m.now < dead {
				next = min(next, dead)
			} else {
				m.setHealth(p, Dead)
			}
		}
	}
	// Every change the scan made is in next (a peer it made Suspect is due
	// again at now+1; a Dead one needs no watching).
	m.nextWatch = next
}

// rearm reads p's alarm tick from its detector after a heartbeat, and lets
// watch know.
func (m *Membership) rearm(p *peer) {
	p.alarmAt = p.det.alarmAt(m.cfg.PhiThreshold, m.alarmQ)
	m.nextWatch = min(m.nextWatch, p.alarmAt)
}

func (m *Membership) setHealth(p *peer, h Health) {
	was := p.health
	if was == h {
		return
	}
	p.health = h
	if was == Dead {
		m.dead--
	}
	if h == Dead {
		m.dead++
	}
	m.nextWatch = 0 // a new Suspect's grace, or a Healthy peer's alarm, to watch
	id := p.signed.State.Node
	if was == Suspect {
		m.suspects = slices.DeleteFunc(m.suspects, func(x roles.NodeID) bool { return x == id })
	}
	switch h {
	case Suspect:
		m.suspects = append(m.suspects, id)
	case Dead:
		p.deadSince = m.now
	}
	m.change(Change{Kind: HealthChanged, Node: id, Health: h, Was: was,
		Incarnation: p.signed.State.Incarnation, Version: p.signed.State.Version})
}

func (m *Membership) change(c Change) {
	if len(m.changes) >= m.cfg.ChangesMax {
		m.counters.Dropped++
		return
	}
	m.changes = append(m.changes, c)
}

// send queues msg from this node, with the suspicions it piggybacks: the
// receiver's own first when this node does not believe it Healthy (so it can
// refute at once), then this node's suspicions, newest first.
func (m *Membership) send(msg Message) {
	if len(m.out) >= m.cfg.OutboxMax {
		m.counters.Dropped++
		return
	}
	msg.From, msg.Uptime, msg.Incarnation = m.cfg.Self, m.now, m.self.State.Incarnation
	if len(m.suspects) > 0 || m.dead > 0 { // else every peer is Healthy: no lookup
		if p := m.peers.get(msg.To); p != nil && p.health != Healthy {
			msg.Suspects = append(msg.Suspects, Suspicion{msg.To, p.suspectInc})
		}
	}
	for i := len(m.suspects) - 1; i >= 0 && len(msg.Suspects) < m.cfg.SuspectsPerMessageMax; i-- {
		if id := m.suspects[i]; id != msg.To {
			msg.Suspects = append(msg.Suspects, Suspicion{id, m.peers.get(id).suspectInc})
		}
	}
	m.room(1)
	m.out = append(m.out, msg)
}

func (m *Membership) nextSeq() uint64   { m.seq++; return m.seq }
func (m *Membership) nextLearn() uint64 { m.learnSeq++; return m.learnSeq }
