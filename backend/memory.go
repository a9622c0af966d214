package backend

import (
	"context"
	"sync"

	"revoada.dev/revoada/core/store"
)

// Memory is the in-process backend: a core/store.Store behind a mutex, with
// the watch fan-out. It is the reference implementation of the contract; it
// keeps nothing on disk. (The simulation drives core/store directly: Memory
// runs a goroutine per watch, so it belongs to the real world and to tests.)
//
// Memory is safe for concurrent use. Writes are serialised; each write's
// event is queued on every watch before the write returns, so a watch opened
// after a write returned sees it (in its initial state or its history).
type Memory struct {
	mu  sync.Mutex // guards st and orders writes with their publication
	st  *store.Store
	fan *Fanout
}

var (
	_ Backend   = (*Memory)(nil)
	_ Compactor = (*Memory)(nil)
)

// NewMemory returns an empty in-memory backend at revision 0.
func NewMemory() *Memory { return &Memory{st: store.New(), fan: NewFanout()} }

// Name is "memory".
func (m *Memory) Name() string { return "memory" }

// Apply creates or updates a resource; see Backend.
func (m *Memory) Apply(ctx context.Context, r store.Resource, exp store.Expect) (store.Resource, error) {
	return m.write(ctx, func(st *store.Store) (store.Resource, store.Event, error) { return st.Apply(r, exp) })
}

// Delete removes a resource; see Backend.
func (m *Memory) Delete(ctx context.Context, ref store.Ref, exp store.Expect) (store.Resource, error) {
	return m.write(ctx, func(st *store.Store) (store.Resource, store.Event, error) { return st.Delete(ref, exp) })
}

// write runs one store write under the lock and publishes its event.
func (m *Memory) write(ctx context.Context, op func(*store.Store) (store.Resource, store.Event, error)) (store.Resource, error) {
	if err := ctx.Err(); err != nil {
		return store.Resource{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ev, err := op(m.st)
	if err != nil {
		return store.Resource{}, err
	}
	m.fan.Publish(ev)
	return r, nil
}

// Get returns a resource; reads are always current, so opt is ignored.
func (m *Memory) Get(ctx context.Context, ref store.Ref, _ ReadOptions) (store.Resource, error) {
	if err := ctx.Err(); err != nil {
		return store.Resource{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st.Get(ref)
}

// List lists resources; reads are always current, so opt is ignored.
func (m *Memory) List(ctx context.Context, kind, namespace string, _ ReadOptions) (List, error) {
	if err := ctx.Err(); err != nil {
		return List{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	items, rev := m.st.List(kind, namespace)
	return List{Items: items, Revision: rev}, nil
}

// Watch starts a watch; see the package doc. The watch ends with ctx.
func (m *Memory) Watch(ctx context.Context, kind string, from store.Revision) (Watch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.fan.Watch(ctx, m.st, kind, from)
}

// Snapshot returns the store's deterministic encoding (store.Store.Snapshot).
func (m *Memory) Snapshot(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st.Snapshot(), nil
}

// Restore replaces the state with snap's and ends every watch with a Reset.
// Errors: those of store.Restore; the state is then unchanged.
func (m *Memory) Restore(ctx context.Context, snap []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	st, err := store.Restore(snap)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.st = st
	m.fan.Reset(st.Revision())
	return nil
}

// Compact forgets history below rev (store.Store.Compact). Live watches are
// unaffected; new watches from below rev fail with store.ErrCompacted.
func (m *Memory) Compact(ctx context.Context, rev store.Revision) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.st.Compact(rev)
	return nil
}

// Counts reports the resources and live watches.
func (m *Memory) Counts() Counts {
	m.mu.Lock()
	n := m.st.Len()
	m.mu.Unlock()
	return Counts{Resources: n, Subscribers: m.fan.Count()}
}
