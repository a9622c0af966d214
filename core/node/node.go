// Package node is one revoada node: an etcd raft RawNode plus the roles state
// machine it replicates, driven one step at a time.
//
// A Node is a synchronous state machine in the style of raft's RawNode. Inputs
// are calls: Tick (one logical tick, the only notion of time), Step (a message
// from a peer) and Submit (a client request). Outputs are returned data:
// Ready says what to persist, what to send and which results to deliver. The
// driver — the simulator or the production host, with the same loop — must
//
//	rd := n.Ready()
//	persist rd.Persist, and sync if rd.MustSync   // before anything leaves
//	send rd.Messages; deliver rd.Results; check rd.Applied
//	n.Advance(rd)
//
// and tell the node what became of its raft messages when it learns it:
// ReportSnapshot for every MsgSnap (delivered whole or failed: raft sends
// the peer nothing else meanwhile), ReportUnreachable for a message that
// could not be sent.
//
// Not safe for concurrent use; drive from one goroutine.
//
// Requests carry IDs. A node forwards a request to the leader it knows (or,
// knowing none, to a voter), retries it every RequestTimeoutTicks up to
// RequestRetriesMax times, and the state machine deduplicates by ID at apply,
// because raft may drop proposals and conf changes silently.
//
// Role shifts that change the voter set are raft conf changes carrying the
// shift in the same entry (ConfChangeV2.Context), so the voter set and the
// shape change at the same index; several voter changes in one shift use joint
// consensus (Raft §4.3) and leave it automatically. A node promoted to etcd is
// first added as a learner (a stage entry); the leader proposes the voter
// change only once the learner's log is within CatchUpLagMax of the leader's
// commit index (Raft §4.2.1, "catching up new servers"). An operator's
// shift that takes voters out waits, staged, while the voters it leaves
// lack a live majority or, with self-healing, until the policy has promoted
// their replacement (removalHeld); a shift that takes every voter out at
// once is refused (roles.ErrNoVoterStays).
//
// Workers are not raft members: every node boots from the same bootstrap
// snapshot (index 1) holding the initial shape and voter set, so a worker
// knows the voters without voting, and becomes a learner only when promoted.
// With gossip, workers still hold the store's committed state: raft members
// gossip signed state roots, and a worker fetches the blobs a root names
// from its peers by BLAKE3 digest, checks them, and serves local reads from
// the root it installed (content.go).
//
// Raft's options CheckQuorum, PreVote and StepDownOnRemoval are always on. A
// snapshot is taken after every conf change and, amortized, once at least
// SnapshotEntries entries were applied since the last one and their bytes
// (entry data) reach at least the size of the last snapshot: a snapshot of
// S bytes is paid for by S bytes logged, so snapshotting costs O(bytes
// logged) however large the state grows (Redis rewrites its append-only
// file on the same rule, auto-aof-rewrite-percentage 100). The log is
// compacted to CompactionTail entries behind each snapshot.
package node

import (
	"bytes"
	"cmp"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
	"lukechampine.com/blake3"

	"revoada.dev/revoada/core/attest"
	"revoada.dev/revoada/core/cover"
	"revoada.dev/revoada/core/membership"
	"revoada.dev/revoada/core/policy"
	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/core/store"
)

// Config configures a Node. Counts are in ticks or entries.
type Config struct {
	ID          roles.NodeID
	Incarnation uint64      // must grow on every restart of the same node
	Bootstrap   roles.Shape // the initial shape, identical on every node
	Rand        *rand.Rand  // the node's seeded random stream

	ElectionTicks       int // raft election timeout (randomised in [e, 2e))
	HeartbeatTicks      int
	RequestTimeoutTicks int // ticks before a pending request is sent again
	RequestRetriesMax   int // sends before a request ends with ErrTimeout
	StageTicksMax       int // ticks the leader waits for a learner to catch up
	SnapshotEntries     uint64
	CompactionTail      uint64
	CatchUpLagMax       uint64
	// Gossip, if set, runs membership beside raft (see mesh.go); Policy, if
	// also set, makes the leader audit the shape every AuditTicks.
	// Membership, if set instead, makes the node's membership from its
	// initial state (a driver's: see Membership).
	Gossip     *membership.Config
	Membership func(self membership.State) (Membership, error)
	Policy     *policy.Config
	AuditTicks int
	// RootTicks is the period of the state roots a raft member publishes
	// while its state moves (RootTicksDefault if 0); see content.go.
	RootTicks int
	Capacity  membership.Capacity // what this node offers, gossiped
	Addr      string              // where peers reach this node, gossiped ("" for none)

	// Key, the node's private key (its public half is ID), signs the
	// shifts it proposes as leader, each a block of the attested role
	// history (core/attest); without one its shifts go unsigned. Now is
	// the time a proposal carries, in Unix nanoseconds: the driver's clock
	// (the simulator's, or the wall's), read only when proposing.
	Key ed25519.PrivateKey
	Now func() int64
	// Verified, if set, remembers the role history's signatures that
	// verified (attest.Verified), so that one is not verified again: a
	// driver running several nodes in one goroutine, as the simulator
	// does, may share one among them.
	Verified *attest.Verified

	// RecycleOutbox promises that the driver is done with a Ready's
	// Messages, and everything they point to, when it calls Advance (it
	// encodes each as it sends it, as the simulator does): the node and its
	// membership then write later messages over them instead of allocating.
	// A driver that queues messages to send later leaves it off.
	RecycleOutbox bool

	// Join starts a node that is not in Bootstrap, the shape of the running
	// mesh it joins as the node was told of it (a guess is enough: the
	// first leader's notice replaces it): with no raft state, until a Join
	// command admits it and a leader replicates to it (view.go).
	Join bool

	// Planted are deliberate bugs, off in the zero value. They exist only so
	// that the verification corpus can prove its checkers catch them; a
	// production node never sets them.
	Planted Planted
}

// Planted are deliberate bugs for the verification corpus (see Config).
type Planted struct {
	// NoDedup applies a retried request again instead of answering it from
	// the dedup table: a write whose first answer was lost is applied twice.
	NoDedup bool
	// AckTimedOutWrites answers a write whose retry timer fires (its
	// proposal was dropped, typically by a leader change) as written at the
	// next revision instead of sending it again: an acknowledged write that
	// may never reach the log.
	AckTimedOutWrites bool
	// NoConfSync saves the snapshot taken after a conf change, and the
	// commit index covering it, without a sync (issue 9, symptom 5).
	NoConfSync bool
	// LaxCatchUp counts a learner that has acknowledged nothing as caught
	// up while the log is shorter than CatchUpLagMax (symptom 2).
	LaxCatchUp bool
	// StayJoint enters joint configurations with an explicit transition and
	// never leaves them.
	StayJoint bool
	// EarlyInstall makes a worker install a state root as soon as it holds
	// its manifest, without the resources it still lacks (content.go).
	EarlyInstall bool
}

