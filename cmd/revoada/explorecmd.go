package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"revoada.dev/revoada/checkers/bundle"
	"revoada.dev/revoada/core/cover"
	"revoada.dev/revoada/sim"
	"revoada.dev/revoada/sim/explore"
)

const exploreSynopsis = "explore --seeds A..B [--parallel N] [--json] [--bundles DIR] [--plant BUGS]"

const exploreAbout = `Search for bugs VOPR-style: every seed of the range draws a whole
simulation plan (package sim/explore: mesh size, target, policy knobs,
network, faults of every kind, operator commands, a workload, then a quiet
tail with liveness expectations), runs it with that seed and judges it. Each
failed seed prints its violations and writes a failure bundle whose
scenario.yaml is the generated plan, so 'revoada replay' and 'revoada
shrink' work on it; a summary follows, with the declared rare paths no run
reached. Output is in seed order and the same for any --parallel, which runs
the seeds in that many worker processes. Ctrl-C stops after the current
seeds.`

// exploreOptions are what explore runs and how it reports.
type exploreOptions struct {
	seeds    seedRange
	parallel int
	json     bool
	bundles  string // "" for none
	plant    string
	hooks    sim.Hooks
}

// exploreFlags defines explore's flags and returns the function that runs
// it.
func exploreFlags(e *env) (*flag.FlagSet, func() int) {
	fs := newFlagSet(e, "explore")
	var o exploreOptions
	fs.Var(seedsFlag{&o.seeds}, "seeds", fmt.Sprintf("explore every seed in the inclusive range `A..B` (required; at most %d seeds)", seedsMax))
	fs.IntVar(&o.parallel, "parallel", 1, "run the seeds in `N` worker processes")
	fs.BoolVar(&o.json, "json", false, "print exactly one JSON object on stdout, and nothing else")
	fs.StringVar(&o.bundles, "bundles", "bundles", "write a failure bundle for every failed seed under `DIR` (\"\" for none)")
	fs.StringVar(&o.plant, "plant", "", "plant deliberate `BUGS` (comma-separated: "+plantNames()+")")
	worker := fs.Bool("worker", false, "internal: run seeds read from stdin, one JSON result a line on stdout (what --parallel starts)")
	return fs, func() int {
		set := setFlags(fs)
		var err error
		switch {
		case fs.NArg() > 0:
			return usageError(e, "explore", "unexpected argument %q", fs.Arg(0))
		case *worker && (set["seeds"] || set["parallel"] || set["json"]):
			return usageError(e, "explore", "--worker reads its seeds from stdin")
		case *worker:
		case !set["seeds"]:
			return usageError(e, "explore", "--seeds is required")
		case o.parallel < 1 || o.parallel > workersMax:
			return usageError(e, "explore", "--parallel %d: want 1..%d", o.parallel, workersMax)
		}
		if o.hooks, err = sim.ParsePlants(o.plant); err != nil {
			return usageError(e, "explore", "--plant: %v", err)
		}
		if *worker {
			return serveSeeds(e, "explore", os.Stdin, func(seed uint64) exploreOutcome { return exploreOne(seed, o) })
		}
		return runExplore(e, o)
	}
}

// exploreOutcome is one seed's result: the run's outcome, and why its
// bundle could not be written. Workers send it as one JSON line
// (serveSeeds).
type exploreOutcome struct {
	runOutcome
	BundleErr string `json:"bundle_error,omitempty"`
}

func (x *exploreOutcome) ok() bool { return len(x.Violations) == 0 }

// exploreOne generates the seed's plan, runs and judges it, and writes a
// bundle if it failed.
func exploreOne(seed uint64, o exploreOptions) exploreOutcome {
	plan := explore.Generate(seed)
	start := time.Now()
	res := sim.Run(plan, seed, sim.Options{Hooks: o.hooks, CheckTimeout: sim.CheckTimeoutDefault})
	x := exploreOutcome{runOutcome: newRunOutcome(res, time.Since(start))}
	if !res.OK() && o.bundles != "" {
		dir, _, err := bundle.Write(o.bundles, plan, seed, o.hooks, res.Fingerprint)
		if err != nil {
			x.BundleErr = err.Error()
		}
		x.Bundle = dir
	}
	return x
}

