package host

import (
	"context"
	"fmt"
	"slices"
	"time"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/core/face"
	"revoada.dev/revoada/core/node"
	"revoada.dev/revoada/core/store"
)

// Backend is a node's resource store as a backend.Backend ("raft"): writes
// go through the Raft log, reads are linearizable (ReadIndex) unless
// ReadOptions.Local, watches and snapshots are served from the node's own
// replica. Restore is not built: see Restore.
//
// A write that the log applied twice (a retried request) is answered from
// the node's dedup table, whose Result holds only the Ref and ModRevision
// of the write (node.Result.Duplicate); Apply and Delete then return just
// those.
type Backend struct{ h *Node }

var _ backend.Backend = (*Backend)(nil)

// Backend returns the node's store as a backend.Backend.
func (h *Node) Backend() *Backend { return &Backend{h: h} }

// Name is "raft".
func (b *Backend) Name() string { return "raft" }

// Apply proposes the write and waits for it to be applied; see
// backend.Backend. Input that can never apply (a bad ref, an oversize
// payload) is refused before it reaches the log.
func (b *Backend) Apply(ctx context.Context, r store.Resource, exp store.Expect) (store.Resource, error) {
	defer b.h.served(VerbApply, time.Now())
	r.Payload = slices.Clone(r.Payload) // the node keeps the request for retries
	c := store.Command{Op: store.OpApply, Resource: r, Expect: exp}
	if err := c.Validate(); err != nil {
		return store.Resource{}, err
	}
	// The node's door: whichever client sent it, a resource is one its face
	// would have made (face.Validate), so nothing a face refuses is stored.
	if err := face.Validate(r); err != nil {
		return store.Resource{}, fmt.Errorf("%s: %w", r.Ref, err)
	}
	res, err := b.h.propose(ctx, func(n *node.Node) (node.RequestID, error) { return n.Write(c) })
	return res.Resource, err
}

// Delete proposes the delete and waits for it to be applied.
func (b *Backend) Delete(ctx context.Context, ref store.Ref, exp store.Expect) (store.Resource, error) {
	defer b.h.served(VerbDelete, time.Now())
	if err := ref.Validate(); err != nil {
		return store.Resource{}, err
	}
	c := store.Command{Op: store.OpDelete, Ref: ref, Expect: exp}
	res, err := b.h.propose(ctx, func(n *node.Node) (node.RequestID, error) { return n.Write(c) })
	return res.Resource, err
}

// Get reads one resource.
func (b *Backend) Get(ctx context.Context, ref store.Ref, opt backend.ReadOptions) (store.Resource, error) {
	r, _, err := b.GetServed(ctx, ref, opt)
	return r, err
}

// GetServed is Get, with the store revision the read was served at (also
// for a resource not found there): what a client history needs to judge
// the read against the others (package checkers).
func (b *Backend) GetServed(ctx context.Context, ref store.Ref, opt backend.ReadOptions) (store.Resource, store.Revision, error) {
	r, rev, _, err := b.GetBehind(ctx, ref, opt)
	return r, rev, err
}

// GetBehind is GetServed, and for a local read how many entries the
// replica knew committed but had not applied (List.Behind).
func (b *Backend) GetBehind(ctx context.Context, ref store.Ref, opt backend.ReadOptions) (store.Resource, store.Revision, uint64, error) {
	defer b.h.served(VerbGet, time.Now())
	rd := node.Read{Op: node.ReadGet, Ref: ref, Local: opt.Local}
	res, err := b.h.request(ctx, func(n *node.Node) (node.RequestID, error) { return n.Read(rd) })
	return res.Resource, res.Revision, res.Behind, err
}

// List reads the resources of kind in namespace.
func (b *Backend) List(ctx context.Context, kind, namespace string, opt backend.ReadOptions) (backend.List, error) {
	defer b.h.served(VerbList, time.Now())
	rd := node.Read{Op: node.ReadList, Kind: kind, Namespace: namespace, Local: opt.Local}
	res, err := b.h.request(ctx, func(n *node.Node) (node.RequestID, error) { return n.Read(rd) })
	if err != nil {
		return backend.List{}, err
	}
	return backend.List{Items: res.Items, Revision: res.Revision, Behind: res.Behind}, nil
}

// Watch starts a watch on the node's replica (see the backend package doc).
// The loop publishes each Ready's events before it looks at its inbox again,
// so the watch starts between two batches: no gap, no duplicate.
func (b *Backend) Watch(ctx context.Context, kind string, from store.Revision) (backend.Watch, error) {
	defer b.h.served(VerbWatch, time.Now())
	var w backend.Watch
	var werr error
	err := b.h.exec(ctx, func(l *loop) { w, werr = b.h.fan.Watch(ctx, l.n.Store(), kind, from) })
	if err != nil {
		return nil, err
	}
	return w, werr
}

// Snapshot returns the replica's store snapshot (store.Store.Snapshot).
func (b *Backend) Snapshot(ctx context.Context) ([]byte, error) {
	var snap []byte
	err := b.h.exec(ctx, func(l *loop) { snap = l.n.Store().Snapshot() })
	return snap, err
}

// Restore replaces the store through the log (store.OpRestore), so every
// replica applies it at the same index; watches end with a Reset. A snapshot
// that does not decode is store.ErrInvalid and never enters the log.
func (b *Backend) Restore(ctx context.Context, snap []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := store.Restore(snap); err != nil {
		return err // refuse junk before it enters the log
	}
	c := store.Command{Op: store.OpRestore, Snapshot: slices.Clone(snap)}
	_, err := b.h.propose(ctx, func(n *node.Node) (node.RequestID, error) { return n.Write(c) })
	return err
}

// Counts reports the replica's resources (as of the loop's last batch) and
// the live watches.
func (b *Backend) Counts() backend.Counts {
	return backend.Counts{Resources: int(b.h.resources.Load()), Subscribers: b.h.fan.Count()}
}