// DefaultConfig returns the default tuning for a node.
func DefaultConfig(id roles.NodeID, bootstrap roles.Shape, rng *rand.Rand) Config {
	return Config{
		ID: id, Bootstrap: bootstrap, Rand: rng,
		ElectionTicks: 10, HeartbeatTicks: 1,
		RequestTimeoutTicks: 20, RequestRetriesMax: 10, StageTicksMax: 100,
		SnapshotEntries: 256, CompactionTail: 64, CatchUpLagMax: 16,
	}
}

// Limits.
const (
	ForwardHopsMax = 3       // forwards a request may take towards the leader
	PendingMax     = 4096    // requests in flight from one node
	ReadsMax       = 4096    // linearizable reads waiting on one node
	MsgBytesMax    = 1 << 20 // raft MaxSizePerMsg
	InflightMsgMax = 256     // raft MaxInflightMsgs
)

// Status is a node's published view of raft.
type Status struct {
	Term   uint64
	Lead   uint64 // raft ID of the leader it knows, 0 for none
	State  raft.StateType
	Member bool // a voter or learner
}

// Applied describes one applied entry, for checkers.
type Applied struct {
	Index, Term  uint64
	Entry        roles.Digest // BLAKE3 of the entry's type and data
	Shape        roles.Digest // digest of the shape after applying it
	ConfVoters   []uint64     // raft's incoming voters after applying it, sorted; shared, read only
	ConfLearners []uint64     // raft's learners after applying it, sorted; shared, read only
	// ConfOutgoing is raft's outgoing voters after applying it, sorted:
	// empty unless the configuration is joint. Shared, read only.
	ConfOutgoing []uint64
	ShapeVoters  []uint64    // raft IDs of the etcd holders, sorted; shared, read only
	Chain        attest.Hash // the attested role history's head after applying it
	Request      *RequestID  // the request it carried, if any
	Result       *Result     // its outcome, if final
	Raw          *pb.Entry   // the entry itself; nil for a snapshot install
	Shift        roles.Shift // the shift it carried, if any
}

// Ready is one batch of output. Persist must be durable (synced when
// MustSync) before Messages are sent and Results delivered.
type Ready struct {
	Persist  Persist
	MustSync bool
	Messages []Message
	Results  []Result  // outcomes of requests submitted to this node
	Applied  []Applied // entries applied in this batch, in index order
	// Events are the store's watch events for the writes applied in this
	// batch, in revision order; a Reset when a snapshot replaced the store.
	Events []store.Event
	// Decisions are this node's audits as leader; Membership its view's
	// changes (joins, health transitions).
	Decisions  []Decision
	Membership []membership.Change
	Status     *Status // set when the status changed
	// advance says the batch holds a raft Ready, which Advance acknowledges
	// (raft v3 records at Ready what its Advance does, so it needs no copy).
	advance bool
}

type pending struct {
	req       Request
	ticksLeft int
	sends     int
}

type staged struct {
	req       Request
	ticksLeft int
}

// readWait is a linearizable read waiting for its ReadIndex (index 0) and then
// for the node to apply up to that index.
type readWait struct {
	req       Request
	index     uint64
	ticksLeft int
}

// Node is one mesh node. See the package doc for the driving contract.
type Node struct {
	cfg     Config
	wit     witnessing
	raftID  uint64
	rn      *raft.RawNode
	ms      *raftStorage
	machine *Machine
	conf    *pb.ConfState
	peers   map[uint64]roles.NodeID

	seq     uint64
	pending map[uint64]*pending // by Seq
	staged  []*staged           // leader only
	reads   map[RequestID]*readWait

	applied     uint64
	appliedTerm uint64                    // the term of the entry (or snapshot) at applied
	ticks       uint64                    // Tick calls since the node started
	heard       map[uint64]uint64         // raft ID -> tick of its last answer to this node (leader's view)
	probes      map[RequestID]*voterProbe // round trips of held removals (see removalHeld)
	probeSeq    uint64
	leaderSince uint64                     // tick this node last became leader
	handedTo    uint64                     // raft ID of the last hand-off target
	handedAt    uint64                     // and the tick of that hand-off
	shiftSeen   map[roles.NodeID]seenShift // the damper's memory (see noteShifts)
	snapshot    uint64                     // index of the latest snapshot in ms
	snapBytes   uint64                     // the size of its data
	loggedBytes uint64                     // entry data applied since it was taken
	confChanged bool                       // a conf change was applied since the last snapshot
	cover       cover.Counts
	boot        *pb.Snapshot
	hasher      *blake3.Hasher // entryDigest's, reused

	out      []Message
	slab     []Message // room for the next outboxes (room)
	slabBase []Message // the slab's whole array, for Config.RecycleOutbox
	handed   int       // Readies handed out and not yet advanced
	// confSorted is conf's member lists as describe hands them out.
	confSorted confSorted
	results    []Result
	events     []store.Event
	status     Status
	heal       *selfHealing // nil without Config.Gossip
	sync       *syncing     // content sync (content.go); nil without gossip

	seen        shapeView               // the newest shape a leader sent (view.go)
	viewMemo    viewMemo                // (view.go)
	announced   roles.Shape             // the shape last applied, as a leader announces it
	announcedAt uint64                  // tick of the last announcement
	gone        []goneNode              // nodes removed lately, told again (leader)
	told        map[roles.NodeID]uint64 // strangers sent the shape, and when (Stranger)
}

