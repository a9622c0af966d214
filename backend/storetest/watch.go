package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/core/store"
)

func (s suite) watchFromZero(t *testing.T) {
	b := s.newBackend(t)
	var want []store.Event
	for _, r := range []store.Ref{ref("b", "x"), ref("a", "y"), ref("a", "x"), ref("", "z")} {
		apply(t, b, resource(r, `{"v":1}`), store.Expect{})
	}
	apply(t, b, resource(store.Ref{Kind: other, Namespace: "a", Name: "s"}, "{}"), store.Expect{})
	last := apply(t, b, resource(ref("a", "y"), `{"v":2}`), store.Expect{})
	for _, r := range list(t, b, kind, "").Items {
		want = append(want, store.Event{Type: store.Added, Revision: r.ModRevision, Resource: r})
	}
	w := watch(t, b, kind, 0)
	got := nextN(t, w, len(want)+1)
	assertEvents(t, got[:len(want)], want)
	if bm := got[len(want)]; bm.Type != store.Bookmark || bm.Revision < last.ModRevision {
		t.Fatalf("initial state ends with %s@%d; want a BOOKMARK at or after %d", bm.Type, bm.Revision, last.ModRevision)
	}
	apply(t, b, resource(store.Ref{Kind: other, Namespace: "a", Name: "s"}, `{"v":2}`), store.Expect{})
	live := []store.Event{
		written(apply(t, b, resource(ref("a", "x"), `{"v":2}`), store.Expect{}), false),
		written(apply(t, b, resource(ref("c", "new"), `{}`), store.Expect{}), false),
		written(del(t, b, ref("b", "x"), store.Expect{}), true),
	}
	assertEvents(t, nextN(t, w, len(live)), live)
}

func (s suite) watchReplay(t *testing.T) {
	b := s.newBackend(t)
	evs := writeMix(t, b, 30)
	from := evs[10].Revision
	w := watch(t, b, "", from)
	assertEvents(t, nextN(t, w, 20), evs[10:])
	live := written(apply(t, b, resource(ref("ns", "live"), "{}"), store.Expect{}), false)
	assertEvents(t, nextN(t, w, 1), []store.Event{live})

	wk := watch(t, b, other, from)
	want := ofKind(evs[10:], other)
	assertEvents(t, nextN(t, wk, len(want)), want)
	liveOther := written(apply(t, b, resource(store.Ref{Kind: other, Name: "live"}, "{}"), store.Expect{}), false)
	assertEvents(t, nextN(t, wk, 1), []store.Event{liveOther})

	whole := watch(t, b, "", evs[0].Revision)
	assertEvents(t, nextN(t, whole, len(evs)+2), append(slices.Clone(evs), live, liveOther))
}

func (s suite) watchFuture(t *testing.T) {
	b := s.newBackend(t)
	now := list(t, b, "", "").Revision
	w := watch(t, b, "", now+3)
	evs := writeMix(t, b, 6)
	i := slices.IndexFunc(evs, func(ev store.Event) bool { return ev.Revision >= now+3 })
	if i < 0 {
		t.Fatalf("no write reached revision %d: %s", now+3, showEvents(evs))
	}
	assertEvents(t, nextN(t, w, len(evs)-i), evs[i:])
}

func (s suite) watchTwoWatchers(t *testing.T) {
	b := s.newBackend(t)
	writeMix(t, b, 5)
	initial := len(list(t, b, "", "").Items) + 1
	w1, w2 := watch(t, b, "", 0), watch(t, b, "", 0)
	evs := writeMix(t, b, 40)
	g1, g2 := nextN(t, w1, initial+len(evs)), nextN(t, w2, initial+len(evs))
	assertEvents(t, g1, g2)
	assertEvents(t, g1[initial:], evs)
}

func (s suite) watchResume(t *testing.T) {
	b := s.newBackend(t)
	evs := writeMix(t, b, 20)
	w := watch(t, b, "", evs[0].Revision)
	seen := nextN(t, w, 7)
	w.Close()
	resumed := watch(t, b, "", seen[len(seen)-1].Revision+1)
	more := writeMix(t, b, 10)
	rest := nextN(t, resumed, len(evs)-len(seen)+len(more))
	assertEvents(t, append(seen, rest...), append(evs, more...))
}

