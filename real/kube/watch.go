package kube

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/core/store"
)

// The apiserver ends every watch after a timeout (--min-request-timeout,
// 30 to 60 minutes by default); the store watch then reopens it from the
// last revision it saw, for as long as it lives. An apiserver that ends
// watches at once would make that a busy loop: more than RewatchMax
// watches in a row that each ended within rewatchQuick, with no event,
// end the store watch with an error.
const (
	RewatchMax   = 8
	rewatchQuick = time.Second
)

// Watch streams kind's changes from a revision (see backend.Backend and the
// package doc). It is one apiserver watch (resourceVersion, allowWatchBookmarks);
// kind "" with native Options.Kinds answers store.ErrUnsupported.
// Errors: store.ErrCompacted when etcd no longer holds from.
func (b *Backend) Watch(ctx context.Context, kind string, from store.Revision) (backend.Watch, error) {
	if kind != "" {
		if err := (store.Ref{Kind: kind, Name: "watch"}).Validate(); err != nil {
			return nil, fmt.Errorf("kube: watch: %w", err)
		}
	}
	srcs := b.sources(kind, "")
	if len(srcs) != 1 {
		return nil, fmt.Errorf("kube: watch %q: %w: every kind spans %d apiserver resources, whose watches cannot be merged in revision order (the apiserver tells a watch's progress only every minute or so, in bookmarks)", kind, store.ErrUnsupported, len(srcs))
	}
	src := srcs[0]
	w := &kwatch{
		b: b, src: src, out: make(chan store.Event), stop: make(chan struct{}), done: make(chan struct{}),
		created: map[store.Ref]store.Revision{},
	}
	// cur: the revision now, below which events are history (exempt
	// from WatchBufferMax and from bookmark counting).
	head, cur, err := b.list(ctx, src, 0)
	if err != nil {
		return nil, fmt.Errorf("kube: watch %q: %w", kind, err)
	}
	w.cur = cur
	switch {
	case from == 0:
		slices.SortFunc(head, func(x, y store.Resource) int { return store.Compare(x.Ref, y.Ref) })
		for _, r := range head {
			w.queue = append(w.queue, store.Event{Type: store.Added, Revision: r.ModRevision, Resource: r})
			w.created[r.Ref] = r.CreateRevision
		}
		w.queue = append(w.queue, store.Event{Type: store.Bookmark, Revision: cur})
		w.exempt = len(w.queue)
		w.last = cur
	case from-1 > cur:
		w.last, w.from = cur, from // the future: watch from now, skip what comes before from
	default:
		w.last, w.from = max(from-1, 1), from
		// The apiserver watches etcd from w.last+1 = from; an exact list
		// at from (or now, if from is the next revision) fails with 410
		// Gone just when etcd compacted it away: the store's
		// ErrCompacted, before any event.
		probe := source{res: src.res, selector: src.selector, decode: src.decode, keep: func(store.Resource) bool { return false }}
		if _, _, err := b.list(ctx, probe, min(from, cur)); err != nil {
			return nil, fmt.Errorf("kube: watch %q from %d: %w", kind, from, err)
		}
	}
	kw, err := w.open(ctx)
	if err != nil {
		return nil, fmt.Errorf("kube: watch %q from %d: %w", kind, from, err)
	}
	b.subs.Add(1)
	go w.run(ctx, kw)
	return w, nil
}

// kwatch is one store watch over one apiserver watch (reopened from the
// last revision seen when the apiserver ends it).
type kwatch struct {
	b    *Backend
	src  source
	cur  store.Revision // the revision at the watch's start
	from store.Revision // events below it are skipped (0: none)
	last store.Revision // the last revision seen, to resume from

	created map[store.Ref]store.Revision // create revisions seen, for Deleted events

	out      chan store.Event
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once

	// run's alone until done is closed
	queue  []store.Event
	exempt int // leading queue entries not counted against WatchBufferMax
	live   int // live events so far, for BookmarkEvery

	mu      sync.Mutex
	err     error
	reopens int // apiserver watches reopened after the apiserver ended one
}

func (w *kwatch) Events() <-chan store.Event { return w.out }

func (w *kwatch) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *kwatch) Close() {
	w.stopOnce.Do(func() { close(w.stop) })
	<-w.done
}

func (w *kwatch) open(ctx context.Context) (watch.Interface, error) {
	return w.src.res.Watch(ctx, metav1.ListOptions{
		LabelSelector:       w.src.selector,
		ResourceVersion:     strconv.FormatUint(uint64(w.last), 10),
		AllowWatchBookmarks: true,
	})
}

