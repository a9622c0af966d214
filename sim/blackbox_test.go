package sim_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"revoada.dev/revoada/checkers"
	"revoada.dev/revoada/core/store"
	"revoada.dev/revoada/sim"
)

// TestBlackBoxSearchOutOfTimeFails: a linearizability search cut short by
// the timeout (Options.CheckTimeout) concluded nothing, and the history is
// judged a violation saying so, not a pass (checkers'
// TestLinearizableUnknownIsNotOK builds the same search: 24 concurrent
// writes of unknown outcome a watch saw, then a read of a value nobody
// wrote).
func TestBlackBoxSearchOutOfTimeFails(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	w := sim.Op{Client: 0, Node: "n2", Verb: "watch", Invoke: 0, Return: ms(60), Outcome: checkers.OutcomeOK}
	var h []sim.Op
	for c := 1; c <= 24; c++ {
		v := "u" + strconv.Itoa(c)
		h = append(h, sim.Op{Client: c, Node: "n1", Verb: "apply", Key: "a", Value: v, Invoke: 0, Return: ms(1), Outcome: checkers.OutcomeTimeout})
		w.Events = append(w.Events, checkers.Item{Name: "a", Value: v, Revision: store.Revision(c), At: 50 * time.Millisecond})
	}
	h = append(h, w, sim.Op{Client: 99, Node: "n1", Verb: "get", Key: "a", Invoke: ms(70), Return: ms(71), Outcome: checkers.OutcomeOK, Value: "nobody", Revision: 99, Served: 99})
	var found bool
	for _, v := range sim.BlackBox(h, nil, ms(100), time.Millisecond) {
		if v.Property == sim.PropLinearizable {
			found = true
			if !strings.HasPrefix(v.Detail, string(checkers.ResultUnknown)) || !strings.Contains(v.Detail, "no conclusion within 1ms") {
				t.Errorf("detail %q", v.Detail)
			}
		}
	}
	if !found {
		t.Fatal("a search out of time passed")
	}
}
