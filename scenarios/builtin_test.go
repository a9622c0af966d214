package scenarios_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/scenarios"
	"revoada.dev/revoada/sim"
)

// quietMin is the fault-free time every built-in must end with: the checker
// wants a leader within 10 election timeouts (1-2 s each) of the last heal
// and every committed entry applied everywhere by the end.
const quietMin = 25 * time.Second

// settleMin is the time a role command is given to commit and apply
// everywhere: a few election timeouts.
const settleMin = 5 * time.Second

func TestBuiltins(t *testing.T) {
	names := scenarios.Names()
	if !slices.IsSorted(names) || !slices.Contains(names, scenarios.Default) {
		t.Fatalf("Names() = %v: want sorted and holding %q", names, scenarios.Default)
	}
	want := []string{"bridge-partition", "chain-tamper", "clock-jumps", "clock-skew", "damper-clock-jump", "disk-corrupt", "disk-full", "disk-torn-write", "flapping-node", "gossip-100", "heal-boot-partition", "heal-chaos-target", "heal-conf-change-synced",
		"heal-deaf-candidate", "heal-deaf-voter", "heal-handoff-dead-target", "heal-isolated-voter-of-three", "heal-quarantine-keeps-target", "heal-unacked-learner", "heal-worker-routes-by-gossip", "join-and-leave", "joint-rebalance", "latency-long-tail", "leader-kill", "leader-leaves", "leave-held-without-target", "leave-right-after-crash", "leave-staged-learner", "leave-two-voters", "leave-with-dead-voter", "left-node-restarts", "lose-two-of-five", "lossy-network", "majority-partition",
		"membership-only-partition", "minority-partition", "minority-partition-no-shift", "operator-promote", "phalanx-10-to-5", "poisoned-peer", "poisoned-voter-boasts", "raft-only-partition", "replace-every-voter", "rolling-restart", "self-heal-leader-kill",
		"slow-links", "smoke", "stale-worker-rejoins", "store-leader-churn", "store-under-partition", "store-watch-resume", "swap-below-target", "swizzle-clog", "worker-sync-slow-links", "worker-sync-under-churn",
		"worker-sync-very-slow-links", "worker-sync-very-slow-lossy-links"}
	if !slices.Equal(names, want) {
		t.Errorf("Names() = %v, want %v", names, want)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			p, err := scenarios.Builtin(name)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Validate(); err != nil {
				t.Fatal(err)
			}
			if p.Name != name {
				t.Errorf("file %s.yaml holds scenario %q", name, p.Name)
			}
			if len(p.Description) < 80 {
				t.Errorf("description %q is too short to be useful", p.Description)
			}
			// A regression whose command may wait for ever (a promotion of a
			// node that never comes back) judges the mesh's liveness instead.
			if len(p.Commands) == 0 || !p.Expect.CommandsComplete && p.Expect.Liveness.Leader == 0 {
				t.Errorf("every built-in issues commands and expects them complete, or bounds the leaderless time")
			}
			last := lastHeal(t, p)
			if p.Duration-last < quietMin {
				t.Errorf("the last fault heals at %v, leaving %v of a %v run; want at least %v", last, p.Duration-last, p.Duration, quietMin)
			}
			// The simulator times convergence from the last heal or command,
			// whichever is later; the run must last past the window.
			if c := p.Expect.Converge; c != nil {
				calm := max(last, p.Commands[len(p.Commands)-1].At)
				if c.Within < settleMin || calm+c.Within > p.Duration {
					t.Errorf("convergence window %v from %v does not fit a %v run (or is under %v)", c.Within, calm, p.Duration, settleMin)
				}
			}
			src, err := scenarios.Source(name)
			if err != nil {
				t.Fatal(err)
			}
			q, err := scenarios.Parse(name+".yaml", src)
			if err != nil || q.Name != name {
				t.Fatalf("Source(%q) does not parse to the built-in: %v", name, err)
			}
		})
	}
}

