package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"revoada.dev/revoada/checkers/bundle"
	"revoada.dev/revoada/checkers/shrink"
	"revoada.dev/revoada/scenarios"
	"revoada.dev/revoada/sim"
)

// replayBundle reruns a failure bundle and judges it again: exit 1 if it
// still fails, 0 if it now passes, 2 for a bundle that cannot be read or a
// fingerprint that differs under the build that wrote it.
func replayBundle(e *env, dir string, o runOptions) int {
	b, err := bundle.Read(dir)
	if err != nil {
		fmt.Fprintf(e.stderr, "revoada replay: %v\n", err)
		return exitUsage
	}
	o.scenario, o.seeds, o.plant = b.Plan.Name, seedRange{b.Run.Seed, b.Run.Seed}, b.Run.Plants
	trace, closeTrace, err := openTrace(o.trace)
	if err != nil {
		fmt.Fprintf(e.stderr, "revoada replay: trace: %v\n", err)
		return exitUsage
	}
	start := time.Now()
	res, same, err := b.Replay(trace)
	if cerr := closeTrace(); err == nil && cerr != nil {
		err = fmt.Errorf("trace %s: %w", o.trace, cerr)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "revoada replay: %v\n", err)
		return exitUsage
	}
	rec := record{res: res, wall: time.Since(start)}
	keep(e, o, b.Plan, &rec)
	rep := newReporter(e, o, b.Plan)
	rep.add(rec)
	code := rep.finish()
	build := bundle.CurrentBuild()
	switch {
	case same:
		fmt.Fprintf(e.stderr, "revoada replay: reproduced: the fingerprint matches the bundle's\n")
	case b.Run.Fingerprint == "":
		fmt.Fprintf(e.stderr, "revoada replay: a real-world bundle ('revoada real': no fingerprint); this was its scenario in the simulator\n")
	case build.Same(b.Run.Build):
		fmt.Fprintf(e.stderr, "revoada replay: determinism bug: fingerprint %s, the bundle has %s, under the same build\n", res.Fingerprint, b.Run.Fingerprint)
		return exitUsage
	default:
		fmt.Fprintf(e.stderr, "revoada replay: the fingerprint differs from the bundle's %s: it was written by another build (%s), this is %s\n",
			short(b.Run.Fingerprint), describeBuild(b.Run.Build), describeBuild(build))
	}
	return code
}

func describeBuild(b bundle.Build) string {
	s := b.GoVersion + " " + b.Version
	if b.Revision != "" {
		s += " " + b.Revision[:min(12, len(b.Revision))]
		if b.Modified {
			s += "+dirty"
		}
	}
	if b.Executable != "" {
		s += " executable " + b.Executable[:min(12, len(b.Executable))]
	}
	return s
}

const shrinkSynopsis = "shrink BUNDLE [-o FILE] [--runs N]"

const shrinkAbout = `Minimise a failure bundle into a small scenario file that fails the same
way: it replays the run with every random choice made explicit (nodes picked,
chaos crashes, client operations), then deletes faults, commands, clients and
operations, shortens durations and lowers network delays while the same
property is still violated. The result has explicit faults and a scripted
workload; it fails under the bundle's seed, and the summary says for how many
of seeds 1..10 it fails too.`

// shrinkFlags defines shrink's flags and returns the function that runs it.
func shrinkFlags(e *env) (*flag.FlagSet, func() int) {
	fs := newFlagSet(e, "shrink")
	out := fs.String("o", "", "write the shrunk scenario to `FILE` (default: beside the bundle, <bundle>.shrunk.yaml)")
	runs := fs.Int("runs", 3000, "try at most `N` candidate runs")
	return fs, func() int {
		if fs.NArg() == 0 {
			return usageError(e, "shrink", "want exactly one bundle directory")
		}
		dir := fs.Arg(0)
		// Flags may follow the bundle too: revoada shrink BUNDLE -o FILE.
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return usageError(e, "shrink", "%v", err)
		}
		switch {
		case fs.NArg() > 0:
			return usageError(e, "shrink", "unexpected argument %q after the bundle %s", fs.Arg(0), dir)
		case *runs < 1:
			return usageError(e, "shrink", "--runs %d: want at least 1", *runs)
		}
		return runShrink(e, dir, *out, *runs)
	}
}

func runShrink(e *env, dir, out string, runs int) int {
	b, err := bundle.Read(dir)
	if err != nil {
		fmt.Fprintf(e.stderr, "revoada shrink: %v\n", err)
		return exitUsage
	}
	hooks, err := b.Hooks()
	if err != nil {
		fmt.Fprintf(e.stderr, "revoada shrink: %v\n", err)
		return exitUsage
	}
	if out == "" {
		out = filepath.Clean(dir) + ".shrunk.yaml"
	}
	start := time.Now()
	res, err := shrink.Shrink(b.Plan, b.Run.Seed, hooks, shrink.Options{Runs: runs})
	switch {
	case errors.Is(err, shrink.ErrPasses):
		fmt.Fprintf(e.stderr, "revoada shrink: %s seed %d passes under this build; nothing to shrink\n", b.Plan.Name, b.Run.Seed)
		return exitOK
	case err != nil:
		fmt.Fprintf(e.stderr, "revoada shrink: %v\n", err)
		return exitFailed
	}
	wall := time.Since(start)
	p := res.Plan
	p.Name = b.Plan.Name + "-shrunk"
	p.Description = fmt.Sprintf("%s seed %d shrunk from %d to %d fault, command and operation events; it fails %s.",
		b.Plan.Name, b.Run.Seed, res.Before, res.After, res.Property)
	data, err := scenarios.Marshal(p)
	if err != nil {
		fmt.Fprintf(e.stderr, "revoada shrink: %v\n", err)
		return exitFailed
	}
	failing := 0
	for seed := uint64(1); seed <= 10; seed++ {
		if sim.Run(p, seed, sim.Options{Hooks: hooks, CheckTimeout: sim.CheckTimeoutDefault}).Violated(res.Property) {
			failing++
		}
	}
	run := "revoada sim --scenario " + shellQuote(out)
	if !slices.Contains(res.Seeds, 1) {
		run += " --seed " + fmt.Sprint(b.Run.Seed)
	}
	if hooks != (sim.Hooks{}) {
		run += " --plant " + hooks.String()
	}
	header := fmt.Sprintf("# Shrunk by revoada shrink from %s.\n# Fails %s with seeds %v (and %d of seeds 1..10):\n#   %s\n",
		filepath.Base(filepath.Clean(dir)), res.Property, res.Seeds, failing, run)
	if err := os.WriteFile(out, append([]byte(header), data...), 0o644); err != nil {
		fmt.Fprintf(e.stderr, "revoada shrink: %v\n", err)
		return exitFailed
	}
	fmt.Fprintf(e.stdout, "%s seed %d: %s shrunk from %d to %d events (%.1f× fewer) in %d runs, %v\n",
		b.Plan.Name, b.Run.Seed, res.Property, res.Before, res.After, float64(res.Before)/float64(max(res.After, 1)), res.Runs, roundWall(wall))
	fmt.Fprintf(e.stdout, "  still fails: %s\n", strings.ReplaceAll(res.Violation.String(), "\n", "\n    "))
	fmt.Fprintf(e.stdout, "  fails for %d of seeds 1..10\n", failing)
	fmt.Fprintf(e.stdout, "  written to %s\n  run: %s\n", out, run)
	return exitOK
}
