package world

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/checkers"
	"revoada.dev/revoada/core/node"
	"revoada.dev/revoada/core/store"
	"revoada.dev/revoada/sim"
)

// realClient is one workload client: one operation at a time, to a
// contact node it keeps until the node fails it or times out, as the
// simulator's clients do.
type realClient struct {
	id      int
	rng     *rand.Rand
	contact int // -1 for none
	seq     int
	lastRev map[string]store.Revision
	cur     *checkers.Op // in flight
}

// startWorkload starts the plan's clients.
func (w *world) startWorkload(ctx context.Context, wg *sync.WaitGroup) {
	wl := w.plan.Workload
	if wl == nil {
		return
	}
	for ci := range wl.Clients {
		c := &realClient{id: ci, rng: rand.New(rand.NewPCG(w.cfg.Seed, uint64(ci)+1)), contact: -1, lastRev: map[string]store.Revision{}}
		w.mu.Lock()
		w.clients = append(w.clients, c)
		w.mu.Unlock()
		wg.Go(func() { w.drive(ctx, c) })
	}
}

// drive runs client c until ctx ends: think, pick a contact, issue one
// operation, record it.
func (w *world) drive(ctx context.Context, c *realClient) {
	wl := w.plan.Workload
	mean := float64(wl.Clients) / wl.Rate // plan seconds between one client's operations
	next := w.now()
	for {
		next += time.Duration(-math.Log(1-c.rng.Float64()) * mean * float64(time.Second))
		if !w.wait(ctx, next) {
			return
		}
		if running, _ := w.c.up(max(c.contact, 0)); c.contact < 0 || !running {
			live := w.c.live()
			if len(live) == 0 {
				c.contact = -1
				continue
			}
			c.contact = live[c.rng.IntN(len(live))]
		}
		op := w.issue(ctx, c)
		w.record(c, op)
		if op == nil || op.Unknown() {
			c.contact = -1 // try another node
		}
		next = max(next, w.now())
	}
}

// issue draws and runs one operation through the contact's socket. It
// returns nil when the socket did not answer (the node died since it was
// picked): nothing was sent, so nothing happened.
func (w *world) issue(ctx context.Context, c *realClient) *checkers.Op {
	wl := w.plan.Workload
	verb := sim.PickVerb(c.rng, wl.Mix)
	op := &checkers.Op{Client: c.id, Node: w.c.nodes[c.contact].name, Verb: verb, Invoke: w.now()}
	if verb != "list" && verb != "watch" {
		op.Key = sim.WorkloadKey(wl.Face, sim.PickKey(c.rng, wl, c.id))
	}
	if (verb == "apply" || verb == "delete") && c.rng.Float64() < wl.CAS {
		op.Expect = store.Expect{Set: true, Revision: c.lastRev[op.Key]}
	}
	if verb == "apply" {
		c.seq++
		op.Value = sim.WorkloadValue(c.id, c.seq)
	}
	w.mu.Lock()
	c.cur = op
	w.mu.Unlock()
	timeout := scaled(sim.ClientTimeout, w.cfg.TimeScale)
	if verb == "watch" {
		timeout = scaled(sim.WatchSpan, w.cfg.TimeScale) + timeout
	}
	opCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := w.cfg.Dial(opCtx, w.c.nodes[c.contact].dir)
	if err != nil {
		return nil
	}
	defer conn.Close()
	ref := sim.WorkloadRef(wl.Face, op.Key)
	switch verb {
	case "apply":
		file, data, format := sim.WorkloadManifest(wl.Face, ref, op.Value)
		op.Revision, err = conn.Apply(opCtx, wl.Face, file, format, data, op.Expect)
	case "delete":
		op.Revision, err = conn.Delete(opCtx, ref, op.Expect)
	case "get":
		var r store.Resource
		r, op.Served, err = conn.Get(opCtx, ref)
		if err == nil {
			op.Value, op.Revision = sim.ValueOf(r.Payload), r.ModRevision
		}
	case "list":
		var l backend.List
		l, err = conn.List(opCtx, ref.Kind, ref.Namespace)
		if err == nil {
			op.Served = l.Revision
			for _, it := range l.Items {
				op.Items = append(op.Items, checkers.Item{Name: it.Ref.Name, Value: sim.ValueOf(it.Payload), Revision: it.ModRevision})
			}
		}
	case "watch":
		err = w.watch(ctx, opCtx, conn, op, ref.Kind)
	}
	op = w.ended(ctx, op, err)
	switch {
	case op.Outcome != checkers.OutcomeOK:
	case verb == "delete":
		delete(c.lastRev, op.Key)
	case op.Key != "":
		c.lastRev[op.Key] = op.Revision
	}
	return op
}

