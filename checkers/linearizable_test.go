package checkers

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"revoada.dev/revoada/core/store"
)

// ms is a time in milliseconds.
func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// Builders of hand-written histories. Times are milliseconds.

func put(c int, key, value string, inv, ret int, outcome string, rev store.Revision) Op {
	return Op{Client: c, Node: "n1", Verb: "apply", Key: key, Value: value, Invoke: ms(inv), Return: ms(ret), Outcome: outcome, Revision: rev}
}

func cas(c int, key, value string, expect store.Revision, inv, ret int, outcome string, rev store.Revision) Op {
	op := put(c, key, value, inv, ret, outcome, rev)
	op.Expect = store.Expect{Set: true, Revision: expect}
	return op
}

func del(c int, key string, inv, ret int, outcome string, rev store.Revision) Op {
	return Op{Client: c, Node: "n1", Verb: "delete", Key: key, Invoke: ms(inv), Return: ms(ret), Outcome: outcome, Revision: rev}
}

// get reads value with ModRevision rev, served at served; value "" with
// OutcomeNotFound is a miss.
func get(c int, key string, inv, ret int, outcome, value string, rev, served store.Revision) Op {
	return Op{Client: c, Node: "n1", Verb: "get", Key: key, Invoke: ms(inv), Return: ms(ret), Outcome: outcome, Value: value, Revision: rev, Served: served}
}