// lastHeal is when the last fault of p is undone, failing the test for a
// fault that is never undone. In a self-healing plan (one with a Target) a
// crash may be permanent, and in one that bounds the leaderless time after
// the last fault a crash or a partition may be: the policy replaces the
// node, or the others must carry on without it, and the simulator times
// from the fault, as it does here. A corrupt disk is as permanent as a
// crash: its node never starts again. A clock that only jumped is no
// lasting fault: time in the core is ticks.
func lastHeal(t *testing.T, p *sim.Plan) time.Duration {
	var last time.Duration
	for i, f := range p.Faults {
		end := f.At + f.For
		permanent := p.Target != "" && (f.Kind == sim.Crash || f.Kind == sim.Poison || f.Kind == sim.Disk && (f.Mode == sim.DiskCorrupt || f.Mode == sim.DiskTamper)) || p.Expect.Liveness.Leader > 0 && (f.Kind == sim.Crash || f.Kind == sim.Partition || f.Kind == sim.Ring)
		jumped := f.Kind == sim.ClockSkew && f.Rate == 0 && f.Jitter == 0
		if f.For == 0 && !permanent && !jumped && f.Kind != sim.Restart && f.Kind != sim.Resume && f.Kind != sim.Heal {
			undo, ok := undoneAt(p.Faults[i+1:], f)
			if !ok {
				t.Errorf("fault %d (%s at %v) is never undone", i, f.Kind, f.At)
			}
			end = undo
		}
		last = max(last, end)
	}
	return last
}

// undoneAt finds the later fault that undoes f.
func undoneAt(later []sim.Fault, f sim.Fault) (time.Duration, bool) {
	undo := map[sim.FaultKind]sim.FaultKind{sim.Crash: sim.Restart, sim.Pause: sim.Resume, sim.Partition: sim.Heal}
	for _, g := range later {
		if g.Kind == undo[f.Kind] && (g.Kind == sim.Heal || g.Target == f.Target) {
			return g.At, true
		}
	}
	return 0, false
}

// TestBuiltinsReplay: every built-in run twice with one seed leaves the
// same trace and fingerprint, and another seed another fingerprint (the
// cross-process check is cmd/revoada's TestFingerprintsAcrossProcesses).
func TestBuiltinsReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every built-in three times")
	}
	for _, name := range scenarios.Names() {
		p, err := scenarios.Builtin(name)
		if err != nil {
			t.Fatal(err)
		}
		var a, b strings.Builder
		first, again := sim.Run(p, 7, sim.Options{Trace: &a}), sim.Run(p, 7, sim.Options{Trace: &b})
		if first.Fingerprint != again.Fingerprint || a.String() != b.String() || first.Summary() != again.Summary() {
			t.Errorf("%s seed 7 twice: %s %s, then %s %s", name, first.Fingerprint, first.Summary(), again.Fingerprint, again.Summary())
		}
		// A description's rate is what its clients issue: they kept up
		// with at most a fifth of it before clients paused from each
		// operation's start (worker-sync-slow-links: 3.5 of 100 a second).
		if w, st := p.Workload, first.Stats; w != nil && len(w.Script) == 0 && sim.Saturated(w.Rate, st.OpsPerSecond, st.Ops, st.OpsLate) {
			t.Errorf("%s seed 7: %.1f operations a second issued of the %g asked, %d late", name, st.OpsPerSecond, w.Rate, st.OpsLate)
		}
		if other := sim.Run(p, 8, sim.Options{}); other.Fingerprint == first.Fingerprint {
			t.Errorf("%s: seeds 7 and 8 gave the same fingerprint", name)
		}
	}
}