// New starts a node from what it had synced (the zero Durable for a fresh
// node, which then boots from cfg.Bootstrap).
func New(cfg Config, d Durable) (*Node, error) {
	if cfg.Rand == nil {
		return nil, fmt.Errorf("node: config needs a Rand")
	}
	if err := cfg.Bootstrap.Validate(); err != nil {
		return nil, fmt.Errorf("node: bootstrap: %w", err)
	}
	if _, ok := cfg.Bootstrap.Roles(cfg.ID); !ok && !cfg.Join {
		return nil, fmt.Errorf("node: %s is not in the bootstrap shape", cfg.ID.Short())
	}
	if cfg.Key != nil && (len(cfg.Key) != ed25519.PrivateKeySize || !bytes.Equal(cfg.Key.Public().(ed25519.PublicKey), cfg.ID[:])) {
		return nil, fmt.Errorf("node: the key is not the one of node %s", cfg.ID.Short())
	}
	n := &Node{
		cfg: cfg, raftID: cfg.ID.RaftID(), ms: newRaftStorage(),
		peers: map[uint64]roles.NodeID{}, pending: map[uint64]*pending{}, reads: map[RequestID]*readWait{}, cover: cover.Counts{},
		shiftSeen: map[roles.NodeID]seenShift{}, heard: map[uint64]uint64{}, probes: map[RequestID]*voterProbe{}, hasher: blake3.New(32, nil),
	}
	n.learnPeers(cfg.Bootstrap)
	switch snap := d.Snapshot; {
	case snap == nil && cfg.Join:
		// Nothing from raft yet: the node knows the shape it was given,
		// and waits for a leader to send it the log once it is a learner.
		n.machine, n.conf = NewMachine(cfg.Bootstrap), &pb.ConfState{}
		n.machine.Remember(cfg.Verified)
		n.machine.noDedup = cfg.Planted.NoDedup
		n.learnPeers(cfg.Bootstrap)
		n.announced = cfg.Bootstrap
	case snap == nil:
		var m *Machine
		n.boot, m = bootstrap(cfg.Bootstrap)
		if err := n.install(n.boot, m); err != nil {
			return nil, err
		}
	default:
		if err := n.restore(snap); err != nil {
			return nil, err
		}
		// DecodeMachine rebuilds a role history without checking its
		// signatures (each block's were checked by every replica that
		// applied it, and a leader's snapshot comes from a raft peer over
		// the authenticated transport); one read back from this node's
		// own disk is checked whole, so that a history altered there is
		// refused, not served.
		if _, err := cfg.Verified.Verify(n.machine.Chain().Blocks(), nil); err != nil {
			return nil, fmt.Errorf("%w: its role history: %w", ErrCorruptSnapshot, err)
		}
	}
	if err := n.ms.Append(d.Entries); err != nil {
		return nil, fmt.Errorf("node: restoring entries: %w", err)
	}
	if d.HardState != nil {
		if err := n.ms.SetHardState(d.HardState); err != nil {
			return nil, fmt.Errorf("node: restoring hard state: %w", err)
		}
	}
	rn, err := raft.NewRawNode(&raft.Config{
		ID: n.raftID, ElectionTick: cfg.ElectionTicks, HeartbeatTick: cfg.HeartbeatTicks,
		Storage: n.ms, Applied: n.applied,
		MaxSizePerMsg: MsgBytesMax, MaxInflightMsgs: InflightMsgMax,
		CheckQuorum: true, PreVote: true, StepDownOnRemoval: true,
		Logger: discardLogger{},
	})
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	n.rn = rn
	n.status = n.currentStatus()
	if err := n.startSelfHealing(); err != nil {
		return nil, err
	}
	return n, nil
}

// BootstrapSnapshot is the snapshot at index 1, term 1 every node starts
// from: the bootstrap shape, with its etcd holders as the raft voters.
func BootstrapSnapshot(shape roles.Shape) *pb.Snapshot {
	snap, _ := bootstrap(shape)
	return snap
}

// bootstrap is BootstrapSnapshot and the machine whose bytes it holds: a
// fresh node starts from that machine rather than decode it back, as
// DecodeMachine would rebuild the same shape, empty store and genesis
// chain (TestBootstrapMachineIsDecoded).
func bootstrap(shape roles.Shape) (*pb.Snapshot, *Machine) {
	var voters []uint64
	for _, v := range shape.Voters() {
		voters = append(voters, v.RaftID())
	}
	slices.Sort(voters)
	m := NewMachine(shape)
	return &pb.Snapshot{
		Data: m.Encode(),
		Metadata: &pb.SnapshotMetadata{
			Index: new(uint64(1)), Term: new(uint64(1)),
			ConfState: &pb.ConfState{Voters: voters},
		},
	}, m
}

func (n *Node) restore(snap *pb.Snapshot) error {
	m, err := DecodeMachine(snap.GetData())
	if err != nil {
		return err
	}
	return n.install(snap, m)
}

// install makes m, the machine snap's data holds, the node's.
func (n *Node) install(snap *pb.Snapshot, m *Machine) error {
	if err := n.ms.ApplySnapshot(snap); err != nil {
		return fmt.Errorf("node: applying snapshot: %w", err)
	}
	m.noDedup = n.cfg.Planted.NoDedup
	m.Remember(n.cfg.Verified)
	n.machine = m
	n.conf = snap.GetMetadata().GetConfState()
	n.applied, n.appliedTerm = snap.GetMetadata().GetIndex(), snap.GetMetadata().GetTerm()
	n.noteShifts()
	n.snapshot, n.snapBytes, n.loggedBytes = n.applied, uint64(len(snap.GetData())), 0
	n.learnPeers(m.shape)
	n.announced = m.shape
	return nil
}

// ID is the node's ID.
func (n *Node) ID() roles.NodeID { return n.cfg.ID }

// Shape returns a copy of the shape at the node's applied index.
func (n *Node) Shape() roles.Shape { return n.machine.Shape() }

// IsMember reports whether id is in the shape at the node's applied index,
// with any roles: a driver drops raft messages from anyone else (raft
// itself takes a higher term from any sender).
func (n *Node) IsMember(id roles.NodeID) bool {
	if n.inView(id) || n.unplaced() {
		return true
	}
	// Raft's own members too, on a raft member: voters a shift removed are
	// still needed until the joint configuration is left, and a learner
	// until it is removed. (A node outside raft holds the configuration it
	// booted or was demoted with, which names voters long gone.)
	r := id.RaftID()
	return n.status.Member && n.peers[r] == id && n.inRaft(r)
}

// inView reports whether id is in view(), looked up in the view's member
// set (viewSet) rather than the shape's map.
func (n *Node) inView(id roles.NodeID) bool { return n.self().members.has(id) }

// AppliedIndex is the index of the last applied entry.
func (n *Node) AppliedIndex() uint64 { return n.applied }

// Status is the node's current view of raft.
func (n *Node) Status() Status { return n.status }

// Store is the node's replica of the resource store, for reading only; it is
// valid until the next call into the node.
func (n *Node) Store() *store.Store { return n.machine.Store() }

// CompactHistory forgets the store's event history below rev on this node
// (as etcd compacts a member's history): a watch resuming from before it
// gets store.ErrCompacted. The state and revision are untouched.
func (n *Node) CompactHistory(rev store.Revision) { n.machine.Store().Compact(rev) }

// Tick advances the node's logical clock by one tick.
func (n *Node) Tick() {
	n.ticks++
	n.rn.Tick()
	n.tickPending()
	n.tickReads()
	n.tickSelfHealing()
	n.tickContent()
	switch {
	case len(n.staged) == 0: // nothing to do, and the status costs an allocation
	case n.rn.BasicStatus().RaftState == raft.StateLeader:
		n.tickStaged()
	default:
		n.staged = nil
		clear(n.probes)
	}
	n.tickShape()
	n.witness()
}

// Step processes a message from a peer. Messages from unknown peers and
// stale raft messages are ignored; they are network noise, not errors.
func (n *Node) Step(m Message) {
	switch m.Kind {
	case MsgRaft:
		if m.Raft != nil {
			n.raftHeard(m.Raft)
			_ = n.rn.Step(m.Raft) // raft rejects messages from removed peers; ignore
		}
	case MsgForward:
		if m.Request != nil && m.Hops > 0 {
			n.cover.Sometimes(cover.RequestForwarded)
		}
		if m.Request != nil && m.Hops < ForwardHopsMax {
			n.route(*m.Request, m.Hops+1)
		}
	case MsgResult:
		if m.Result != nil {
			n.deliver(*m.Result)
		}
	case MsgGossip:
		n.stepGossip(m.Gossip)
	case MsgShape:
		if m.Shape != nil {
			n.stepShape(m.From, m.Shape)
		}
	case MsgContent:
		if m.Content != nil {
			n.stepContent(m.From, m.Content)
		}
	}
}

