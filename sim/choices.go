package sim

import (
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Choice is one random choice the simulator made, with its purpose:
//
//	fault/<i>/target     the nodes a fault's selector picked
//	command/<i>/target   the node a command's selector picked
//	command/<i>/contact  the node an operator submitted to
//	chaos/crash          a node chaos crashed; chaos/down how long for
//	node/<name>/phase    a node's tick phase at start
//	net/drop, net/dup    a message dropped or duplicated
//	net/delay            a message's latency
//	client/<c>/think     a client's pause from one operation's start to the next's (later if the
//	                     operation outlasted it; from its end with pacing: end)
//	client/<c>/node      the node a client picked
//	client/<c>/verb, key, cas, local, back   a client's operation
//
// The randomness inside the nodes (raft's election timeouts) is drawn from
// each node's own seeded stream and is not logged.
type Choice struct {
	At      time.Duration
	Purpose string
	Value   string
}

func (c Choice) String() string {
	return strconv.FormatInt(c.At.Microseconds(), 10) + " " + c.Purpose + " " + c.Value
}

// chose records a choice when the run records them.
func (s *simulator) chose(purpose string, value any) {
	if !s.recording {
		return
	}
	var v string
	switch x := value.(type) {
	case string:
		v = x
	case time.Duration:
		v = x.String()
	default:
		v = fmt.Sprint(x)
	}
	s.choices = append(s.choices, Choice{At: s.now, Purpose: purpose, Value: v})
}

// materialized is the plan as carried out (Result.Materialized).
func (s *simulator) materialized() *Plan {
	p := *s.plan
	p.Faults = slices.Clone(s.injected)
	slices.SortStableFunc(p.Faults, func(a, b Fault) int { return int(a.At - b.At) })
	p.Commands = nil
	for _, op := range s.ops {
		if op.resolved != nil {
			p.Commands = append(p.Commands, *op.resolved)
		}
	}
	if w := s.plan.Workload; w != nil && len(s.issued) == 0 {
		p.Workload = nil
	} else if w != nil {
		m := *w
		m.Script = slices.Clone(s.issued)
		m.Clients, m.Rate, m.Keys, m.Mix, m.CAS, m.Local, m.Resume = 0, 0, 0, Mix{}, 0, 0, 0
		p.Workload = &m
	}
	return &p
}