func TestBuiltinShapes(t *testing.T) {
	lk, err := scenarios.Builtin("leader-kill")
	if err != nil {
		t.Fatal(err)
	}
	if f := lk.Faults[0]; f.Kind != sim.Crash || f.Target != "leader" || f.For != 25*time.Second || f.At != 20*time.Second {
		t.Errorf("leader-kill fault = %+v", f)
	}
	smoke, err := scenarios.Builtin(scenarios.Default)
	if err != nil {
		t.Fatal(err)
	}
	if smoke.Nodes != 4 || smoke.ControlPlane != 3 || len(smoke.Faults) != 0 || smoke.Expect.Converge == nil {
		t.Errorf("smoke = %+v", smoke)
	}
	// operator-promote adds voters one at a time and removes two at once.
	op, err := scenarios.Builtin("operator-promote")
	if err != nil {
		t.Fatal(err)
	}
	wantOp := []sim.Command{
		{At: 10 * time.Second, Kind: roles.Promote, Target: "n4", Reason: roles.Operator},
		{At: 15 * time.Second, Kind: roles.Promote, Target: "n5", Reason: roles.Operator},
		{At: 40 * time.Second, Kind: roles.Demote, Target: "n1", Reason: roles.Operator,
			With: []sim.Command{{Kind: roles.Demote, Target: "n2", Reason: roles.Operator}}},
	}
	if !reflect.DeepEqual(op.Commands, wantOp) {
		t.Errorf("operator-promote commands = %+v, want %+v", op.Commands, wantOp)
	}
	jr, err := scenarios.Builtin("joint-rebalance")
	if err != nil {
		t.Fatal(err)
	}
	swap := func(at time.Duration, in, out sim.Selector) sim.Command {
		return sim.Command{At: at, Kind: roles.Promote, Target: in, Reason: roles.Rebalance,
			With: []sim.Command{{Kind: roles.Demote, Target: out, Reason: roles.Rebalance}}}
	}
	wantJR := []sim.Command{swap(10*time.Second, "n4", "n1"), swap(45*time.Second, "n1", "n4")}
	if !reflect.DeepEqual(jr.Commands, wantJR) || jr.Nodes != 5 || jr.ControlPlane != 3 || jr.Network.Loss != 0.02 {
		t.Errorf("joint-rebalance = %+v", jr)
	}
	if f := jr.Faults; len(f) != 1 || f[0].Kind != sim.Crash || f[0].Target != "leader" || f[0].At != 11*time.Second {
		t.Errorf("joint-rebalance faults = %+v", f)
	}
}

// TestBuiltinStores checks the built-ins that run a workload.
func TestBuiltinStores(t *testing.T) {
	promoteDemote := func(promote, demote time.Duration) []sim.Command {
		return []sim.Command{
			{At: promote, Kind: roles.Promote, Target: "n4", Reason: roles.ScalingUp},
			{At: demote, Kind: roles.Demote, Target: "n4", Reason: roles.ScalingDown},
		}
	}
	crash := func(at time.Duration) sim.Fault {
		return sim.Fault{At: at, Kind: sim.Crash, Target: "leader", For: 8 * time.Second}
	}
	for _, want := range []*sim.Plan{{
		Name: "store-under-partition", Nodes: 5, ControlPlane: 3, Duration: 90 * time.Second,
		Network: sim.Network{LatencyMin: time.Millisecond, LatencyMax: 10 * time.Millisecond},
		Workload: &sim.Workload{Clients: 32, Rate: 25, Keys: 20, Face: "kubernetes",
			Mix: sim.Mix{Apply: 5, Get: 3, List: 1, Delete: 1, Watch: 1}, CAS: 0.3, Local: 0.1},
		Faults: []sim.Fault{
			{At: 20 * time.Second, Kind: sim.Partition, Groups: [][]sim.Selector{{"minority"}}, For: 15 * time.Second},
			{At: 45 * time.Second, Kind: sim.Partition, Groups: [][]sim.Selector{{"leader"}}, For: 10 * time.Second},
		},
		Commands: promoteDemote(10*time.Second, 60*time.Second),
		Expect:   sim.Expect{CommandsComplete: true, Progress: 0.5},
	}, {
		Name: "store-leader-churn", Nodes: 5, ControlPlane: 3, Duration: 120 * time.Second,
		Network: sim.Network{LatencyMin: time.Millisecond, LatencyMax: 20 * time.Millisecond, Loss: 0.01},
		Workload: &sim.Workload{Clients: 32, Rate: 25, Keys: 30, Face: "kubernetes",
			Mix: sim.Mix{Apply: 4, Get: 4, List: 1, Delete: 1, Watch: 1}, CAS: 0.3},
		Faults: []sim.Fault{
			crash(15 * time.Second), crash(35 * time.Second), crash(55 * time.Second),
			{At: 75 * time.Second, Kind: sim.Pause, Target: "leader", For: 5 * time.Second},
		},
		Commands: promoteDemote(10*time.Second, 90*time.Second),
		Expect:   sim.Expect{CommandsComplete: true, Progress: 0.5},
	}} {
		t.Run(want.Name, func(t *testing.T) {
			p, err := scenarios.Builtin(want.Name)
			if err != nil {
				t.Fatal(err)
			}
			p.Description = ""
			if !reflect.DeepEqual(p, want) {
				t.Errorf("got %+v\nwant %+v (workload %+v, want %+v)", p, want, p.Workload, want.Workload)
			}
		})
	}
}

