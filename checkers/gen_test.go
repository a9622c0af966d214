package checkers

import (
	"cmp"
	"container/heap"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"revoada.dev/revoada/core/store"
)

// genConfig shapes a generated history.
type genConfig struct {
	Keys, Clients int
	Groups        int // clients and keys split into groups; a client works on its group's keys
	Ops           int
	Sequential    int // the first Sequential operations run one at a time
	Seed          uint64

	Get, Delete, List, Watch float64 // shares of operations; the rest are applies
	CAS                      float64 // share of writes with an expected revision
	Unknown                  float64 // share of operations whose answer is lost
	Local                    float64 // share of reads served stale
}

// genWrite is one committed write of the reference store.
type genWrite struct {
	rev     store.Revision
	key     string
	value   string // for a delete, the value deleted
	deleted bool
	at      time.Duration
}

// reference is the dumb model of the store the generator runs against: a
// map of keys and the log of every write.
type reference struct {
	cur   map[string]genWrite   // live keys
	log   []genWrite            // every write, log[i].rev == i+1
	byKey map[string][]genWrite // each key's writes in order
}

func newReference() *reference {
	return &reference{cur: map[string]genWrite{}, byKey: map[string][]genWrite{}}
}

func (r *reference) rev() store.Revision { return store.Revision(len(r.log)) }

// write applies one write at time at if exp holds; it answers the outcome
// and the revision.
func (r *reference) write(verb, key, value string, exp store.Expect, at time.Duration) (string, store.Revision) {
	cur, exists := r.cur[key]
	if verb == "delete" && !exists {
		return OutcomeNotFound, 0
	}
	if exp.Set {
		var have store.Revision
		if exists {
			have = cur.rev
		}
		if have != exp.Revision {
			return OutcomeConflict, 0
		}
	}
	w := genWrite{rev: r.rev() + 1, key: key, value: value, deleted: verb == "delete", at: at}
	if w.deleted {
		w.value = cur.value
		delete(r.cur, key)
	} else {
		r.cur[key] = w
	}
	r.log = append(r.log, w)
	r.byKey[key] = append(r.byKey[key], w)
	return OutcomeOK, w.rev
}

// at is key's state at revision rev.
func (r *reference) at(key string, rev store.Revision) (genWrite, bool) {
	ws := r.byKey[key]
	i, _ := slices.BinarySearchFunc(ws, rev+1, func(w genWrite, t store.Revision) int { return cmp.Compare(w.rev, t) })
	if i == 0 || ws[i-1].deleted {
		return genWrite{}, false
	}
	return ws[i-1], true
}

