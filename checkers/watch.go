package checkers

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	"revoada.dev/revoada/core/store"
)

// The watch, list and revision checkers judge what clients saw of the
// store's global revisions, black-box: every successful write is one
// revision, so everything any client observed (write acknowledgements, gets'
// ModRevisions, watch events, list items) is a partial map from revision to
// the write it holds, and all of it must agree. Each checker assumes the
// history's resources are one kind in one namespace (the workload's), so
// that every revision is a write a watch of that kind sees.

// findingsPerOpMax bounds the findings reported for one operation: a watch
// that lost its place would otherwise report every event after.
const findingsPerOpMax = 8

// Finding is one thing a checker found wrong in a history.
type Finding struct {
	At     time.Duration // when the offending observation was made
	Node   string        // the node that served it
	Client int
	Op     int    // the operation's index in the history
	Check  string // "watch", "list" or "revision"
	Detail string // what is wrong, naming the revisions and operations involved
}

func (f Finding) String() string {
	return fmt.Sprintf("%v %s client %d %s: %s", f.At, f.Node, f.Client, f.Check, f.Detail)
}

// Watches checks every watch in the history: its events come one revision
// after another from the revision it started after (no gap, no duplicate,
// nothing out of order); no event is seen before the writes up to its
// revision were invoked; each event agrees with the write its value and
// revision name (its acknowledgement, what gets, lists and other watches saw
// at that revision), so watches resumed from different revisions agree on
// every revision they share. A compacted watch saw nothing; a reset one is
// checked up to the reset.
func Watches(history []Op) []Finding { return NewLedger(history).Watches() }

// A Ledger is what a history says of each revision: who wrote it, and who
// saw it. Watches, Lists and Revisions each build one; a caller running all
// three builds it once and calls its methods, which only read it.
type Ledger struct{ l *ledger }

// NewLedger reads history, which it keeps and never changes.
func NewLedger(history []Op) *Ledger { return &Ledger{newLedger(history)} }

// Watches is Watches of the ledger's history.
func (lg *Ledger) Watches() []Finding {
	l, history := lg.l, lg.l.h
	var out []Finding
	for i := range history {
		if history[i].Verb == "watch" {
			out = append(out, l.checkWatch(i)...)
		}
	}
	return sortFindings(append(out, l.clashFindings(srcEvent)...))
}

// Lists checks every successful list in the history: it equals the store at
// the revision S it says it was served at (each item is the key's latest
// write up to S, as far as the history knows, and no key whose value at S
// is known is missing), and S lies in the list's window: at least every
// revision observed before the list was invoked (for linearizable lists;
// local lists may be stale) and written by operations invoked before it
// returned.
func Lists(history []Op) []Finding { return NewLedger(history).Lists() }

// Lists is Lists of the ledger's history.
func (lg *Ledger) Lists() []Finding {
	l, history := lg.l, lg.l.h
	var out []Finding
	for i := range history {
		if op := &history[i]; op.Verb == "list" && op.Outcome == OutcomeOK {
			out = append(out, l.checkList(i)...)
		}
	}
	return sortFindings(append(out, l.clashFindings(srcItem)...))
}

// Revisions checks the global revision counter across keys, which the
// per-key Linearizable cannot: no two acknowledgements or gets disagree on
// what a revision holds (one value at one revision), a write acknowledged at
// revision r was invoked after no revision ≥ r had been observed, a
// linearizable get was served at a revision no older than any observed
// before it was invoked, and a get's ModRevision is no later than the
// revision it was served at.
func Revisions(history []Op) []Finding { return NewLedger(history).Revisions() }

// Revisions is Revisions of the ledger's history.
func (lg *Ledger) Revisions() []Finding {
	l, history := lg.l, lg.l.h
	var out []Finding
	for i := range history {
		out = append(out, l.checkRevision(i)...)
	}
	return sortFindings(append(out, l.clashFindings(srcRead)...))
}

// source is where a sighting of a revision came from, in the order the
// ledger takes them: the first sighting of a revision is the reference the
// others are compared with.
type source uint8

const (
	srcAck   source = iota + 1 // a write's acknowledgement
	srcRead                    // a get's ModRevision
	srcEvent                   // a watch event
	srcItem                    // a list item
)