func TestLinearizableAccepts(t *testing.T) {
	cases := []struct {
		name    string
		history []Op
	}{
		{"empty", nil},
		{"concurrent applies, either order", []Op{
			put(1, "a", "v1", 0, 10, OutcomeOK, 2),
			put(2, "a", "v2", 1, 9, OutcomeOK, 1),
			get(3, "a", 11, 12, OutcomeOK, "v1", 2, 2),
		}},
		{"a read concurrent with a write sees either", []Op{
			put(1, "a", "v1", 0, 1, OutcomeOK, 1),
			put(1, "a", "v2", 2, 10, OutcomeOK, 2),
			get(2, "a", 3, 4, OutcomeOK, "v1", 1, 1),
			get(3, "a", 5, 6, OutcomeOK, "v2", 2, 2),
		}},
		{"CAS success and conflict", []Op{
			put(1, "a", "v1", 0, 1, OutcomeOK, 1),
			cas(1, "a", "v2", 1, 2, 3, OutcomeOK, 2),
			cas(2, "a", "v3", 1, 4, 5, OutcomeConflict, 0),
			cas(2, "b", "w1", 0, 6, 7, OutcomeOK, 3),
			cas(3, "b", "w2", 0, 8, 9, OutcomeConflict, 0),
			get(3, "a", 10, 11, OutcomeOK, "v2", 2, 3),
		}},
		{"deletes", []Op{
			del(1, "a", 0, 1, OutcomeNotFound, 0),
			put(1, "a", "v1", 2, 3, OutcomeOK, 1),
			del(2, "a", 4, 5, OutcomeOK, 2),
			get(2, "a", 6, 7, OutcomeNotFound, "", 0, 2),
			del(3, "a", 8, 9, OutcomeNotFound, 0),
			cas(3, "a", "v2", 0, 10, 11, OutcomeOK, 3),
			Op{Client: 1, Verb: "delete", Key: "a", Expect: store.Expect{Set: true, Revision: 1}, Invoke: ms(12), Return: ms(13), Outcome: OutcomeConflict},
			Op{Client: 1, Verb: "delete", Key: "a", Expect: store.Expect{Set: true, Revision: 3}, Invoke: ms(14), Return: ms(15), Outcome: OutcomeOK, Revision: 4},
		}},
		{"an unknown write that took effect, seen later", []Op{
			put(1, "a", "v1", 0, 1, OutcomeOK, 1),
			put(2, "a", "v2", 2, 50, OutcomeTimeout, 0),
			get(3, "a", 60, 61, OutcomeOK, "v2", 2, 2),
			put(1, "a", "v3", 62, 63, OutcomeOK, 3),
		}},
		{"an unknown write that landed after its timeout", []Op{
			put(1, "a", "v1", 0, 1, OutcomeOK, 1),
			put(2, "a", "v2", 2, 3, OutcomeTimeout, 0),
			get(3, "a", 4, 5, OutcomeOK, "v1", 1, 1),
			get(3, "a", 6, 7, OutcomeOK, "v2", 2, 2),
		}},
		{"an unknown write that never took effect", []Op{
			put(1, "a", "v1", 0, 1, OutcomeOK, 1),
			put(2, "a", "v2", 2, 3, OutcomeCrashed, 0),
			put(2, "a", "v3", 4, 5, OutcomeUnfinished, 0),
			cas(2, "a", "v4", 1, 4, 5, OutcomeError, 0),
			get(3, "a", 6, 7, OutcomeOK, "v1", 1, 1),
			get(3, "a", 8, 9, OutcomeOK, "v1", 1, 1),
		}},
		{"an unseen unknown write explains a conflict, then is overwritten", []Op{
			put(1, "a", "v1", 0, 1, OutcomeOK, 1),
			put(2, "a", "v2", 2, 3, OutcomeTimeout, 0),
			cas(1, "a", "v3", 1, 10, 11, OutcomeConflict, 0),
			put(1, "a", "v4", 12, 13, OutcomeOK, 5),
			get(3, "a", 14, 15, OutcomeOK, "v4", 5, 5),
		}},
		{"an unknown delete explains a miss and a successful create", []Op{
			put(1, "a", "v1", 0, 1, OutcomeOK, 1),
			del(2, "a", 2, 3, OutcomeTimeout, 0),
			get(3, "a", 10, 11, OutcomeNotFound, "", 0, 2),
			cas(3, "a", "v2", 0, 12, 13, OutcomeOK, 3),
		}},
		{"an unknown apply explains a successful delete", []Op{
			put(2, "a", "v1", 2, 3, OutcomeTimeout, 0),
			del(3, "a", 10, 11, OutcomeOK, 4),
			get(3, "a", 12, 13, OutcomeNotFound, "", 0, 4),
		}},
		{"an unknown CAS, seen", []Op{
			put(1, "a", "v1", 0, 1, OutcomeOK, 1),
			cas(2, "a", "v2", 1, 2, 3, OutcomeTimeout, 0),
			get(3, "a", 10, 11, OutcomeOK, "v2", 7, 7),
			cas(3, "a", "v3", 7, 12, 13, OutcomeOK, 8),
		}},
		{"local, unknown, invalid reads and lists are left out", []Op{
			put(1, "a", "v1", 0, 1, OutcomeOK, 1),
			put(1, "a", "v2", 2, 3, OutcomeOK, 2),
			{Client: 2, Verb: "get", Key: "a", Local: true, Invoke: ms(4), Return: ms(5), Outcome: OutcomeOK, Value: "v1", Revision: 1, Served: 1},
			{Client: 2, Verb: "get", Key: "a", Invoke: ms(6), Return: ms(7), Outcome: OutcomeTimeout},
			{Client: 2, Verb: "apply", Key: "a", Value: "v9", Invoke: ms(6), Return: ms(7), Outcome: OutcomeInvalid},
			{Client: 2, Verb: "list", Invoke: ms(8), Return: ms(9), Outcome: OutcomeOK, Served: 2, Items: []Item{{Name: "a", Value: "v2", Revision: 2}}},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if v := Linearizable(c.history, Options{}); !v.OK() || len(v.Illegal) > 0 {
				t.Errorf("%v", v)
			}
		})
	}
}

