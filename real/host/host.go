// Package host runs one core/node.Node in production: on a wall-clock
// ticker, persisting to real/disk, talking to peers through a Transport, and
// serving the resource store as a backend.Backend.
//
// # Concurrency
//
// One goroutine, the loop, owns the node and its storage: core/node is a
// synchronous state machine, not safe for concurrent use. Every other
// goroutine reaches the node by sending a closure on the loop's inbox, a
// channel of InboxMax ops, and waiting for its answer (or its context, or
// the loop's end). The loop wakes for a tick (Config.TickInterval, 100 ms by
// default), ops (it runs those already waiting together, so concurrent
// writes share one fsync), or Close, and then runs the node's Ready loop
// exactly as the core/node package doc says:
//
//	rd := n.Ready()
//	storage.Save(rd.Persist); storage.Sync() if rd.MustSync  // durable before anything leaves
//	send rd.Messages (Transport)
//	publish rd.Events to watches; deliver rd.Results to their waiters
//	n.Advance(rd)
//
// A request's caller waits on a channel of capacity one, so the loop never
// blocks on a caller; a caller whose context ends stops waiting, and the
// request still runs to its Result (applied, refused, or node.ErrTimeout),
// which then goes nowhere. A write whose caller gave up may therefore still
// be applied, as with etcd.
//
// A storage error stops the loop (a failed fsync cannot be retried
// safely); every call then answers that error. Close stops the loop,
// syncs what was saved and closes the storage.
//
// # Identity and bootstrap
//
// The data directory holds node.key (the node's ed25519 private key, PKCS#8
// PEM, mode 0600, made on first start; its public key is the node's ID)
// and raft.db (disk.Storage). Every start takes the next incarnation from
// raft.db. The bootstrap shape is Config.Bootstrap, identical on every node
// of the mesh, or this node alone with every control-plane role: a mesh of
// one voter. A node that is the only member of its shape campaigns at once:
// it ticks through its election timeout without waiting for the wall clock,
// since there is no peer whose heartbeat it could miss.
//
// # Peers
//
// The node's transport (Config.Transport, made with the node's key) carries
// its messages to the peers of Config.Peers. A message it refuses, or one
// with no transport, is dropped and counted (Stats.Unsent, SendErrors), and
// raft hears of it (node.ReportUnreachable, and ReportSnapshot for a
// MsgSnap): raft and the node's request retries treat a lost message as the
// network's doing. What peers send, and the transport's reports, reach the
// loop through a peer inbox of PeerInboxMax entries, apart from the ops of
// callers; a full peer inbox drops (Stats.PeerDrops), as etcd's receive
// buffer does.
package host

import (
	"cmp"
	"context"
	"crypto/ed25519"
	crand "crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/core/attest"
	"revoada.dev/revoada/core/membership"
	"revoada.dev/revoada/core/node"
	"revoada.dev/revoada/core/policy"
	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/core/topology"
	"revoada.dev/revoada/net/transport"
	"revoada.dev/revoada/real/disk"
	"revoada.dev/revoada/real/gossip"
)

// Files in the data directory.
const (
	KeyFile     = "node.key"
	StorageFile = "raft.db"
)

// DefaultTickInterval is the wall-clock length of one node tick.
const DefaultTickInterval = 100 * time.Millisecond

// AuditInterval is how often the leader audits the shape at the default
// tick, as in the simulator (sim.AuditEvery): every AuditInterval /
// DefaultTickInterval ticks. Time in the core is ticks, so a node run with
// a shorter tick audits as often in ticks, and its whole policy (grace,
// damper, stabilisation, all in ticks) runs that much faster, as the
// simulator's clock rate does.
const AuditInterval = time.Second

// Limits.
const (
	InboxMax       = 256  // ops waiting for the loop
	PeerInboxMax   = 4096 // messages and reports from peers waiting for the loop (etcd's recvBufSize)
	opsPerReadyMax = 64   // ops the loop runs before it handles their Ready
	readyLoopsMax  = 64   // Ready batches handled per wake-up before the loop looks at its inbox again
)

// ErrClosed answers calls on a node that was closed.
var ErrClosed = errors.New("host: node closed")

