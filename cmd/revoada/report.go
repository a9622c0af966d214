package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"revoada.dev/revoada/core/cover"
	"revoada.dev/revoada/sim"
)

// Limits of the text report.
const (
	violationsShownMax = 10                     // per failed run in sim; replay shows all
	fingerprintShort   = 16                     // hex digits of the fingerprint in a run line
	progressEvery      = 100 * time.Millisecond // least wall time between progress redraws
)

// reporter prints the runs of one sim or replay invocation as they finish,
// and a summary at the end: as text, or as one JSON object on stdout. It is
// used from one goroutine.
//
// Text: with a single seed every run is printed; with several only the
// failed ones, a summary line follows, and if stderr is a terminal a progress
// line there is redrawn in place ("\r").
type reporter struct {
	e        *env
	o        runOptions
	scenario string  // the plan's name
	asked    float64 // the plan's workload rate, 0 without random clients
	live     bool    // draw progress on stderr

	runs, failed int
	sim          time.Duration
	ops          int             // workload operations issued
	late         int             // of those, issued late (sim.Stats.OpsLate)
	start        time.Time       // the sweep's wall time is elapsed, not summed: worker processes overlap
	restored     []time.Duration // runs that recovered from a crash: how long it took
	never        int             // runs with a crash that never recovered
	results      []jsonResult    // only with o.json
	cover        cover.Counts    // rare paths reached, over every run
	drawn        time.Time       // when the progress line was last drawn
}

func newReporter(e *env, o runOptions, plan *sim.Plan) *reporter {
	r := &reporter{e: e, o: o, scenario: plan.Name, live: e.live && o.seeds.count() > 1, cover: cover.Counts{}, start: time.Now()}
	if w := plan.Workload; w != nil && len(w.Script) == 0 {
		r.asked = w.Rate
	}
	if o.json {
		r.results = []jsonResult{}
	}
	r.progress(true)
	return r
}

// add reports one finished run.
func (r *reporter) add(rec record) {
	r.runs++
	r.cover.Add(rec.res.Coverage)
	r.sim += rec.res.SimTime
	r.ops += rec.res.Stats.Ops
	r.late += rec.res.Stats.OpsLate
	if !rec.res.OK() {
		r.failed++
	}
	switch d := rec.res.Stats.Restored; {
	case d > 0:
		r.restored = append(r.restored, d)
	case d < 0:
		r.never++
	}
	switch {
	case r.o.json:
		j := newJSONResult(rec.res, r.o.scenario, r.o.plant)
		j.Bundle, j.Report = rec.bundle, rec.report
		if rec.bundle != "" {
			j.Replay = "revoada replay " + shellQuote(rec.bundle)
		}
		r.results = append(r.results, j)
	case r.o.seeds.count() == 1 || !rec.res.OK():
		r.clearProgress()
		r.printRun(rec)
		r.drawn = time.Time{}
	}
	r.progress(false)
}

// finish prints the summary and returns the exit status: exitFailed if any
// run failed, else exitInterrupted if not every seed ran, else exitOK.
func (r *reporter) finish() int {
	r.clearProgress()
	interrupted := uint64(r.runs) < r.o.seeds.count()
	if interrupted {
		fmt.Fprintf(r.e.stderr, "revoada: interrupted after %d of %d runs\n", r.runs, r.o.seeds.count())
	}
	switch {
	case r.o.json:
		r.writeJSON(interrupted)
	case r.o.seeds.count() > 1:
		wall := time.Since(r.start)
		fmt.Fprintf(r.e.stdout, "runs %d, failed %d, sim %.1fs, wall %.1fs, speed-up %s\n",
			r.runs, r.failed, r.sim.Seconds(), wall.Seconds(), speedupText(r.sim, wall))
		r.printWorkload()
		if d := r.recovery(); d != nil {
			fmt.Fprintf(r.e.stdout, "restored after the first crash: p50 %.2fs, p99 %.2fs, max %.2fs over %d runs, %d never\n",
				d.P50, d.P99, d.Max, len(r.restored), r.never)
		}
		declared := sim.CoveragePoints()
		never := r.cover.Missing(declared)
		fmt.Fprintf(r.e.stdout, "coverage: %d of %d declared rare paths reached", len(declared)-len(never), len(declared))
		if len(never) > 0 {
			fmt.Fprintf(r.e.stdout, "; never: %s", joinPoints(never))
		}
		fmt.Fprintln(r.e.stdout)
	}
	switch {
	case r.failed > 0:
		return exitFailed
	case interrupted:
		return exitInterrupted
	}
	return exitOK
}

// workloadStats is what a workload's clients issued over every run.
type workloadStats struct {
	Asked     float64 `json:"asked_per_second"`
	Issued    float64 `json:"issued_per_second"`
	Late      int     `json:"late"`      // operations issued late (sim.Stats.OpsLate)
	Saturated bool    `json:"saturated"` // the clients could not keep up (sim.Saturated)
}

