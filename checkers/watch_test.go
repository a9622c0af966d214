package checkers

import (
	"strings"
	"testing"
	"time"

	"revoada.dev/revoada/core/store"
)

// us is a time in microseconds, for events between the millisecond marks.
func us(n int) time.Duration { return time.Duration(n) * time.Microsecond }

func watch(c int, served store.Revision, inv, ret int, outcome string, events ...Item) Op {
	return Op{Client: c, Node: "n2", Verb: "watch", Served: served, Invoke: ms(inv), Return: ms(ret), Outcome: outcome, Events: events}
}

func ev(name, value string, rev store.Revision, atUS int) Item {
	return Item{Name: name, Value: value, Revision: rev, At: us(atUS)}
}

func evDel(name, value string, rev store.Revision, atUS int) Item {
	it := ev(name, value, rev, atUS)
	it.Deleted = true
	return it
}

func list(c int, served store.Revision, inv, ret int, local bool, items ...Item) Op {
	return Op{Client: c, Node: "n3", Verb: "list", Served: served, Local: local, Invoke: ms(inv), Return: ms(ret), Outcome: OutcomeOK, Items: items}
}

func item(name, value string, rev store.Revision) Item {
	return Item{Name: name, Value: value, Revision: rev}
}

// writes4 is four acknowledged writes, one revision each:
// 1 a=v1, 2 b=w1, 3 delete a, 4 b=w2; write i runs from 2i to 2i+1 ms.
func writes4() []Op {
	return []Op{
		put(1, "a", "v1", 0, 1, OutcomeOK, 1),
		put(1, "b", "w1", 2, 3, OutcomeOK, 2),
		del(1, "a", 4, 5, OutcomeOK, 3),
		put(2, "b", "w2", 6, 7, OutcomeOK, 4),
	}
}

// wantFindings checks that the checker finds exactly the expected problems:
// none when want is empty, else one finding containing each string.
func wantFindings(t *testing.T, got []Finding, want ...string) {
	t.Helper()
	for _, f := range got {
		t.Log(f)
	}
	if len(want) == 0 {
		for _, f := range got {
			t.Errorf("unexpected: %v", f)
		}
		return
	}
	for _, w := range want {
		found := false
		for _, f := range got {
			found = found || strings.Contains(f.Detail, w)
		}
		if !found {
			t.Errorf("no finding says %q; got %v", w, got)
		}
	}
}

func TestWatchesAccept(t *testing.T) {
	h := append(writes4(),
		watch(3, 0, 0, 9, OutcomeOK, ev("a", "v1", 1, 1500), ev("b", "w1", 2, 3500), evDel("a", "v1", 3, 5500), ev("b", "w2", 4, 7500)),
		watch(4, 2, 3, 9, OutcomeOK, evDel("a", "v1", 3, 5200), ev("b", "w2", 4, 7100)),
		watch(5, 0, 0, 1, OutcomeCompacted),
		watch(6, 1, 2, 4, OutcomeReset, ev("b", "w1", 2, 3100)),
		watch(7, 3, 6, 9, OutcomeCrashed, ev("b", "w2", 4, 6500)), // w2 seen before its ack: fine
	)
	wantFindings(t, Watches(h))
	wantFindings(t, Revisions(h))
}

