package backend

import (
	"context"
	"sync"

	"revoada.dev/revoada/core/store"
)

// Fanout delivers a store's events to its watches; every backend that
// serves Watch uses one. Callers Publish in revision order and call Watch
// atomically with their writes — both under the lock that orders their
// writes — so a watch sees no gap and no duplicate between its backlog and
// its live events. Publish never blocks on a consumer: a watch that falls
// WatchBufferMax events behind ends with ErrWatchOverflow.
//
// Lock order: the caller's write lock, then Fanout.mu, then watch.mu.
type Fanout struct {
	mu      sync.Mutex
	watches map[*watch]struct{}
}

// NewFanout returns a fan-out with no watches.
func NewFanout() *Fanout { return &Fanout{watches: map[*watch]struct{}{}} }

// Watch starts a watch of kind ("" for all) served from st: from == 0 first
// delivers st's current resources as Added and a Bookmark, from > 0 replays
// st's history from that revision (store.ErrCompacted when it is gone); then
// live events as they are published. The caller holds its write lock, so no
// write slips between the backlog and the subscription. The watch ends with
// ctx.
func (f *Fanout) Watch(ctx context.Context, st *store.Store, kind string, from store.Revision) (Watch, error) {
	backlog, err := Backlog(st, kind, from)
	if err != nil {
		return nil, err
	}
	return f.subscribe(ctx, kind, max(from, st.Revision()+1), backlog), nil
}

// Backlog is what a new watch delivers before live events: the history from
// from, or for from == 0 the current state and a Bookmark.
func Backlog(st *store.Store, kind string, from store.Revision) ([]store.Event, error) {
	if from > 0 {
		return st.Events(from, kind)
	}
	items, rev := st.List(kind, "")
	evs := make([]store.Event, 0, len(items)+1)
	for _, r := range items {
		evs = append(evs, store.Event{Type: store.Added, Revision: r.ModRevision, Resource: r})
	}
	return append(evs, store.Event{Type: store.Bookmark, Revision: rev}), nil
}

// Subscribe starts a watch of kind that first delivers backlog, then the
// live events Published from revision next on: for a backend whose events
// come from elsewhere (another system's event stream) rather than from a
// store.Store. The watch ends with ctx.
func (f *Fanout) Subscribe(ctx context.Context, kind string, next store.Revision, backlog []store.Event) Watch {
	return f.subscribe(ctx, kind, next, backlog)
}

// End ends every watch with err, after the events already queued: for a
// backend whose event source failed.
func (f *Fanout) End(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for w := range f.watches {
		w.mu.Lock()
		if !w.ended {
			w.ended, w.err = true, err
			w.signal()
		}
		w.mu.Unlock()
		delete(f.watches, w)
	}
}

// subscribe starts a watch of kind that first delivers backlog, then the
// live events from revision next on.
func (f *Fanout) subscribe(ctx context.Context, kind string, next store.Revision, backlog []store.Event) *watch {
	w := &watch{
		f: f, kind: kind, next: next,
		out:   make(chan store.Event),
		wake:  make(chan struct{}, 1),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
		queue: backlog, exempt: len(backlog),
	}
	f.mu.Lock()
	f.watches[w] = struct{}{}
	f.mu.Unlock()
	go w.run(ctx)
	return w
}

// Publish queues ev on every watch that wants it and drops the watches that
// overflowed. It never blocks on a consumer.
func (f *Fanout) Publish(ev store.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for w := range f.watches {
		if !w.push(ev) {
			delete(f.watches, w)
		}
	}
}

// Reset ends every watch with a Reset event at rev.
func (f *Fanout) Reset(rev store.Revision) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for w := range f.watches {
		w.finish(nil, store.Event{Type: store.Reset, Revision: rev})
		delete(f.watches, w)
	}
}

func (f *Fanout) unsubscribe(w *watch) {
	f.mu.Lock()
	delete(f.watches, w)
	f.mu.Unlock()
}

func (f *Fanout) Count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.watches)
}

// watch is one subscriber: a queue filled by publish and a goroutine (run)
// that moves it onto the unbuffered Events channel at the consumer's pace.
type watch struct {
	f    *Fanout
	kind string
	next store.Revision // live events below it are not delivered

	out      chan store.Event
	wake     chan struct{} // capacity 1: the queue changed or the watch ended
	stop     chan struct{} // closed by Close
	done     chan struct{} // closed when run has returned
	stopOnce sync.Once

	mu     sync.Mutex
	queue  []store.Event
	exempt int // leading queue entries not counted against WatchBufferMax
	live   int // live events queued so far, for BookmarkEvery
	ended  bool
	err    error
}

var _ Watch = (*watch)(nil)

func (w *watch) Events() <-chan store.Event { return w.out }

func (w *watch) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *watch) Close() {
	w.finish(nil)
	w.stopOnce.Do(func() { close(w.stop) })
	<-w.done
}

// push queues ev if the watch wants it, and a bookmark every BookmarkEvery
// live events. It answers false when the watch has ended (now, on overflow,
// or before).
func (w *watch) push(ev store.Event) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ended {
		return false
	}
	if ev.Revision < w.next || w.kind != "" && ev.Resource.Ref.Kind != w.kind {
		return true
	}
	w.live++
	ok := w.enqueue(ev)
	if ok && w.live%BookmarkEvery == 0 {
		ok = w.enqueue(store.Event{Type: store.Bookmark, Revision: ev.Revision})
	}
	return ok
}

// enqueue appends ev within WatchBufferMax or ends the watch with
// ErrWatchOverflow. w.mu is held.
func (w *watch) enqueue(ev store.Event) bool {
	if len(w.queue)-w.exempt >= WatchBufferMax {
		w.endLocked(ErrWatchOverflow)
		return false
	}
	w.queue = append(w.queue, ev)
	w.signal()
	return true
}

// finish ends the watch with err, replacing what is queued by last (a
// Reset, delivered before Events closes). It does nothing to a watch that
// has already ended.
func (w *watch) finish(err error, last ...store.Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ended {
		return
	}
	w.endLocked(err)
	w.queue, w.exempt = last, len(last)
}

func (w *watch) endLocked(err error) {
	w.ended, w.err = true, err
	clear(w.queue)
	w.queue, w.exempt = nil, 0
	w.signal()
}

func (w *watch) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// pop takes the queue's head; with none, ended says whether more can come.
func (w *watch) pop() (ev store.Event, ok, ended bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.queue) == 0 {
		return store.Event{}, false, w.ended
	}
	ev, w.queue[0] = w.queue[0], store.Event{}
	w.queue = w.queue[1:]
	if w.exempt > 0 {
		w.exempt--
	}
	return ev, true, w.ended
}

// run delivers the queue until the watch ends, then unsubscribes and closes
// Events, in that order, so Counts no longer counts a watch whose channel is
// closed. An event taken from the queue is always sent (or the watch stops):
// it precedes whatever ended the watch, so the stream stays gap-free.
func (w *watch) run(ctx context.Context) {
	defer close(w.done)
	defer close(w.out)
	defer w.f.unsubscribe(w)
	for {
		ev, ok, ended := w.pop()
		if !ok && ended {
			return
		}
		// Holding an event: wait to send it. Idle: wait for the queue.
		var send chan<- store.Event
		var wake <-chan struct{} = w.wake
		if ok {
			send, wake = w.out, nil
		}
		select {
		case send <- ev:
		case <-wake:
		case <-w.stop:
			return
		case <-ctx.Done():
			w.finish(ctx.Err())
			return
		}
	}
}
