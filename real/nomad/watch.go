package nomad

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/hashicorp/nomad/api"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/core/store"
)

// compactionProbe bounds the wait for the first buffered Job event when
// Watch checks that Nomad's event buffer still reaches back to from:
// buffered events arrive at once, so a longer silence means none is held.
const compactionProbe = 3 * time.Second

// frame is one message of Nomad's event stream: the events of one raft
// index (none in a heartbeat).
type frame struct {
	Index  uint64
	Events []struct {
		Topic   string
		Type    string
		Index   uint64
		Payload struct{ Job json.RawMessage }
	}
}

// watch is one revoada watch over one event stream: a Fanout with a single
// subscriber, fed by the goroutine that reads the stream.
type watch struct {
	backend.Watch
	fan    *backend.Fanout
	cancel context.CancelFunc
	done   chan struct{} // closed when the stream reader has returned
}

// Close ends the watch and its stream.
func (w *watch) Close() {
	w.Watch.Close()
	w.cancel()
	<-w.done
}

// Watch implements backend.Backend; see the package doc.
func (b *Backend) Watch(ctx context.Context, kind string, from store.Revision) (backend.Watch, error) {
	var backlog []store.Event
	start := uint64(from)
	if from == 0 {
		l, err := b.List(ctx, kind, "", backend.ReadOptions{})
		if err != nil {
			return nil, err
		}
		for _, r := range l.Items {
			backlog = append(backlog, store.Event{Type: store.Added, Revision: r.ModRevision, Resource: r})
		}
		backlog = append(backlog, store.Event{Type: store.Bookmark, Revision: l.Revision})
		start = uint64(l.Revision) + 1
	}
	if from > 0 {
		if err := b.reachesBack(ctx, start); err != nil {
			return nil, err
		}
	}
	sctx, cancel := context.WithCancel(ctx)
	fan := backend.NewFanout()
	w := &watch{Watch: fan.Subscribe(ctx, kind, store.Revision(start), backlog), fan: fan, cancel: cancel, done: make(chan struct{})}
	b.mu.Lock()
	b.watches[w] = struct{}{}
	b.mu.Unlock()
	go b.feed(sctx, w, start)
	return w, nil
}

// feed opens the event stream from index start and publishes its events
// to w until the stream or the watch ends. Nomad answers a stream request
// only with its first event or heartbeat (every 10 s), so the stream is
// opened here, not in Watch: events written meanwhile wait in Nomad's
// buffer.
func (b *Backend) feed(ctx context.Context, w *watch, start uint64) {
	defer close(w.done)
	defer func() {
		b.mu.Lock()
		delete(b.watches, w)
		b.mu.Unlock()
	}()
	frames, body, err := b.openStream(ctx, start)
	if err != nil {
		if ctx.Err() == nil {
			w.fan.End(err)
		}
		return
	}
	defer body.Close()
	for w.fan.Count() > 0 { // until the watch ends (closed, overflowed)
		var f frame
		if err := frames.Decode(&f); err != nil {
			if ctx.Err() == nil { // else Close, or the caller's context: the watch says why
				w.fan.End(fmt.Errorf("nomad: event stream at %s: %w", b.addr, err))
			}
			return
		}
		if err := b.publish(w.fan, &f); err != nil {
			w.fan.End(err)
			return
		}
	}
}

// publish turns one frame's Job events into store events.
func (b *Backend) publish(fan *backend.Fanout, f *frame) error {
	for _, ev := range f.Events {
		if ev.Topic != "Job" || len(ev.Payload.Job) == 0 {
			continue
		}
		var job api.Job
		if err := json.Unmarshal(ev.Payload.Job, &job); err != nil {
			return fmt.Errorf("nomad: event stream at %s: index %d: %w", b.addr, ev.Index, err)
		}
		if derefU(job.JobModifyIndex) != ev.Index || ev.Type != "JobRegistered" && ev.Type != "JobDeregistered" {
			continue // a status change, not a spec write
		}
		deleted := stopped(&job)
		if deleted && job.Version != nil && *job.Version > 0 {
			// A stop is a spec write (Stop, Version+1); the deleted
			// resource is the job as it was before it.
			*job.Version--
			job.Stop = new(false)
		}
		r, err := resourceOf(&job)
		if err != nil {
			return err
		}
		switch {
		case deleted:
			fan.Publish(store.Event{Type: store.Deleted, Revision: r.ModRevision, Resource: r})
		case r.Version == 1:
			fan.Publish(store.Event{Type: store.Added, Revision: r.ModRevision, Resource: r})
		default:
			fan.Publish(store.Event{Type: store.Modified, Revision: r.ModRevision, Resource: r})
		}
	}
	return nil
}

// openStream opens Nomad's event stream of Job events in every namespace
// from index start. Reads fail once ctx ends (it is the request's); the
// caller closes the stream from the goroutine that reads it.
func (b *Backend) openStream(ctx context.Context, start uint64) (*json.Decoder, io.Closer, error) {
	q := (&api.QueryOptions{Namespace: "*", Params: map[string]string{"topic": "Job:*", "index": strconv.FormatUint(start, 10)}}).WithContext(ctx)
	body, err := b.client.Raw().Response("/v1/event/stream", q)
	if err != nil {
		return nil, nil, b.fail("open the event stream", err)
	}
	return json.NewDecoder(body), body, nil
}

// reachesBack checks that Nomad's event buffer still holds every Job event
// from index start on: the job table has not changed since start, or the
// oldest buffered Job event is at or before start. Else, or when no
// buffered event arrives within compactionProbe, store.ErrCompacted.
func (b *Backend) reachesBack(ctx context.Context, start uint64) error {
	_, meta, err := b.client.Jobs().List(b.query(ctx, "*"))
	if err != nil {
		return b.fail("list jobs", err)
	}
	if meta.LastIndex < start {
		return nil // no job was written since start: nothing to miss
	}
	pctx, cancel := context.WithTimeout(ctx, compactionProbe)
	defer cancel()
	frames, body, err := b.openStream(pctx, 1) // the whole buffer, oldest first
	if err == nil {
		defer body.Close()
	}
	for err == nil {
		var f frame
		if err = frames.Decode(&f); err == nil && len(f.Events) > 0 {
			if f.Index > start {
				return fmt.Errorf("nomad: watch from %d at %s: %w: Nomad's event buffer starts at %d", start, b.addr, store.ErrCompacted, f.Index)
			}
			return nil
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if pctx.Err() != nil {
		return fmt.Errorf("nomad: watch from %d at %s: %w: Nomad's event buffer holds no Job event", start, b.addr, store.ErrCompacted)
	}
	return err
}
