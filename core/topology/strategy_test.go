package topology_test

import (
	"errors"
	"testing"

	"pgregory.net/rapid"

	"revoada.dev/revoada/core/topology"
)

// A rule is what a strategy's doc comment says, written as a dumb search:
// among the voter counts v in 1..N that are admissible, the best by score
// (lower is better, ties go to the larger v). It shares no code with the
// implementation.
type rule struct {
	admissible func(n, v int) bool
	score      func(n, v int) int
	allowEven  bool
	workers    func(n int) int
}

func larger(_, v int) int { return -v }
func odd(v int) bool      { return v%2 == 1 }
func noWorkers(int) int   { return 0 }
func abs(x int) int       { return max(x, -x) }

var rules = map[string]rule{
	"solo": {admissible: func(_, v int) bool { return v == 1 }, score: larger, workers: noWorkers},
	"pair": {admissible: func(_, v int) bool { return v <= 2 }, score: larger, allowEven: true, workers: noWorkers},
	"quorum-3m": {
		admissible: func(_, v int) bool { return odd(v) && v <= 3 }, score: larger, workers: noWorkers,
	},
	"cluster-3m-nw": {
		admissible: func(_, v int) bool { return odd(v) && v <= 3 }, score: larger,
		workers: func(n int) int {
			if n >= 4 {
				return n - 3
			}
			return 0
		},
	},
	"mesh-all-peers": {admissible: func(_, v int) bool { return odd(v) }, score: larger, workers: noWorkers},
	// The odd v closest to 2N/5: |v − 2N/5| compared as |5v − 2N|.
	"phalanx": {
		admissible: func(_, v int) bool { return odd(v) },
		score:      func(n, v int) int { return abs(5*v - 2*n) }, workers: noWorkers,
	},
}

// bruteVoters scans every candidate count; 0 means none is admissible.
func bruteVoters(r rule, n int) int {
	best := 0
	for v := 1; v <= n; v++ {
		if r.admissible(n, v) && (best == 0 || r.score(n, v) <= r.score(n, best)) {
			best = v
		}
	}
	return best
}

func checkAgainstBruteForce(t interface {
	Fatalf(string, ...any)
}, s topology.Strategy, n int) {
	r, ok := rules[s.Name()]
	if !ok {
		t.Fatalf("no reference rule for strategy %q", s.Name())
	}
	got, err := s.Target(n)
	want := bruteVoters(r, n)
	if want == 0 {
		if !errors.Is(err, topology.ErrUnsatisfiable) {
			t.Fatalf("%s.Target(%d) = %v, %v; want ErrUnsatisfiable", s.Name(), n, got, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("%s.Target(%d): %v", s.Name(), n, err)
	}
	wantT := topology.Target{Voters: want, ControlPlane: want, WorkersMin: r.workers(n)}
	if got != wantT {
		t.Fatalf("%s.Target(%d) = %v; brute force says %v", s.Name(), n, got, wantT)
	}
	if !r.allowEven && !odd(got.Voters) {
		t.Fatalf("%s.Target(%d) = %d voters, even", s.Name(), n, got.Voters)
	}
	if err := topology.Validate(got, n, r.allowEven); err != nil {
		t.Fatalf("%s.Target(%d) = %v fails Validate: %v", s.Name(), n, got, err)
	}
}

func TestStrategiesAgainstBruteForce(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := rapid.SampledFrom(topology.Builtin()).Draw(t, "strategy")
		n := rapid.IntRange(0, 12).Draw(t, "n")
		checkAgainstBruteForce(t, s, n)
	})
}

// The space is small enough to cover completely as well.
func TestStrategiesAgainstBruteForceExhaustive(t *testing.T) {
	for _, s := range topology.Builtin() {
		for n := range 13 {
			checkAgainstBruteForce(t, s, n)
		}
	}
}

