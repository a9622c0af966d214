package simtest

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"revoada.dev/revoada/checkers/bundle"
	"revoada.dev/revoada/scenarios"
	"revoada.dev/revoada/sim"
)

func builtin(t testing.TB, name string) *sim.Plan {
	t.Helper()
	p, err := scenarios.Builtin(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCheckSmoke: a correct mesh passes Check over built-ins, one of them
// with a workload whose history is checked.
func TestCheckSmoke(t *testing.T) {
	t.Run("leader-kill", func(t *testing.T) { Check(t, builtin(t, "leader-kill"), Runs(10)) })
	t.Run("store-under-partition", func(t *testing.T) { Check(t, builtin(t, "store-under-partition"), Runs(3)) })
}

// FuzzSmoke is the fuzz target over a built-in; plain go test runs its seed
// corpus. Fuzz for real with
//
//	go test ./sim/simtest -run '^$' -fuzz FuzzSmoke -fuzztime 30s
func FuzzSmoke(f *testing.F) {
	Fuzz(f, builtin(f, "leader-kill"))
}

// forgetVote is a base under which a disk that forgets votes shows: three
// voters, slowish links and nodes crashing and restarting for minutes on end.
// The bug needs a voter to crash after voting but before it hears from the
// leader it elected, and a node that missed that election to campaign for
// the same term: a race, which a handful of generated faults seldom sets up
// (none in 300 plans over a fault-free base), and which this base loses in
// about four seeds of ten. The generated faults ride on top; shrinking
// removes them.
var forgetVote = &sim.Plan{Name: "forget-vote", Nodes: 3, ControlPlane: 3, Duration: 800 * time.Second,
	Network: sim.Network{LatencyMin: 10 * time.Millisecond, LatencyMax: 100 * time.Millisecond},
	Faults:  []sim.Fault{{At: time.Second, Kind: sim.Chaos, Rate: 0.4, For: 740 * time.Second}}}

// TestPlantedBugIsFoundAndShrunk plants the classic Raft bug, a node that
// does not persist its vote, and asserts that Check fails with two leaders
// in one term, hands OnFailure a shrunk case, and that the case replays.
func TestPlantedBugIsFoundAndShrunk(t *testing.T) {
	quietRapid(t)
	hooks := sim.Hooks{ForgetVote: true}
	var got []failure
	bundles := t.TempDir()
	cfg := newConfig([]Option{Runs(300), Hooks(hooks), Bundles(bundles), OnFailure(func(p *sim.Plan, seed uint64, res *sim.Result) {
		got = append(got, failure{plan: p, seed: seed, res: res})
	})})
	var ran int
	cfg.simulate = func(p *sim.Plan, seed uint64, opts sim.Options) *sim.Result {
		ran++
		return sim.Run(p, seed, opts)
	}
	rec := record(func(tb rapid.TB) { check(tb, forgetVote, cfg) })
	if !rec.failed {
		t.Fatalf("Check passed %d runs with a disk that forgets votes", ran)
	}
	msg := rec.errors()
	if !strings.Contains(msg, sim.PropOneLeader) || !strings.Contains(msg, "revoada replay") || !strings.Contains(msg, "faults:") {
		t.Fatalf("the failure should name %s and carry the plan and how to replay it:\n%s", sim.PropOneLeader, msg)
	}
	if len(got) != 1 {
		t.Fatalf("OnFailure called %d times, want once", len(got))
	}
	f := got[0]
	generated := len(f.plan.Faults) - len(forgetVote.Faults)
	t.Logf("%d simulations; shrunk to seed %d and %d generated faults: %s", ran, f.seed, generated, f.res.Summary())
	if generated > 2 || f.seed >= 1<<8 {
		t.Errorf("not shrunk: seed %d, %d generated faults", f.seed, generated)
	}
	again := sim.Run(f.plan, f.seed, sim.Options{Hooks: hooks})
	if again.Fingerprint != f.res.Fingerprint || !again.Violated(sim.PropOneLeader) {
		t.Fatalf("the shrunk case does not replay: %s, then %s", f.res.Summary(), again.Summary())
	}
	if !strings.Contains(msg, fmt.Sprintf("seed %d", f.seed)) {
		t.Errorf("the message and OnFailure disagree on the seed %d:\n%s", f.seed, msg)
	}
	// The shrunk case is written as a bundle that replays to its fingerprint.
	entries, err := os.ReadDir(bundles)
	if err != nil || len(entries) != 1 {
		t.Fatalf("bundles: %v, %d entries", err, len(entries))
	}
	b, err := bundle.Read(filepath.Join(bundles, entries[0].Name()))
	if err != nil {
		t.Fatal(err)
	}
	if _, same, err := b.Replay(nil); err != nil || !same || b.Run.Seed != f.seed || b.Run.Plants != "forget-vote" {
		t.Errorf("bundle %+v: replay same %v, %v", b.Run, same, err)
	}
}

// TestShrinksToTheFaultThatMatters: with a stand-in simulator that fails
// any plan holding a one-way partition, Check shrinks whatever plan it
// first fails on to that one fault, at its smallest, and seed 0.
func TestShrinksToTheFaultThatMatters(t *testing.T) {
	quietRapid(t)
	var got *sim.Plan
	var gotSeed uint64
	cfg := newConfig([]Option{Runs(200), OnFailure(func(p *sim.Plan, seed uint64, _ *sim.Result) { got, gotSeed = p, seed })})
	cfg.simulate = func(p *sim.Plan, seed uint64, _ sim.Options) *sim.Result {
		r := &sim.Result{Scenario: p.Name, Seed: seed, Fingerprint: "same"}
		for _, f := range p.Faults {
			if f.Kind == sim.Partition && f.OneWay {
				r.Violations = append(r.Violations, sim.Violation{Property: "no-one-way", At: f.At, Detail: "a one-way partition"})
			}
		}
		return r
	}
	base := builtin(t, "smoke")
	rec := record(func(tb rapid.TB) { check(tb, base, cfg) })
	if !rec.failed || got == nil {
		t.Fatalf("Check passed 200 plans without a one-way partition")
	}
	faults := got.Faults[len(base.Faults):]
	want := sim.Fault{Kind: sim.Partition, Groups: [][]sim.Selector{{dynamic[0]}}, OneWay: true, For: step}
	if len(faults) != 1 || !reflect.DeepEqual(faults[0], want) || gotSeed != 0 {
		t.Fatalf("shrunk to seed %d and %+v, want seed 0 and %+v", gotSeed, faults, want)
	}
}

// TestDeterminismBugFailsCheck: runs that differ fail Check as a
// determinism bug, however clean each run is.
func TestDeterminismBugFailsCheck(t *testing.T) {
	quietRapid(t)
	cfg := newConfig([]Option{Runs(5)})
	var n int
	cfg.simulate = func(p *sim.Plan, seed uint64, _ sim.Options) *sim.Result {
		n++
		return &sim.Result{Scenario: p.Name, Seed: seed, Fingerprint: fmt.Sprint(n)} // every run differs
	}
	rec := record(func(tb rapid.TB) { check(tb, builtin(t, "smoke"), cfg) })
	if !rec.failed || !strings.Contains(rec.errors(), "determinism bug") {
		t.Fatalf("want a determinism bug, got failed=%v:\n%s", rec.failed, rec.errors())
	}
}

// TestSameRun unit-tests the comparison of two runs.
func TestSameRun(t *testing.T) {
	p := builtin(t, "smoke")
	a := &sim.Result{Fingerprint: "aa"}
	if err := sameRun(p, 7, a, &sim.Result{Fingerprint: "aa"}); err != nil {
		t.Fatalf("equal runs: %v", err)
	}
	for _, b := range []*sim.Result{
		{Fingerprint: "ab"},
		{Fingerprint: "aa", Violations: []sim.Violation{{Property: sim.PropOneLeader}}},
	} {
		err := sameRun(p, 7, a, b)
		if err == nil || !strings.HasPrefix(err.Error(), "determinism bug: ") || !strings.Contains(err.Error(), "seed 7") {
			t.Errorf("runs %+v and %+v: got %v, want a determinism bug naming the seed", a, b, err)
		}
	}
}

// TestRuns: Check simulates as many plans as Runs says, beyond one call of
// rapid's -rapid.checks too, each twice.
func TestRuns(t *testing.T) {
	checks, err := strconv.Atoi(flag.Lookup("rapid.checks").Value.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, runs := range []int{3, checks + 7} {
		cfg := newConfig([]Option{Runs(runs)})
		var n int
		cfg.simulate = func(p *sim.Plan, seed uint64, _ sim.Options) *sim.Result {
			n++
			return &sim.Result{Fingerprint: "same"}
		}
		check(t, builtin(t, "smoke"), cfg)
		if n != 2*runs {
			t.Errorf("Runs(%d) simulated %d times, want %d", runs, n, 2*runs)
		}
	}
}

// TestFaultsAreValid: every drawn plan validates, writes as a scenario file,
// keeps base's own faults, commands and expectations, and undoes every
// generated fault with room left for the liveness checks.
func TestFaultsAreValid(t *testing.T) {
	for _, name := range scenarios.Names() {
		base := builtin(t, name)
		before := fmt.Sprintf("%+v", *base)
		rapid.Check(t, func(t *rapid.T) {
			checkPlan(t, base, Faults(base).Draw(t, "plan"))
		})
		if after := fmt.Sprintf("%+v", *base); after != before {
			t.Fatalf("%s: Faults changed its base", name)
		}
	}
}

// TestPlanFromBytes: any bytes give a valid plan, the same bytes the same
// plan and seed, and the empty input no faults; PlanFromBytes never panics.
func TestPlanFromBytes(t *testing.T) {
	bases := []*sim.Plan{builtin(t, "smoke"), builtin(t, "lossy-network"), builtin(t, "slow-links"), forgetVote}
	rapid.Check(t, func(t *rapid.T) {
		base := rapid.SampledFrom(bases).Draw(t, "base")
		data := rapid.SliceOfN(rapid.Byte(), 0, 200).Draw(t, "data")
		p, seed := PlanFromBytes(base, data)
		checkPlan(t, base, p)
		q, seed2 := PlanFromBytes(base, data)
		if !reflect.DeepEqual(p, q) || seed != seed2 {
			t.Fatalf("the same input gave two plans or seeds")
		}
	})
	for _, base := range bases {
		if p, seed := PlanFromBytes(base, nil); len(p.Faults) != len(base.Faults) || seed != 0 {
			t.Errorf("%s: the empty input gave %d faults and seed %d", base.Name, len(p.Faults)-len(base.Faults), seed)
		}
	}
}

// TestCorpusCoversKinds: the seed corpus has one input per generated kind.
func TestCorpusCoversKinds(t *testing.T) {
	seen := map[sim.FaultKind]bool{}
	base := builtin(t, "smoke")
	for _, in := range corpus() {
		p, _ := PlanFromBytes(base, in)
		for _, f := range p.Faults {
			seen[f.Kind] = true
		}
	}
	for _, k := range kinds {
		if !seen[k] {
			t.Errorf("no corpus input makes a %s fault", k)
		}
	}
}

func checkPlan(t *rapid.T, base, p *sim.Plan) {
	if err := p.Validate(); err != nil {
		t.Fatalf("invalid plan: %v", err)
	}
	if _, err := scenarios.Marshal(p); err != nil {
		t.Fatalf("cannot write the plan: %v", err)
	}
	if p.Duration < base.Duration || len(p.Faults) < len(base.Faults) ||
		len(base.Faults) > 0 && !reflect.DeepEqual(p.Faults[:len(base.Faults)], base.Faults) ||
		!reflect.DeepEqual(p.Commands, base.Commands) || !reflect.DeepEqual(p.Expect, withDamperBounds(base).Expect) {
		t.Fatalf("the plan lost part of its base")
	}
	room, start := tail(p), lastNamedKill(base)
	for _, f := range p.Faults[len(base.Faults):] {
		end := f.At + f.For
		if f.Kind == sim.Chaos {
			end += sim.ChaosDowntimeMax
		}
		switch {
		case f.At < start:
			t.Fatalf("fault %+v comes before the named crash for good at %v", f, start)
		case end > p.Duration-room:
			t.Fatalf("fault %+v ends at %v, less than %v before the end of the run (%v)", f, end, room, p.Duration)
		case f.For == 0 && f.Kind != sim.Restart && f.Kind != sim.Resume && f.Kind != sim.Heal &&
			!(f.Kind == sim.Loss && f.Rate == base.Network.Loss) && !(f.Kind == sim.Duplicate && f.Rate == base.Network.Duplicate):
			t.Fatalf("fault %+v is never undone", f)
		}
	}
}

// quietRapid stops rapid writing fail files for the failures these tests
// plant on purpose.
func quietRapid(t *testing.T) {
	old := flag.Lookup("rapid.nofailfile").Value.String()
	if err := flag.Set("rapid.nofailfile", "true"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = flag.Set("rapid.nofailfile", old) })
}

// recorder is a rapid.TB that records a check's verdict instead of failing
// the test; FailNow ends the goroutine the check runs on, as
// testing.T.FailNow does.
type recorder struct {
	mu     sync.Mutex
	failed bool
	errs   []string
}

func record(check func(tb rapid.TB)) *recorder {
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		check(r)
	}()
	<-done
	return r
}

func (r *recorder) errors() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.errs, "\n")
}

func (r *recorder) Helper()                   {}
func (r *recorder) Name() string              { return "recorder" }
func (r *recorder) Logf(string, ...any)       {}
func (r *recorder) Log(...any)                {}
func (r *recorder) Skipf(string, ...any)      { r.SkipNow() }
func (r *recorder) Skip(...any)               { r.SkipNow() }
func (r *recorder) SkipNow()                  { runtime.Goexit() }
func (r *recorder) Errorf(f string, a ...any) { r.Error(fmt.Sprintf(f, a...)) }
func (r *recorder) Fatalf(f string, a ...any) { r.Error(fmt.Sprintf(f, a...)); r.FailNow() }
func (r *recorder) Fatal(a ...any)            { r.Error(a...); r.FailNow() }
func (r *recorder) FailNow()                  { r.Fail(); runtime.Goexit() }

func (r *recorder) Error(a ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = true
	r.errs = append(r.errs, fmt.Sprint(a...))
}

func (r *recorder) Fail() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = true
}

func (r *recorder) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

var _ rapid.TB = (*recorder)(nil)