func TestLinearizableCatches(t *testing.T) {
	cases := []struct {
		name    string
		history []Op
		detail  string // in the Detail
	}{
		{"a stale read served as linearizable", []Op{
			put(1, "a", "v1", 0, 1, OutcomeOK, 1),
			put(1, "a", "v2", 2, 3, OutcomeOK, 2),
			get(2, "a", 4, 5, OutcomeOK, "v1", 1, 1),
		}, "c2 get → v1@1"},
		{"a lost acknowledged write", []Op{
			put(1, "a", "v1", 0, 1, OutcomeOK, 1),
			get(2, "a", 2, 3, OutcomeNotFound, "", 0, 1),
		}, "c2 get → not-found"},
		{"a duplicated apply: a write reappears after a later one", []Op{
			put(1, "a", "v1", 0, 1, OutcomeOK, 1),
			put(2, "a", "v2", 2, 3, OutcomeOK, 2),
			get(3, "a", 4, 5, OutcomeOK, "v1", 3, 3),
		}, "v1@3"},
		{"a wrong revision in a get", []Op{
			put(1, "a", "v1", 0, 1, OutcomeOK, 5),
			get(2, "a", 2, 3, OutcomeOK, "v1", 6, 6),
		}, "c2 get → v1@6"},
		{"a write acknowledged at an older revision", []Op{
			put(1, "a", "v1", 0, 1, OutcomeOK, 5),
			put(1, "a", "v2", 2, 3, OutcomeOK, 3),
		}, "c1 apply v2 → ok@3"},
		{"a conflict answered where the precondition held", []Op{
			put(1, "a", "v1", 0, 1, OutcomeOK, 1),
			cas(1, "a", "v2", 1, 2, 3, OutcomeConflict, 0),
		}, "c1 apply v2 if@1 → conflict"},
		{"a conflict with no precondition", []Op{
			put(1, "a", "v1", 0, 1, OutcomeConflict, 0),
		}, "→ conflict"},
		{"a delete of a present key answered not-found", []Op{
			put(1, "a", "v1", 0, 1, OutcomeOK, 1),
			del(2, "a", 2, 3, OutcomeNotFound, 0),
		}, "c2 delete → not-found"},
		{"a refused write that took effect", []Op{
			put(1, "a", "v1", 0, 1, OutcomeOK, 1),
			cas(2, "a", "v2", 9, 2, 3, OutcomeConflict, 0),
			get(3, "a", 4, 5, OutcomeOK, "v2", 2, 2),
		}, "c3 get → v2@2"},
		{"an unknown write seen before it was invoked", []Op{
			get(3, "a", 0, 1, OutcomeOK, "v2", 2, 2),
			put(2, "a", "v2", 2, 3, OutcomeTimeout, 0),
		}, "c3 get → v2@2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := Linearizable(c.history, Options{})
			if v.OK() || v.Result != ResultIllegal {
				t.Fatalf("passed: %v", v)
			}
			if len(v.Illegal) != 1 || v.Illegal[0] != "a" {
				t.Errorf("illegal keys %v, want [a]", v.Illegal)
			}
			if !strings.HasPrefix(v.Detail, "a: ") || !strings.Contains(v.Detail, c.detail) {
				t.Errorf("detail %q does not name key a and %q", v.Detail, c.detail)
			}
		})
	}
}

func TestLinearizableNamesEveryIllegalKey(t *testing.T) {
	h := []Op{
		put(1, "b", "v1", 0, 1, OutcomeOK, 1),
		get(2, "b", 2, 3, OutcomeNotFound, "", 0, 1),
		put(1, "c", "w1", 0, 1, OutcomeOK, 2),
		get(2, "c", 2, 3, OutcomeOK, "w1", 2, 2),
		put(1, "a", "x1", 0, 1, OutcomeOK, 3),
		get(2, "a", 2, 3, OutcomeNotFound, "", 0, 3),
	}
	v := Linearizable(h, Options{})
	if v.OK() || strings.Join(v.Illegal, ",") != "a,b" || v.Parts != 3 {
		t.Fatalf("%v: illegal %v", v, v.Illegal)
	}
	if !strings.HasPrefix(v.Detail, "a: ") {
		t.Errorf("detail %q should describe the first illegal key, a", v.Detail)
	}
}

