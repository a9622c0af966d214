package simtest

import (
	"flag"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"revoada.dev/revoada/checkers/bundle"
	"revoada.dev/revoada/scenarios"
	"revoada.dev/revoada/sim"
)

// RunsDefault is how many plans Check simulates when neither Runs nor
// -rapid.checks says otherwise; a fifth of it under -short, as rapid does.
const RunsDefault = 20

// SeedsMax bounds the seeds Check draws, from [0, SeedsMax). rapid varies
// the plan as well as the seed, so a plan needs few; and when a failure
// hangs on the seed rather than on the faults (a race that some seeds win),
// shrinking a short seed takes far fewer runs than shrinking 64 bits, each
// of them a fresh roll of the dice.
const SeedsMax = 1 << 16

// An Option tunes Check and Fuzz.
type Option func(*config)

type config struct {
	runs      int // 0: RunsDefault or -rapid.checks
	hooks     sim.Hooks
	onFailure func(plan *sim.Plan, seed uint64, res *sim.Result)
	bundles   string                                                       // directory for a failure bundle; "" for none
	simulate  func(p *sim.Plan, seed uint64, opts sim.Options) *sim.Result // sim.Run; tests stand in
}

// Runs sets how many plans Check simulates (each twice, to compare
// fingerprints). It wins over -rapid.checks. Fuzz ignores it: go test
// -fuzz decides how long to run.
func Runs(n int) Option { return func(c *config) { c.runs = max(n, 1) } }

// Hooks plants bugs in every run (sim.Options.Hooks), to show that a check
// catches them.
func Hooks(h sim.Hooks) Option { return func(c *config) { c.hooks = h } }

// OnFailure is called once when Check or Fuzz fails, with the failing plan,
// seed and result: under Check the smallest failing plan rapid found, after
// shrinking; under Fuzz the input that failed. It may write a failure bundle;
// it runs before the test stops.
func OnFailure(f func(plan *sim.Plan, seed uint64, res *sim.Result)) Option {
	return func(c *config) { c.onFailure = f }
}

// Bundles writes the failing case (after shrinking) as a failure bundle
// under dir, as 'revoada sim' does, and logs its path: 'revoada replay' and
// 'revoada shrink' take it from there.
func Bundles(dir string) Option { return func(c *config) { c.bundles = dir } }

func newConfig(opts []Option) config {
	c := config{simulate: sim.Run}
	for _, o := range opts {
		o(&c)
	}
	if c.runs == 0 {
		c.runs = RunsDefault
		if v, ok := rapidSetting("rapid.checks"); ok {
			n, _ := strconv.Atoi(v)
			c.runs = max(n, 1)
		} else if testing.Short() {
			c.runs = max(c.runs/5, 1)
		}
	}
	return c
}

// rapidSetting is the value of one of rapid's flags and whether the user
// set it, on the command line or in rapid's environment variable
// (RAPID_CHECKS for -rapid.checks).
func rapidSetting(name string) (string, bool) {
	f := flag.Lookup(name)
	if f == nil {
		return "", false
	}
	set := false
	flag.Visit(func(v *flag.Flag) { set = set || v == f })
	if !set {
		_, set = os.LookupEnv(strings.ToUpper(strings.ReplaceAll(name, ".", "_")))
	}
	return f.Value.String(), set
}

// Check runs rapid over Faults(base): each drawn plan is simulated with a
// drawn seed, twice. A plan whose two runs leave different fingerprints
// fails as a determinism bug; a plan whose run has violations fails with
// them and the plan as a scenario file. rapid then shrinks the fault plan
// and the seed to a small failing case, which it prints, saves as a fail
// file under testdata/rapid (replayed first by later runs), and passes to
// OnFailure. Check stops t at the first failure. base must pass Validate.
func Check(t *testing.T, base *sim.Plan, opts ...Option) {
	t.Helper()
	check(t, base, newConfig(opts))
}