// Submit starts a request for a role shift and returns its ID. Its Result
// comes out of a later Ready on this node: applied, rejected, or ErrTimeout.
func (n *Node) Submit(sh roles.Shift) (RequestID, error) {
	return n.submit(Request{Shift: slices.Clone(sh)})
}

// Write starts a resource write (apply or delete) through the log.
func (n *Node) Write(c store.Command) (RequestID, error) { return n.submit(Request{Write: &c}) }

// Read starts a read; see Read for linearizable and local reads.
func (n *Node) Read(r Read) (RequestID, error) { return n.submit(Request{Read: &r}) }

func (n *Node) submit(req Request) (RequestID, error) {
	if err := req.validate(); err != nil {
		return RequestID{}, err
	}
	if !n.InShape() {
		return RequestID{}, ErrNotMember
	}
	if len(n.pending) >= PendingMax {
		return RequestID{}, fmt.Errorf("%w: %d requests already pending", ErrInvalidRequest, PendingMax)
	}
	n.seq++
	req.ID = RequestID{Origin: n.cfg.ID, Incarnation: n.cfg.Incarnation, Seq: n.seq}
	n.pending[n.seq] = &pending{req: req, ticksLeft: n.cfg.RequestTimeoutTicks, sends: 1}
	n.route(req, 0)
	return req.ID, nil
}

func (n *Node) tickPending() {
	for _, seq := range sortedKeys(n.pending) {
		p := n.pending[seq]
		if p.ticksLeft--; p.ticksLeft > 0 {
			continue
		}
		if p.sends >= n.cfg.RequestRetriesMax {
			delete(n.pending, seq)
			n.results = append(n.results, Result{ID: p.req.ID, Err: ErrTimeout})
			continue
		}
		if n.cfg.Planted.AckTimedOutWrites && p.req.Write != nil {
			delete(n.pending, seq)
			rev := n.machine.Store().Revision() + 1
			n.results = append(n.results, Result{ID: p.req.ID, Resource: store.Resource{Ref: writeRef(p.req.Write), ModRevision: rev}})
			continue
		}
		p.sends++
		p.ticksLeft = n.cfg.RequestTimeoutTicks
		n.route(p.req, 0)
	}
}

// route sends a request towards the leader, or proposes it if this node is
// the leader. A request with nowhere to go is dropped; its origin retries.
func (n *Node) route(req Request, hops uint8) {
	bs := n.rn.BasicStatus()
	switch {
	case req.Read != nil && n.status.Member:
		n.read(req)
	case req.Read != nil && req.Read.Local && hops == 0 && n.servesSynced():
		n.deliver(n.syncedRead(req))
	case req.Read != nil && hops > 0:
		// A read forwarded to a node that is no replica: drop it.
	case req.Read == nil && bs.RaftState == raft.StateLeader:
		n.propose(req)
	case bs.Lead != 0 && bs.Lead != n.raftID && n.status.Member && slices.Contains(n.conf.GetVoters(), bs.Lead):
		n.send(n.peers[bs.Lead], Message{Kind: MsgForward, Request: &req, Hops: hops})
	default:
		// No leader known, or a hint that cannot be trusted: a node that
		// is no raft member (a worker, or a voter just demoted) hears no
		// heartbeats, so its leader may be long gone — and a deposed
		// leader drops what it is sent. Any voter knows better; the hop
		// limit bounds the wandering.
		voters := n.knownVoters()
		if i := slices.Index(voters, n.cfg.ID); i >= 0 {
			voters = slices.Delete(voters, i, i+1)
		}
		if len(voters) > 0 {
			n.send(voters[n.cfg.Rand.IntN(len(voters))], Message{Kind: MsgForward, Request: &req, Hops: hops})
		}
	}
}

func (n *Node) send(to roles.NodeID, m Message) {
	m.From, m.To = n.cfg.ID, to
	n.out = append(n.out, m)
}

// propose puts a request in the log. A shift that adds voters first stages
// them as learners; see the package doc. A leader never proposes its own
// removal: it hands leadership to a caught-up voter that stays, whose
// proposal the origin's retry reaches (see handOff).
func (n *Node) propose(req Request) {
	if req.Write != nil {
		_ = n.rn.Propose(encodePayload(payloadWrite, &req))
		return
	}
	if req.Witness != nil {
		_ = n.rn.Propose(encodePayload(payloadWitness, &req))
		return
	}
	if n.appliedTerm != n.rn.BasicStatus().GetTerm() {
		// A new leader signs no shift before it has applied an entry of
		// its term, and with it every entry of the terms before: one of
		// those may remove it, and a shift it signed after that entry in
		// the log would be refused by the role history, applied unsigned,
		// and start the history over (explore-6409: a leader elected with
		// its demotion in its log, unapplied). The origin's retry comes
		// back; the new leader's empty entry commits in a round trip.
		return
	}
	next, change, rej := n.machine.shape.Plan(req.Shift)
	fencedOut := req.Fence != nil && req.Fence.Term != n.rn.BasicStatus().GetTerm()
	gone := n.goneLearners(next)
	if rej == nil && change.Empty() && len(gone) > 0 && !fencedOut {
		// Only learners leave (a node staged for a promotion, then told to
		// leave): raft must forget them with the shift, or it replicates to
		// them, and they wait for it, forever.
		cc := &pb.ConfChangeV2{Context: n.shiftPayload(&req)}
		for _, r := range gone {
			cc.Changes = append(cc.Changes, &pb.ConfChangeSingle{Type: pb.ConfChangeRemoveNode.Enum(), NodeId: new(r)})
		}
		_ = n.rn.ProposeConfChange(cc)
		return
	}
	if rej != nil || change.Empty() || fencedOut {
		// Rejections and fences are decided at apply, against the
		// committed shape: a deposed leader's decision gets its answer
		// there, without staging learners for it.
		_ = n.rn.Propose(n.shiftPayload(&req))
		return
	}
	if n.removalHeld(req, next, change) {
		n.stageLearners(req, change)
		return
	}
	if slices.Contains(change.Remove, n.cfg.ID) {
		// Never propose our own removal. Hand leadership over if a voter
		// can take it; if none can, the request waits for its origin's
		// retry rather than leave a mesh whose remaining voters may never
		// learn that the removal committed.
		n.handOff(change)
		return
	}
	if len(n.notLearners(change.Add)) > 0 {
		n.stageLearners(req, change)
		return
	}
	if !n.caughtUp(change.Add) {
		n.stage(req)
		return
	}
	if ok, fenced := n.promotable(req, change.Add); fenced {
		n.fence(req)
		return
	} else if !ok {
		n.stage(req)
		return
	}
	cc := &pb.ConfChangeV2{Context: n.shiftPayload(&req)}
	for _, id := range change.Add {
		cc.Changes = append(cc.Changes, &pb.ConfChangeSingle{Type: pb.ConfChangeAddNode.Enum(), NodeId: new(id.RaftID())})
	}
	for _, id := range change.Remove {
		cc.Changes = append(cc.Changes, &pb.ConfChangeSingle{Type: pb.ConfChangeRemoveNode.Enum(), NodeId: new(id.RaftID())})
	}
	for _, r := range gone {
		cc.Changes = append(cc.Changes, &pb.ConfChangeSingle{Type: pb.ConfChangeRemoveNode.Enum(), NodeId: new(r)})
	}
	if n.cfg.Planted.StayJoint && len(cc.Changes) > 1 {
		cc.Transition = pb.ConfChangeTransitionJointExplicit.Enum()
	}
	_ = n.rn.ProposeConfChange(cc)
}