// sighting is one observation of what a revision holds.
type sighting struct {
	rev     store.Revision
	key     string
	value   string // a put's value; a delete event's deleted value; "" when not known
	deleted bool
	src     source
	op      int // the operation's index in the history
	item    int // the event's or item's index within the operation
}

// clash is two sightings that disagree.
type clash struct {
	ref, got sighting
	why      string
}

// observed is a revision some client knew was committed at a time.
type observed struct {
	at  time.Duration
	rev store.Revision
	op  int
}

// invoked is the latest invocation among the writers of revisions up to rev.
type invoked struct {
	rev store.Revision // the revision whose writer was invoked last
	at  time.Duration
	op  int
}

// ledger is what the history says each revision holds.
type ledger struct {
	h       []Op
	at      map[store.Revision]sighting // the reference sighting of each revision
	byValue map[string]sighting         // the first sighting of each value as a put
	writer  map[string]int              // value -> the apply that wrote it
	clashes []clash

	revs   []store.Revision      // the known revisions, ascending
	bound  []invoked             // bound[i]: the latest writer invocation among revs[:i+1]
	byKey  map[string][]sighting // each key's known writes, by revision
	floors []observed            // ascending by time, rev a running maximum
	keys   []string              // every key with a known write, sorted
}

func newLedger(history []Op) *ledger {
	l := &ledger{h: history, at: map[store.Revision]sighting{}, byValue: map[string]sighting{}, writer: map[string]int{}, byKey: map[string][]sighting{}}
	for i := range history {
		if op := &history[i]; op.Verb == "apply" && op.Value != "" {
			l.writer[op.Value] = i
		}
	}
	for _, src := range []source{srcAck, srcRead, srcEvent, srcItem} {
		for i := range history {
			l.sightings(i, src)
		}
	}
	l.revs = slices.Sorted(maps.Keys(l.at))
	var last invoked
	for _, rev := range l.revs {
		s := l.at[rev]
		l.byKey[s.key] = append(l.byKey[s.key], s)
		if w, ok := l.writerOf(s); ok && (len(l.bound) == 0 || l.h[w].Invoke > last.at) {
			last = invoked{rev: rev, at: l.h[w].Invoke, op: w}
		}
		l.bound = append(l.bound, last)
	}
	l.keys = slices.Sorted(maps.Keys(l.byKey))
	l.floors = observations(history)
	return l
}

// sightings records what operation i saw, if it is of source src.
func (l *ledger) sightings(i int, src source) {
	op := &l.h[i]
	switch {
	case src == srcAck && op.IsWrite() && op.Outcome == OutcomeOK:
		s := sighting{rev: op.Revision, key: op.Key, deleted: op.Verb == "delete", src: srcAck, op: i}
		if !s.deleted {
			s.value = op.Value
		}
		l.add(s)
	case src == srcRead && op.Verb == "get" && op.Outcome == OutcomeOK && op.Revision > 0:
		l.add(sighting{rev: op.Revision, key: op.Key, value: op.Value, src: srcRead, op: i})
	case src == srcEvent && op.Verb == "watch":
		for j, ev := range op.Events {
			l.add(sighting{rev: ev.Revision, key: ev.Name, value: ev.Value, deleted: ev.Deleted, src: srcEvent, op: i, item: j})
		}
	case src == srcItem && op.Verb == "list" && op.Outcome == OutcomeOK:
		for j, it := range op.Items {
			l.add(sighting{rev: it.Revision, key: it.Name, value: it.Value, src: srcItem, op: i, item: j})
		}
	}
}

// add records one sighting, noting any disagreement with the reference.
func (l *ledger) add(s sighting) {
	if ref, ok := l.at[s.rev]; !ok {
		l.at[s.rev] = s
	} else if why := disagree(ref, s); why != "" {
		l.clashes = append(l.clashes, clash{ref, s, why})
	}
	if s.deleted || s.value == "" {
		return
	}
	if ref, ok := l.byValue[s.value]; !ok {
		l.byValue[s.value] = s
	} else if ref.rev != s.rev {
		l.clashes = append(l.clashes, clash{ref, s, fmt.Sprintf("one write's value %s at two revisions, %d and %d (a duplicated apply or a wrong revision)", s.value, ref.rev, s.rev)})
	}
}