// Config configures a host.
type Config struct {
	Dir          string        // the data directory; made (0700) if absent
	TickInterval time.Duration // 0 for DefaultTickInterval
	// Bootstrap is the mesh's initial shape, the same on every node and
	// holding this one; empty for a mesh of this node alone. With Join, it
	// is the shape of the running mesh this node joins, without it.
	Bootstrap roles.Shape
	// Join starts a node that joins a running mesh: it has no raft state
	// until a member admits it (Node.Admit) and a leader replicates to it,
	// and until then its peers drop what it sends.
	Join bool
	// Advertise is where peers reach this node, gossiped so that a node
	// admitted later finds it, and it them ("" gossips no address).
	Advertise string
	// Peers is where each other node listens, for the transport.
	Peers map[roles.NodeID]string
	// Target, on a mesh of more than one node, turns self-healing on:
	// gossip membership beside raft, and the leader's policy auditing the
	// shape towards this topology every AuditInterval at the default tick
	// (package policy's default tuning, in ticks).
	Target topology.Strategy
	// Transport makes the node's transport from its key and the handler
	// of what peers send (real/tcp, or net/transport/memtransport in
	// tests); nil for none.
	Transport func(key ed25519.PrivateKey, h transport.Handler) (transport.Transport, error)
	// Memberlist, with Target, runs membership over hashicorp/memberlist
	// (real/gossip) instead of the core's gossip through the transport.
	Memberlist *Memberlist
	// Mesh names the mesh for memberlist's label; "" for "revoada".
	Mesh   string
	Logger *slog.Logger // nil: discard
	// Observer, if not nil, hears how long the node's syncs and the
	// verbs its Backend serves take (package real/metrics).
	Observer Observer
}

// Observer hears what a node times, for metrics. Its methods are called
// on the node's goroutines, the loop's included, and must not block.
type Observer interface {
	// Synced: a Sync of raft.db committed in d, its fsync included
	// (disk.Storage.ObserveSyncs).
	Synced(d time.Duration)
	// Served: the node's Backend answered verb in d, with an error or not.
	Served(verb Verb, d time.Duration)
}

// Verb names a client verb the Backend serves.
type Verb string

// The verbs.
const (
	VerbApply  Verb = "apply"
	VerbGet    Verb = "get"
	VerbList   Verb = "list"
	VerbDelete Verb = "delete"
	VerbWatch  Verb = "watch" // starting a watch: the stream then runs on its own
)

// Verbs are the verbs, in a fixed order.
var Verbs = []Verb{VerbApply, VerbGet, VerbList, VerbDelete, VerbWatch}

// Stats counts what the loop did, and what its last Ready batches said,
// read as etcd's raft loop reads its Ready for its server metrics
// (etcd server/etcdserver/raft.go and metrics.go).
type Stats struct {
	Ticks      uint64 // wall-clock ticks given to the node
	Unsent     uint64 // messages dropped: no transport, or a peer with no ID
	SendErrors uint64 // messages the transport refused
	PeerDrops  uint64 // messages and reports from peers dropped: the peer inbox was full
	Strangers  uint64 // messages dropped: their sender is not in the shape

	HasLeader bool // the node knows a leader
	IsLeader  bool // the node is the leader
	// LeaderChanges counts the times the leader the node knows became
	// another node, the first leader it knew included (etcd's rule: a
	// change to a leader, not to none).
	LeaderChanges uint64
	Committed     uint64 // the commit index in the hard state last persisted
	Applied       uint64 // the index last applied
	// ProposalsPending are the requests through the log (writes and role
	// shifts) whose callers wait now; ProposalsFailed those that ended
	// without an answer from the log: timed out, given up by their
	// caller, refused before the log, or cut short by Close.
	ProposalsPending int64
	ProposalsFailed  uint64
	// Members is the node's gossip view by health, as of its last change
	// (zero without self-healing).
	Members [membership.Dead + 1]int
	// Audits counts the node's policy audits as leader by decision:
	// "propose", or the reason one was withheld (policy.Reason).
	Audits map[string]uint64
}

// Node is one running node. Its methods are safe for concurrent use.
type Node struct {
	id      roles.NodeID
	key     ed25519.PrivateKey
	cfg     Config
	storage *disk.Storage
	fan     *backend.Fanout
	log     *slog.Logger

	electionTicks int // the node's, for campaignAlone

	inbox chan func(*loop)
	peers chan func(*loop)    // what the transport delivers: see Receive
	tr    transport.Transport // nil without Config.Transport
	ml    *gossip.Gossip      // nil without Config.Memberlist
	stop  chan struct{}
	done  chan struct{} // closed when the loop has returned
	err   error         // why the loop stopped early; read after done

	closeOnce sync.Once
	closeErr  error

	resources                                       atomic.Int64
	ticks, unsent, sendErrors, peerDrops, strangers atomic.Uint64

	// What the loop's Readys said (Stats); the loop writes them.
	hasLeader, isLeader               atomic.Bool
	leaderChanges, committed, applied atomic.Uint64
	members                           [membership.Dead + 1]atomic.Int64
	auditsMu                          sync.Mutex
	audits                            map[string]uint64
	// The proposals (propose).
	proposalsPending atomic.Int64
	proposalsFailed  atomic.Uint64
}

