package sim

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	"revoada.dev/revoada/checkers"
	"revoada.dev/revoada/core/store"
)

// The workload history checks. PropHistory judges the history against the
// Raft log (white box); the others judge it from the outside, as a client
// sees it (package checkers).
const (
	PropHistory      = "history"
	PropLinearizable = "linearizable" // porcupine, per key
	PropWatch        = "watch"
	PropList         = "list"
	PropRevisions    = "revisions"
	PropRoles        = "roles-linearizable" // the role commands, porcupine
)

// writeLog is the store's writes in log order, as the checker's reference
// machine applied them: the order every replica agrees on, and so the
// linearization of the writes.
type writeLog struct {
	byRev map[store.Revision]store.Event
	byKey map[string][]store.Event // in revision order
	names map[string]bool          // every value ever written
}

func newWriteLog(writes []store.Event) *writeLog {
	l := &writeLog{byRev: map[store.Revision]store.Event{}, byKey: map[string][]store.Event{}, names: map[string]bool{}}
	for _, ev := range writes {
		l.byRev[ev.Revision] = ev
		name := ev.Resource.Ref.Name
		l.byKey[name] = append(l.byKey[name], ev)
		if ev.Type != store.Deleted {
			l.names[valueOf(ev.Resource.Payload)] = true
		}
	}
	return l
}

// at is the key's state at revision rev: its value and modify revision, or
// ok false when it did not exist.
func (l *writeLog) at(key string, rev store.Revision) (value string, mod store.Revision, ok bool) {
	evs := l.byKey[key]
	i := sort.Search(len(evs), func(i int) bool { return evs[i].Revision > rev }) - 1
	if i < 0 || evs[i].Type == store.Deleted {
		return "", 0, false
	}
	return valueOf(evs[i].Resource.Payload), evs[i].Revision, true
}

// checkHistory judges the workload's history against the write log:
//   - an acknowledged write is in the log at the revision it was told, with
//     its value (a delete as a deletion of its key);
//   - a refused apply (conflict, invalid, not found) never reached the log;
//   - a get or list returns exactly the state of the log at the revision it
//     says it served, and a linearizable one was served at a revision no
//     older than anything acknowledged before it was invoked (real time);
//   - a watch sees the log's writes one revision after another, no gap, no
//     duplicate, starting right after the revision it started from.
//
// Operations with unknown outcome (timeout, crash, unfinished) constrain
// nothing: their writes may or may not be in the log.
func (s *simulator) checkHistory() {
	if s.plan.Workload == nil {
		return
	}
	l := newWriteLog(s.check.writes)
	known := s.ackedBefore()
	for _, op := range s.history {
		if msg := l.judge(op, known(op.Invoke)); msg != "" {
			s.check.fail(op.Return, PropHistory, op.Node, "client %d %s %s at %v..%v: %s", op.Client, op.Verb, op.Key, op.Invoke, op.Return, msg)
		}
	}
	s.checkBlackBox()
	if p := s.plan.Expect.Progress; p > 0 && len(s.history) > 0 {
		ok := 0
		for _, op := range s.history {
			if op.Outcome == OutcomeOK {
				ok++
			}
		}
		if share := float64(ok) / float64(len(s.history)); share < p {
			s.check.fail(s.now, PropProgress, "", "%d of %d operations succeeded (%.2f), want at least %.2f", ok, len(s.history), share, p)
		}
	}
}

// checkBlackBox runs package checkers over the client history (BlackBox).
func (s *simulator) checkBlackBox() {
	for _, v := range BlackBox(s.history, s.marks, s.now, s.checkTimeout) {
		s.check.fail(v.At, v.Property, v.Node, "%s", v.Detail)
	}
}

// BlackBox judges a client history from the outside, as package checkers
// does, whichever world made it: porcupine per key, within timeout (0 for
// none: Options.CheckTimeout; a search that concluded nothing is a
// violation too), then the watch, list and revision checks. end is when
// the run ended. The history and marks are only read.
func BlackBox(history []Op, marks []checkers.Mark, end, timeout time.Duration) []Violation {
	var out []Violation
	if v := checkers.Linearizable(history, checkers.Options{Marks: marks, Timeout: timeout}); !v.OK() {
		out = append(out, Violation{Property: PropLinearizable, At: failAt(history, v, end), Detail: v.String()})
	}
	l := checkers.NewLedger(history)
	for _, check := range []struct {
		prop string
		run  func() []checkers.Finding
	}{{PropWatch, l.Watches}, {PropList, l.Lists}, {PropRevisions, l.Revisions}} {
		for _, f := range check.run() {
			out = append(out, Violation{Property: check.prop, At: f.At, Node: f.Node, Detail: fmt.Sprintf("client %d: %s", f.Client, f.Detail)})
		}
	}
	return out
}

// failAt is when a porcupine verdict's trouble shows: the return of the
// last operation on the first illegal key (end if none).
func failAt(history []Op, v checkers.Verdict, end time.Duration) time.Duration {
	at := time.Duration(-1)
	if len(v.Illegal) > 0 {
		for _, op := range history {
			if op.Key == v.Illegal[0] && !op.Unknown() {
				at = max(at, op.Return)
			}
		}
	}
	if at < 0 {
		return end
	}
	return at
}

