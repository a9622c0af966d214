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
// raft.db. The bootstrap shape is this node alone with every control-plane
// role: a mesh of one voter. A node that is the only member of its shape
// campaigns at once: it ticks through its election timeout without waiting
// for the wall clock, since there is no peer whose heartbeat it could miss.
//
// # Peers
//
// Messages for peers go to Config.Transport. With none (or to a peer the
// node cannot name) they are counted in Stats.Unsent and dropped: raft and
// the node's request retries treat a lost message as the network's doing.
// The inbound side (a transport stepping messages into the node) comes with
// the first real transport.
package host

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/core/node"
	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/real/disk"
)

// Files in the data directory.
const (
	KeyFile     = "node.key"
	StorageFile = "raft.db"
)

// DefaultTickInterval is the wall-clock length of one node tick.
const DefaultTickInterval = 100 * time.Millisecond

// Limits.
const (
	InboxMax       = 256 // ops waiting for the loop
	opsPerReadyMax = 64  // ops the loop runs before it handles their Ready
	readyLoopsMax  = 64  // Ready batches handled per wake-up before the loop looks at its inbox again
)

// ErrClosed answers calls on a node that was closed.
var ErrClosed = errors.New("host: node closed")

// Config configures a host.
type Config struct {
	Dir          string        // the data directory; made (0700) if absent
	TickInterval time.Duration // 0 for DefaultTickInterval
	Transport    Transport     // nil: no peers
	Logger       *slog.Logger  // nil: discard
}

// Transport carries a node's messages to its peers. Send hands m over and
// returns without waiting for delivery: the loop calls it between
// persisting a Ready and delivering its results, so it must not block on
// the network. A transport may drop messages; raft and the node's request
// retries recover.
type Transport interface {
	Send(m node.Message) error
}

// Stats counts what the loop did.
type Stats struct {
	Ticks      uint64 // wall-clock ticks given to the node
	Unsent     uint64 // messages dropped: no transport, or a peer with no ID
	SendErrors uint64 // messages the transport refused
}

// Node is one running node. Its methods are safe for concurrent use.
type Node struct {
	id      roles.NodeID
	cfg     Config
	storage *disk.Storage
	fan     *backend.Fanout
	log     *slog.Logger

	electionTicks int // the node's, for campaignAlone

	inbox chan func(*loop)
	stop  chan struct{}
	done  chan struct{} // closed when the loop has returned
	err   error         // why the loop stopped early; read after done

	closeOnce sync.Once
	closeErr  error

	resources                 atomic.Int64
	ticks, unsent, sendErrors atomic.Uint64
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
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("host: data directory: %w", err)
	}
	key, err := loadOrCreateKey(filepath.Join(cfg.Dir, KeyFile))
	if err != nil {
		return nil, err
	}
	storage, err := disk.OpenStorage(filepath.Join(cfg.Dir, StorageFile))
	if err != nil {
		return nil, err
	}
	h := &Node{
		id: nodeID(key), cfg: cfg, storage: storage, fan: backend.NewFanout(), log: cfg.Logger,
		inbox: make(chan func(*loop), InboxMax), stop: make(chan struct{}), done: make(chan struct{}),
	}
	n, err := h.newNode()
	if err != nil {
		storage.Close()
		return nil, err
	}
	go h.run(n)
	return h, nil
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
	shape, err := roles.NewShape([]roles.Member{{Node: h.id, Roles: roles.ControlPlane}})
	if err != nil {
		return nil, err
	}
	cfg := node.DefaultConfig(h.id, shape, seededRand())
	cfg.Incarnation = inc
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

// Stats returns the loop's counters.
func (h *Node) Stats() Stats {
	return Stats{Ticks: h.ticks.Load(), Unsent: h.unsent.Load(), SendErrors: h.sendErrors.Load()}
}

// Close stops the loop, syncs what was saved and closes the storage. Live
// watches receive no more events; they end with their context or Close.
// Calls after Close answer ErrClosed.
func (h *Node) Close() error {
	h.closeOnce.Do(func() {
		close(h.stop)
		<-h.done
		h.closeErr = errors.Join(h.err, h.storage.Close())
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