// Chain is the attested role history of the node's replica. Callers must
// only read it.
func (n *Node) Chain() *attest.Chain { return n.machine.Chain() }

// shiftPayload is the entry that proposes req's shift: signed by this
// node, the leader, when it has a key (see Config.Key).
func (n *Node) shiftPayload(req *Request) []byte {
	if n.cfg.Key == nil {
		return encodePayload(payloadFenced, req)
	}
	p := &attest.Proposal{Leader: n.cfg.ID, Term: n.rn.BasicStatus().GetTerm(), Shift: req.Shift}
	if n.cfg.Now != nil {
		p.Time = n.cfg.Now()
	}
	p.Sign(n.cfg.Key)
	signed := *req
	signed.proposal = p
	return encodePayload(payloadSigned, &signed)
}

// stageLearners adds the shift's new voters that raft does not know yet as
// learners (a stage entry), and stages the shift until they catch up.
func (n *Node) stageLearners(req Request, change roles.VoterChange) {
	if missing := n.notLearners(change.Add); len(missing) > 0 {
		cc := &pb.ConfChangeV2{Context: encodePayload(payloadStage, &req)}
		for _, id := range missing {
			cc.Changes = append(cc.Changes, &pb.ConfChangeSingle{Type: pb.ConfChangeAddLearnerNode.Enum(), NodeId: new(id.RaftID())})
		}
		_ = n.rn.ProposeConfChange(cc)
	}
	n.stage(req)
}

// goneLearners are the raft IDs of raft's learners that are not members of
// next: nodes a shift takes out of the shape while raft still replicates to
// them.
func (n *Node) goneLearners(next roles.Shape) []uint64 {
	var out []uint64
	for _, r := range n.conf.GetLearners() {
		if !memberRaftID(next, r) {
			out = append(out, r)
		}
	}
	return out
}

func (n *Node) notLearners(ids []roles.NodeID) []roles.NodeID {
	var out []roles.NodeID
	for _, id := range ids {
		if !slices.Contains(n.conf.GetLearners(), id.RaftID()) {
			out = append(out, id)
		}
	}
	return out
}

// handOff transfers leadership to the most caught-up voter that the change
// keeps, instead of removing this leader. Removing the leader itself is
// what strands a joint configuration: the leader applies the leave-joint
// entry, steps down (StepDownOnRemoval) and may be the only one that knows
// it committed, while the others, still joint, need the removed nodes'
// votes. False when no voter can take over now.
func (n *Node) handOff(change roles.VoterChange) bool {
	st := n.rn.Status()
	var best uint64
	var bestMatch uint64
	for _, v := range n.conf.GetVoters() {
		id, ok := n.peers[v]
		if !ok || v == n.raftID || slices.Contains(change.Remove, id) || !n.raftActive(v) {
			continue
		}
		if v == n.handedTo && n.ticks < n.handedAt+2*uint64(n.cfg.ElectionTicks) {
			continue // handed to it already, and still leading: try another
		}
		if pr, ok := st.Progress[v]; ok && pr.State == tracker.StateReplicate && pr.Match+n.cfg.CatchUpLagMax >= st.GetCommit() &&
			(best == 0 || pr.Match > bestMatch || pr.Match == bestMatch && v < best) {
			best, bestMatch = v, pr.Match
		}
	}
	if best == 0 {
		return false
	}
	n.cover.Sometimes(cover.LeaderHandedOff)
	n.handedTo, n.handedAt = best, n.ticks
	n.rn.TransferLeader(best)
	return true
}

// raftHeard notes a peer's answer to this node's raft messages: an append
// or heartbeat response. Only answers count — a message the peer sends on
// its own (a pre-vote, say) shows it can send, not that it hears.
func (n *Node) raftHeard(m *pb.Message) {
	if t := m.GetType(); t == pb.MsgAppResp || t == pb.MsgHeartbeatResp {
		n.heard[m.GetFrom()] = n.ticks
		if t == pb.MsgHeartbeatResp && len(m.GetContext()) == readPosBytes {
			pos := binary.LittleEndian.Uint64(m.GetContext())
			for _, p := range n.probes {
				if p.from > 0 && pos >= p.from {
					p.acked[m.GetFrom()] = true
				}
			}
		}
	}
}

// voterProbe is a round trip to the voters started when a request came: a
// ReadIndex, whose heartbeats raft marks with its read position (a
// little-endian uint64 Context, raising with every ReadIndex). from is the
// position of the first heartbeats sent after the request came (0 until
// they go out), and acked holds the voters that answered heartbeats marked
// from or later: each was up after the request came. sent is the tick of
// the last ReadIndex: one every election timeout, so that a voter slow to
// answer gets more heartbeats so marked.
type voterProbe struct {
	from, sent uint64
	acked      map[uint64]bool
}

// probeCtxBytes is a probe's ReadIndex context length: not a RequestID's
// (48), so readIndexed passes its ReadState by; readPosBytes is the length
// of raft's read position in a heartbeat's Context.
const (
	probeCtxBytes = 16
	readPosBytes  = 8
)

// probe returns the round trip of req's voters, starting one when there
// is none (or asking raft again when the last ReadIndex is an election
// timeout old).
func (n *Node) probe(req Request) *voterProbe {
	p := n.probes[req.ID]
	if p == nil {
		p = &voterProbe{acked: map[uint64]bool{}}
		n.probes[req.ID] = p
	} else if n.ticks-p.sent <= uint64(n.cfg.ElectionTicks) {
		return p
	}
	n.probeSeq++
	p.sent = n.ticks
	n.rn.ReadIndex(binary.BigEndian.AppendUint64([]byte("probe\x00\x00\x00"), n.probeSeq))
	return p
}

// markProbes gives probes still waiting for their first heartbeats the
// highest read position among the heartbeats raft sends now.
func (n *Node) markProbes(msgs []*pb.Message) {
	var pos uint64
	for _, m := range msgs {
		if m.GetType() == pb.MsgHeartbeat && len(m.GetContext()) == readPosBytes {
			pos = max(pos, binary.LittleEndian.Uint64(m.GetContext()))
		}
	}
	for _, p := range n.probes {
		if p.from == 0 {
			p.from = pos
		}
	}
}

// raftActive: the peer answered within an election timeout.
func (n *Node) raftActive(id uint64) bool {
	last, ok := n.heard[id]
	return ok && n.ticks-last <= uint64(n.cfg.ElectionTicks)
}