// watch follows kind for WatchSpan: from the contact's current revision
// (the Bookmark that ends a watch from 0's listing), recording every
// change after it.
func (w *world) watch(ctx, opCtx context.Context, conn Conn, op *checkers.Op, kind string) error {
	wctx, cancel := context.WithCancel(opCtx)
	defer cancel()
	wt, err := conn.Watch(wctx, kind, 0)
	if err != nil {
		return err
	}
	defer wt.Close()
	end := time.NewTimer(scaled(sim.WatchSpan, w.cfg.TimeScale))
	defer end.Stop()
	listed := false
	for {
		select {
		case ev, open := <-wt.Events():
			if !open {
				if err := wt.Err(); err != nil {
					return err
				}
				return errReset
			}
			switch {
			case ev.Type == store.Reset:
				return errReset
			case ev.Type == store.Bookmark:
				if !listed {
					listed, op.Served = true, ev.Revision
				}
			case listed:
				op.Events = append(op.Events, checkers.Item{Name: ev.Resource.Ref.Name, Value: sim.ValueOf(ev.Resource.Payload),
					Revision: ev.Revision, Deleted: ev.Type == store.Deleted, At: w.now()})
			}
		case <-end.C:
			if !listed {
				return errNoListing
			}
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

var (
	errReset     = errors.New("world: the watch was reset")
	errNoListing = errors.New("world: the watch's initial listing never ended")
)

// ended records an operation's return and outcome from its error.
func (w *world) ended(ctx context.Context, op *checkers.Op, err error) *checkers.Op {
	op.Return = w.now()
	switch {
	case ctx.Err() != nil:
		op.Outcome = checkers.OutcomeUnfinished
	case err == nil:
		op.Outcome = checkers.OutcomeOK
	case errors.Is(err, errReset):
		op.Outcome = checkers.OutcomeReset
	case errors.Is(err, store.ErrNotFound):
		op.Outcome = checkers.OutcomeNotFound
	case errors.Is(err, store.ErrConflict):
		op.Outcome = checkers.OutcomeConflict
	case errors.Is(err, store.ErrInvalid):
		op.Outcome = checkers.OutcomeInvalid
	case errors.Is(err, store.ErrUnsupported):
		op.Outcome = checkers.OutcomeUnsupported
	case errors.Is(err, store.ErrCompacted):
		op.Outcome = checkers.OutcomeCompacted
	case errors.Is(err, node.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		op.Outcome = checkers.OutcomeTimeout
	default:
		op.Outcome = checkers.OutcomeError
	}
	if op.Outcome != checkers.OutcomeNotFound && op.Verb == "get" && op.Outcome != checkers.OutcomeOK {
		op.Served = 0
	}
	return op
}

// record appends a returned operation to the history (nil: none).
func (w *world) record(c *realClient, op *checkers.Op) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c.cur = nil
	if op == nil {
		return
	}
	w.history = append(w.history, *op)
	if op.Outcome == checkers.OutcomeOK || op.Outcome == checkers.OutcomeNotFound {
		w.checkNotLeft(slices.IndexFunc(w.c.nodes, func(p *proc) bool { return p.name == op.Node }), op)
	}
}

// endWorkload records the operations still in flight as unfinished.
func (w *world) endWorkload() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range w.clients {
		if c.cur != nil {
			op := *c.cur
			op.Outcome, op.Return = checkers.OutcomeUnfinished, w.now()
			w.history = append(w.history, op)
			c.cur = nil
		}
	}
}