// disagree says how two sightings of one revision differ, or "".
func disagree(a, b sighting) string {
	switch {
	case a.key != b.key:
		return fmt.Sprintf("revision %d wrote %s per one and %s per the other", a.rev, a.key, b.key)
	case a.deleted != b.deleted:
		return fmt.Sprintf("revision %d is a delete of %s per one and a put per the other", a.rev, a.key)
	case a.value != b.value && (!a.deleted || a.value != "" && b.value != ""):
		return fmt.Sprintf("revision %d holds %s=%s per one and %s=%s per the other", a.rev, a.key, a.value, b.key, b.value)
	}
	return ""
}

// writerOf is the operation that wrote a sighting's revision, if known: the
// apply of its value, or the acknowledged delete.
func (l *ledger) writerOf(s sighting) (int, bool) {
	if s.deleted {
		return s.op, s.src == srcAck
	}
	w, ok := l.writer[s.value]
	return w, ok
}

// invokedBy is the latest writer invocation among known revisions ≤ rev.
func (l *ledger) invokedBy(rev store.Revision) (invoked, bool) {
	i := sort.Search(len(l.revs), func(i int) bool { return l.revs[i] > rev }) - 1
	if i < 0 {
		return invoked{}, false
	}
	return l.bound[i], true
}

// knownIn counts the known revisions in (lo, hi].
func (l *ledger) knownIn(lo, hi store.Revision) int {
	search := func(r store.Revision) int {
		return sort.Search(len(l.revs), func(i int) bool { return l.revs[i] > r })
	}
	return search(hi) - search(lo)
}

// latest is key's last known write at or before rev.
func (l *ledger) latest(key string, rev store.Revision) (sighting, bool) {
	ws := l.byKey[key]
	i := sort.Search(len(ws), func(i int) bool { return ws[i].rev > rev }) - 1
	if i < 0 {
		return sighting{}, false
	}
	return ws[i], true
}

// after is key's first known write in (lo, hi].
func (l *ledger) after(key string, lo, hi store.Revision) (sighting, bool) {
	ws := l.byKey[key]
	i := sort.Search(len(ws), func(i int) bool { return ws[i].rev > lo })
	if i == len(ws) || ws[i].rev > hi {
		return sighting{}, false
	}
	return ws[i], true
}

// observations lists, in time order, each revision a client learned was
// committed and when: acknowledged writes, gets (local ones too: a replica
// only applies committed entries), lists and watch events. rev is a running
// maximum, so floorBefore can search it.
func observations(history []Op) []observed {
	var obs []observed
	for i := range history {
		op := &history[i]
		switch {
		case op.Verb == "watch":
			for _, ev := range op.Events {
				obs = append(obs, observed{ev.At, ev.Revision, i})
			}
		case op.Outcome != OutcomeOK && op.Outcome != OutcomeNotFound:
		case op.IsWrite() && op.Outcome == OutcomeOK:
			obs = append(obs, observed{op.Return, op.Revision, i})
		case op.Verb == "get" || op.Verb == "list" && op.Outcome == OutcomeOK:
			obs = append(obs, observed{op.Return, max(op.Served, op.Revision), i})
		}
	}
	slices.SortStableFunc(obs, func(a, b observed) int { return cmp.Compare(a.at, b.at) })
	for i := 1; i < len(obs); i++ {
		if obs[i].rev < obs[i-1].rev {
			obs[i].rev, obs[i].op = obs[i-1].rev, obs[i-1].op
		}
	}
	return obs
}

// floorBefore is the highest revision observed strictly before t.
func (l *ledger) floorBefore(t time.Duration) (observed, bool) {
	i := sort.Search(len(l.floors), func(i int) bool { return l.floors[i].at >= t }) - 1
	if i < 0 {
		return observed{}, false
	}
	return l.floors[i], true
}

// finding starts a finding about operation i.
func (l *ledger) finding(i int, at time.Duration, check, format string, args ...any) Finding {
	op := &l.h[i]
	return Finding{At: at, Node: op.Node, Client: op.Client, Op: i, Check: check, Detail: fmt.Sprintf(format, args...)}
}

