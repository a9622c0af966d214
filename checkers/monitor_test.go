package checkers

import (
	"testing"
	"time"
)

func TestMonitorHotAndCold(t *testing.T) {
	s := time.Second
	m := NewMonitor("leader", 3*s)
	for _, o := range []struct {
		at   time.Duration
		hot  bool
		fail bool
	}{{0, false, false}, {1 * s, true, false}, {4 * s, true, false}, {4*s + 1, false, false}, {5 * s, true, false}, {8*s + 1, true, true}, {9 * s, true, false}} {
		if got := m.Observe(o.at, o.hot); got != o.fail {
			t.Fatalf("at %v hot %v: failedNow %v, want %v", o.at, o.hot, got, o.fail)
		}
	}
	m.End(10 * s)
	want := []Span{{1 * s, 4*s + 1}, {5 * s, 10 * s}}
	if len(m.Hot) != 2 || m.Hot[0] != want[0] || m.Hot[1] != want[1] {
		t.Errorf("hot spans %v, want %v", m.Hot, want)
	}
	if !m.Failed || m.FailedAt != 8*s+1 {
		t.Errorf("failed %v at %v, want at %v", m.Failed, m.FailedAt, 8*s+1)
	}
}

// A stretch cut short by the end of the run is not a failure.
func TestMonitorHotAtEnd(t *testing.T) {
	m := NewMonitor("shape", 10*time.Second)
	m.Observe(0, true)
	m.Observe(9*time.Second, true)
	m.End(9 * time.Second)
	if m.Failed || len(m.Hot) != 1 {
		t.Errorf("%v", m)
	}
}