// run moves the apiserver's events to the queue and the queue to Events
// at the consumer's pace, until the end.
func (w *kwatch) run(ctx context.Context, kw watch.Interface) {
	var err error
	defer func() {
		if kw != nil {
			kw.Stop()
		}
		w.mu.Lock()
		w.err = err
		w.mu.Unlock()
		w.b.subs.Add(-1)
		close(w.out)
		close(w.done)
	}()
	quick, opened := 0, time.Now()
	for {
		var send chan store.Event
		var head store.Event
		if len(w.queue) > 0 {
			send, head = w.out, w.queue[0]
		}
		var in <-chan watch.Event
		if kw != nil {
			in = kw.ResultChan()
		}
		select {
		case <-w.stop:
			return
		case <-ctx.Done():
			err = ctx.Err()
			return
		case send <- head:
			w.queue = w.queue[1:]
			if w.exempt > 0 {
				w.exempt--
			}
		case ev, ok := <-in:
			if !ok {
				kw.Stop()
				if ctx.Err() != nil {
					err = ctx.Err()
					return
				}
				if time.Since(opened) >= rewatchQuick {
					quick = 0
				} else if quick++; quick > RewatchMax {
					err = fmt.Errorf("kube: watch at %s: the apiserver ended it %d times in a row within %s", w.b.url, quick, rewatchQuick)
					return
				}
				opened = time.Now()
				w.mu.Lock()
				w.reopens++
				w.mu.Unlock()
				if kw, err = w.open(ctx); err != nil {
					kw, err = nil, fmt.Errorf("kube: rewatch from %d: %w", w.last, w.b.mapErr(err))
					return
				}
				continue
			}
			quick = 0
			if err = w.handle(ctx, ev); err != nil {
				return
			}
		}
	}
}

// handle queues one apiserver event; an error ends the watch.
func (w *kwatch) handle(ctx context.Context, ev watch.Event) error {
	if ev.Type == watch.Error {
		status := apierrors.FromObject(ev.Object)
		return fmt.Errorf("kube: watch from %d: %w", w.last, w.b.mapErr(status))
	}
	obj, ok := ev.Object.(*unstructured.Unstructured)
	if !ok {
		return fmt.Errorf("kube: watch: an event holds %T, not an object", ev.Object)
	}
	rev, err := revisionOf(obj)
	if err != nil {
		return err
	}
	w.last = max(w.last, rev)
	if ev.Type == watch.Bookmark {
		return nil // progress only: the store's bookmarks count events
	}
	r, err := w.src.decode(obj)
	if err != nil {
		return err
	}
	if !w.src.keep(r) || rev < w.from {
		return nil
	}
	out := store.Event{Revision: rev, Resource: r}
	switch ev.Type {
	case watch.Added:
		out.Type = store.Added
	case watch.Modified:
		out.Type = store.Modified
	case watch.Deleted:
		out.Type = store.Deleted
		if r.Version == 1 { // its create revision is the revision before the delete
			if out.Resource.CreateRevision, err = w.createRevision(ctx, obj, r.Ref, rev); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("kube: watch: unknown event type %q", ev.Type)
	}
	if out.Type != store.Deleted {
		w.created[r.Ref] = r.CreateRevision
	} else {
		delete(w.created, r.Ref)
	}
	if rev <= w.cur {
		w.queue = append(w.queue, out) // history: exempt, as the store's replay is
		w.exempt = len(w.queue)
		return nil
	}
	return w.enqueueLive(out)
}

// enqueueLive queues a live event, and a bookmark after every
// BookmarkEvery; more than WatchBufferMax undelivered ends the watch.
func (w *kwatch) enqueueLive(ev store.Event) error {
	w.live++
	evs := []store.Event{ev}
	if w.live%backend.BookmarkEvery == 0 {
		evs = append(evs, store.Event{Type: store.Bookmark, Revision: ev.Revision})
	}
	for _, e := range evs {
		if len(w.queue)-w.exempt >= backend.WatchBufferMax {
			clear(w.queue)
			w.queue, w.exempt = nil, 0
			return backend.ErrWatchOverflow
		}
		w.queue = append(w.queue, e)
	}
	return nil
}

// createRevision is the create revision of an object deleted at rev that
// was never updated: the revision it held before rev, from the watch's
// own memory or else an exact read of etcd's history at rev-1.
func (w *kwatch) createRevision(ctx context.Context, obj *unstructured.Unstructured, ref store.Ref, rev store.Revision) (store.Revision, error) {
	if c, ok := w.created[ref]; ok {
		return c, nil
	}
	l, err := w.src.res.List(ctx, metav1.ListOptions{
		FieldSelector:        fields.OneTermEqualSelector("metadata.name", obj.GetName()).String(),
		ResourceVersion:      strconv.FormatUint(uint64(rev-1), 10),
		ResourceVersionMatch: metav1.ResourceVersionMatchExact,
	})
	if err != nil {
		if errors.Is(w.b.mapErr(err), store.ErrCompacted) {
			return 0, nil // history gone: unknown
		}
		return 0, fmt.Errorf("kube: watch: the create revision of %s: %w", ref, w.b.mapErr(err))
	}
	for i := range l.Items {
		if l.Items[i].GetName() == obj.GetName() && l.Items[i].GetNamespace() == obj.GetNamespace() {
			before, err := w.src.decode(&l.Items[i])
			return before.CreateRevision, err
		}
	}
	return 0, nil
}