func TestStrategySmallN(t *testing.T) {
	type nv struct{ n, voters, workers int }
	for _, tc := range []struct {
		s    topology.Strategy
		want []nv
	}{
		{topology.Solo{}, []nv{{1, 1, 0}, {2, 1, 0}, {5, 1, 0}}},
		{topology.Pair{}, []nv{{1, 1, 0}, {2, 2, 0}, {3, 2, 0}, {9, 2, 0}}},
		{topology.Quorum3M{}, []nv{{1, 1, 0}, {2, 1, 0}, {3, 3, 0}, {4, 3, 0}, {7, 3, 0}}},
		{topology.Cluster3MNW{}, []nv{{1, 1, 0}, {2, 1, 0}, {3, 3, 0}, {4, 3, 1}, {5, 3, 2}, {12, 3, 9}}},
		{topology.MeshAllPeers{}, []nv{{1, 1, 0}, {2, 1, 0}, {3, 3, 0}, {4, 3, 0}, {5, 5, 0}, {12, 11, 0}}},
		{topology.Phalanx{}, []nv{
			{1, 1, 0}, {2, 1, 0}, {3, 1, 0}, {4, 1, 0}, {5, 3, 0}, {6, 3, 0}, {9, 3, 0},
			{10, 5, 0}, {14, 5, 0}, {15, 7, 0}, {25, 11, 0}, {100, 41, 0},
		}},
	} {
		for _, w := range tc.want {
			got, err := tc.s.Target(w.n)
			want := topology.Target{Voters: w.voters, ControlPlane: w.voters, WorkersMin: w.workers}
			if err != nil || got != want {
				t.Errorf("%s.Target(%d) = %v, %v; want %v", tc.s.Name(), w.n, got, err, want)
			}
		}
		if _, err := tc.s.Target(0); !errors.Is(err, topology.ErrUnsatisfiable) {
			t.Errorf("%s.Target(0): %v, want ErrUnsatisfiable", tc.s.Name(), err)
		}
	}
}

func TestByName(t *testing.T) {
	for _, s := range topology.Builtin() {
		got, err := topology.ByName(s.Name())
		if err != nil || got != s {
			t.Errorf("ByName(%q) = %v, %v", s.Name(), got, err)
		}
	}
	if s, err := topology.ByName("quorum_3m"); err != nil || s.Name() != "quorum-3m" {
		t.Errorf("ByName(quorum_3m) = %v, %v; want the 0.1.4 spelling accepted", s, err)
	}
	for _, bad := range []string{"", "explicit", "Phalanx", "quorum3m"} {
		if _, err := topology.ByName(bad); !errors.Is(err, topology.ErrUnknownStrategy) {
			t.Errorf("ByName(%q): %v, want ErrUnknownStrategy", bad, err)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name      string
		t         topology.Target
		nodes     int
		allowEven bool
		ok        bool
	}{
		{"three of five", topology.Target{Voters: 3, ControlPlane: 3, WorkersMin: 2}, 5, false, true},
		{"even allowed", topology.Target{Voters: 2, ControlPlane: 2}, 2, true, true},
		{"fewer control-plane", topology.Target{Voters: 3, ControlPlane: 1}, 3, false, true},
		{"zero voters", topology.Target{}, 5, true, false},
		{"even forbidden", topology.Target{Voters: 4, ControlPlane: 4}, 5, false, false},
		{"more voters than nodes", topology.Target{Voters: 5, ControlPlane: 5}, 4, false, false},
		{"no room for workers", topology.Target{Voters: 3, ControlPlane: 3, WorkersMin: 2}, 4, false, false},
		{"zero control-plane", topology.Target{Voters: 3}, 3, false, false},
		{"control-plane above voters", topology.Target{Voters: 3, ControlPlane: 4}, 5, false, false},
		{"negative workers", topology.Target{Voters: 1, ControlPlane: 1, WorkersMin: -1}, 5, false, false},
	} {
		err := topology.Validate(tc.t, tc.nodes, tc.allowEven)
		if tc.ok {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		var ue *topology.UnsatisfiableError
		if !errors.Is(err, topology.ErrUnsatisfiable) || !errors.As(err, &ue) {
			t.Errorf("%s: %v, want an *UnsatisfiableError", tc.name, err)
			continue
		}
		if ue.Target != tc.t || ue.Nodes != tc.nodes || ue.Reason == "" {
			t.Errorf("%s: error %+v does not describe the target", tc.name, ue)
		}
	}
}

func TestExplicit(t *testing.T) {
	want := topology.Target{Voters: 3, ControlPlane: 3, WorkersMin: 1}
	s := topology.Explicit(want)
	if got, err := s.Target(4); err != nil || got != want {
		t.Errorf("Target(4) = %v, %v; want %v", got, err, want)
	}
	got, err := s.Target(3)
	if !errors.Is(err, topology.ErrUnsatisfiable) || got != want {
		t.Errorf("Target(3) = %v, %v; want the target with ErrUnsatisfiable", got, err)
	}
	if _, err := topology.Explicit(topology.Target{Voters: 4, ControlPlane: 4}).Target(9); !errors.Is(err, topology.ErrUnsatisfiable) {
		t.Errorf("even explicit target: %v, want ErrUnsatisfiable", err)
	}
	if s.Name() != "explicit" {
		t.Errorf("Name() = %q", s.Name())
	}
}