// caughtUp: every node is a replica that has acknowledged entries and is
// within CatchUpLagMax of the commit index (Raft §4.2.1). A learner that has
// acknowledged nothing is not caught up, however short the log: promoting
// an unreachable learner would add a voter that cannot vote.
func (n *Node) caughtUp(ids []roles.NodeID) bool {
	st := n.rn.Status()
	for _, id := range ids {
		pr, ok := st.Progress[id.RaftID()]
		if n.cfg.Planted.LaxCatchUp && ok && pr.Match+n.cfg.CatchUpLagMax >= st.GetCommit() {
			continue
		}
		if !ok || !replicaCaughtUp(pr, st.GetCommit(), n.cfg.CatchUpLagMax) {
			return false
		}
	}
	return true
}

func replicaCaughtUp(pr tracker.Progress, commit, lag uint64) bool {
	return pr.State == tracker.StateReplicate && pr.Match > 0 && pr.Match+lag >= commit
}

// promotableOrFenced: promotable, or fenced, which propose then settles.
func (n *Node) promotableOrFenced(req Request, add []roles.NodeID) bool {
	ok, fenced := n.promotable(req, add)
	return ok || fenced
}

// fence ends this node's own policy request as fenced, without a log
// entry: the audit decides again on a fresh view.
func (n *Node) fence(req Request) {
	n.cover.Sometimes(cover.PolicyFenced)
	n.deliver(Result{ID: req.ID, Err: ErrFenced})
}

func (n *Node) stage(req Request) {
	for _, s := range n.staged {
		if s.req.ID == req.ID {
			return
		}
	}
	n.staged = append(n.staged, &staged{req: req, ticksLeft: n.cfg.StageTicksMax})
}

// removalHeld reports whether an operator's shift that takes voters out
// must wait (it is staged, and proposed once it need not):
//   - while the voters it leaves would not hold a strict majority that
//     answered a round trip this leader started after the request came (a
//     ReadIndex's heartbeats, see probe): etcd's strict reconfiguration
//     check, but with evidence no earlier answer can give — a voter that
//     crashed a moment before the request still looks active by its last
//     answers (the hostile tester's h32). A removal that commits without
//     that majority leaves a mesh that cannot commit again, the policy's
//     shifts included;
//   - with self-healing, while they are fewer than the target and a node
//     the shift does not promote itself could take the leaving voters'
//     place: the policy sees them as Leaving and replaces them first, as it
//     replaces a failed voter.
//
// A voter taken out before its replacement stands leaves one failure short
// of a dead mesh (issue 12's D1: an operator removed a voter while another
// had just crashed, and the two voters left could never elect again). The
// policy's own shifts carry a Fence and are guarded by the policy.
func (n *Node) removalHeld(req Request, next roles.Shape, change roles.VoterChange) bool {
	if req.Fence != nil || len(change.Remove) == 0 {
		return false
	}
	voters := next.Voters()
	p := n.probe(req)
	live := 0
	for _, id := range voters {
		if id == n.cfg.ID || p.acked[id.RaftID()] {
			live++
		}
	}
	if 2*live <= len(voters) {
		n.cover.Sometimes(cover.RemovalHeld)
		return true
	}
	h := n.heal
	if h == nil || h.pol == nil {
		return false
	}
	target, ok := h.pol.TargetVoters(n.machine.shape)
	if !ok || live >= target {
		return false
	}
	for _, v := range n.views() {
		r, member := n.machine.shape.Roles(v.ID)
		if member && !r.Has(roles.Etcd) && r != roles.Quarantined && r != roles.Observer && !slices.Contains(change.Add, v.ID) && h.pol.Candidate(v) {
			n.cover.Sometimes(cover.RemovalHeld)
			return true
		}
	}
	return false
}

// leaving is the voters that operators' staged shifts take out of the
// voters: the policy replaces them first (see removalHeld).
func (n *Node) leaving() []roles.NodeID {
	var out []roles.NodeID
	for _, s := range n.staged {
		if s.req.Fence != nil {
			continue
		}
		if _, change, rej := n.machine.shape.Plan(s.req.Shift); rej == nil {
			out = append(out, change.Remove...)
		}
	}
	return out
}

// tickStaged proposes staged shifts whose learners have caught up.
func (n *Node) tickStaged() {
	keep := n.staged[:0]
	for _, s := range n.staged {
		next, change, rej := n.machine.shape.Plan(s.req.Shift)
		switch {
		case rej != nil || change.Empty():
			// The shape moved; the origin's retry is planned afresh.
		case !n.removalHeld(s.req, next, change) && len(n.notLearners(change.Add)) == 0 && n.caughtUp(change.Add) && n.promotableOrFenced(s.req, change.Add):
			n.propose(s.req) // its probe, still held, says it need not wait; tickStaged's end drops it
		default: // the learners are being added, or catching up, or the removal is held
			if s.ticksLeft--; s.ticksLeft > 0 {
				keep = append(keep, s)
			} else {
				n.cover.Sometimes(cover.StagedTimedOut)
			}
		}
	}
	clear(n.staged[len(keep):])
	n.staged = keep
	maps.DeleteFunc(n.probes, func(id RequestID, _ *voterProbe) bool {
		return !slices.ContainsFunc(n.staged, func(s *staged) bool { return s.req.ID == id })
	})
}

// read serves a read on a replica: a local read at once, a linearizable one
// after raft's ReadIndex confirms the leader's commit index with a quorum
// and the replica has applied up to it.
func (n *Node) read(req Request) {
	if req.Read.Local {
		r := n.serve(req)
		r.Behind = n.rn.BasicStatus().GetCommit() - min(n.applied, n.rn.BasicStatus().GetCommit())
		n.answer(req.ID, r)
		return
	}
	if _, waiting := n.reads[req.ID]; !waiting && len(n.reads) >= ReadsMax {
		return // the origin retries
	}
	n.reads[req.ID] = &readWait{req: req, ticksLeft: 2 * n.cfg.RequestTimeoutTicks}
	n.rn.ReadIndex(encodeRequestID(req.ID))
}

// serve reads the replica.
func (n *Node) serve(req Request) Result {
	st := n.machine.Store()
	r := Result{ID: req.ID, Index: n.applied, Revision: st.Revision()}
	switch req.Read.Op {
	case ReadGet:
		r.Resource, r.Err = st.Get(req.Read.Ref)
	case ReadList:
		r.Items, r.Revision = st.List(req.Read.Kind, req.Read.Namespace)
	}
	return r
}

// answer delivers a result to the request's origin, here or over the wire.
func (n *Node) answer(id RequestID, r Result) {
	if id.Origin == n.cfg.ID {
		n.deliver(r)
		return
	}
	n.send(id.Origin, Message{Kind: MsgResult, Result: &r})
}