// checkRoles checks the role commands with porcupine.
func (s *simulator) checkRoles() {
	if len(s.roleOps) == 0 {
		return
	}
	if v := checkers.RolesLinearizable(s.check.bootstrap(), s.roleOps, checkers.Options{Marks: s.marks}); !v.OK() {
		s.check.fail(s.now, PropRoles, "", "%s", v.String())
	}
}

// PropProgress is the workload progress expectation.
const PropProgress = "progress"

// ackedBefore returns a function giving the highest revision any operation
// acknowledged strictly before a time: a linearizable read invoked then must
// be served at least there.
func (s *simulator) ackedBefore() func(at time.Duration) store.Revision {
	type ack struct {
		at  time.Duration
		rev store.Revision
	}
	var acks []ack
	for _, op := range s.history {
		if op.Outcome != OutcomeOK && op.Outcome != OutcomeNotFound {
			continue
		}
		rev := op.Revision
		if op.Verb == "get" || op.Verb == "list" {
			if op.Local {
				continue
			}
			rev = op.Served
		}
		if op.Verb == "watch" {
			continue
		}
		acks = append(acks, ack{op.Return, rev})
	}
	slices.SortFunc(acks, func(a, b ack) int { return cmp.Compare(a.at, b.at) })
	for i := 1; i < len(acks); i++ {
		acks[i].rev = max(acks[i].rev, acks[i-1].rev)
	}
	return func(at time.Duration) store.Revision {
		i := sort.Search(len(acks), func(i int) bool { return acks[i].at >= at }) - 1
		if i < 0 {
			return 0
		}
		return acks[i].rev
	}
}

// judge returns what is wrong with one operation, or "".
func (l *writeLog) judge(op Op, floor store.Revision) string {
	switch {
	case op.Unknown():
		return ""
	case op.Verb == "apply" || op.Verb == "delete":
		return l.judgeWrite(op)
	case op.Verb == "get":
		return l.judgeGet(op, floor)
	case op.Verb == "list":
		return l.judgeList(op, floor)
	case op.Verb == "watch":
		return l.judgeWatch(op)
	}
	return ""
}

func (l *writeLog) judgeWrite(op Op) string {
	if op.Outcome != OutcomeOK {
		if op.Verb == "apply" && l.names[op.Value] {
			return fmt.Sprintf("refused (%s) but its value %s is in the log", op.Outcome, op.Value)
		}
		return ""
	}
	ev, ok := l.byRev[op.Revision]
	switch {
	case !ok:
		return fmt.Sprintf("acknowledged at revision %d, which holds no write", op.Revision)
	case ev.Resource.Ref.Name != op.Key:
		return fmt.Sprintf("acknowledged at revision %d, which wrote %s", op.Revision, ev.Resource.Ref.Name)
	case op.Verb == "delete" && ev.Type != store.Deleted:
		return fmt.Sprintf("delete acknowledged at revision %d, which is a %s", op.Revision, ev.Type)
	case op.Verb == "apply" && valueOf(ev.Resource.Payload) != op.Value:
		return fmt.Sprintf("wrote %s, the log has %s at revision %d", op.Value, valueOf(ev.Resource.Payload), op.Revision)
	}
	return ""
}

func (l *writeLog) judgeGet(op Op, floor store.Revision) string {
	if !op.Local && op.Served < floor {
		return fmt.Sprintf("stale read: served at revision %d, but revision %d was acknowledged before it began", op.Served, floor)
	}
	value, mod, ok := l.at(op.Key, op.Served)
	switch {
	case op.Outcome == OutcomeNotFound && ok:
		return fmt.Sprintf("not found at revision %d, where the log has %s (revision %d)", op.Served, value, mod)
	case op.Outcome == OutcomeOK && (!ok || value != op.Value || mod != op.Revision):
		return fmt.Sprintf("read %s (revision %d) at revision %d, where the log has %q (revision %d)", op.Value, op.Revision, op.Served, value, mod)
	}
	return ""
}

func (l *writeLog) judgeList(op Op, floor store.Revision) string {
	if !op.Local && op.Served < floor {
		return fmt.Sprintf("stale list: served at revision %d, but revision %d was acknowledged before it began", op.Served, floor)
	}
	seen := map[string]bool{}
	for _, it := range op.Items {
		seen[it.Name] = true
		if value, mod, ok := l.at(it.Name, op.Served); !ok || value != it.Value || mod != it.Revision {
			return fmt.Sprintf("listed %s=%s (revision %d) at revision %d, where the log has %q (revision %d)", it.Name, it.Value, it.Revision, op.Served, value, mod)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(l.byKey)) {
		if _, _, ok := l.at(key, op.Served); ok && !seen[key] {
			return fmt.Sprintf("list at revision %d misses %s", op.Served, key)
		}
	}
	return ""
}

func (l *writeLog) judgeWatch(op Op) string {
	next := op.Served + 1
	for _, ev := range op.Events {
		want, ok := l.byRev[ev.Revision]
		switch {
		case ev.Revision != next:
			return fmt.Sprintf("watch from %d saw revision %d where %d was due (a gap or a duplicate)", op.Served, ev.Revision, next)
		case !ok || want.Resource.Ref.Name != ev.Name || (want.Type == store.Deleted) != ev.Deleted ||
			!ev.Deleted && valueOf(want.Resource.Payload) != ev.Value:
			return fmt.Sprintf("watch saw %s=%s at revision %d, which the log does not hold", ev.Name, ev.Value, ev.Revision)
		}
		next++
	}
	return ""
}