// workload is what the clients issued over every run; nil without random
// clients or simulated time.
func (r *reporter) workload() *workloadStats {
	if r.asked == 0 || r.sim <= 0 {
		return nil
	}
	rate := float64(r.ops) / r.sim.Seconds()
	return &workloadStats{Asked: r.asked, Issued: rate, Late: r.late, Saturated: sim.Saturated(r.asked, rate, r.ops, r.late)}
}

// printWorkload prints the rate the workload's clients issued operations
// at, over every run, against the rate the plan asks for, and says when
// they could not keep up.
func (r *reporter) printWorkload() {
	w := r.workload()
	if w == nil {
		return
	}
	fmt.Fprintf(r.e.stdout, "workload: %.1f operations/s issued of the %g/s asked", w.Issued, w.Asked)
	if w.Saturated {
		fmt.Fprintf(r.e.stdout, "; %.0f%% of them late: the clients could not keep up (operations outlasting their pauses: add clients, or lower the rate)", 100*float64(w.Late)/float64(r.ops))
	}
	fmt.Fprintln(r.e.stdout)
}

// printRun prints one run: its line, then, if it failed, its violations and
// (in sim) the command that replays it; replay ends with the full
// fingerprint.
func (r *reporter) printRun(rec record) {
	w, res := r.e.stdout, rec.res
	fmt.Fprintf(w, "%s seed %d: %s  (sim %v, wall %v, speed-up %s, fingerprint %s)\n",
		r.scenario, res.Seed, res.Summary(), res.SimTime, roundWall(rec.wall),
		speedupText(res.SimTime, rec.wall), short(res.Fingerprint))
	limit := violationsShownMax
	if r.o.replay {
		limit = len(res.Violations)
	}
	writeViolations(w, res.Violations, limit)
	if rec.report != "" {
		fmt.Fprintf(w, "  report: %s\n", rec.report)
	}
	switch {
	case r.o.replay:
		fmt.Fprintf(w, "fingerprint: %s\n", res.Fingerprint)
	case rec.bundle != "":
		fmt.Fprintf(w, "  bundle: %s\n", rec.bundle)
		fmt.Fprintf(w, "  replay: revoada replay %s\n", shellQuote(rec.bundle))
		fmt.Fprintf(w, "  shrink: revoada shrink %s\n", shellQuote(rec.bundle))
	case !res.OK():
		fmt.Fprintf(w, "  replay: %s\n", replayCommand(r.o.scenario, res.Seed, r.o.plant))
	}
}

// writeViolations prints the first limit violations, indented, and how many
// more there are.
func writeViolations(w io.Writer, vs []sim.Violation, limit int) {
	for _, v := range vs[:min(limit, len(vs))] {
		fmt.Fprintf(w, "    %s\n", strings.ReplaceAll(v.String(), "\n", "\n      "))
	}
	if more := len(vs) - limit; more > 0 {
		fmt.Fprintf(w, "    … and %d more (replay shows every one)\n", more)
	}
}

// progress redraws the progress line on stderr when live, at most every
// progressEvery unless force is set or the last run is done.
func (r *reporter) progress(force bool) {
	if !r.live || !redrawDue(&r.drawn, force, r.runs, r.o.seeds.count()) {
		return
	}
	fmt.Fprintf(r.e.stderr, "\r%s: %d/%d runs, %d failed", r.scenario, r.runs, r.o.seeds.count(), r.failed)
	if r.runs > 0 {
		fmt.Fprintf(r.e.stderr, ", speed-up %s", speedupText(r.sim, time.Since(r.start)))
	}
	fmt.Fprint(r.e.stderr, "\x1b[K")
}

// redrawDue reports whether a progress line is due — forced, the last run
// done, or progressEvery since *drawn — and if so notes the time in drawn.
func redrawDue(drawn *time.Time, force bool, runs int, total uint64) bool {
	now := time.Now()
	if !force && now.Sub(*drawn) < progressEvery && uint64(runs) < total {
		return false
	}
	*drawn = now
	return true
}

// clearProgress erases the progress line, if one is drawn.
func (r *reporter) clearProgress() {
	if r.live {
		fmt.Fprint(r.e.stderr, "\r\x1b[K")
	}
}

func joinPoints(ps []cover.Point) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = string(p)
	}
	return strings.Join(s, "; ")
}

// replayCommand is the command line that reruns scenario (as given) with
// seed.
func replayCommand(scenario string, seed uint64, plant string) string {
	cmd := fmt.Sprintf("revoada replay --scenario %s --seed %d", shellQuote(scenario), seed)
	if plant != "" {
		cmd += " --plant " + shellQuote(plant)
	}
	return cmd
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./:@%+=,-]+$`)

// shellQuote quotes s for a POSIX shell when it needs quoting.
func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// short is the first fingerprintShort hex digits of a fingerprint.
func short(fp string) string { return fp[:min(fingerprintShort, len(fp))] }

// roundWall rounds a wall time for reading: to the millisecond from one
// millisecond up, else to the microsecond.
func roundWall(d time.Duration) time.Duration {
	if d >= time.Millisecond {
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Microsecond)
}

// speedup is simulated over wall time, or 0 when no wall time passed (JSON
// cannot hold an infinity).
func speedup(simTime, wall time.Duration) float64 {
	if wall <= 0 {
		return 0
	}
	return simTime.Seconds() / wall.Seconds()
}

func speedupText(simTime, wall time.Duration) string {
	return fmt.Sprintf("%.1f×", speedup(simTime, wall))
}

// recoveryStats is the distribution of Stats.Restored over the runs, in
// seconds; nil when no run crashed a node.
type recoveryStats struct {
	P50   float64 `json:"p50"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
	Never int     `json:"never"`
}

