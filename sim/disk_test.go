package sim_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"revoada.dev/revoada/scenarios"
	"revoada.dev/revoada/sim"
)

// traceLine is one event of a run's JSON Lines trace.
type traceLine struct {
	T        time.Duration // from "t", in microseconds
	N, Ev, D string
}

func runTraced(t *testing.T, p *sim.Plan, seed uint64, hooks sim.Hooks) (*sim.Result, []traceLine) {
	t.Helper()
	var buf bytes.Buffer
	res := sim.Run(p, seed, sim.Options{Trace: &buf, Hooks: hooks})
	var out []traceLine
	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l struct {
			T        int64 `json:"t"`
			N, Ev, D string
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("trace line %q: %v", sc.Text(), err)
		}
		out = append(out, traceLine{T: time.Duration(l.T) * time.Microsecond, N: l.N, Ev: l.Ev, D: l.D})
	}
	return res, out
}

func builtin(t *testing.T, name string) *sim.Plan {
	t.Helper()
	p, err := scenarios.Builtin(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAckBeforeSyncIsCaught: a driver that acknowledges writes before they
// are synced loses them when a crash comes first; the disk model (a crash
// keeps only what was synced, and tears the rest) makes the checkers see
// it within a few seeds of disk-torn-write (35 of the first 40 fail:
// log-agreement, history, or raft's own panic when a follower lost entries
// it had acknowledged), and the seed that catches it passes without the
// plant.
func TestAckBeforeSyncIsCaught(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a 150s chaos scenario")
	}
	p := builtin(t, "disk-torn-write")
	hooks, err := sim.ParsePlants("ack-before-sync")
	if err != nil {
		t.Fatal(err)
	}
	for seed := uint64(1); seed <= 1000; seed++ {
		if res := sim.Run(p, seed, sim.Options{Hooks: hooks}); res.OK() {
			continue
		}
		if res := sim.Run(p, seed, sim.Options{}); !res.OK() {
			t.Fatalf("seed %d without the plant: %v", seed, res.Violations)
		}
		return
	}
	t.Fatal("no seed in 1..1000 caught ack-before-sync")
}

// TestCorruptLogNeverServed: a node whose synced log had a byte flipped
// refuses to start when it restarts, every time, and never runs again; the
// rest of the mesh replaces it.
func TestCorruptLogNeverServed(t *testing.T) {
	p := builtin(t, "disk-corrupt")
	for seed := uint64(1); seed <= 3; seed++ {
		res, trace := runTraced(t, p, seed, sim.Hooks{})
		if !res.OK() {
			t.Fatalf("seed %d: %v", seed, res.Violations)
		}
		corrupted := map[string]time.Duration{}
		refused := map[string]bool{}
		for _, l := range trace {
			switch {
			case l.Ev == "disk" && strings.HasPrefix(l.D, "corrupt byte"):
				corrupted[l.N] = l.T
			case l.Ev == "refuse":
				if _, ok := corrupted[l.N]; !ok || !strings.Contains(l.D, "corrupt at offset") {
					t.Fatalf("seed %d: %s refused without a corruption: %s", seed, l.N, l.D)
				}
				refused[l.N] = true
			case l.Ev == "start":
				if at, ok := corrupted[l.N]; ok {
					t.Fatalf("seed %d: %s started at %v from a log corrupted at %v", seed, l.N, l.T, at)
				}
			}
		}
		if len(corrupted) != 2 || len(refused) != 2 {
			t.Fatalf("seed %d: corrupted %v, refused %v; want two of each", seed, corrupted, refused)
		}
		if res.Coverage[sim.CoverDiskRefused] == 0 {
			t.Fatalf("seed %d: coverage does not count the refusals", seed)
		}
	}
}

// TestFailingDisksStopAndRecover: a full disk stops its node before
// anything unsynced leaves it, and the supervisor's restarts succeed once
// the disk has room.
func TestFailingDisksStopAndRecover(t *testing.T) {
	p := builtin(t, "disk-full")
	for seed := uint64(1); seed <= 2; seed++ {
		res, trace := runTraced(t, p, seed, sim.Hooks{})
		if !res.OK() {
			t.Fatalf("seed %d: %v", seed, res.Violations)
		}
		var stopped int
		var lastErr, lastStart time.Duration
		for _, l := range trace {
			switch l.Ev {
			case "disk-error":
				stopped++
				lastErr = l.T
				if !strings.Contains(l.D, sim.ErrDiskFull.Error()) {
					t.Fatalf("seed %d: disk error %q", seed, l.D)
				}
			case "start":
				lastStart = l.T
			}
		}
		if stopped == 0 || lastErr > 36*time.Second || lastStart < lastErr {
			t.Fatalf("seed %d: %d stops, the last at %v, last start at %v: the full disk lasts from 20s to 35s", seed, stopped, lastErr, lastStart)
		}
	}
}

// TestReadErrorsFailStarts: while every read fails, each start of a
// crashed node fails and is retried a second later; once reads work again
// the node starts from its log.
func TestReadErrorsFailStarts(t *testing.T) {
	p := &sim.Plan{Name: "read-errors", Nodes: 3, ControlPlane: 3, Duration: 40 * time.Second,
		Network: sim.Network{LatencyMin: time.Millisecond, LatencyMax: 5 * time.Millisecond},
		Faults: []sim.Fault{
			{At: 10 * time.Second, Kind: sim.Disk, Target: "n2", Mode: sim.DiskReadErrors, Rate: 1, For: 6 * time.Second},
			{At: 11 * time.Second, Kind: sim.Crash, Target: "n2", For: time.Second},
		}}
	res, trace := runTraced(t, p, 1, sim.Hooks{})
	if !res.OK() {
		t.Fatal(res.Violations)
	}
	var failed []time.Duration
	var started time.Duration
	for _, l := range trace {
		switch {
		case l.N == "n2" && l.Ev == "start-failed":
			if !strings.Contains(l.D, sim.ErrDiskRead.Error()) {
				t.Fatalf("start failed with %q", l.D)
			}
			failed = append(failed, l.T)
		case l.N == "n2" && l.Ev == "start" && l.T > 0:
			started = l.T
		}
	}
	// Starts at 12s, 13s, 14s and 15s fail; the one at 16s, when the
	// errors end, succeeds.
	if len(failed) != 4 || started != 16*time.Second {
		t.Fatalf("failed starts at %v, started at %v; want 4 failures, then a start at 16s", failed, started)
	}
}

// TestTornTailsAreCut: crashes in the middle of writes leave torn tails,
// and nodes restart from them.
func TestTornTailsAreCut(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a 150s chaos scenario")
	}
	p := builtin(t, "disk-torn-write")
	for seed := uint64(1); seed <= 50; seed++ {
		res := sim.Run(p, seed, sim.Options{})
		if !res.OK() {
			t.Fatalf("seed %d: %v", seed, res.Violations)
		}
		if res.Coverage[sim.CoverTornTail] > 0 {
			return
		}
	}
	t.Fatal("no restart in seeds 1..50 cut a torn tail")
}