// runExplore runs every seed, in this process or in workers, and reports
// them in seed order.
func runExplore(e *env, o exploreOptions) int {
	ctx, stop := interruptible()
	defer stop()
	rep := newExploreReporter(e, o)
	var err error
	if o.parallel == 1 || o.seeds.count() == 1 {
		for seed := range o.seeds.all() {
			if ctx.Err() != nil {
				break
			}
			rep.add(exploreOne(seed, o))
		}
	} else {
		args := []string{"explore", "--worker", "--bundles", o.bundles, "--plant", o.plant}
		err = runWorkers(ctx, args, o.seeds, o.parallel, e.stderr, rep.add)
	}
	code := rep.finish()
	if err != nil {
		fmt.Fprintf(e.stderr, "revoada explore: %v\n", err)
		code = max(code, exitFailed)
	}
	return code
}

// exploreReporter prints explore's outcomes as they come, in seed order,
// and the summary; used from one goroutine.
type exploreReporter struct {
	e          *env
	o          exploreOptions
	live       bool
	start      time.Time
	runs       int
	failed     int
	sim, wall  time.Duration // simulated time, and wall time summed over runs
	cover      cover.Counts
	failures   []exploreFailure // only with o.json
	drawn      time.Time
	bundleErrs int
}

// exploreFailure is one failed seed in explore's JSON report.
type exploreFailure struct {
	Seed        uint64          `json:"seed"`
	Scenario    string          `json:"scenario"`
	Fingerprint string          `json:"fingerprint"`
	Violations  []jsonViolation `json:"violations"`
	Bundle      string          `json:"bundle,omitempty"`
	Replay      string          `json:"replay"`
}

// exploreJSON is the one object explore --json prints.
type exploreJSON struct {
	Runs        int              `json:"runs"`
	Failed      int              `json:"failed"`
	Interrupted bool             `json:"interrupted,omitempty"`
	SimSeconds  float64          `json:"sim_seconds"`
	WallSeconds float64          `json:"wall_seconds"` // elapsed, whatever --parallel
	Speedup     float64          `json:"speedup"`
	Failures    []exploreFailure `json:"failures"`
	Coverage    map[string]int   `json:"coverage"`
	Never       []string         `json:"never"`
}

func newExploreReporter(e *env, o exploreOptions) *exploreReporter {
	r := &exploreReporter{e: e, o: o, live: e.live && !o.json, start: time.Now(), cover: cover.Counts{}, failures: []exploreFailure{}}
	r.progress(true)
	return r
}

// rerun is the command that reruns a failed seed: its bundle's replay, or
// explore of that seed alone.
func (r *exploreReporter) rerun(x exploreOutcome) string {
	if x.Bundle != "" && x.BundleErr == "" {
		return "revoada replay " + shellQuote(x.Bundle)
	}
	cmd := fmt.Sprintf("revoada explore --seeds %d..%d", x.Seed, x.Seed)
	if r.o.plant != "" {
		cmd += " --plant " + shellQuote(r.o.plant)
	}
	return cmd
}

func (r *exploreReporter) add(x exploreOutcome) {
	r.runs++
	r.sim += x.Sim
	r.wall += x.Wall
	r.cover.Add(x.Coverage)
	if x.BundleErr != "" {
		r.bundleErrs++
		fmt.Fprintf(r.e.stderr, "revoada explore: bundle of seed %d: %s\n", x.Seed, x.BundleErr)
	}
	if !x.ok() {
		r.failed++
		if r.o.json {
			f := exploreFailure{Seed: x.Seed, Scenario: explore.Name(x.Seed), Fingerprint: x.Fingerprint,
				Violations: make([]jsonViolation, 0, len(x.Violations)), Bundle: x.Bundle, Replay: r.rerun(x)}
			for _, v := range x.Violations {
				f.Violations = append(f.Violations, jsonViolation{v.Property, v.At.Seconds(), v.Node, v.Detail})
			}
			r.failures = append(r.failures, f)
		} else {
			r.clearProgress()
			r.printFailure(x)
			r.drawn = time.Time{}
		}
	}
	r.progress(false)
}