func (r *reporter) recovery() *recoveryStats {
	if len(r.restored) == 0 && r.never == 0 {
		return nil
	}
	d := slices.Sorted(slices.Values(r.restored))
	at := func(q float64) float64 {
		if len(d) == 0 {
			return 0
		}
		return d[min(len(d)-1, int(q*float64(len(d))))].Seconds()
	}
	return &recoveryStats{P50: at(0.5), P99: at(0.99), Max: at(1), Never: r.never}
}

// jsonReport is the object sim --json and replay --json print.
type jsonReport struct {
	Scenario    string  `json:"scenario"`
	Runs        int     `json:"runs"`
	Failed      int     `json:"failed"`
	Interrupted bool    `json:"interrupted,omitempty"`
	SimSeconds  float64 `json:"sim_seconds"`
	WallSeconds float64 `json:"wall_seconds"`
	Speedup     float64 `json:"speedup"`
	// Restored is the recovery distribution, when some run crashed a node.
	Restored *recoveryStats `json:"restored,omitempty"`
	// Workload is what the clients issued over every run, with random
	// clients (printWorkload's line).
	Workload *workloadStats `json:"workload,omitempty"`
	Results  []jsonResult   `json:"results"`
	// Coverage counts the declared rare paths reached over every run;
	// Never lists those no run reached.
	Coverage map[string]int `json:"coverage"`
	Never    []string       `json:"never"`
}

// jsonResult is one run in a jsonReport.
type jsonResult struct {
	Seed        uint64  `json:"seed"`
	OK          bool    `json:"ok"`
	Fingerprint string  `json:"fingerprint"`
	SimSeconds  float64 `json:"sim_seconds"`
	// RestoredSeconds: how long after its first crash the mesh had its
	// target control plane again (absent without a crash; -1 never).
	RestoredSeconds float64 `json:"restored_seconds,omitempty"`
	// Ops: the workload operations issued; OpsPerSecond, per simulated second.
	Ops          int     `json:"ops,omitempty"`
	OpsPerSecond float64 `json:"ops_per_second,omitempty"`
	// OpsLate: of those, the ones issued late (sim.Stats.OpsLate).
	OpsLate    int             `json:"ops_late,omitempty"`
	Violations []jsonViolation `json:"violations"`
	Replay     string          `json:"replay,omitempty"` // failed runs: the command that replays it
	Bundle     string          `json:"bundle,omitempty"` // failed runs: the failure bundle's directory
	Report     string          `json:"report,omitempty"` // with --report: the timeline report
}

type jsonViolation struct {
	Property  string  `json:"property"`
	AtSeconds float64 `json:"at_seconds"`
	Node      string  `json:"node"`
	Detail    string  `json:"detail"`
}

// newJSONResult converts res; scenario is the --scenario argument as given.
func newJSONResult(res *sim.Result, scenario, plant string) jsonResult {
	j := jsonResult{
		Seed: res.Seed, OK: res.OK(), Fingerprint: res.Fingerprint,
		SimSeconds: res.SimTime.Seconds(), Violations: make([]jsonViolation, 0, len(res.Violations)),
		RestoredSeconds: res.Stats.Restored.Seconds(), Ops: res.Stats.Ops, OpsPerSecond: res.Stats.OpsPerSecond, OpsLate: res.Stats.OpsLate,
	}
	for _, v := range res.Violations {
		j.Violations = append(j.Violations, jsonViolation{v.Property, v.At.Seconds(), v.Node, v.Detail})
	}
	if !res.OK() {
		j.Replay = replayCommand(scenario, res.Seed, plant)
	}
	return j
}

// withCoverage fills in the coverage fields.
func (j jsonReport) withCoverage(c cover.Counts) jsonReport {
	for _, p := range sim.CoveragePoints() {
		if c[p] > 0 {
			j.Coverage[string(p)] = c[p]
		} else {
			j.Never = append(j.Never, string(p))
		}
	}
	return j
}

// writeJSON prints the report as one JSON object on one line.
func (r *reporter) writeJSON(interrupted bool) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	wall := time.Since(r.start)
	err := enc.Encode(jsonReport{
		Scenario: r.scenario, Runs: r.runs, Failed: r.failed, Interrupted: interrupted,
		SimSeconds: r.sim.Seconds(), WallSeconds: wall.Seconds(), Speedup: speedup(r.sim, wall),
		Restored: r.recovery(), Workload: r.workload(), Results: r.results, Coverage: map[string]int{}, Never: []string{},
	}.withCoverage(r.cover))
	if err != nil { // the report holds only strings and finite numbers
		panic(fmt.Sprintf("revoada: encoding the JSON report: %v", err))
	}
	r.e.stdout.Write(buf.Bytes())
}