func (s suite) watchCompacted(t *testing.T) {
	b := s.newBackend(t)
	c, ok := b.(backend.Compactor)
	if !ok {
		t.Skipf("%s is not a backend.Compactor", b.Name())
	}
	evs := writeMix(t, b, 10)
	err := c.Compact(t.Context(), evs[5].Revision)
	if errors.Is(err, store.ErrUnsupported) {
		t.Skipf("%s cannot compact: %v", b.Name(), err)
	}
	if err != nil {
		t.Fatalf("compact: %v", err)
	}
	if w, err := b.Watch(t.Context(), "", evs[2].Revision); !errors.Is(err, store.ErrCompacted) {
		if w != nil {
			w.Close()
		}
		t.Fatalf("watch from a compacted revision: %v, want ErrCompacted", err)
	}
	if c := b.Counts(); c.Subscribers != 0 {
		t.Fatalf("a refused watch counts as a subscriber: %+v", c)
	}
	w := watch(t, b, "", evs[5].Revision)
	assertEvents(t, nextN(t, w, 5), evs[5:])
}

func (s suite) watchBookmarks(t *testing.T) {
	b := s.newBackend(t)
	w := watch(t, b, kind, 0)
	if bm := next(t, w); bm.Type != store.Bookmark {
		t.Fatalf("an empty store's watch starts with %s, want a BOOKMARK", bm.Type)
	}
	var want []store.Event
	for i := 0; len(want) < backend.BookmarkEvery; i++ {
		if i%10 == 9 { // other kinds do not count toward the bookmark
			apply(t, b, resource(store.Ref{Kind: other, Name: fmt.Sprint(i)}, "{}"), store.Expect{})
			continue
		}
		want = append(want, written(apply(t, b, resource(ref("ns", fmt.Sprint(i)), "{}"), store.Expect{}), false))
	}
	got := nextN(t, w, backend.BookmarkEvery+1)
	assertEvents(t, got[:backend.BookmarkEvery], want)
	if bm := got[backend.BookmarkEvery]; bm.Type != store.Bookmark || bm.Revision != want[len(want)-1].Revision {
		t.Fatalf("after %d events got %s@%d, want BOOKMARK@%d", backend.BookmarkEvery, bm.Type, bm.Revision, want[len(want)-1].Revision)
	}
}

func (s suite) watchOverflow(t *testing.T) {
	b := s.newBackend(t)
	w := watch(t, b, "", 0)
	var evs []store.Event
	for i := range 2*backend.WatchBufferMax + 10 { // nobody receives: writers must not block
		evs = append(evs, written(apply(t, b, resource(ref("ns", fmt.Sprint(i%50)), fmt.Sprint(i)), store.Expect{}), false))
	}
	got := drain(t, w)
	if !errors.Is(w.Err(), backend.ErrWatchOverflow) {
		t.Fatalf("a watch that fell behind ended with %v, want ErrWatchOverflow", w.Err())
	}
	changes := withoutBookmarks(got)
	if len(changes) >= len(evs) {
		t.Fatalf("the watch held all %d events without overflowing", len(evs))
	}
	assertEvents(t, changes, evs[:len(changes)]) // a prefix: no gap, nothing dropped silently
	if c := b.Counts(); c.Subscribers != 0 {
		t.Fatalf("an overflowed watch still counts: %+v", c)
	}
}

func (s suite) watchClose(t *testing.T) {
	b := s.newBackend(t)
	w := watch(t, b, "", 0)
	next(t, w)
	evs := writeMix(t, b, 5)
	w.Close()
	got := drain(t, w)
	if changes := withoutBookmarks(got); !slices.EqualFunc(changes, evs[:len(changes)], sameEvent) {
		t.Fatalf("events after Close are not a prefix: %s", showEvents(got))
	}
	if err := w.Err(); err != nil {
		t.Fatalf("a closed watch has Err %v, want nil", err)
	}
	w.Close() // idempotent
	writeMix(t, b, 5)
}

func (s suite) watchContextCancel(t *testing.T) {
	b := s.newBackend(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	w, err := b.Watch(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	next(t, w)
	cancel()
	drain(t, w)
	if !errors.Is(w.Err(), context.Canceled) {
		t.Fatalf("a cancelled watch ended with %v, want context.Canceled", w.Err())
	}
	if c := b.Counts(); c.Subscribers != 0 {
		t.Fatalf("a cancelled watch still counts: %+v", c)
	}
}