// readIndexed records the indexes raft confirmed and serves the reads whose
// index the replica has applied, in request order.
func (n *Node) readIndexed(states []raft.ReadState) {
	for _, rs := range states {
		id, ok := decodeRequestID(rs.RequestCtx)
		if w := n.reads[id]; ok && w != nil {
			w.index = rs.Index
		}
	}
	for _, id := range sortedIDs(n.reads) {
		if w := n.reads[id]; w.index != 0 && w.index <= n.applied {
			delete(n.reads, id)
			n.answer(id, n.serve(w.req))
		}
	}
}

func (n *Node) tickReads() {
	for _, id := range sortedIDs(n.reads) {
		if w := n.reads[id]; w.index == 0 {
			if w.ticksLeft--; w.ticksLeft <= 0 {
				n.cover.Sometimes(cover.ReadIndexExpired)
				delete(n.reads, id) // never confirmed (no leader); the origin retries
			}
		}
	}
}

func (n *Node) deliver(r Result) {
	if r.ID.Origin != n.cfg.ID || r.ID.Incarnation != n.cfg.Incarnation {
		return
	}
	if _, ok := n.pending[r.ID.Seq]; !ok {
		return // already delivered, or timed out
	}
	delete(n.pending, r.ID.Seq)
	n.results = append(n.results, r)
}

func (n *Node) currentStatus() Status {
	bs := n.rn.BasicStatus()
	member := slices.Contains(n.conf.GetVoters(), n.raftID) || slices.Contains(n.conf.GetLearners(), n.raftID)
	return Status{Term: bs.GetTerm(), Lead: bs.Lead, State: bs.RaftState, Member: member}
}

// HasReady reports whether Ready has anything to hand out. The node's own
// queues are looked at first: raft's HasReady and BasicStatus allocate.
func (n *Node) HasReady() bool {
	return len(n.out) > 0 || len(n.results) > 0 || n.boot != nil ||
		n.heal != nil && (len(n.heal.decisions) > 0 || len(n.heal.changes) > 0) ||
		n.rn.HasReady() || n.status != n.currentStatus()
}

// Ready returns the pending output. The caller must handle it as the package
// doc says and then call Advance.
func (n *Node) Ready() Ready {
	var rd Ready
	if n.boot != nil {
		rd.Persist.Snapshot, rd.MustSync, n.boot = n.boot, true, nil
	}
	var applied []Applied
	if n.rn.HasReady() {
		r := n.rn.Ready()
		rd.advance = true
		if !raft.IsEmptySnap(r.Snapshot) {
			n.cover.Sometimes(cover.SnapshotInstalled)
			if err := n.restore(r.Snapshot); err != nil {
				panic(fmt.Sprintf("node %s: received snapshot: %v", n.cfg.ID.Short(), err))
			}
			rd.Persist.Snapshot = r.Snapshot
			a := Applied{Index: n.applied, Term: r.Snapshot.GetMetadata().GetTerm(), Chain: n.machine.Chain().Head()}
			n.describe(&a)
			applied = append(applied, a)
			n.events = append(n.events, store.Event{Type: store.Reset, Revision: n.machine.Store().Revision()})
		}
		if len(r.Entries) > 0 {
			if err := n.ms.Append(r.Entries); err != nil {
				panic(fmt.Sprintf("node %s: appending entries: %v", n.cfg.ID.Short(), err))
			}
			rd.Persist.Entries = r.Entries
		}
		if r.HardState != nil && !raft.IsEmptyHardState(r.HardState) {
			if err := n.ms.SetHardState(r.HardState); err != nil {
				panic(fmt.Sprintf("node %s: hard state: %v", n.cfg.ID.Short(), err))
			}
			rd.Persist.HardState = r.HardState
		}
		// raft's MustSync ignores a received snapshot, but the reply that
		// acknowledges it goes out in this Ready: the snapshot must be
		// durable first (etcd's WAL.SaveSnapshot syncs too).
		rd.MustSync = rd.MustSync || r.MustSync || !raft.IsEmptySnap(r.Snapshot)
		applied = append(applied, n.apply(r.CommittedEntries)...)
		n.readIndexed(r.ReadStates)
		confChanged := n.confChanged
		rd.Persist.Compact = n.maybeSnapshot()
		if confChanged && !n.cfg.Planted.NoConfSync {
			// The configuration changed: the snapshot holding it, and a
			// commit index covering it, are synced before anything else
			// happens. Raft's MustSync ignores commit-only hard states,
			// and a node that comes back with the voter set from before a
			// committed removal may wait forever for votes that will
			// never come.
			hs := n.rn.BasicStatus().HardState
			rd.Persist.HardState = &pb.HardState{Term: new(hs.GetTerm()), Vote: new(hs.GetVote()), Commit: new(hs.GetCommit())}
			rd.MustSync = true
		}
		if len(r.Messages) > 0 {
			rd.Messages = make([]Message, 0, len(r.Messages)+len(n.out))
			if len(n.probes) > 0 {
				n.markProbes(r.Messages)
			}
		}
		for _, m := range r.Messages {
			rd.Messages = append(rd.Messages, Message{From: n.cfg.ID, To: n.peers[m.GetTo()], Kind: MsgRaft, Raft: m})
		}
	}
	if rd.Messages == nil {
		rd.Messages = slices.Clip(n.out) // handed over: n.out starts anew below
	} else {
		rd.Messages = append(rd.Messages, n.out...)
	}
	if len(n.out) > 0 && len(n.slab) > 0 && &n.out[0] == &n.slab[0] { // the outbox was carved from the slab
		n.slab = n.slab[len(n.out):]
	}
	n.handed++
	rd.Results, rd.Applied, rd.Events = n.results, applied, n.events
	n.out, n.results, n.events = nil, nil, nil
	if h := n.heal; h != nil {
		rd.Decisions, rd.Membership = h.decisions, h.changes
		h.decisions, h.changes = nil, nil
	}
	if st := n.currentStatus(); st != n.status {
		if st.State == raft.StateLeader && n.status.State != raft.StateLeader {
			n.leaderSince = n.ticks
			if len(n.conf.GetVotersOutgoing()) > 0 {
				n.cover.Sometimes(cover.LeaderInJoint)
			}
		}
		n.status = st
		rd.Status = new(st) // a copy: st, its address not taken, stays on the stack
	}
	return rd
}

// outSlabMessages is how many messages one allocation makes room for, over
// successive outboxes.
const outSlabMessages = 32

// room makes space in the outbox for k more messages. An empty outbox is
// carved from the slab, an array that successive outboxes take their turns
// of (none shares a message with another), so the gossip a tick or a step
// sends costs an allocation per outSlabMessages messages, not one per batch
// (membership's outbox does the same). A batch handed out keeps at most its
// slab's outSlabMessages alive.
func (n *Node) room(k int) {
	if k == 0 {
		return
	}
	if n.out == nil && k <= outSlabMessages {
		if len(n.slab) < k {
			n.slab = make([]Message, outSlabMessages)
			n.slabBase = n.slab
		}
		n.out = n.slab[:0]
	}
	n.out = slices.Grow(n.out, k)
}

