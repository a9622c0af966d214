package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"revoada.dev/revoada/scenarios"
	"revoada.dev/revoada/sim"
)

// runOptions are what sim and replay run: a scenario, seeds, and how to
// report.
type runOptions struct {
	scenario string    // the --scenario argument as given: a built-in name or a file path
	seeds    seedRange // run in increasing order
	json     bool      // one JSON object on stdout instead of text
	trace    string    // trace file path; only with a single seed
	replay   bool      // replay's report: every violation and the full fingerprint
}

const (
	simSynopsis    = "sim [--scenario NAME|FILE] [--seed N | --seeds A..B] [--json] [--trace FILE]"
	replaySynopsis = "replay --scenario NAME|FILE --seed N [--json] [--trace FILE]"
)

const simAbout = `Run a scenario in the simulator for one seed (default 1) or every seed of a
range, one after another. Each run prints a line with the scenario, seed,
simulated time, wall time, speed-up, verdict and fingerprint; a failed run
also prints its violations and the command that replays it. With several
seeds only failed runs are printed, then a summary (and, on a terminal, a
progress line on stderr); Ctrl-C stops after the current seed.`

const replayAbout = `Rerun exactly one scenario and seed, printing every violation and the full
trace fingerprint. The same scenario, seed and build always give the same
fingerprint. (Failure bundles are not supported yet.)`

// simFlags defines sim's flags and returns the function that runs it.
func simFlags(e *env) (*flag.FlagSet, func() int) {
	fs := newFlagSet(e, "sim")
	o := runOptions{seeds: seedRange{1, 1}}
	var many seedRange
	defineRunFlags(fs, &o)
	fs.Var(seedsFlag{&many}, "seeds", fmt.Sprintf("run every seed in the inclusive range `A..B` (at most %d seeds)", seedsMax))
	return fs, func() int {
		set := setFlags(fs)
		switch {
		case fs.NArg() > 0:
			return usageError(e, "sim", "unexpected argument %q", fs.Arg(0))
		case set["seed"] && set["seeds"]:
			return usageError(e, "sim", "give --seed or --seeds, not both")
		case set["seeds"]:
			o.seeds = many
		}
		if o.trace != "" && o.seeds.count() > 1 {
			return usageError(e, "sim", "--trace needs a single seed, and --seeds %v has %d", o.seeds, o.seeds.count())
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
		case fs.NArg() > 0:
			return usageError(e, "replay", "failure bundles are not supported yet (got %q); use --scenario and --seed", fs.Arg(0))
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
}

// setFlags returns the names of the flags given on the command line.
func setFlags(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// runSeeds resolves the scenario and runs every seed of o in order, stopping
// early (after the current seed) on an interrupt when there are several. It
// returns the exit status.
func runSeeds(e *env, o runOptions) int {
	plan, err := scenarios.Resolve(o.scenario)
	if err != nil {
		fmt.Fprintln(e.stderr, err) // it names the file, line and field
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
	rep := newReporter(e, o, plan.Name)
	for seed := range o.seeds.all() {
		if ctx.Err() != nil {
			break
		}
		rep.add(runOne(plan, seed, trace))
	}
	code := rep.finish()
	if err := closeTrace(); err != nil {
		fmt.Fprintf(e.stderr, "revoada: trace %s: %v\n", o.trace, err)
		code = max(code, exitFailed)
	}
	return code
}

// record is one run's result and the wall time it took.
type record struct {
	res  *sim.Result
	wall time.Duration
}

// runOne simulates one seed, timing it by the wall clock.
func runOne(p *sim.Plan, seed uint64, trace io.Writer) record {
	start := time.Now()
	res := sim.Run(p, seed, sim.Options{Trace: trace})
	return record{res: res, wall: time.Since(start)}
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
