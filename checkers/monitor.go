package checkers

import (
	"fmt"
	"time"
)

// Monitor judges one liveness property over simulated time. It is hot while
// its goal is unmet (no leader, the shape not yet at its target, membership
// views disagreeing) and cold once met; it fails when, from the moment it is
// armed (after the run's faults heal and a quorum runs undisturbed), it stays
// hot longer than Bound at a stretch. A stretch still hot when the run ends
// but shorter than Bound proves nothing either way and is not a failure.
type Monitor struct {
	Name     string
	Bound    time.Duration
	Hot      []Span // the stretches it was hot, in order
	Failed   bool
	FailedAt time.Duration

	hot   bool
	since time.Duration
}

// Span is a stretch of simulated time.
type Span struct{ From, To time.Duration }

// NewMonitor returns a cold monitor.
func NewMonitor(name string, bound time.Duration) *Monitor {
	return &Monitor{Name: name, Bound: bound}
}

// Observe tells the monitor whether its goal is unmet at a moment; moments
// must not go back in time. It reports true exactly once: at the first
// observation that finds it hot for longer than Bound.
func (m *Monitor) Observe(at time.Duration, hot bool) (failedNow bool) {
	switch {
	case hot && !m.hot:
		m.hot, m.since = true, at
	case !hot && m.hot:
		m.hot = false
		m.Hot = append(m.Hot, Span{m.since, at})
	}
	if m.hot && !m.Failed && at-m.since > m.Bound {
		m.Failed, m.FailedAt = true, at
		return true
	}
	return false
}

// HotSince is when the current hot stretch began, and whether there is one.
func (m *Monitor) HotSince() (time.Duration, bool) { return m.since, m.hot }

// End closes the monitor at the end of the run.
func (m *Monitor) End(at time.Duration) {
	if m.hot {
		m.hot = false
		m.Hot = append(m.Hot, Span{m.since, at})
	}
}

func (m *Monitor) String() string {
	state := "ok"
	if m.Failed {
		state = fmt.Sprintf("failed at %v", m.FailedAt)
	}
	return fmt.Sprintf("%s (within %v): %d hot stretches, %s", m.Name, m.Bound, len(m.Hot), state)
}