// TestBuiltinSelfHealing checks the built-ins that run the policy toward a
// topology target.
func TestBuiltinSelfHealing(t *testing.T) {
	const s = time.Second
	lan := sim.Network{LatencyMin: time.Millisecond, LatencyMax: 10 * time.Millisecond}
	noop := []sim.Command{{At: 2 * s, Kind: roles.Promote, Target: "n1", Roles: roles.Scheduler, Reason: roles.Operator}}
	expect := func(within time.Duration) sim.Expect {
		return sim.Expect{Converge: &sim.Converge{Within: within, ControlPlane: 3}, CommandsComplete: true}
	}
	crash := func(at time.Duration, sel sim.Selector, d time.Duration) sim.Fault {
		return sim.Fault{At: at, Kind: sim.Crash, Target: sel, For: d}
	}
	quorum := func(name string, d time.Duration, faults []sim.Fault, within time.Duration) *sim.Plan {
		return &sim.Plan{Name: name, Nodes: 5, ControlPlane: 3, Duration: d, Target: "quorum-3m", Network: lan,
			Faults: faults, Commands: noop, Expect: expect(within)}
	}
	slow := quorum("slow-links", 120*s, []sim.Fault{crash(30*s, "leader", 0)}, 40*s)
	slow.Network = sim.Network{LatencyMin: 200 * time.Millisecond, LatencyMax: 300 * time.Millisecond}
	var fiveDown []sim.Fault
	for _, n := range []sim.Selector{"n1", "n2", "n6", "n7", "n8"} {
		fiveDown = append(fiveDown, crash(20*s, n, 0))
	}
	for _, want := range []*sim.Plan{
		withLiveness(quorum("self-heal-leader-kill", 90*s, []sim.Fault{crash(20*s, "leader", 0)}, 30*s),
			sim.Liveness{Leader: 5, Shape: &sim.Converge{Within: 30 * s, ControlPlane: 3}, Membership: 30}),
		quorum("lose-two-of-five", 120*s, []sim.Fault{crash(20*s, "n1", 0), crash(35*s, "n2", 0)}, 40*s),
		quorum("minority-partition-no-shift", 90*s, []sim.Fault{
			{At: 20 * s, Kind: sim.Partition, Groups: [][]sim.Selector{{"leader"}}, For: 20 * s},
		}, 30*s),
		quorum("flapping-node", 150*s, []sim.Fault{
			crash(10*s, "n5", 5*s), crash(25*s, "n5", 5*s), crash(40*s, "n5", 5*s), crash(55*s, "n5", 5*s),
		}, 60*s),
		{Name: "phalanx-10-to-5", Nodes: 10, ControlPlane: 5, Duration: 150 * s, Target: "phalanx", Network: lan,
			Faults: fiveDown, Commands: noop, Expect: sim.Expect{Converge: &sim.Converge{Within: 60 * s, ControlPlane: 5}, CommandsComplete: true}},
		slow,
		quorum("clock-skew", 120*s, []sim.Fault{
			{At: 5 * s, Kind: sim.ClockSkew, Target: "n3", Rate: 6, For: 60 * s},
			{At: 5 * s, Kind: sim.ClockSkew, Target: "n4", Rate: 0.5, For: 60 * s},
			crash(30*s, "leader", 0),
		}, 40*s),
	} {
		t.Run(want.Name, func(t *testing.T) {
			p, err := scenarios.Builtin(want.Name)
			if err != nil {
				t.Fatal(err)
			}
			p.Description = ""
			if !reflect.DeepEqual(p, want) {
				t.Errorf("got %+v\nwant %+v", p, want)
			}
		})
	}
}