// Start opens (or makes) the data directory and starts the node's loop.
// Errors: a bad directory or key file, disk.ErrCorrupt or disk.ErrLocked
// from raft.db, or the node's own.
func Start(cfg Config) (*Node, error) {
	if cfg.Dir == "" {
		return nil, errors.New("host: no data directory")
	}
	if cfg.TickInterval <= 0 {
		cfg.TickInterval = DefaultTickInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	key, err := openKey(cfg.Dir)
	if err != nil {
		return nil, err
	}
	storage, err := disk.OpenStorage(filepath.Join(cfg.Dir, StorageFile))
	if err != nil {
		return nil, err
	}
	if cfg.Observer != nil {
		storage.ObserveSyncs(cfg.Observer.Synced)
	}
	h := &Node{
		id: nodeID(key), key: key, cfg: cfg, storage: storage, fan: backend.NewFanout(), log: cfg.Logger,
		inbox: make(chan func(*loop), InboxMax), peers: make(chan func(*loop), PeerInboxMax),
		stop: make(chan struct{}), done: make(chan struct{}), audits: map[string]uint64{},
	}
	n, err := h.newNode()
	if err != nil {
		storage.Close()
		return nil, err
	}
	if cfg.Transport != nil {
		if h.tr, err = cfg.Transport(key, h); err != nil {
			storage.Close()
			return nil, fmt.Errorf("host: transport: %w", err)
		}
		for id, addr := range cfg.Peers {
			if id != h.id {
				h.tr.SetPeer(id, addr)
			}
		}
	}
	go h.run(n)
	return h, nil
}

// Status is what a node knows of the mesh, for operators.
type Status struct {
	ID      roles.NodeID
	Raft    node.Status
	Applied uint64      // the last applied index
	Shape   roles.Shape // the newest shape the node knows (node.Node.View)
	// Members is the node's gossip view (nil without self-healing).
	Members []membership.Member
	// Decision is the node's last policy audit as leader, nil if none.
	Decision *node.Decision
	// InShape: the node is a member of the newest shape it knows (false
	// while a joining node waits to be admitted, and once it left).
	InShape bool
}

// Status reports what the node knows now.
func (h *Node) Status(ctx context.Context) (Status, error) {
	var st Status
	err := h.exec(ctx, func(l *loop) {
		st = Status{ID: h.id, Raft: l.n.Status(), Applied: l.n.AppliedIndex(), Shape: l.n.View(), Members: l.n.Members(), InShape: l.n.InShape()}
		if l.decision != nil {
			d := *l.decision
			st.Decision = &d
		}
	})
	return st, err
}

// Chain is the attested role history this node's replica holds: the
// genesis block and a leader-signed block per role change applied since.
func (h *Node) Chain(ctx context.Context) ([]attest.Block, error) {
	var blocks []attest.Block
	err := h.exec(ctx, func(l *loop) { blocks = l.n.Chain().Blocks() })
	return blocks, err
}

// Admit makes id a member of the mesh, a worker, reached at addr: a Join
// through the log, which carries addr to every replica (the leader tells
// the new member it is one), and which the policy may then promote.
// Admitting a member changes nothing. The node at addr must run with
// Config.Join (or be restarted from a directory that was a member once).
// It reports whether the shape changed: false for a member already.
func (h *Node) Admit(ctx context.Context, id roles.NodeID, addr string) (changed bool, err error) {
	r, err := h.propose(ctx, func(n *node.Node) (node.RequestID, error) {
		return n.Submit(roles.Shift{{Kind: roles.Join, Node: id, Reason: roles.Operator, Addr: addr}})
	})
	return r.Changed, err
}

// Leave takes this node out of the mesh: a Leave through the log (an etcd
// holder leaves the raft voters by joint consensus, a leader hands its
// leadership over first), then it waits until the node knows it left,
// from the log or from the leader's shape. The node keeps running: Close
// it then. Errors: the Leave's rejection (roles.ErrLastVoter for the last
// etcd holder), or ctx's.
func (h *Node) Leave(ctx context.Context) error {
	_, err := h.propose(ctx, func(n *node.Node) (node.RequestID, error) {
		return n.Submit(roles.Shift{{Kind: roles.Leave, Node: h.id, Reason: roles.Operator}})
	})
	if err != nil && !errors.Is(err, node.ErrTimeout) {
		return err // a removed voter may hear no answer: its leader is gone
	}
	tick := time.NewTicker(h.cfg.TickInterval)
	defer tick.Stop()
	for {
		var in bool
		if err := h.exec(ctx, func(l *loop) { in = l.n.InShape() }); err != nil {
			return err
		}
		if !in {
			h.log.Info("left the mesh", "id", h.id.String())
			h.leaveMemberlist(2 * time.Second)
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("host: leaving: %w", ctx.Err())
		}
	}
}

// SetClockRate makes the node's clock run at rate times its speed from
// now on, a tick every TickInterval/rate: the simulator's clock fault
// (time in the core is ticks), which 'revoada real' injects through it.
// Errors: a rate that is not a positive finite factor, ctx's, ErrClosed.
func (h *Node) SetClockRate(ctx context.Context, rate float64) error {
	if !(rate > 0) || math.IsInf(rate, 1) {
		return fmt.Errorf("host: clock rate %v: want a positive factor", rate)
	}
	d := max(time.Duration(float64(h.cfg.TickInterval)/rate), time.Millisecond)
	return h.exec(ctx, func(l *loop) { l.ticker.Reset(d) })
}

// Shift submits a role shift (an operator's command) and waits for its
// result: nil when it committed, a *roles.Rejection when the shape's rules
// refused it, node.ErrTimeout when no answer came in time (it may still
// commit), or ctx's error.
func (h *Node) Shift(ctx context.Context, sh roles.Shift) (node.Result, error) {
	return h.propose(ctx, func(n *node.Node) (node.RequestID, error) { return n.Submit(sh) })
}

// SetPeer tells the transport where peer id listens now.
func (h *Node) SetPeer(id roles.NodeID, addr string) {
	if h.tr != nil && id != h.id {
		h.tr.SetPeer(id, addr)
	}
}

// Receive steps a message from a peer into the node, on the loop; the
// transport calls it (transport.Handler). It never blocks: with the peer
// inbox full the message is dropped and counted. A message of any kind
// from a node outside the shape is dropped and counted (Stats.Strangers):
// the transport proves who a peer is, not that it belongs, and a stranger
// could otherwise depose the leader with a higher term, forward writes to
// it, or enter the gossip view. (A mesh that admits new nodes will admit
// them here.)
func (h *Node) Receive(m node.Message) {
	h.fromPeer(func(l *loop) {
		if !l.n.IsMember(m.From) {
			h.strangers.Add(1)
			l.n.StepStranger(m) // a shape notice whose role history proves it is taken
			return
		}
		l.n.Step(m)
	})
}

// Report hands the transport's news about a peer to raft, on the loop
// (transport.Handler).
func (h *Node) Report(r transport.Report) {
	h.fromPeer(func(l *loop) {
		switch r.Kind {
		case transport.Unreachable:
			l.n.ReportUnreachable(r.Peer)
		case transport.SnapshotDone, transport.SnapshotFailed:
			l.n.ReportSnapshot(r.Peer, r.Kind == transport.SnapshotDone)
		}
	})
}

func (h *Node) fromPeer(op func(*loop)) {
	select {
	case h.peers <- op:
	default:
		h.peerDrops.Add(1)
	}
}

// newNode makes the node from what raft.db holds, with a new incarnation.
func (h *Node) newNode() (*node.Node, error) {
	inc, err := h.storage.NextIncarnation()
	if err != nil {
		return nil, err
	}
	durable, err := h.storage.Load()
	if err != nil {
		return nil, err
	}
	shape := h.cfg.Bootstrap
	if shape.Len() == 0 {
		if shape, err = roles.NewShape([]roles.Member{{Node: h.id, Roles: roles.ControlPlane}}); err != nil {
			return nil, err
		}
	}
	cfg := node.DefaultConfig(h.id, shape, seededRand())
	cfg.Incarnation, cfg.Join, cfg.Addr = inc, h.cfg.Join, h.cfg.Advertise
	cfg.Key, cfg.Now = h.key, func() int64 { return time.Now().UnixNano() } // signs its shifts as leader (core/attest)
	if shape.Len() > 1 && h.cfg.Target != nil {
		pc := policy.DefaultConfig(h.cfg.Target)
		cfg.Policy = &pc
		cfg.AuditTicks = max(1, int(AuditInterval/DefaultTickInterval))
		if ml := h.cfg.Memberlist; ml != nil {
			mesh := cmp.Or(h.cfg.Mesh, "revoada")
			cfg.Membership = h.memberlistMaker(*ml, mesh)
		} else {
			g := membership.DefaultConfig(h.key, seededRand())
			cfg.Gossip = &g
		}
	}
	h.electionTicks = cfg.ElectionTicks
	n, err := node.New(cfg, durable)
	if err != nil {
		return nil, fmt.Errorf("host: %w", err)
	}
	h.log.Info("node started", "id", h.id.String(), "incarnation", inc, "dir", h.cfg.Dir)
	return n, nil
}

// seededRand is the node's random stream, seeded from the operating
// system: production has no seed to replay.
func seededRand() *rand.Rand {
	var seed [32]byte
	crand.Read(seed[:])
	return rand.New(rand.NewChaCha8(seed))
}

// ID is the node's ID, its public key.
func (h *Node) ID() roles.NodeID { return h.id }

// Stats returns the loop's counters, each read on its own.
func (h *Node) Stats() Stats {
	s := Stats{Ticks: h.ticks.Load(), Unsent: h.unsent.Load(), SendErrors: h.sendErrors.Load(), PeerDrops: h.peerDrops.Load(), Strangers: h.strangers.Load(),
		HasLeader: h.hasLeader.Load(), IsLeader: h.isLeader.Load(), LeaderChanges: h.leaderChanges.Load(), Committed: h.committed.Load(), Applied: h.applied.Load(),
		ProposalsPending: h.proposalsPending.Load(), ProposalsFailed: h.proposalsFailed.Load()}
	for i := range h.members {
		s.Members[i] = int(h.members[i].Load())
	}
	h.auditsMu.Lock()
	s.Audits = maps.Clone(h.audits)
	h.auditsMu.Unlock()
	return s
}

// Close stops the transport and the loop, syncs what was saved and closes
// the storage. Live watches receive no more events; they end with their
// context or Close. Calls after Close answer ErrClosed.
func (h *Node) Close() error {
	h.closeOnce.Do(func() {
		var trErr error
		if h.tr != nil {
			trErr = h.tr.Close() // no Receive or Report after it returns
		}
		close(h.stop)
		<-h.done
		var mlErr error
		if h.ml != nil {
			mlErr = h.ml.Close()
		}
		h.closeErr = errors.Join(h.err, trErr, mlErr, h.storage.Close())
	})
	return h.closeErr
}

// stopped is the error of a call that found the loop gone.
func (h *Node) stopped() error {
	if h.err != nil {
		return h.err
	}
	return ErrClosed
}

// exec runs op on the loop and waits until it ran. Ops must not block.
func (h *Node) exec(ctx context.Context, op func(*loop)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ran := make(chan struct{})
	select {
	case h.inbox <- func(l *loop) { op(l); close(ran) }:
	case <-ctx.Done():
		return ctx.Err()
	case <-h.done:
		return h.stopped()
	}
	select {
	case <-ran:
		return nil
	case <-h.done: // stopped before it took the op
		return h.stopped()
	}
}

// propose is request for a request through the log (a write or a role
// shift), counted as etcd counts proposals: pending while its caller
// waits, failed when it ends without the log's answer (a Result applied
// at an index, as a refusal by the store or the shape's rules is).
func (h *Node) propose(ctx context.Context, submit func(*node.Node) (node.RequestID, error)) (node.Result, error) {
	h.proposalsPending.Add(1)
	defer h.proposalsPending.Add(-1)
	r, err := h.request(ctx, submit)
	if err != nil && r.Index == 0 {
		h.proposalsFailed.Add(1)
	}
	return r, err
}

// served tells the observer, if any, that the Backend answered verb.
func (h *Node) served(verb Verb, began time.Time) {
	if h.cfg.Observer != nil {
		h.cfg.Observer.Served(verb, time.Since(began))
	}
}

// request submits a request on the loop and waits for its Result.
func (h *Node) request(ctx context.Context, submit func(*node.Node) (node.RequestID, error)) (node.Result, error) {
	reply := make(chan node.Result, 1)
	err := h.exec(ctx, func(l *loop) {
		id, err := submit(l.n)
		if err != nil {
			reply <- node.Result{Err: err}
			return
		}
		l.waiters[id] = reply
	})
	if err != nil {
		return node.Result{}, err
	}
	select {
	case r := <-reply:
		return r, r.Err
	case <-ctx.Done():
		return node.Result{}, ctx.Err()
	case <-h.done:
		select {
		case r := <-reply:
			return r, r.Err
		default:
			return node.Result{}, h.stopped()
		}
	}
}