// check is Check on any rapid.TB, so that tests can watch it fail.
func check(tb rapid.TB, base *sim.Plan, cfg config) {
	tb.Helper()
	if err := base.Validate(); err != nil {
		tb.Fatalf("simtest: base plan %q: %v", base.Name, err)
	}
	c := &checker{cfg: cfg, gen: Faults(base)}
	defer c.report(tb)
	// rapid runs a fixed number of checks per call (-rapid.checks), so
	// Check calls it until it has run cfg.runs plans, and the checks left
	// over in the last call return at once. A fixed -rapid.seed would only
	// repeat the same plans, so it gets one call.
	seed, set := rapidSetting("rapid.seed")
	fixed := set && seed != "0"
	for c.ran < cfg.runs {
		before := c.ran
		rapid.Check(tb, c.property)
		if c.ran == before || fixed {
			break
		}
	}
	tb.Logf("simtest: simulated %d plans over %q, each twice", c.ran, base.Name)
}

// checker is the state of one Check: rapid calls property over and over,
// first to search, then, once a plan fails, to shrink it.
type checker struct {
	cfg config
	gen *rapid.Generator[*sim.Plan]
	ran int // plans simulated
	// last is the last failing case; rapid's last call runs the smallest.
	// Once a plan has failed, rapid is shrinking: every call runs a plan.
	last *failure
	// shrunk memoizes runs while rapid shrinks a violation: many of its
	// candidates differ only in bits the generators map to the same plan
	// and seed, and a run is a function of the two.
	shrunk map[string]*sim.Result
}

// shrunkMax bounds the runs a checker memoizes.
const shrunkMax = 4096

type failure struct {
	plan        *sim.Plan
	seed        uint64
	res         *sim.Result
	determinism bool // the two runs differed
}

func (c *checker) property(t *rapid.T) {
	if c.ran >= c.cfg.runs && c.last == nil {
		return // rapid's checks beyond Runs
	}
	p := c.gen.Draw(t, "plan")
	seed := rapid.Uint64Range(0, SeedsMax-1).Draw(t, "seed")
	c.ran++
	// One call site per kind of failure, the same in search and shrinking:
	// rapid tells failures apart by where they fail, and shrinks a failure
	// only to candidates that fail at the same place.
	c.violated(t, p, seed, c.replay(t, p, seed))
}

// replay runs the plan twice and fails t if the runs differ. While rapid
// shrinks a violation it runs the plan once (rapid reruns every failing
// candidate and compares the messages) and memoizes the run.
func (c *checker) replay(t *rapid.T, p *sim.Plan, seed uint64) *sim.Result {
	if c.last != nil && !c.last.determinism {
		key := fmt.Sprintf("%d %v", seed, p.Faults) // the rest of the plan is base's
		a, ok := c.shrunk[key]
		if !ok {
			a = c.run(p, seed)
			if c.shrunk == nil {
				c.shrunk = map[string]*sim.Result{}
			}
			if len(c.shrunk) < shrunkMax {
				c.shrunk[key] = a
			}
		}
		return a
	}
	a, b := c.run(p, seed), c.run(p, seed)
	if err := sameRun(p, seed, a, b); err != nil {
		c.last = &failure{plan: p, seed: seed, res: a, determinism: true}
		t.Logf("fingerprints %s and %s", a.Fingerprint, b.Fingerprint)
		t.Fatal(err)
	}
	return a
}

// violated fails t if the run has violations.
func (c *checker) violated(t *rapid.T, p *sim.Plan, seed uint64, a *sim.Result) {
	if a.OK() {
		return
	}
	c.last = &failure{plan: p, seed: seed, res: a}
	if d := details(a); d != "" {
		t.Log(d)
	}
	t.Fatal(describe(p, seed, a, c.cfg.hooks))
}

func (c *checker) run(p *sim.Plan, seed uint64) *sim.Result {
	return c.cfg.simulate(p, seed, sim.Options{Hooks: c.cfg.hooks})
}

// report hands the last failing case to OnFailure and writes its bundle. It
// is deferred: rapid stops a failed test with FailNow, which runs deferred
// calls on its way out.
func (c *checker) report(tb rapid.TB) {
	if c.last == nil {
		return
	}
	if c.cfg.onFailure != nil {
		c.cfg.onFailure(c.last.plan, c.last.seed, c.last.res)
	}
	if c.cfg.bundles != "" && !c.last.determinism {
		dir, _, err := bundle.Write(c.cfg.bundles, c.last.plan, c.last.seed, c.cfg.hooks, c.last.res.Fingerprint)
		if err != nil {
			tb.Logf("simtest: %v", err)
			return
		}
		tb.Logf("simtest: failure bundle %s (revoada replay %s; revoada shrink %s)", dir, dir, dir)
	}
}

