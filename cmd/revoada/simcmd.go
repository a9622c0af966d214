package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"revoada.dev/revoada/checkers/bundle"
	timeline "revoada.dev/revoada/checkers/report"
	"revoada.dev/revoada/core/cover"
	"revoada.dev/revoada/scenarios"
	"revoada.dev/revoada/sim"
)

// runOptions are what sim and replay run: a scenario, seeds, and how to
// report.
type runOptions struct {
	scenario string    // the --scenario argument as given: a built-in name or a file path
	seeds    seedRange // run in increasing order
	parallel int       // sim: worker processes for several seeds; 1 runs them here
	json     bool      // one JSON object on stdout instead of text
	trace    string    // trace file path; only with a single seed
	replay   bool      // replay's report: every violation and the full fingerprint
	plant    string    // planted bugs (sim.ParsePlants)
	hooks    sim.Hooks // parsed from plant
	bundles  string    // directory for failure bundles; "" for none
	report   string    // directory for timeline reports; "" for none
}

const (
	simSynopsis    = "sim [--scenario NAME|FILE] [--seed N | --seeds A..B [--parallel N]] [--json] [--trace FILE] [--report DIR] [--bundles DIR] [--plant BUGS]"
	replaySynopsis = "replay BUNDLE | replay --scenario NAME|FILE --seed N [--json] [--trace FILE] [--report DIR] [--plant BUGS]"
)

const simAbout = `Run a scenario in the simulator for one seed (default 1) or every seed of a
range, one after another, or with --parallel N in that many worker
processes. Each run prints a line with the scenario, seed, simulated time,
wall time, speed-up, verdict and fingerprint; a failed run also prints its
violations and writes a failure bundle (a directory named by the BLAKE3
hash of its content: scenario, seed, choice log, build, trace, history,
timeline report) that 'revoada replay' reproduces and 'revoada shrink'
minimises. With several seeds only failed runs are printed, then a summary
(and, on a terminal, a progress line on stderr); the output is in seed
order and the same for any --parallel but for wall times. Ctrl-C stops
after the current seeds. --report writes each run's HTML timeline into a
directory; --plant turns on deliberate bugs of the verification corpus.
A run whose linearizability check reaches no answer within 2 minutes of
wall time fails, saying so ("unknown"): that verdict alone depends on the
machine.`

const replayAbout = `Rerun a failure bundle written by 'revoada sim', or exactly one scenario and
seed, printing every violation and the full trace fingerprint. The same
scenario, seed, planted bugs and build always give the same fingerprint; a
bundle replay says whether it matched the bundle's and exits 2 on a mismatch
under the same build (a determinism bug).`

// simFlags defines sim's flags and returns the function that runs it.
func simFlags(e *env) (*flag.FlagSet, func() int) {
	fs := newFlagSet(e, "sim")
	o := runOptions{seeds: seedRange{1, 1}}
	var many seedRange
	defineRunFlags(fs, &o)
	fs.Var(seedsFlag{&many}, "seeds", fmt.Sprintf("run every seed in the inclusive range `A..B` (at most %d seeds)", seedsMax))
	fs.IntVar(&o.parallel, "parallel", 1, "run the seeds in `N` worker processes")
	worker := fs.Bool("worker", false, "internal: run seeds read from stdin, one JSON result a line on stdout (what --parallel starts)")
	return fs, func() int {
		set := setFlags(fs)
		switch {
		case fs.NArg() > 0:
			return usageError(e, "sim", "unexpected argument %q", fs.Arg(0))
		case *worker && (set["seed"] || set["seeds"] || set["parallel"] || set["json"] || set["trace"]):
			return usageError(e, "sim", "--worker reads its seeds from stdin and writes no trace")
		case *worker:
			return simWorker(e, os.Stdin, o)
		case set["seed"] && set["seeds"]:
			return usageError(e, "sim", "give --seed or --seeds, not both")
		case set["seeds"]:
			o.seeds = many
		}
		switch {
		case o.parallel < 1 || o.parallel > workersMax:
			return usageError(e, "sim", "--parallel %d: want 1..%d", o.parallel, workersMax)
		case o.trace != "" && o.seeds.count() > 1:
			return usageError(e, "sim", "--trace needs a single seed, and --seeds %v has %d", o.seeds, o.seeds.count())
		case o.trace != "" && o.parallel > 1:
			return usageError(e, "sim", "--trace needs a single seed run in this process, not --parallel %d", o.parallel)
		}
		return runSeeds(e, o)
	}
}

