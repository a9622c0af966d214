package disk

import (
	"context"
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/core/store"
)

// Backend is the durable single-node backend: a core/store.Store whose every
// write is one fsync'd bbolt transaction (see the package doc for the
// layout). The file is the truth; the Store is a cache of it, decoded at open
// and changed in step with each commit, which serves every read, Watch and
// Snapshot without touching the file.
//
// A write runs against the cache, is committed to the file, and only then is
// published to watches and returned, so an acknowledged write survives a
// crash and a reopen gives the same resources, revisions and history. If a
// commit fails the cache is reloaded from the file (the write did not
// happen) and the write answers the error; if even the reload fails, the
// Backend refuses every later call with that error.
//
// Backend is safe for concurrent use. Writes are serialised (one bbolt
// writer at a time anyway); reads wait for the write in progress.
type Backend struct {
	path string
	db   *bolt.DB
	fan  *backend.Fanout

	mu     sync.Mutex // guards st, broken and closed; orders writes with their publication
	st     *store.Store
	broken error // the cache could not be reloaded after a failed commit
	closed bool
}

var (
	_ backend.Backend   = (*Backend)(nil)
	_ backend.Compactor = (*Backend)(nil)
)

const backendLayout = "revoada-backend/1"

// Bucket and key names.
var (
	bucketMeta      = []byte("meta")
	bucketResources = []byte("resources")
	bucketHistory   = []byte("history")
	keyRevision     = "revision"
)

// OpenBackend opens the backend file at path, creating it if absent; the
// directory must exist. Errors: ErrCorrupt (naming path) for a damaged or
// foreign file, ErrLocked when another process holds it, or the operating
// system's error.
func OpenBackend(path string) (*Backend, error) {
	db, err := open(path, string(bucketMeta), backendLayout, func(tx *bolt.Tx) error {
		return createBuckets(tx, string(bucketResources), string(bucketHistory))
	})
	if err != nil {
		return nil, err
	}
	b := &Backend{path: path, db: db, fan: backend.NewFanout()}
	if b.st, err = b.load(); err != nil {
		db.Close()
		return nil, err
	}
	return b, nil
}

// load decodes the file into a Store.
func (b *Backend) load() (*store.Store, error) {
	var st *store.Store
	err := guard(b.path, func() error {
		return b.db.View(func(tx *bolt.Tx) error {
			var err error
			if st, err = loadStore(tx); err != nil {
				return corrupt(b.path, err)
			}
			return nil
		})
	})
	return st, err
}

// Name is "bbolt".
func (b *Backend) Name() string { return "bbolt" }

// Path is the file's path.
func (b *Backend) Path() string { return b.path }

// Close closes the file. Later calls answer ErrClosed. Live watches receive
// no more events; they end with their context or their Close.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	return b.db.Close()
}

// usable answers why the backend cannot serve a call, if it cannot. b.mu is
// held.
func (b *Backend) usable(ctx context.Context) error {
	switch {
	case b.closed:
		return fmt.Errorf("%w: %s", ErrClosed, b.path)
	case b.broken != nil:
		return b.broken
	}
	return ctx.Err()
}

// Apply creates or updates a resource; see backend.Backend.
func (b *Backend) Apply(ctx context.Context, r store.Resource, exp store.Expect) (store.Resource, error) {
	return b.write(ctx, func(st *store.Store) (store.Resource, store.Event, error) { return st.Apply(r, exp) })
}

// Delete removes a resource; see backend.Backend.
func (b *Backend) Delete(ctx context.Context, ref store.Ref, exp store.Expect) (store.Resource, error) {
	return b.write(ctx, func(st *store.Store) (store.Resource, store.Event, error) { return st.Delete(ref, exp) })
}

// write runs one store write on the cache, commits it, then publishes it.
func (b *Backend) write(ctx context.Context, op func(*store.Store) (store.Resource, store.Event, error)) (store.Resource, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.usable(ctx); err != nil {
		return store.Resource{}, err
	}
	first := b.st.Compacted()
	r, ev, err := op(b.st)
	if err != nil {
		return store.Resource{}, err // the store is unchanged
	}
	err = b.db.Update(func(tx *bolt.Tx) error { return putEvent(tx, ev, first, b.st.Compacted()) })
	if err != nil {
		return store.Resource{}, b.reload(err)
	}
	b.fan.Publish(ev)
	return r, nil
}

// reload puts the cache back in step with the file after a failed commit and
// returns the commit's error. b.mu is held.
func (b *Backend) reload(commitErr error) error {
	err := fmt.Errorf("disk: %s: commit: %w", b.path, commitErr)
	st, lerr := b.load()
	if lerr != nil {
		b.broken = fmt.Errorf("disk: %s: unusable after a failed commit (%v): %w", b.path, commitErr, lerr)
		return b.broken
	}
	b.st = st
	return err
}

// Get returns a resource; reads are always current, so opt is ignored.
func (b *Backend) Get(ctx context.Context, ref store.Ref, _ backend.ReadOptions) (store.Resource, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.usable(ctx); err != nil {
		return store.Resource{}, err
	}
	return b.st.Get(ref)
}

// List lists resources; reads are always current, so opt is ignored.
func (b *Backend) List(ctx context.Context, kind, namespace string, _ backend.ReadOptions) (backend.List, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.usable(ctx); err != nil {
		return backend.List{}, err
	}
	items, rev := b.st.List(kind, namespace)
	return backend.List{Items: items, Revision: rev}, nil
}

// Watch starts a watch; see the backend package doc. It ends with ctx.
func (b *Backend) Watch(ctx context.Context, kind string, from store.Revision) (backend.Watch, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.usable(ctx); err != nil {
		return nil, err
	}
	return b.fan.Watch(ctx, b.st, kind, from)
}

// Snapshot returns the store's deterministic encoding (store.Store.Snapshot).
func (b *Backend) Snapshot(ctx context.Context) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.usable(ctx); err != nil {
		return nil, err
	}
	return b.st.Snapshot(), nil
}

// Restore replaces the file's whole content with snap's in one transaction
// and ends every watch with a Reset. Errors: those of store.Restore (the
// state is then unchanged), or the commit's.
func (b *Backend) Restore(ctx context.Context, snap []byte) error {
	st, err := store.Restore(snap)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.usable(ctx); err != nil {
		return err
	}
	if err := b.db.Update(func(tx *bolt.Tx) error { return putStore(tx, st) }); err != nil {
		return fmt.Errorf("disk: %s: commit: %w", b.path, err)
	}
	b.st = st
	b.fan.Reset(st.Revision())
	return nil
}

// Compact forgets history below rev, in the file and the cache. Live watches
// are unaffected; new watches from below rev fail with store.ErrCompacted.
func (b *Backend) Compact(ctx context.Context, rev store.Revision) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.usable(ctx); err != nil {
		return err
	}
	first := b.st.Compacted()
	b.st.Compact(rev)
	err := b.db.Update(func(tx *bolt.Tx) error { return dropHistory(tx, first, b.st.Compacted()) })
	if err != nil {
		return b.reload(err)
	}
	return nil
}

// Counts reports the resources and live watches.
func (b *Backend) Counts() backend.Counts {
	b.mu.Lock()
	n := b.st.Len()
	b.mu.Unlock()
	return backend.Counts{Resources: n, Subscribers: b.fan.Count()}
}