// sameRun compares two runs of one plan and seed. They must leave the same
// fingerprint and the same verdict; otherwise something in the simulator or
// the code under test is not deterministic.
func sameRun(p *sim.Plan, seed uint64, a, b *sim.Result) error {
	if a.Fingerprint == b.Fingerprint && a.Summary() == b.Summary() {
		return nil
	}
	return fmt.Errorf("determinism bug: plan %q with seed %d ran twice and left different fingerprints or verdicts (%s, then %s); the same plan, seed and build must replay the same\n%s",
		p.Name, seed, a.Summary(), b.Summary(), yaml(p))
}

// describe is a failed run's message: the violations, one line each, the
// seed and the plan as a scenario file. It holds nothing that varies between
// runs of one plan and seed, so rapid can tell a reproduced failure from a
// flaky one.
func describe(p *sim.Plan, seed uint64, res *sim.Result, hooks sim.Hooks) string {
	var b strings.Builder
	fmt.Fprintf(&b, "plan %q with seed %d: %s\n", p.Name, seed, res.Summary())
	for _, v := range res.Violations {
		line, _, _ := strings.Cut(v.String(), "\n")
		fmt.Fprintf(&b, "  %s\n", line)
	}
	if !reflect.ValueOf(hooks).IsZero() {
		fmt.Fprintf(&b, "planted bugs: %+v (replay with sim.Options{Hooks: ...}; the command line plants none)\n", hooks)
	}
	fmt.Fprintf(&b, "reproduce: save the plan below as plan.yaml and run revoada replay --scenario plan.yaml --seed %d\n%s", seed, yaml(p))
	return b.String()
}

// details are the violations in full (a panic's with its stack).
func details(res *sim.Result) string {
	var b strings.Builder
	for _, v := range res.Violations {
		if strings.Contains(v.Detail, "\n") {
			fmt.Fprintf(&b, "%s\n", v)
		}
	}
	return b.String()
}

func yaml(p *sim.Plan) string {
	out, err := scenarios.Marshal(p)
	if err != nil {
		return fmt.Sprintf("(the plan cannot be written as a scenario file: %v)\n%+v\n", err, *p)
	}
	return string(out)
}

// Fuzz registers a fuzz target over base: each input becomes a plan and a
// seed by PlanFromBytes, and fails like Check does, on violations or on two
// runs that differ. It adds a seed corpus (no faults, one fault of each
// kind, and a longer input), which plain go test runs. base must pass
// Validate.
func Fuzz(f *testing.F, base *sim.Plan, opts ...Option) {
	f.Helper()
	if err := base.Validate(); err != nil {
		f.Fatalf("simtest: base plan %q: %v", base.Name, err)
	}
	cfg := newConfig(opts)
	for _, in := range corpus() {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, seed := PlanFromBytes(base, data)
		c := &checker{cfg: cfg}
		a, b := c.run(p, seed), c.run(p, seed)
		if err := sameRun(p, seed, a, b); err != nil {
			c.last = &failure{plan: p, seed: seed, res: a, determinism: true}
			c.report(t)
			t.Fatal(err)
		}
		if !a.OK() {
			c.last = &failure{plan: p, seed: seed, res: a}
			c.report(t)
			if d := details(a); d != "" {
				t.Log(d)
			}
			t.Fatal(describe(p, seed, a, cfg.hooks))
		}
	})
}

// corpus is the seed corpus: the empty input (no faults), one input per
// generated kind (one fault, the kind chosen by the second byte, every
// other byte 0x5a), and a longer input of FaultsMax faults.
func corpus() [][]byte {
	in := [][]byte{{}}
	for k := range kinds {
		b := []byte{1, byte(k)}
		for range 24 {
			b = append(b, 0x5a)
		}
		in = append(in, b)
	}
	long := []byte{FaultsMax}
	for i := range 96 {
		long = append(long, byte(i*37+11))
	}
	return append(in, long)
}