// checkWatch judges one watch's events.
func (l *ledger) checkWatch(i int) []Finding {
	op := &l.h[i]
	var out []Finding
	report := func(at time.Duration, format string, args ...any) {
		if len(out) < findingsPerOpMax {
			out = append(out, l.finding(i, at, "watch", "watch from revision %d: "+format, append([]any{op.Served}, args...)...))
		}
	}
	next := op.Served + 1
	seen := map[store.Revision]int{}
	for j, ev := range op.Events {
		switch first, dup := seen[ev.Revision]; {
		case dup:
			report(ev.At, "event %d repeats revision %d (event %d): a duplicate", j, ev.Revision, first)
		case ev.Revision <= op.Served:
			report(ev.At, "event %d is revision %d, at or before the revision it started after", j, ev.Revision)
		case ev.Revision < next:
			report(ev.At, "event %d is revision %d after revision %d: out of order", j, ev.Revision, next-1)
		case ev.Revision > next:
			report(ev.At, "event %d is revision %d right after %d: a gap, revisions %d..%d missing", j, ev.Revision, next-1, next, ev.Revision-1)
		}
		seen[ev.Revision] = j
		next = max(next, ev.Revision+1)
		if msg := l.judgeSeen(ev.Name, ev.Value, ev.Deleted, ev.Revision, ev.At, "seen"); msg != "" {
			report(ev.At, "event %d (%s at revision %d, at %v): %s", j, describeItem(ev), ev.Revision, ev.At, msg)
		}
	}
	return out
}

// judgeSeen checks that what a client saw at time at, as revision rev, was
// written by operations invoked by then: the apply of its value (for a put)
// and the writers of every known revision up to rev. It also rejects values
// no client wrote and values of refused writes.
func (l *ledger) judgeSeen(key, value string, deleted bool, rev store.Revision, at time.Duration, verb string) string {
	if !deleted && value != "" {
		w, ok := l.writer[value]
		switch {
		case !ok:
			return fmt.Sprintf("value %s was written by no client", value)
		case l.h[w].Outcome != OutcomeOK && !l.h[w].Unknown():
			return fmt.Sprintf("value %s is client %d's apply, which was refused (%s)", value, l.h[w].Client, l.h[w].Outcome)
		case l.h[w].Key != key:
			return fmt.Sprintf("value %s was written to %s, not %s", value, l.h[w].Key, key)
		case l.h[w].Invoke > at:
			return fmt.Sprintf("from the future: %s before client %d invoked its apply at %v", verb, l.h[w].Client, l.h[w].Invoke)
		}
	}
	if b, ok := l.invokedBy(rev); ok && b.at > at {
		w := &l.h[b.op]
		return fmt.Sprintf("from the future: %s before revision %d ≤ %d was written, by client %d's %s %s invoked at %v", verb, b.rev, rev, w.Client, w.Verb, w.Key, b.at)
	}
	return ""
}

// checkList judges one list.
func (l *ledger) checkList(i int) []Finding {
	op := &l.h[i]
	s := op.Served
	var out []Finding
	report := func(format string, args ...any) {
		if len(out) < findingsPerOpMax {
			out = append(out, l.finding(i, op.Return, "list", "list at revision %d (%v..%v): "+format, append([]any{s, op.Invoke, op.Return}, args...)...))
		}
	}
	if f, ok := l.floorBefore(op.Invoke); ok && !op.Local && f.rev > s {
		o := &l.h[f.op]
		report("stale: revision %d was already observed before it was invoked (client %d's %s at %v)", f.rev, o.Client, o.Verb, f.at)
	}
	if b, ok := l.invokedBy(s); ok && b.at > op.Return {
		w := &l.h[b.op]
		report("from the future: revision %d ≤ %d was written by client %d's %s %s, invoked at %v, after the list returned", b.rev, s, w.Client, w.Verb, w.Key, b.at)
	}
	listed := map[string]int{}
	for j, it := range op.Items {
		if first, dup := listed[it.Name]; dup {
			report("lists %s twice (items %d and %d)", it.Name, first, j)
		}
		listed[it.Name] = j
		if it.Revision > s {
			report("lists %s with revision %d, after the revision it was served at", describeItem(it), it.Revision)
			continue
		}
		if msg := l.judgeSeen(it.Name, it.Value, false, it.Revision, op.Return, "listed"); msg != "" {
			report("item %s (revision %d): %s", describeItem(it), it.Revision, msg)
		}
		if w, ok := l.after(it.Name, it.Revision, s); ok {
			report("lists %s with revision %d, but revision %d ≤ %d wrote %s: no state at %d holds the item", describeItem(it), it.Revision, w.rev, s, describeSighting(w), s)
		}
	}
	for _, key := range l.keys {
		if _, ok := listed[key]; ok {
			continue
		}
		w, ok := l.latest(key, s)
		if ok && !w.deleted && l.knownIn(w.rev, s) == int(s-w.rev) {
			report("misses %s: revision %d wrote %s and every revision from there to %d is known, none touching it", key, w.rev, describeSighting(w), s)
		}
	}
	return out
}