// Coverage is how often this node reached each rare path (package cover).
// The map is the node's; callers must only read it.
func (n *Node) Coverage() cover.Counts { return n.cover }

// Advance tells the node the Ready was handled.
func (n *Node) Advance(rd Ready) {
	if rd.advance {
		n.rn.Advance(raft.Ready{})
	}
	if n.handed > 0 {
		n.handed--
	}
	if n.cfg.RecycleOutbox && n.handed == 0 && n.out == nil {
		// Every message handed out has been sent: their memory is the
		// node's (and its membership's) again.
		n.slab = n.slabBase
		if r, ok := n.gossipRecycler(); ok {
			r.Recycle()
		}
	}
}

// gossipRecycler is the node's membership if it can take its messages back
// (membership.Membership.Recycle).
func (n *Node) gossipRecycler() (interface{ Recycle() }, bool) {
	if n.heal == nil {
		return nil, false
	}
	r, ok := n.heal.gossip.(interface{ Recycle() })
	return r, ok
}

// ReportUnreachable tells raft that a message to peer could not be sent (its
// connection failed, its queue was full, a partition cut it): raft stops
// streaming appends to it and probes instead, as etcd's transport tells it.
func (n *Node) ReportUnreachable(peer roles.NodeID) {
	n.rn.ReportUnreachable(peer.RaftID())
}

// ReportSnapshot tells raft how sending a snapshot (a MsgSnap in an earlier
// Ready) to peer ended: delivered whole, or failed. Raft sends nothing else
// to the peer while its snapshot is in flight, so the driver must report
// every MsgSnap it was given, whatever became of it.
func (n *Node) ReportSnapshot(peer roles.NodeID, delivered bool) {
	status := raft.SnapshotFailure
	if delivered {
		status = raft.SnapshotFinish
	}
	n.rn.ReportSnapshot(peer.RaftID(), status)
}

func (n *Node) apply(ents []*pb.Entry) []Applied {
	var out []Applied
	for _, e := range ents {
		if e.GetIndex() <= n.applied {
			continue
		}
		eff := n.machine.Apply(e)
		if eff.result != nil && eff.result.Duplicate {
			n.cover.Sometimes(cover.RequestDeduplicated)
		}
		if eff.cc != nil {
			n.conf = n.rn.ApplyConfChange(eff.cc)
			if len(n.conf.GetVotersOutgoing()) > 0 {
				n.cover.Sometimes(cover.JointEntered)
			}
			n.confChanged = true
		}
		n.applied, n.appliedTerm = e.GetIndex(), e.GetTerm()
		n.loggedBytes += uint64(len(e.GetData()))
		a := Applied{
			Index: e.GetIndex(), Term: e.GetTerm(), Entry: entryDigest(n.hasher, e),
			Raw: e, Result: eff.result, Chain: n.machine.Chain().Head(),
		}
		n.describe(&a)
		if eff.req != nil {
			a.Request, a.Shift = &eff.req.ID, eff.req.Shift
		}
		out = append(out, a)
		if eff.event != nil {
			n.events = append(n.events, *eff.event)
		}
		if eff.result == nil {
			continue
		}
		if eff.result.Err == ErrFenced {
			n.cover.Sometimes(cover.PolicyFenced)
		}
		if eff.req.Shift != nil && eff.result.Changed && !eff.result.Duplicate {
			n.noteShifts()
			n.shiftApplied()
			n.shapeMoved()
		}
		if eff.req.ID.Origin == n.cfg.ID || n.rn.BasicStatus().RaftState == raft.StateLeader {
			n.answer(eff.req.ID, *eff.result)
		}
	}
	return out
}

// describe fills in the shape and configuration after an applied index.
func (n *Node) describe(a *Applied) {
	d := n.machine.derive()
	a.Shape, a.ShapeVoters = d.digest, d.voters
	if n.confSorted.of != n.conf { // n.conf is replaced, never written to
		n.confSorted = confSorted{of: n.conf,
			voters:   slices.Sorted(slices.Values(n.conf.GetVoters())),
			learners: slices.Sorted(slices.Values(n.conf.GetLearners())),
			outgoing: slices.Sorted(slices.Values(n.conf.GetVotersOutgoing()))}
	}
	a.ConfVoters, a.ConfLearners, a.ConfOutgoing = n.confSorted.voters, n.confSorted.learners, n.confSorted.outgoing
}

// confSorted is a conf state's voters and learners, sorted, for describe:
// every applied entry carries them, and they change only with the conf.
type confSorted struct {
	of                         *pb.ConfState
	voters, learners, outgoing []uint64
}

// maybeSnapshot takes a snapshot at the applied index after any conf
// change, or once SnapshotEntries entries and at least the last snapshot's
// size in entry bytes were applied since it (see the package doc), and
// compacts the log behind it.
func (n *Node) maybeSnapshot() *pb.Snapshot {
	confChanged := n.confChanged
	n.confChanged = false
	periodic := n.applied-n.snapshot >= n.cfg.SnapshotEntries && n.loggedBytes >= n.snapBytes
	if n.applied == n.snapshot || (!confChanged && !periodic) {
		return nil
	}
	data := n.machine.Encode()
	snap, err := n.ms.CreateSnapshot(n.applied, n.conf, data)
	if err != nil {
		panic(fmt.Sprintf("node %s: snapshot at %d: %v", n.cfg.ID.Short(), n.applied, err))
	}
	n.snapshot, n.snapBytes, n.loggedBytes = n.applied, uint64(len(data)), 0
	if n.applied > n.cfg.CompactionTail {
		if err := n.ms.Compact(n.applied - n.cfg.CompactionTail); err != nil && err != raft.ErrCompacted {
			panic(fmt.Sprintf("node %s: compact: %v", n.cfg.ID.Short(), err))
		}
	}
	return snap
}

func raftIDs(ids []roles.NodeID) []uint64 {
	out := make([]uint64, len(ids))
	for i, id := range ids {
		out[i] = id.RaftID()
	}
	slices.Sort(out)
	return out
}

func sortedKeys[V any](m map[uint64]V) []uint64 {
	keys := make([]uint64, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func sortedIDs[V any](m map[RequestID]V) []RequestID {
	ids := make([]RequestID, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b RequestID) int {
		return cmp.Or(a.Origin.Compare(b.Origin), cmp.Compare(a.Incarnation, b.Incarnation), cmp.Compare(a.Seq, b.Seq))
	})
	return ids
}

// encodeRequestID is the ReadIndex context of a read: its request ID.
func encodeRequestID(id RequestID) []byte {
	b := append([]byte(nil), id.Origin[:]...)
	b = binary.BigEndian.AppendUint64(b, id.Incarnation)
	return binary.BigEndian.AppendUint64(b, id.Seq)
}

func decodeRequestID(b []byte) (RequestID, bool) {
	var id RequestID
	if len(b) != 48 {
		return id, false
	}
	copy(id.Origin[:], b[:32])
	id.Incarnation = binary.BigEndian.Uint64(b[32:40])
	id.Seq = binary.BigEndian.Uint64(b[40:48])
	return id, true
}
