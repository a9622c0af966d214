package sim

import (
	"context"
	"fmt"
	"sync"
	"time"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/core/node"
	"revoada.dev/revoada/core/store"
)

// MeshCallTimeout bounds the simulated time one backend call may run the
// mesh before it gives up with node.ErrTimeout.
const MeshCallTimeout = 60 * time.Second

// Mesh is a simulated mesh driven on demand instead of for a fixed duration:
// every call runs the simulation until its answer arrives. Its Backend is the
// replicated store — writes through the Raft log, linearizable reads through
// ReadIndex — so the backend conformance suite runs against the mesh itself,
// under the plan's network and faults, with the safety checks watching.
//
// Safe for concurrent use: calls take a lock and run one at a time, and each
// holds the process-wide simulation lock while it runs (see entropy.go).
type Mesh struct {
	mu      sync.Mutex
	s       *simulator
	contact int // the node the backend talks to
	fan     *backend.Fanout
	results map[node.RequestID]*node.Result
	closed  bool
}

// NewMesh boots the plan's mesh with the seed. The plan's Duration is
// ignored (the mesh runs as long as it is called); its faults fire at their
// simulated times as calls advance the clock. The backend talks to contact
// ("n1" if empty), which must start as a voter.
func NewMesh(p *Plan, seed uint64, contact Selector) (*Mesh, error) {
	q := *p
	q.Duration = DurationMax
	if contact == "" {
		contact = "n1"
	}
	if err := q.Validate(); err != nil {
		return nil, err
	}
	var k int
	if _, err := fmt.Sscanf(string(contact), "n%d", &k); err != nil || k < 1 || k > q.ControlPlane {
		// Watches and snapshots are served from the contact's replica, and
		// a worker holds none.
		return nil, fmt.Errorf("sim: mesh contact %q must name a control-plane node, n1..n%d", contact, q.ControlPlane)
	}
	m := &Mesh{fan: backend.NewFanout(), results: map[node.RequestID]*node.Result{}}
	sw, restore := installEntropy()
	defer restore()
	m.s = newSimulator(&q, seed, Options{}, sw)
	m.s.mesh = m
	m.contact = m.s.resolve(contact)[0]
	m.s.boot()
	m.s.sw = nil
	return m, nil
}

// locked runs f holding the mesh lock and the simulation's entropy switch.
func (m *Mesh) locked(f func() error) (err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("sim: mesh is closed")
	}
	sw, restore := installEntropy()
	defer restore()
	m.s.sw = sw
	defer func() { m.s.sw = nil }()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("sim: the mesh panicked: %v", r)
			m.closed = true
		}
	}()
	return f()
}

// Close ends the mesh and judges what happened: the safety properties, over
// everything the calls made the mesh do.
func (m *Mesh) Close() *Result {
	res := &Result{Scenario: "mesh"}
	_ = m.locked(func() error {
		m.s.result(res) // the safety checks ran as the mesh did
		m.closed = true
		return nil
	})
	return res
}

// runUntil steps the simulation until cond holds or limit of simulated time
// passes; it reports whether cond held.
func (s *simulator) runUntil(cond func() bool, limit time.Duration) bool {
	deadline := s.now + limit
	for !cond() {
		if s.events.len() == 0 || s.events.firstAt() > deadline {
			return false
		}
		e := s.events.pop()
		s.now = e.at
		s.stats.Events++
		s.handle(e)
	}
	return true
}

// call issues a request on the contact node and runs the mesh until its
// result arrives and the contact has applied it (read your writes).
func (m *Mesh) call(ctx context.Context, issue func(*node.Node) (node.RequestID, error)) (node.Result, error) {
	var res node.Result
	err := m.locked(func() error {
		if err := ctx.Err(); err != nil {
			return err
		}
		s := m.s
		sn := s.nodes[m.contact]
		if sn.n == nil {
			return fmt.Errorf("%w: contact %s is down", node.ErrTimeout, sn.name)
		}
		var id node.RequestID
		var err error
		s.drive(m.contact, func(n *node.Node) {
			if id, err = issue(n); err == nil {
				m.results[id] = nil
			}
		})
		if err != nil {
			return err
		}
		defer delete(m.results, id)
		if !s.runUntil(func() bool { return m.results[id] != nil }, MeshCallTimeout) {
			return node.ErrTimeout
		}
		res = *m.results[id]
		s.runUntil(func() bool { return sn.n == nil || sn.applied >= res.Index }, MeshCallTimeout)
		m.complete(&res)
		return nil
	})
	if err != nil {
		return node.Result{}, err
	}
	return res, res.Err
}