// printFailure prints a failed seed: its line, its violations, its bundle
// and the commands that replay and shrink it.
func (r *exploreReporter) printFailure(x exploreOutcome) {
	w := r.e.stdout
	res := sim.Result{Violations: x.Violations}
	fmt.Fprintf(w, "%s seed %d: %s  (sim %v, wall %v, fingerprint %s)\n",
		explore.Name(x.Seed), x.Seed, res.Summary(), x.Sim, roundWall(x.Wall), short(x.Fingerprint))
	writeViolations(w, x.Violations, violationsShownMax)
	if x.Bundle != "" && x.BundleErr == "" {
		fmt.Fprintf(w, "  bundle: %s\n", x.Bundle)
		fmt.Fprintf(w, "  replay: %s\n", r.rerun(x))
		fmt.Fprintf(w, "  shrink: revoada shrink %s\n", shellQuote(x.Bundle))
		return
	}
	fmt.Fprintf(w, "  rerun: %s\n", r.rerun(x))
}

// finish prints the summary and returns the exit status, as sim's: 1 if a
// seed failed, else 130 if not every seed ran.
func (r *exploreReporter) finish() int {
	r.clearProgress()
	elapsed := time.Since(r.start)
	interrupted := uint64(r.runs) < r.o.seeds.count()
	if interrupted {
		fmt.Fprintf(r.e.stderr, "revoada: interrupted after %d of %d runs\n", r.runs, r.o.seeds.count())
	}
	cov := jsonReport{Coverage: map[string]int{}, Never: []string{}}.withCoverage(r.cover)
	if r.o.json {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		err := enc.Encode(exploreJSON{Runs: r.runs, Failed: r.failed, Interrupted: interrupted,
			SimSeconds: r.sim.Seconds(), WallSeconds: elapsed.Seconds(), Speedup: speedup(r.sim, elapsed),
			Failures: r.failures, Coverage: cov.Coverage, Never: cov.Never})
		if err != nil {
			panic(fmt.Sprintf("revoada: encoding the JSON report: %v", err))
		}
		r.e.stdout.Write(buf.Bytes())
	} else {
		fmt.Fprintf(r.e.stdout, "runs %d, failed %d, sim %.1fs, wall %.1fs, speed-up %s (%d worker processes)\n",
			r.runs, r.failed, r.sim.Seconds(), elapsed.Seconds(), speedupText(r.sim, elapsed), r.o.parallel)
		declared := sim.CoveragePoints()
		fmt.Fprintf(r.e.stdout, "coverage: %d of %d declared rare paths reached", len(declared)-len(cov.Never), len(declared))
		if len(cov.Never) > 0 {
			fmt.Fprintf(r.e.stdout, "; never: %s", strings.Join(cov.Never, "; "))
		}
		fmt.Fprintln(r.e.stdout)
	}
	switch {
	case r.failed > 0 || r.bundleErrs > 0:
		return exitFailed
	case interrupted:
		return exitInterrupted
	}
	return exitOK
}

// progress redraws the progress line on stderr when it is a terminal.
func (r *exploreReporter) progress(force bool) {
	if !r.live || !redrawDue(&r.drawn, force, r.runs, r.o.seeds.count()) {
		return
	}
	fmt.Fprintf(r.e.stderr, "\rexplore: %d/%d seeds, %d failed, sim %s\x1b[K", r.runs, r.o.seeds.count(), r.failed,
		strconv.FormatFloat(r.sim.Seconds(), 'f', 0, 64)+"s")
}

func (r *exploreReporter) clearProgress() {
	if r.live {
		fmt.Fprint(r.e.stderr, "\r\x1b[K")
	}
}