// replayFlags defines replay's flags and returns the function that runs it.
func replayFlags(e *env) (*flag.FlagSet, func() int) {
	fs := newFlagSet(e, "replay")
	o := runOptions{replay: true}
	defineRunFlags(fs, &o)
	return fs, func() int {
		set := setFlags(fs)
		switch {
		case fs.NArg() > 1:
			return usageError(e, "replay", "unexpected argument %q", fs.Arg(1))
		case fs.NArg() == 1 && (set["scenario"] || set["seed"] || set["plant"]):
			return usageError(e, "replay", "a bundle holds its scenario, seed and planted bugs; give the bundle alone")
		case fs.NArg() == 1:
			return replayBundle(e, fs.Arg(0), o)
		case !set["scenario"] || !set["seed"]:
			return usageError(e, "replay", "--scenario and --seed are both required")
		}
		return runSeeds(e, o)
	}
}

// defineRunFlags defines the flags sim and replay share. In replay
// (o.replay) --scenario and --seed have no default: they are required.
func defineRunFlags(fs *flag.FlagSet, o *runOptions) {
	scenarioDefault, required := scenarios.Default, ""
	if o.replay {
		scenarioDefault, required = "", " (required)"
	}
	fs.StringVar(&o.scenario, "scenario", scenarioDefault, "the built-in scenario `NAME` (see 'revoada scenarios') or a scenario FILE"+required)
	fs.Var(seedFlag{&o.seeds, o.replay}, "seed", "run the one seed `N`"+required)
	fs.BoolVar(&o.json, "json", false, "print exactly one JSON object on stdout, and nothing else")
	fs.StringVar(&o.trace, "trace", "", "write the run's trace as JSON Lines to `FILE`")
	fs.StringVar(&o.report, "report", "", "write each run's HTML timeline report into `DIR`")
	fs.StringVar(&o.plant, "plant", "", "plant deliberate `BUGS` (comma-separated: "+plantNames()+")")
	if !o.replay {
		fs.StringVar(&o.bundles, "bundles", "bundles", "write a failure bundle for every failed run under `DIR` (\"\" for none)")
	}
}

func plantNames() string {
	names := slices.Sorted(maps.Keys(sim.Plants()))
	return strings.Join(names, ", ")
}

