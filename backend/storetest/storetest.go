// Package storetest is the conformance suite of the store contract
// (backend.Backend), in the manner of testing/fstest: every backend runs
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) backend.Backend { return newMyBackend(t) })
//	}
//
// and passes the same subtests. Each subtest gets a fresh, empty backend
// (SnapshotDeterministic and Restore ask for a second one). The suite writes
// at most a few thousand resources (WatchOverflow writes 2*WatchBufferMax+10).
// Compaction is tested through the optional backend.Compactor; a backend
// without it, or answering store.ErrUnsupported, skips WatchCompacted. A
// backend whose Restore answers store.ErrUnsupported for a valid snapshot
// skips Restore (it must still refuse bad snapshots with store.ErrInvalid).
// Nothing in the suite depends on timing: it waits on channels, with a
// generous deadline only as a guard against a hung backend.
package storetest

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/core/store"
)

// guard bounds every wait for an event; hitting it is a failure, never a
// way to pass.
const guard = 10 * time.Second

// Run runs the conformance suite. newBackend returns a fresh, empty backend
// each call (a subtest may ask for two) and registers its cleanup on t.
func Run(t *testing.T, newBackend func(t *testing.T) backend.Backend) {
	s := suite{newBackend: newBackend}
	for _, c := range []struct {
		name string
		fn   func(*testing.T)
	}{
		{"RevisionsMonotonic", s.revisionsMonotonic},
		{"CreateUpdateGet", s.createUpdateGet},
		{"CompareAndSwap", s.compareAndSwap},
		{"MustNotExist", s.mustNotExist},
		{"Delete", s.delete},
		{"NotFound", s.notFound},
		{"InvalidInput", s.invalidInput},
		{"List", s.list},
		{"WatchFromZero", s.watchFromZero},
		{"WatchReplay", s.watchReplay},
		{"WatchFuture", s.watchFuture},
		{"WatchTwoWatchers", s.watchTwoWatchers},
		{"WatchResume", s.watchResume},
		{"WatchCompacted", s.watchCompacted},
		{"WatchBookmarks", s.watchBookmarks},
		{"WatchOverflow", s.watchOverflow},
		{"WatchClose", s.watchClose},
		{"WatchContextCancel", s.watchContextCancel},
		{"SnapshotDeterministic", s.snapshotDeterministic},
		{"Restore", s.restore},
		{"RestoreInvalid", s.restoreInvalid},
		{"Counts", s.counts},
	} {
		t.Run(c.name, c.fn)
	}
}

type suite struct {
	newBackend func(t *testing.T) backend.Backend
}

// Fixtures: one kind of interest, another to filter out. They are opaque
// pureraft blobs (face.Validate's rules: a kind no other face owns, stored
// native), so a backend that runs every resource through its face, as a
// production node does, passes the suite with the same fixtures.
const (
	kind  = "Blob"
	other = "Note"
)

func ref(ns, name string) store.Ref { return store.Ref{Kind: kind, Namespace: ns, Name: name} }

func resource(r store.Ref, payload string) store.Resource {
	return store.Resource{Ref: r, Face: "pureraft", Format: store.Native, Payload: []byte(payload)}
}

func apply(t *testing.T, b backend.Backend, r store.Resource, exp store.Expect) store.Resource {
	t.Helper()
	got, err := b.Apply(t.Context(), r, exp)
	if err != nil {
		t.Fatalf("%s: apply %s: %v", b.Name(), r.Ref, err)
	}
	return got
}

func del(t *testing.T, b backend.Backend, r store.Ref, exp store.Expect) store.Resource {
	t.Helper()
	got, err := b.Delete(t.Context(), r, exp)
	if err != nil {
		t.Fatalf("%s: delete %s: %v", b.Name(), r, err)
	}
	return got
}

func get(t *testing.T, b backend.Backend, r store.Ref) store.Resource {
	t.Helper()
	got, err := b.Get(t.Context(), r, backend.ReadOptions{})
	if err != nil {
		t.Fatalf("%s: get %s: %v", b.Name(), r, err)
	}
	return got
}

func list(t *testing.T, b backend.Backend, k, ns string) backend.List {
	t.Helper()
	l, err := b.List(t.Context(), k, ns, backend.ReadOptions{})
	if err != nil {
		t.Fatalf("%s: list %q %q: %v", b.Name(), k, ns, err)
	}
	return l
}