func TestVerdictResultMapping(t *testing.T) {
	for in, want := range map[porcupine.CheckResult]Result{porcupine.Ok: ResultOK, porcupine.Illegal: ResultIllegal, porcupine.Unknown: ResultUnknown} {
		if got := resultOf(in); got != want {
			t.Errorf("resultOf(%s) = %s, want %s", in, got, want)
		}
		if ok := (Verdict{Result: want}).OK(); ok != (want == ResultOK) {
			t.Errorf("Verdict{%s}.OK() = %v", want, ok)
		}
	}
}

// TestLinearizableUnknownIsNotOK runs a search that cannot finish within a
// tiny timeout: 24 concurrent writes with unknown outcome, all seen by a
// watch (so each took effect, in any order, with any revision the model can
// tell), then a read of a value nobody wrote, so porcupine must try every
// order of every subset before saying Illegal.
func TestLinearizableUnknownIsNotOK(t *testing.T) {
	var h []Op
	w := watch(0, 0, 0, 60, OutcomeOK)
	for c := 1; c <= 24; c++ {
		v := "u" + strconv.Itoa(c)
		h = append(h, put(c, "a", v, 0, 1, OutcomeTimeout, 0))
		w.Events = append(w.Events, ev("a", v, store.Revision(c), 50_000))
	}
	h = append(h, w, get(99, "a", 70, 71, OutcomeOK, "nobody", 99, 99))
	v := Linearizable(h, Options{Timeout: time.Millisecond})
	if v.Result != ResultUnknown || v.OK() {
		t.Fatalf("want an unknown, failing verdict: %v", v)
	}
	if !strings.Contains(v.Detail, "no conclusion") {
		t.Errorf("detail %q", v.Detail)
	}
}

func TestWriteVisualization(t *testing.T) {
	h := []Op{
		put(1, "a", "v1", 0, 1, OutcomeOK, 1),
		put(1, "a", "v2", 2, 3, OutcomeOK, 2),
		get(2, "a", 4, 5, OutcomeOK, "v1", 1, 1),
		put(3, "b", "w1", 2, 3, OutcomeTimeout, 0),
	}
	marks := []Mark{
		{At: ms(1), Node: "n1", Kind: MarkState, Detail: "leader term 2"},
		{At: ms(2), Kind: MarkPartition, Detail: "n1 | n2,n3"},
		{At: ms(3), Node: "n2", Kind: MarkCrash},
		{At: ms(4), Kind: MarkHeal},
	}
	v := Linearizable(h, Options{Marks: marks})
	var buf bytes.Buffer
	if err := v.WriteVisualization(&buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"leader term 2", "partition n1 | n2,n3", "crash", "violation", "fits no linearization", "c2 get → v1@1"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("visualisation lacks %q", want)
		}
	}
	if err := (Verdict{}).WriteVisualization(&buf); err != ErrNoHistory {
		t.Errorf("zero verdict: %v, want ErrNoHistory", err)
	}
}

func TestMarkAnnotationSpans(t *testing.T) {
	marks := []Mark{
		{At: ms(5), Node: "n2", Kind: MarkStart},
		{At: ms(1), Node: "n2", Kind: MarkCrash},
		{At: ms(2), Kind: MarkPartition},
		{At: ms(3), Node: "n1", Kind: MarkState, Detail: "follower term 3"},
		{At: ms(4), Node: "n1", Kind: MarkFault, Detail: "loss 10%"},
	}
	got := markAnnotations(marks, int64(ms(9)))
	want := []struct {
		tag        string
		start, end time.Duration
	}{{"n2", ms(1), ms(5)}, {"mesh", ms(2), ms(9)}, {"n1", ms(4), ms(4)}, {"n2", ms(5), ms(5)}}
	if len(got) != len(want) {
		t.Fatalf("%d annotations, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].Tag != w.tag || got[i].Start != int64(w.start) || got[i].End != int64(w.end) {
			t.Errorf("annotation %d: %s %d..%d, want %s %v..%v", i, got[i].Tag, got[i].Start, got[i].End, w.tag, w.start, w.end)
		}
	}
}
