package backend

import (
	"context"
	"sync"

	"revoada.dev/revoada/core/store"
)

// fanout delivers a store's events to its watches. Callers publish in
// revision order and subscribe atomically with reading the backlog, both
// under the lock that orders their writes, so a watch sees no gap and no
// duplicate between its backlog and its live events.
//
// Lock order: the caller's write lock, then fanout.mu, then watch.mu.
type fanout struct {
	mu      sync.Mutex
	watches map[*watch]struct{}
}

func newFanout() *fanout { return &fanout{watches: map[*watch]struct{}{}} }

// subscribe starts a watch of kind that first delivers backlog, then the
// live events from revision next on.
func (f *fanout) subscribe(ctx context.Context, kind string, next store.Revision, backlog []store.Event) *watch {
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

// publish queues ev on every watch that wants it and drops the watches that
// overflowed. It never blocks on a consumer.
func (f *fanout) publish(ev store.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for w := range f.watches {
		if !w.push(ev) {
			delete(f.watches, w)
		}
	}
}

// reset ends every watch with a Reset event at rev.
func (f *fanout) reset(rev store.Revision) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for w := range f.watches {
		w.finish(nil, store.Event{Type: store.Reset, Revision: rev})
		delete(f.watches, w)
	}
}

func (f *fanout) unsubscribe(w *watch) {
	f.mu.Lock()
	delete(f.watches, w)
	f.mu.Unlock()
}

func (f *fanout) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.watches)
}

// watch is one subscriber: a queue filled by publish and a goroutine (run)
// that moves it onto the unbuffered Events channel at the consumer's pace.
type watch struct {
	f    *fanout
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