func watch(t *testing.T, b backend.Backend, k string, from store.Revision) backend.Watch {
	t.Helper()
	w, err := b.Watch(t.Context(), k, from)
	if err != nil {
		t.Fatalf("%s: watch %q from %d: %v", b.Name(), k, from, err)
	}
	t.Cleanup(w.Close)
	return w
}

func snapshot(t *testing.T, b backend.Backend) []byte {
	t.Helper()
	snap, err := b.Snapshot(t.Context())
	if err != nil {
		t.Fatalf("%s: snapshot: %v", b.Name(), err)
	}
	return snap
}

// next receives one event; a closed channel or the guard fails the test.
func next(t *testing.T, w backend.Watch) store.Event {
	t.Helper()
	select {
	case ev, ok := <-w.Events():
		if !ok {
			t.Fatalf("watch ended early: %v", w.Err())
		}
		return ev
	case <-time.After(guard):
		t.Fatalf("no event within %s", guard)
	}
	return store.Event{}
}

func nextN(t *testing.T, w backend.Watch, n int) []store.Event {
	t.Helper()
	evs := make([]store.Event, 0, n)
	for range n {
		evs = append(evs, next(t, w))
	}
	return evs
}

// drain receives until the watch ends and returns what it got.
func drain(t *testing.T, w backend.Watch) []store.Event {
	t.Helper()
	var evs []store.Event
	deadline := time.After(guard)
	for {
		select {
		case ev, ok := <-w.Events():
			if !ok {
				return evs
			}
			evs = append(evs, ev)
		case <-deadline:
			t.Fatalf("watch did not end within %s (%d events)", guard, len(evs))
		}
	}
}

// written is the event a successful write's result implies.
func written(r store.Resource, deleted bool) store.Event {
	switch {
	case deleted:
		return store.Event{Type: store.Deleted, Revision: r.ModRevision, Resource: r}
	case r.Version == 1:
		return store.Event{Type: store.Added, Revision: r.ModRevision, Resource: r}
	}
	return store.Event{Type: store.Modified, Revision: r.ModRevision, Resource: r}
}

func sameResource(a, b store.Resource) bool {
	return a.Ref == b.Ref && a.Face == b.Face && a.Format == b.Format && bytes.Equal(a.Payload, b.Payload) &&
		a.CreateRevision == b.CreateRevision && a.ModRevision == b.ModRevision && a.Version == b.Version
}

func sameEvent(a, b store.Event) bool {
	return a.Type == b.Type && a.Revision == b.Revision && sameResource(a.Resource, b.Resource)
}

func showEvents(evs []store.Event) string {
	var out []string
	for _, ev := range evs {
		out = append(out, fmt.Sprintf("%s@%d %s", ev.Type, ev.Revision, ev.Resource.Ref))
	}
	return "[" + strings.Join(out, ", ") + "]"
}

func assertEvents(t *testing.T, got, want []store.Event) {
	t.Helper()
	if !slices.EqualFunc(got, want, sameEvent) {
		t.Fatalf("events\n got %s\nwant %s", showEvents(got), showEvents(want))
	}
}

// withoutBookmarks drops the bookmarks, for comparing change sequences.
func withoutBookmarks(evs []store.Event) []store.Event {
	return slices.DeleteFunc(slices.Clone(evs), func(ev store.Event) bool { return ev.Type == store.Bookmark })
}

// writeMix performs n writes mixing creates, updates and deletes over a few
// names of two kinds, and returns their events in order.
func writeMix(t *testing.T, b backend.Backend, n int) []store.Event {
	t.Helper()
	var evs []store.Event
	live := map[store.Ref]bool{}
	for i := range n {
		r := ref(fmt.Sprint("ns", i%2), fmt.Sprint("n", i%5))
		if i%7 == 3 {
			r.Kind = other
		}
		if live[r] && i%4 == 0 {
			evs = append(evs, written(del(t, b, r, store.Expect{}), true))
			delete(live, r)
			continue
		}
		evs = append(evs, written(apply(t, b, resource(r, fmt.Sprintf(`{"i":%d}`, i)), store.Expect{}), false))
		live[r] = true
	}
	return evs
}

func ofKind(evs []store.Event, k string) []store.Event {
	return slices.DeleteFunc(slices.Clone(evs), func(ev store.Event) bool { return ev.Resource.Ref.Kind != k })
}