// complete fills in a write answered from the dedup table, which carries
// only the Ref and ModRevision: the network may deliver a retried or
// duplicated request's second answer first. The contact replica's history
// holds the write's event, with the whole resource, at that revision.
func (m *Mesh) complete(res *node.Result) {
	sn := m.s.nodes[m.contact]
	rev := res.Resource.ModRevision
	if !res.Duplicate || res.Err != nil || sn.n == nil || rev == 0 {
		return
	}
	evs, err := sn.n.Store().Events(rev, "")
	if err != nil || len(evs) == 0 || evs[0].Revision != rev || evs[0].Resource.Ref != res.Resource.Ref {
		return // compacted, or not there: the caller gets what the node said
	}
	res.Resource = evs[0].Resource
}

// Backend returns the replicated store as seen through the contact node.
func (m *Mesh) Backend() backend.Backend { return meshBackend{m} }

type meshBackend struct{ m *Mesh }

var _ backend.Backend = meshBackend{}

func (b meshBackend) Name() string { return "replicated" }

func (b meshBackend) Apply(ctx context.Context, r store.Resource, exp store.Expect) (store.Resource, error) {
	res, err := b.m.call(ctx, func(n *node.Node) (node.RequestID, error) {
		return n.Write(store.Command{Op: store.OpApply, Resource: r, Expect: exp})
	})
	return res.Resource, err
}

func (b meshBackend) Delete(ctx context.Context, ref store.Ref, exp store.Expect) (store.Resource, error) {
	res, err := b.m.call(ctx, func(n *node.Node) (node.RequestID, error) {
		return n.Write(store.Command{Op: store.OpDelete, Ref: ref, Expect: exp})
	})
	return res.Resource, err
}

func (b meshBackend) Get(ctx context.Context, ref store.Ref, opt backend.ReadOptions) (store.Resource, error) {
	res, err := b.m.call(ctx, func(n *node.Node) (node.RequestID, error) {
		return n.Read(node.Read{Op: node.ReadGet, Ref: ref, Local: opt.Local})
	})
	return res.Resource, err
}

func (b meshBackend) List(ctx context.Context, kind, namespace string, opt backend.ReadOptions) (backend.List, error) {
	res, err := b.m.call(ctx, func(n *node.Node) (node.RequestID, error) {
		return n.Read(node.Read{Op: node.ReadList, Kind: kind, Namespace: namespace, Local: opt.Local})
	})
	return backend.List{Items: res.Items, Revision: res.Revision}, err
}

// Watch follows the contact node's applied writes.
func (b meshBackend) Watch(ctx context.Context, kind string, from store.Revision) (backend.Watch, error) {
	var w backend.Watch
	err := b.m.locked(func() error {
		var err error
		w, err = b.m.fan.Watch(ctx, b.m.s.nodes[b.m.contact].n.Store(), kind, from)
		return err
	})
	return w, err
}

// Snapshot is the contact's store after a linearizable read, so it holds
// every write acknowledged before the call.
func (b meshBackend) Snapshot(ctx context.Context) ([]byte, error) {
	_, err := b.m.call(ctx, func(n *node.Node) (node.RequestID, error) {
		return n.Read(node.Read{Op: node.ReadList, Kind: "-barrier-"})
	})
	if err != nil {
		return nil, err
	}
	var snap []byte
	err = b.m.locked(func() error {
		snap = b.m.s.nodes[b.m.contact].n.Store().Snapshot()
		return nil
	})
	return snap, err
}

// Restore replaces the store on every replica through the log.
func (b meshBackend) Restore(ctx context.Context, snap []byte) error {
	_, err := b.m.call(ctx, func(n *node.Node) (node.RequestID, error) {
		return n.Write(store.Command{Op: store.OpRestore, Snapshot: snap})
	})
	return err
}

func (b meshBackend) Counts() backend.Counts {
	var c backend.Counts
	_ = b.m.locked(func() error {
		c = backend.Counts{Resources: b.m.s.nodes[b.m.contact].n.Store().Len(), Subscribers: b.m.fan.Count()}
		return nil
	})
	return c
}

// publish feeds the contact's store events to the backend's watches.
func (m *Mesh) publish(ev store.Event) {
	if ev.Type == store.Reset {
		m.fan.Reset(ev.Revision)
		return
	}
	m.fan.Publish(ev)
}
