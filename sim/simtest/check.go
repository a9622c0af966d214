package simtest

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"revoada.dev/revoada/scenarios"
	"revoada.dev/revoada/sim"
)

// RunsDefault is how many plans Check simulates when neither Runs nor
// -rapid.checks says otherwise; a fifth of it under -short, as rapid does.
const RunsDefault = 20

// An Option tunes Check and Fuzz.
type Option func(*config)

type config struct {
	runs      int // 0: RunsDefault or -rapid.checks
	hooks     sim.Hooks
	onFailure func(plan *sim.Plan, seed uint64, res *sim.Result)
}

// Runs sets how many plans Check simulates (each twice, to compare
// fingerprints). It wins over -rapid.checks.
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

func newConfig(opts []Option) config {
	var c config
	for _, o := range opts {
		o(&c)
	}
	if c.runs == 0 {
		c.runs = RunsDefault
		if n, ok := rapidFlag("rapid.checks", true); ok {
			c.runs = max(n, 1)
		} else if testing.Short() {
			c.runs = max(c.runs/5, 1)
		}
	}
	return c
}

// rapidFlag is the value of one of rapid's integer flags; with set, only if
// it was set on the command line.
func rapidFlag(name string, set bool) (int, bool) {
	f := flag.Lookup(name)
	if f == nil {
		return 0, false
	}
	if set {
		found := false
		flag.Visit(func(v *flag.Flag) { found = found || v == f })
		if !found {
			return 0, false
		}
	}
	n, err := strconv.Atoi(f.Value.String())
	return n, err == nil
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
	defer c.report()
	// rapid runs a fixed number of checks per call (-rapid.checks), so
	// Check calls it until it has run cfg.runs plans, and the checks left
	// over in the last call return at once. A fixed -rapid.seed would only
	// repeat the same plans, so it gets one call.
	_, fixed := rapidFlag("rapid.seed", true)
	for c.ran < cfg.runs {
		before := c.ran
		rapid.Check(tb, c.property)
		if c.ran == before || fixed {
			break
		}
	}
}

// checker is the state of one Check: rapid calls property over and over,
// first to search, then, once a plan fails, to shrink it.
type checker struct {
	cfg     config
	gen     *rapid.Generator[*sim.Plan]
	ran     int  // plans simulated
	failing bool // a plan has failed: rapid is shrinking, every call runs
	// last is the last failing case; rapid's last call runs the smallest.
	last *failure
}

type failure struct {
	plan *sim.Plan
	seed uint64
	res  *sim.Result
}

func (c *checker) property(t *rapid.T) {
	if c.ran >= c.cfg.runs && !c.failing {
		return // rapid's checks beyond Runs
	}
	p := c.gen.Draw(t, "plan")
	seed := rapid.Uint64().Draw(t, "seed")
	c.ran++
	a, b := c.run(p, seed), c.run(p, seed)
	if err := sameRun(p, seed, a, b); err != nil {
		c.fail(p, seed, a)
		t.Logf("fingerprints %s and %s", a.Fingerprint, b.Fingerprint)
		t.Fatal(err) // a call site of its own: rapid shrinks only to failures of the same kind
	}
	if !a.OK() {
		c.fail(p, seed, a)
		t.Log(details(a))
		t.Fatal(describe(p, seed, a))
	}
}

func (c *checker) run(p *sim.Plan, seed uint64) *sim.Result {
	return sim.Run(p, seed, sim.Options{Hooks: c.cfg.hooks})
}

func (c *checker) fail(p *sim.Plan, seed uint64, res *sim.Result) {
	c.failing = true
	c.last = &failure{plan: p, seed: seed, res: res}
}

// report hands the last failing case to OnFailure. It is deferred: rapid
// stops a failed test with FailNow, which runs deferred calls on its way out.
func (c *checker) report() {
	if c.last != nil && c.cfg.onFailure != nil {
		c.cfg.onFailure(c.last.plan, c.last.seed, c.last.res)
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
func describe(p *sim.Plan, seed uint64, res *sim.Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "plan %q with seed %d: %s\n", p.Name, seed, res.Summary())
	for _, v := range res.Violations {
		line, _, _ := strings.Cut(v.String(), "\n")
		fmt.Fprintf(&b, "  %s\n", line)
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
			c.fail(p, seed, a)
			c.report()
			t.Fatal(err)
		}
		if !a.OK() {
			c.fail(p, seed, a)
			c.report()
			t.Log(details(a))
			t.Fatal(describe(p, seed, a))
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
