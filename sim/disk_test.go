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
	T  time.Duration `json:"t"`
	N  string        `json:"n"`
	Ev string        `json:"ev"`
	D  string        `json:"d"`
}

func runTraced(t *testing.T, p *sim.Plan, seed uint64, hooks sim.Hooks) (*sim.Result, []traceLine) {
	t.Helper()
	var buf bytes.Buffer
	res := sim.Run(p, seed, sim.Options{Trace: &buf, Hooks: hooks})
	var out []traceLine
	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l traceLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("trace line %q: %v", sc.Text(), err)
		}
		out = append(out, l)
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
// it. Seed 1 of disk-torn-write: a follower acknowledged entries, crashed
// before syncing them, and the log diverged (log-agreement) and a read saw
// an acknowledged write vanish (history). The same seed passes without the
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
	if res := sim.Run(p, 1, sim.Options{Hooks: hooks}); !res.Violated(sim.PropLogAgreement) {
		t.Fatalf("seed 1 with ack-before-sync: no %s: %v", sim.PropLogAgreement, res.Violations)
	}
	if res := sim.Run(p, 1, sim.Options{}); !res.OK() {
		t.Fatalf("seed 1 without the plant: %v", res.Violations)
	}
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
// the disk has room; read errors fail starts until a read gets through.
func TestFailingDisksStopAndRecover(t *testing.T) {
	p := builtin(t, "disk-full")
	var stopped, retried int
	for seed := uint64(1); seed <= 4; seed++ {
		res, trace := runTraced(t, p, seed, sim.Hooks{})
		if !res.OK() {
			t.Fatalf("seed %d: %v", seed, res.Violations)
		}
		var lastErr, lastStart time.Duration
		for _, l := range trace {
			switch l.Ev {
			case "disk-error":
				stopped++
				lastErr = l.T
				if !strings.Contains(l.D, sim.ErrDiskFull.Error()) {
					t.Fatalf("seed %d: disk error %q", seed, l.D)
				}
			case "start-failed":
				retried++
				if !strings.Contains(l.D, sim.ErrDiskRead.Error()) {
					t.Fatalf("seed %d: start failed with %q", seed, l.D)
				}
			case "start":
				lastStart = l.T
			}
		}
		if lastErr > 36*time.Second || lastStart < lastErr {
			t.Fatalf("seed %d: last disk error at %v, last start at %v: the full disk lasts from 20s to 35s", seed, lastErr, lastStart)
		}
	}
	if stopped == 0 || retried == 0 {
		t.Fatalf("over 4 seeds: %d stops on a full disk, %d starts retried after read errors; want both", stopped, retried)
	}
}

// TestTornTailsAreCut: crashes in the middle of writes leave torn tails,
// and nodes restart from them.
func TestTornTailsAreCut(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a 150s chaos scenario")
	}
	res := sim.Run(builtin(t, "disk-torn-write"), 2, sim.Options{})
	if !res.OK() {
		t.Fatal(res.Violations)
	}
	if res.Coverage[sim.CoverTornTail] == 0 {
		t.Fatal("no restart cut a torn tail")
	}
}