func TestBuiltinOwnership(t *testing.T) {
	a, _ := scenarios.Builtin("smoke")
	a.Commands[0].Target = "n1"
	b, _ := scenarios.Builtin("smoke")
	if b.Commands[0].Target != "n4" {
		t.Fatal("Builtin returned a shared plan")
	}
	src, _ := scenarios.Source("smoke")
	copy(src, "XXXX")
	if again, _ := scenarios.Source("smoke"); bytes.HasPrefix(again, []byte("XXXX")) {
		t.Fatal("Source returned shared bytes")
	}
}

func TestUnknownBuiltin(t *testing.T) {
	for _, f := range []func(string) error{
		func(n string) error { _, err := scenarios.Builtin(n); return err },
		func(n string) error { _, err := scenarios.Source(n); return err },
	} {
		for _, name := range []string{"nope", "", "../smoke", "builtin/smoke"} {
			if err := f(name); !errors.Is(err, scenarios.ErrUnknown) || !strings.Contains(err.Error(), "joint-rebalance, latency-long-tail, leader-kill") {
				t.Errorf("%q: got %v, want ErrUnknown listing the built-ins", name, err)
			}
		}
	}
}

func TestResolve(t *testing.T) {
	p, err := scenarios.Resolve("leader-kill")
	if err != nil || p.Name != "leader-kill" {
		t.Fatalf("Resolve(leader-kill) = %v, %v", p, err)
	}
	path := t.TempDir() + "/mine.yaml"
	if err := writeFile(path, "name: mine\nnodes: 3\ncontrol_plane: 3\nduration: 10s\n"); err != nil {
		t.Fatal(err)
	}
	if p, err := scenarios.Resolve(path); err != nil || p.Name != "mine" {
		t.Fatalf("Resolve(%s) = %v, %v", path, p, err)
	}
	_, err = scenarios.Resolve("leader-kil")
	if !errors.Is(err, scenarios.ErrUnknown) || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "smoke") {
		t.Fatalf("Resolve(leader-kil): got %v, want ErrUnknown and fs.ErrNotExist listing the built-ins", err)
	}
	if _, err := scenarios.Resolve(t.TempDir()); err == nil || errors.Is(err, scenarios.ErrUnknown) {
		t.Fatalf("Resolve(a directory): got %v, want a read error", err)
	}
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o644) }

func withLiveness(p *sim.Plan, l sim.Liveness) *sim.Plan {
	p.Expect.Liveness = l
	return p
}

// TestBuiltinSeedsOnceFailed reruns seeds that once failed, beyond the CI
// sweep's range, each fixed at its root (the comment at the fix names it):
// worker-sync-very-slow-lossy-links with the workload it had (4 clients
// asking 20 writes a second, issuing 2.4) when they failed.
func TestBuiltinSeedsOnceFailed(t *testing.T) {
	p, err := scenarios.Builtin("worker-sync-very-slow-lossy-links")
	if err != nil {
		t.Fatal(err)
	}
	p.Workload.Clients, p.Workload.Rate = 4, 20
	for _, seed := range []uint64{
		27,  // voters that lacked a blob asked for it again each cycle (fetch.go: Lacks; the order below holds it too)
		113, // the manifest asked first of voters that moved on (content.go: sources)
		800, // the same
	} {
		if r := sim.Run(p, seed, sim.Options{}); !r.OK() {
			t.Errorf("seed %d: %v", seed, r.Violations)
		}
	}
}