// setFlags returns the names of the flags given on the command line.
func setFlags(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// runSeeds resolves the scenario and runs every seed of o, in this process
// or, with several seeds and o.parallel > 1, in worker processes, reporting
// them in seed order. On an interrupt, when there are several, it stops
// after the current seeds. It returns the exit status.
func runSeeds(e *env, o runOptions) int {
	plan, ok := resolveRun(e, &o)
	if !ok {
		return exitUsage
	}
	trace, closeTrace, err := openTrace(o.trace)
	if err != nil {
		fmt.Fprintf(e.stderr, "revoada: trace: %v\n", err)
		return exitUsage
	}
	ctx := context.Background()
	if o.seeds.count() > 1 {
		var stop func()
		ctx, stop = interruptible()
		defer stop()
	}
	rep := newReporter(e, o, plan)
	if o.parallel > 1 && o.seeds.count() > 1 {
		err = runWorkers(ctx, simWorkerArgs(o), o.seeds, o.parallel, e.stderr, func(x simOutcome) { rep.add(x.record()) })
	} else {
		for seed := range o.seeds.all() {
			if ctx.Err() != nil {
				break
			}
			rep.add(runKept(e, o, plan, seed, trace))
		}
	}
	code := rep.finish()
	if err != nil {
		fmt.Fprintf(e.stderr, "revoada sim: %v\n", err)
		code = max(code, exitFailed)
	}
	if err := closeTrace(); err != nil {
		fmt.Fprintf(e.stderr, "revoada: trace %s: %v\n", o.trace, err)
		code = max(code, exitFailed)
	}
	return code
}

// resolveRun resolves o's scenario and planted bugs (into o.hooks), saying
// on stderr what is wrong when it cannot.
func resolveRun(e *env, o *runOptions) (*sim.Plan, bool) {
	plan, err := scenarios.Resolve(o.scenario)
	if err != nil {
		fmt.Fprintln(e.stderr, err) // it names the file, line and field
		return nil, false
	}
	if o.hooks, err = sim.ParsePlants(o.plant); err != nil {
		fmt.Fprintf(e.stderr, "revoada: --plant: %v\n", err)
		return nil, false
	}
	return plan, true
}

// simWorker is sim --worker (serveSeeds): it resolves o's scenario and
// planted bugs, then runs the seeds its parent writes on in, writing each
// run's report and bundle as o asks.
func simWorker(e *env, in io.Reader, o runOptions) int {
	plan, ok := resolveRun(e, &o)
	if !ok {
		return exitUsage
	}
	return serveSeeds(e, "sim", in, func(seed uint64) simOutcome {
		return newSimOutcome(runKept(e, o, plan, seed, nil))
	})
}

// simWorkerArgs is the command line of a worker for o: the same scenario,
// as an absolute path when it is a file (a built-in name wins, as in
// scenarios.Resolve), the same planted bugs, bundles and reports.
func simWorkerArgs(o runOptions) []string {
	scenario := o.scenario
	if !slices.Contains(scenarios.Names(), scenario) {
		if abs, err := filepath.Abs(scenario); err == nil {
			scenario = abs
		}
	}
	return []string{"sim", "--worker", "--scenario", scenario, "--plant", o.plant, "--bundles", o.bundles, "--report", o.report}
}

// runOutcome is what sim and explore workers send of every seed's run,
// within their outcomes: the run's result as their reports read it, its
// wall time, and the failure bundle written.
type runOutcome struct {
	Seed        uint64          `json:"seed"`
	Fingerprint string          `json:"fingerprint"`
	Sim         time.Duration   `json:"sim_ns"`
	Wall        time.Duration   `json:"wall_ns"`
	Violations  []sim.Violation `json:"violations"`
	Coverage    cover.Counts    `json:"coverage"`
	Bundle      string          `json:"bundle,omitempty"`
}

func newRunOutcome(res *sim.Result, wall time.Duration) runOutcome {
	return runOutcome{Seed: res.Seed, Fingerprint: res.Fingerprint, Sim: res.SimTime, Wall: wall,
		Violations: res.Violations, Coverage: res.Coverage}
}

func (x runOutcome) seedOf() uint64 { return x.Seed }

// simOutcome is one seed's run as a sim worker sends it, one JSON line:
// everything of a record the reporter reads.
type simOutcome struct {
	runOutcome
	Stats  sim.Stats `json:"stats"`
	Report string    `json:"report,omitempty"`
}

func newSimOutcome(rec record) simOutcome {
	x := simOutcome{runOutcome: newRunOutcome(rec.res, rec.wall), Stats: rec.res.Stats, Report: rec.report}
	x.Bundle = rec.bundle
	return x
}

// record is the run as the reporter reads it: a result holding what the
// outcome carries, and nothing of the history, trace or timeline.
func (x simOutcome) record() record {
	res := &sim.Result{Seed: x.Seed, SimTime: x.Sim, Fingerprint: x.Fingerprint, Violations: x.Violations,
		Stats: x.Stats, Coverage: x.Coverage}
	return record{res: res, wall: x.Wall, bundle: x.Bundle, report: x.Report}
}

// record is one run's result and the wall time it took, with the files
// written of it.
type record struct {
	res    *sim.Result
	wall   time.Duration
	bundle string // the failure bundle's directory
	report string // the timeline report's path
}

// runOne simulates one seed, timing it by the wall clock.
func runOne(p *sim.Plan, seed uint64, trace io.Writer, hooks sim.Hooks) record {
	start := time.Now()
	res := sim.Run(p, seed, sim.Options{Trace: trace, Hooks: hooks, CheckTimeout: sim.CheckTimeoutDefault})
	return record{res: res, wall: time.Since(start)}
}

// runKept runs one seed and keeps what o asks of it: how sim runs every
// seed, in this process or in a worker.
func runKept(e *env, o runOptions, p *sim.Plan, seed uint64, trace io.Writer) record {
	rec := runOne(p, seed, trace, o.hooks)
	keep(e, o, p, &rec)
	return rec
}

// keep writes what o asks of a run: its timeline report and, if it failed,
// its bundle. A file that cannot be written is reported on stderr; the run's
// verdict stands.
func keep(e *env, o runOptions, p *sim.Plan, rec *record) {
	if o.report != "" {
		path, err := writeReport(o.report, p, rec.res)
		if err != nil {
			fmt.Fprintf(e.stderr, "revoada: report: %v\n", err)
		}
		rec.report = path
	}
	if o.bundles != "" && !rec.res.OK() {
		dir, _, err := bundle.Write(o.bundles, p, rec.res.Seed, o.hooks, rec.res.Fingerprint)
		if err != nil {
			fmt.Fprintf(e.stderr, "revoada: bundle: %v\n", err)
		}
		rec.bundle = dir
	}
}

// writeReport writes a run's timeline report as DIR/<scenario>-seed-<N>.html.
func writeReport(dir string, p *sim.Plan, res *sim.Result) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	var page bytes.Buffer
	if err := timeline.Write(&page, bundle.ReportInput(p, res, nil)); err != nil {
		return "", err
	}
	path := filepath.Join(dir, fmt.Sprintf("%s-seed-%d.html", p.Name, res.Seed))
	return path, os.WriteFile(path, page.Bytes(), 0o644)
}

// traceBufBytes is the trace file's write buffer.
const traceBufBytes = 1 << 20

// openTrace creates the trace file at path, if path is not empty, and returns
// a writer for it and the function that flushes and closes it. With an empty
// path the writer is nil and closing does nothing.
func openTrace(path string) (io.Writer, func() error, error) {
	if path == "" {
		return nil, func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, err
	}
	w := bufio.NewWriterSize(f, traceBufBytes)
	closeFn := func() error {
		werr := w.Flush()
		cerr := f.Close()
		if werr != nil {
			return werr
		}
		return cerr
	}
	return w, closeFn, nil
}