// list is the store at revision rev.
func (r *reference) list(rev store.Revision) []Item {
	var items []Item
	for _, key := range slices.Sorted(mapsKeys(r.byKey)) {
		if w, ok := r.at(key, rev); ok {
			items = append(items, Item{Name: key, Value: w.value, Revision: w.rev})
		}
	}
	return items
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// genOp is one operation in flight.
type genOp struct {
	op     *Op
	effect bool // it takes effect at its linearization point (false: an unknown write that is lost)
}

// genEvent is a moment of the generator's simulation.
type genEvent struct {
	at     time.Duration
	kind   int // evInvoke, evLinearize, evAnswer
	client int
	g      *genOp
	seq    int // tie-break, for determinism
}

const (
	evInvoke = iota
	evLinearize
	evAnswer
)

type eventQueue []genEvent

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	return cmp.Or(cmp.Compare(q[i].at, q[j].at), cmp.Compare(q[i].seq, q[j].seq)) < 0
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(genEvent)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// generator runs clients against the reference store.
type generator struct {
	c          genConfig
	rng        *rand.Rand
	ref        *reference
	q          eventQueue
	seq        int
	issued     int
	concurrent bool
	lastRev    []map[string]store.Revision // each client's last seen revision per key
	writes     []int                       // each client's applies so far
	history    []Op
}

// generate runs clients against the reference store and records a history
// that is correct by construction: every operation takes effect at one
// moment (its linearization point) inside its interval and answers what the
// reference held then. Unknown-outcome writes take effect or not, and may
// land after the client gave up on them. Local reads answer a past
// revision. Watches see the log from their start, each event after it was
// written. The first Sequential operations run one at a time; then every
// client runs at once.
func generate(c genConfig) []Op {
	g := &generator{c: c, rng: rand.New(rand.NewPCG(c.Seed, c.Seed^0x9e3779b97f4a7c15)), ref: newReference()}
	for range c.Clients {
		g.lastRev = append(g.lastRev, map[string]store.Revision{})
		g.writes = append(g.writes, 0)
	}
	var at time.Duration
	for g.issued < min(c.Sequential, c.Ops) {
		done := g.invoke(g.rng.IntN(c.Clients), at)
		g.drain()
		at = done + g.us(300)
	}
	g.concurrent = true
	for ci := range c.Clients {
		g.push(at+g.us(1000), evInvoke, ci, nil)
	}
	g.drain()
	return g.history
}

func (g *generator) us(n int) time.Duration { return time.Duration(1+g.rng.IntN(n)) * time.Microsecond }

func (g *generator) push(at time.Duration, kind, client int, op *genOp) {
	g.seq++
	heap.Push(&g.q, genEvent{at: at, kind: kind, client: client, g: op, seq: g.seq})
}

func (g *generator) drain() {
	for g.q.Len() > 0 {
		e := heap.Pop(&g.q).(genEvent)
		switch e.kind {
		case evInvoke:
			if g.issued < g.c.Ops {
				g.invoke(e.client, e.at)
			}
		case evLinearize:
			g.linearize(e.g, e.at)
		case evAnswer:
			g.answer(e.g, e.client, e.at)
		}
	}
}

// key picks one of the client's group's keys.
func (g *generator) key(ci int) string {
	groups := max(g.c.Groups, 1)
	perGroup := max(g.c.Keys/groups, 1)
	return "key-" + strconv.Itoa(ci%groups+groups*g.rng.IntN(perGroup))
}

// invoke starts client ci's next operation at time at; it answers the time
// by which everything about it has happened.
func (g *generator) invoke(ci int, at time.Duration) time.Duration {
	c := g.c
	op := &Op{Client: ci, Node: "n" + strconv.Itoa(1+ci%3), Invoke: at}
	switch x := g.rng.Float64(); {
	case x < c.Get:
		op.Verb = "get"
	case x < c.Get+c.Delete:
		op.Verb = "delete"
	case x < c.Get+c.Delete+c.List:
		op.Verb = "list"
	case x < c.Get+c.Delete+c.List+c.Watch:
		op.Verb = "watch"
	default:
		op.Verb = "apply"
	}
	if op.Verb != "list" && op.Verb != "watch" {
		op.Key = g.key(ci)
	}
	if op.IsWrite() && g.rng.Float64() < c.CAS {
		op.Expect = store.Expect{Set: true, Revision: g.lastRev[ci][op.Key]}
	}
	if op.Verb == "apply" {
		g.writes[ci]++
		op.Value = "wv-" + strconv.Itoa(ci) + "-" + strconv.Itoa(g.writes[ci])
	}
	if (op.Verb == "get" || op.Verb == "list") && g.rng.Float64() < c.Local {
		op.Local = true
	}
	gop := &genOp{op: op, effect: true}
	lin := at + g.us(500)
	ans := lin + g.us(500)
	if op.Verb == "watch" {
		ans = lin + g.us(5000)
	}
	if op.Verb != "watch" && g.rng.Float64() < c.Unknown {
		op.Outcome = OutcomeTimeout
		ans = at + g.us(1000)
		gop.effect = op.IsWrite() && g.rng.IntN(2) == 0
		lin = at + g.us(3000) // may land after the client gave up
	}
	g.issued++
	if gop.effect {
		g.push(lin, evLinearize, ci, gop)
	}
	g.push(ans, evAnswer, ci, gop)
	return max(lin, ans)
}

// linearize makes an operation take effect.
func (g *generator) linearize(gop *genOp, at time.Duration) {
	op := gop.op
	served := g.ref.rev()
	if op.Local {
		served = store.Revision(g.rng.IntN(int(served) + 1))
	}
	switch op.Verb {
	case "apply", "delete":
		outcome, rev := g.ref.write(op.Verb, op.Key, op.Value, op.Expect, at)
		if !op.Unknown() {
			op.Outcome, op.Revision = outcome, rev
		}
	case "get":
		op.Served = served
		if w, ok := g.ref.at(op.Key, served); ok {
			op.Outcome, op.Value, op.Revision = OutcomeOK, w.value, w.rev
		} else {
			op.Outcome = OutcomeNotFound
		}
	case "list":
		op.Outcome, op.Served, op.Items = OutcomeOK, served, g.ref.list(served)
	case "watch":
		op.Served = served
	}
}

// answer ends an operation: the client records it and moves on.
func (g *generator) answer(gop *genOp, ci int, at time.Duration) {
	op := gop.op
	op.Return = at
	switch {
	case op.Verb == "watch":
		for _, w := range g.ref.log[op.Served:] {
			seen := max(w.at, op.Invoke) + g.us(200)
			if seen > at {
				break
			}
			op.Events = append(op.Events, Item{Name: w.key, Value: w.value, Revision: w.rev, Deleted: w.deleted, At: seen})
		}
		op.Outcome = OutcomeOK
	case op.Unknown():
	case op.Outcome == OutcomeOK && op.Verb == "delete":
		delete(g.lastRev[ci], op.Key)
	case op.Outcome == OutcomeOK && op.Key != "":
		g.lastRev[ci][op.Key] = op.Revision
	}
	g.history = append(g.history, *op) // a late landing changes nothing recorded: it only writes the reference
	if g.concurrent {
		g.push(at+g.us(300), evInvoke, ci, nil)
	}
}