func TestWatchesCatch(t *testing.T) {
	cases := []struct {
		name    string
		history []Op
		want    []string
	}{
		{"a gap", append(writes4(),
			watch(3, 0, 0, 9, OutcomeOK, ev("a", "v1", 1, 1500), evDel("a", "v1", 3, 5500)),
		), []string{"a gap, revisions 2..2 missing"}},
		{"a gap at the start", append(writes4(),
			watch(3, 1, 2, 9, OutcomeOK, evDel("a", "v1", 3, 5500)),
		), []string{"event 0 is revision 3 right after 1"}},
		{"a duplicate event", append(writes4(),
			watch(3, 0, 0, 9, OutcomeOK, ev("a", "v1", 1, 1500), ev("b", "w1", 2, 3500), ev("b", "w1", 2, 3600)),
		), []string{"event 2 repeats revision 2 (event 1): a duplicate"}},
		{"events out of order", append(writes4(),
			watch(3, 0, 0, 9, OutcomeOK, ev("b", "w1", 2, 3500), ev("a", "v1", 1, 3600)),
		), []string{"out of order"}},
		{"an event from the future", append(writes4(),
			watch(3, 3, 5, 9, OutcomeOK, ev("b", "w2", 4, 5500)),
		), []string{"from the future: seen before client 2 invoked its apply at 6ms"}},
		{"a delete event from the future", append(writes4(),
			watch(3, 2, 3, 9, OutcomeOK, evDel("a", "v1", 3, 3500)),
		), []string{"from the future: seen before revision 3 ≤ 3 was written, by client 1's delete a invoked at 4ms"}},
		{"an event contradicting an acknowledged write", append(writes4(),
			watch(3, 0, 0, 9, OutcomeOK, ev("b", "w1", 1, 3500)),
		), []string{"revision 1 wrote a per one and b per the other", "one write's value w1 at two revisions, 2 and 1"}},
		{"a delete event contradicting an acknowledged delete", append(writes4(),
			watch(3, 2, 3, 9, OutcomeOK, evDel("b", "w1", 3, 5500)),
		), []string{"revision 3 wrote a per one and b per the other"}},
		{"an event carrying a refused write", append(writes4(),
			cas(5, "b", "wx", 9, 8, 9, OutcomeConflict, 0),
			watch(3, 4, 7, 12, OutcomeOK, ev("b", "wx", 5, 9500)),
		), []string{"value wx is client 5's apply, which was refused (conflict)"}},
		{"an event no client wrote", append(writes4(),
			watch(3, 4, 7, 12, OutcomeOK, ev("b", "wz", 5, 9500)),
		), []string{"value wz was written by no client"}},
		{"two watches disagree on a revision nobody acknowledged", []Op{
			put(1, "a", "u1", 0, 1, OutcomeTimeout, 0),
			put(2, "b", "u2", 0, 1, OutcomeTimeout, 0),
			watch(3, 0, 0, 9, OutcomeOK, ev("a", "u1", 1, 1500), ev("b", "u2", 2, 1600)),
			watch(4, 0, 0, 9, OutcomeOK, ev("b", "u2", 1, 1500), ev("a", "u1", 2, 1600)),
		}, []string{"client 4's watch from 0 (on n2) saw b=u2 at revision 1, but client 3's watch from 0 (on n2) saw a=u1 at revision 1"}},
		{"a resumed watch disagrees with a fresh one", []Op{
			put(1, "a", "u1", 0, 1, OutcomeTimeout, 0),
			put(2, "a", "u2", 0, 1, OutcomeTimeout, 0),
			watch(3, 0, 0, 9, OutcomeOK, ev("a", "u1", 1, 1500), ev("a", "u2", 2, 1600)),
			watch(3, 1, 2, 9, OutcomeOK, ev("a", "u1", 2, 2500)),
		}, []string{"revision 2 holds a=u2 per one and a=u1 per the other"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { wantFindings(t, Watches(c.history), c.want...) })
	}
}

func TestListsAccept(t *testing.T) {
	h := append(writes4(),
		list(3, 2, 3, 4, false, item("a", "v1", 1), item("b", "w1", 2)),
		list(3, 4, 8, 9, false, item("b", "w2", 4)),
		list(4, 2, 8, 9, true, item("a", "v1", 1), item("b", "w1", 2)), // local: stale is fine
		list(4, 0, 0, 1, false),
	)
	wantFindings(t, Lists(h))
	wantFindings(t, Revisions(h))
}

func TestListsCatch(t *testing.T) {
	cases := []struct {
		name    string
		history []Op
		want    []string
	}{
		{"a stale linearizable list", append(writes4(),
			list(3, 2, 8, 9, false, item("a", "v1", 1), item("b", "w1", 2)),
		), []string{"stale: revision 4 was already observed before it was invoked (client 2's apply at 7ms)"}},
		{"a list equal to no revision", append(writes4(),
			list(3, 4, 8, 9, false, item("a", "v1", 1), item("b", "w2", 4)),
		), []string{"lists a=v1 with revision 1, but revision 3 ≤ 4 wrote delete a: no state at 4 holds the item"}},
		{"a local list equal to no revision", append(writes4(),
			list(3, 4, 8, 9, true, item("a", "v1", 1), item("b", "w2", 4)),
		), []string{"no state at 4 holds the item"}},
		{"a list missing a key", append(writes4(),
			list(3, 2, 3, 4, false, item("a", "v1", 1)),
		), []string{"misses b: revision 2 wrote b=w1"}},
		{"a list from the future", append(writes4(),
			list(3, 4, 5, 5, false, item("b", "w2", 4)),
		), []string{"from the future: revision 4 ≤ 4 was written by client 2's apply b, invoked at 6ms, after the list returned"}},
		{"an item newer than the list", append(writes4(),
			list(3, 2, 8, 9, true, item("a", "v1", 1), item("b", "w2", 4)),
		), []string{"lists b=w2 with revision 4, after the revision it was served at"}},
		{"an item contradicting an acknowledged write", append(writes4(),
			list(3, 2, 3, 4, false, item("a", "v1", 2)),
		), []string{"revision 2 wrote b per one and a per the other"}},
		{"a key listed twice", append(writes4(),
			list(3, 2, 3, 4, false, item("a", "v1", 1), item("b", "w1", 2), item("b", "w1", 2)),
		), []string{"lists b twice"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { wantFindings(t, Lists(c.history), c.want...) })
	}
}

func TestRevisionsCatch(t *testing.T) {
	cases := []struct {
		name    string
		history []Op
		want    []string
	}{
		{"two writes acknowledged at one revision", []Op{
			put(1, "a", "v1", 0, 1, OutcomeOK, 1),
			put(2, "b", "w1", 0, 1, OutcomeOK, 1),
		}, []string{"revision 1 wrote a per one and b per the other"}},
		{"a write acknowledged below a revision observed before it", []Op{
			put(1, "a", "v1", 0, 1, OutcomeOK, 5),
			put(2, "b", "w1", 2, 3, OutcomeOK, 3),
		}, []string{"apply b acknowledged at revision 3, but revision 5 was observed before it was invoked"}},
		{"a stale get of another key", []Op{
			put(1, "a", "v1", 0, 1, OutcomeOK, 1),
			get(2, "b", 2, 3, OutcomeNotFound, "", 0, 0),
		}, []string{"stale get b: served at revision 0, but revision 1 was observed"}},
		{"a get newer than its served revision", []Op{
			put(1, "a", "v1", 0, 1, OutcomeOK, 1),
			get(2, "a", 2, 3, OutcomeOK, "v1", 1, 0),
		}, []string{"get a read revision 1, later than the revision 0 it was served at"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { wantFindings(t, Revisions(c.history), c.want...) })
	}
}
