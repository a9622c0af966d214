// Package backend is the store contract every revoada backend implements
// (the seed's StoreBackend), and the backends that live in process: Memory,
// over the pure core/store state machine, and the Audit decorator. Backends
// that reach other systems (Raft, bbolt, kube-apiserver, Nomad, systemd) live
// under real/ and pass the same conformance suite, backend/storetest.
//
// # Semantics
//
// Every write gets the next store revision; resources carry CreateRevision,
// ModRevision (their resourceVersion) and Version. Apply is create-or-update
// with an optional store.Expect precondition. Errors wrap exactly one of
// store's sentinels (ErrNotFound, ErrConflict, ErrInvalid, ErrUnsupported,
// ErrCompacted), or are the context's error, or one of this package's.
//
// Ownership: a backend does not keep the caller's payload slice. Payloads it
// returns (in resources, lists and events) may be shared with the backend
// and with other callers: treat them as read-only.
//
// # Watch
//
// Watch(ctx, kind, from) streams the changes of kind ("" for every kind):
//
//   - from == 0: one Added event per existing resource, at the resource's
//     ModRevision, in store.Compare order (namespace, name); then a Bookmark at
//     the revision that initial state was read at; then live events.
//   - from > 0: the history of writes with revision >= from, then live
//     events, with no gap and no duplicate between them. A from older than
//     the retained history fails Watch itself with store.ErrCompacted: re-list
//     and watch from 0. A from beyond the current revision waits for it.
//   - Live events come in revision order. After every BookmarkEvery live
//     events the watch sends a Bookmark at the last one's revision.
//
// A watch ends when its Events channel closes; Err then says why:
//
//   - nil: the caller closed it, or the store was restored. A restore sends
//     one Reset event (at the restored revision) as the watch's last event, so
//     a consumer that did not call Close learns of it in band; Err stays nil
//     because the Reset already is the reason, and the answer is to re-list.
//   - ErrWatchOverflow: the consumer left more than WatchBufferMax live events
//     undelivered. Writers never block on a watcher and no event is dropped
//     silently: the stream stops after the last event delivered, so a consumer
//     may resume from that event's revision + 1 (or re-list if compacted).
//   - the context's error, when the watch's context ends.
package backend

import (
	"context"
	"errors"

	"revoada.dev/revoada/core/store"
)

// Backend is the store contract: the five verbs (apply, get, list, delete,
// watch), snapshot and restore, a name and counts. Implementations are safe
// for concurrent use.
type Backend interface {
	// Name names the backend in logs and audit records: "memory", "raft", ...
	Name() string
	// Apply creates or updates r.Ref if exp holds and returns the stored
	// resource with the revisions the store gave it. Errors: store.ErrInvalid,
	// *store.ConflictError (naming the current revision).
	Apply(ctx context.Context, r store.Resource, exp store.Expect) (store.Resource, error)
	// Get returns the resource named ref. Errors: store.ErrNotFound, store.ErrInvalid.
	Get(ctx context.Context, ref store.Ref, opt ReadOptions) (store.Resource, error)
	// List returns the resources of kind in namespace ("" for all) in
	// store.Compare order, with the revision the list was served at.
	List(ctx context.Context, kind, namespace string, opt ReadOptions) (List, error)
	// Delete removes ref if exp holds and returns its last state with
	// ModRevision set to the deleting revision. Errors: store.ErrNotFound
	// (whatever exp says), *store.ConflictError, store.ErrInvalid.
	Delete(ctx context.Context, ref store.Ref, exp store.Expect) (store.Resource, error)
	// Watch streams the changes of kind from a revision; see the package doc.
	// Errors: store.ErrCompacted when from is older than the history held.
	Watch(ctx context.Context, kind string, from store.Revision) (Watch, error)
	// Snapshot returns the store's state as deterministic bytes: equal writes
	// in equal order give equal bytes.
	Snapshot(ctx context.Context) ([]byte, error)
	// Restore replaces the whole state with a snapshot's and ends every live
	// watch with a Reset event. Errors: store.ErrInvalid (state unchanged).
	Restore(ctx context.Context, snap []byte) error
	// Counts reports the stored resources and the live watches. A watch stops
	// counting once Close returned or its Events channel closed.
	Counts() Counts
}

// Compactor is the optional capability to forget history below a revision
// (watches from older revisions then fail with store.ErrCompacted). A
// backend that cannot compact on demand answers store.ErrUnsupported.
type Compactor interface {
	Compact(ctx context.Context, rev store.Revision) error
}

// ReadOptions tunes a read.
type ReadOptions struct {
	// Local serves the read from this replica without a linearizable read
	// (no ReadIndex round); List.Revision says what it saw. Backends that are
	// always linearizable ignore it.
	Local bool
}

// List is a list's items and the store revision it was served at.
type List struct {
	Items    []store.Resource
	Revision store.Revision
	// Behind is, for a local read of a replicated backend, how many
	// entries the replica knew committed but had not applied: how stale
	// it may be. 0 otherwise.
	Behind uint64
}

// Counts is a backend's size.
type Counts struct {
	Resources   int // resources stored
	Subscribers int // live watches
}

// Watch is a stream of store events; see the package doc for its contract.
type Watch interface {
	// Events delivers the events in order and is closed when the watch ends.
	Events() <-chan store.Event
	// Close ends the watch and waits for it to stop; Events is then closed.
	// It is safe to call more than once and concurrently with receiving.
	Close()
	// Err says why the watch ended, once Events is closed; see the package doc.
	Err() error
}

// ErrWatchOverflow ends a watch whose consumer fell more than WatchBufferMax
// live events behind.
var ErrWatchOverflow = errors.New("backend: watch fell behind")

// Watch limits.
const (
	// WatchBufferMax bounds the live events (and bookmarks) a watch holds for
	// a consumer that has not received them yet. A watch's initial state or
	// replayed history is bounded by the store itself (store.HistoryMax) and
	// does not count.
	WatchBufferMax = 1024
	// BookmarkEvery is how many live events a watch sends between bookmarks.
	BookmarkEvery = 100
)