// checkRevision judges one write acknowledgement or get against the global
// counter.
func (l *ledger) checkRevision(i int) []Finding {
	op := &l.h[i]
	floor, ok := l.floorBefore(op.Invoke)
	o := &l.h[floor.op] // when !ok, floor.op is 0 and unused
	switch {
	case op.IsWrite() && op.Outcome == OutcomeOK && ok && floor.rev >= op.Revision:
		return []Finding{l.finding(i, op.Return, "revision", "%s %s acknowledged at revision %d, but revision %d was observed before it was invoked at %v (client %d's %s at %v)",
			op.Verb, op.Key, op.Revision, floor.rev, op.Invoke, o.Client, o.Verb, floor.at)}
	case op.Verb != "get" || op.Outcome != OutcomeOK && op.Outcome != OutcomeNotFound:
		return nil
	case op.Outcome == OutcomeOK && op.Revision > op.Served:
		return []Finding{l.finding(i, op.Return, "revision", "get %s read revision %d, later than the revision %d it was served at", op.Key, op.Revision, op.Served)}
	case !op.Local && ok && floor.rev > op.Served:
		return []Finding{l.finding(i, op.Return, "revision", "stale get %s: served at revision %d, but revision %d was observed before it was invoked at %v (client %d's %s at %v)",
			op.Key, op.Served, floor.rev, op.Invoke, o.Client, o.Verb, floor.at)}
	}
	return nil
}

// clashFindings reports the disagreements whose later sighting is of src (a
// read's also covers acknowledgements).
func (l *ledger) clashFindings(src source) []Finding {
	check := map[source]string{srcAck: "revision", srcRead: "revision", srcEvent: "watch", srcItem: "list"}[src]
	var out []Finding
	for _, c := range l.clashes {
		if c.got.src != src && !(src == srcRead && c.got.src == srcAck) {
			continue
		}
		at := l.h[c.got.op].Return
		if c.got.src == srcEvent {
			at = l.h[c.got.op].Events[c.got.item].At
		}
		out = append(out, l.finding(c.got.op, at, check, "%s, but %s: %s", l.describe(c.got), l.describe(c.ref), c.why))
	}
	return out
}

// describe says who saw a sighting and what.
func (l *ledger) describe(s sighting) string {
	op := &l.h[s.op]
	switch s.src {
	case srcAck:
		what := describeSighting(s)
		if !s.deleted {
			what = "apply " + what
		}
		return fmt.Sprintf("client %d's %s was acknowledged at revision %d", op.Client, what, s.rev)
	case srcRead:
		return fmt.Sprintf("client %d's get read %s with revision %d", op.Client, describeSighting(s), s.rev)
	case srcEvent:
		return fmt.Sprintf("client %d's watch from %d (on %s) saw %s at revision %d", op.Client, op.Served, op.Node, describeSighting(s), s.rev)
	}
	return fmt.Sprintf("client %d's list at %d (on %s) listed %s with revision %d", op.Client, op.Served, op.Node, describeSighting(s), s.rev)
}

// describeSighting renders a write: "key-1=wv-2-3" or "delete key-1".
func describeSighting(s sighting) string {
	if s.deleted {
		return "delete " + s.key
	}
	return s.key + "=" + s.value
}

func describeItem(it Item) string {
	if it.Deleted {
		return "delete " + it.Name
	}
	return it.Name + "=" + it.Value
}

// sortFindings orders findings by time, then by operation.
func sortFindings(fs []Finding) []Finding {
	slices.SortStableFunc(fs, func(a, b Finding) int { return cmp.Or(cmp.Compare(a.At, b.At), cmp.Compare(a.Op, b.Op)) })
	return fs
}
