// Package shrink minimises a failing simulation into a small scenario that
// still fails the same way.
//
// It starts from the run's materialized plan (sim.Result.Materialized):
// every dynamic selector resolved to the node it picked, every chaos crash
// an explicit crash, the workload a script of the operations the clients
// issued. Then, while the same property is still violated, it cuts the plan
// after the first violation, deletes faults, role commands and operations
// (delta debugging over each list), drops whole clients, shortens fault
// durations and the run, and lowers network delays, loss and duplication.
// Every candidate is run with the same planted bugs under the run's seed
// and seed 1 (the CLI's default), and must fail under both, so the result is
// a plan with explicit faults and operations that fails without the
// randomness that found it and without naming a seed. When the
// materialized plan fails under the run's seed alone, the shrink keeps to
// that seed.
//
// A candidate counts only if it is a valid plan (sim.Plan.Validate): a run
// that ends before its liveness monitors or convergence could judge is
// refused there (sim.ShortRunError), so shortening a run can never turn a
// real liveness failure into a could-not-judge one. A shortened run is
// instead stretched to the least duration that still judges. Dropping the
// whole workload drops the expectations only a workload has (progress).
package shrink

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"revoada.dev/revoada/sim"
)

// Options bound a shrink.
type Options struct {
	// Runs is the most candidate runs to try (default 3000). A shrink is
	// deterministic: the same input and budget give the same output.
	Runs int
	// Progress, if set, is called after each accepted step.
	Progress func(step string, events int)
	// Seeds are the seeds besides the run's own that every candidate must
	// fail under; nil means seed 1, the CLI's default.
	Seeds []uint64
}

// Outcome is a shrink's result.
type Outcome struct {
	Plan      *sim.Plan
	Property  string // the violated property it preserved
	Violation sim.Violation
	Before    int // fault, command and operation events of the failing run
	After     int // the same, in the shrunk plan
	Runs      int // candidate runs tried
	Steps     []string
	Seeds     []uint64 // the seeds the shrunk plan fails under
}

// ErrPasses is returned for a run that does not fail.
var ErrPasses = errors.New("shrink: the run passes; nothing to shrink")

// Events counts a plan's fault, command and operation events.
func Events(p *sim.Plan) int {
	n := len(p.Faults) + len(p.Commands)
	for _, c := range p.Commands {
		n += len(c.With)
	}
	if p.Workload != nil {
		n += len(p.Workload.Script)
	}
	return n
}

type shrinker struct {
	seeds  []uint64
	hooks  sim.Hooks
	prop   string
	opts   Options
	runs   int
	best   *sim.Plan
	last   sim.Violation
	out    *Outcome
	events int
}

// Shrink minimises the plan's failing run under the seed and hooks,
// keeping the first violated property.
func Shrink(p *sim.Plan, seed uint64, hooks sim.Hooks, opts Options) (*Outcome, error) {
	if opts.Runs == 0 {
		opts.Runs = 3000
	}
	first := sim.Run(p, seed, sim.Options{Hooks: hooks, Choices: true})
	if first.OK() {
		return nil, ErrPasses
	}
	if first.Violated(sim.PropInvalidPlan) {
		return nil, fmt.Errorf("shrink: %s: %s", p.Name, first.Violations[0].Detail)
	}
	extra := opts.Seeds
	if extra == nil {
		extra = []uint64{1}
	}
	s := &shrinker{seeds: []uint64{seed}, hooks: hooks, prop: first.Violations[0].Property, opts: opts, last: first.Violations[0]}
	for _, x := range extra {
		if !slices.Contains(s.seeds, x) {
			s.seeds = append(s.seeds, x)
		}
	}
	m := first.Materialized
	s.out = &Outcome{Property: s.prop, Before: Events(m)}
	switch {
	case s.fails(m):
		s.accept(m, "materialize")
	case s.retreat() && s.fails(m):
		s.accept(m, "materialize (under the run's seed only)")
	case s.fails(p):
		s.best = p // the random plan fails, its materialized replay does not: shrink it as it is
	default:
		return nil, fmt.Errorf("shrink: %s seed %d: the failure (%s) does not repeat: a determinism bug", p.Name, seed, s.prop)
	}
	for s.runs < opts.Runs {
		before := s.runs
		size := s.size()
		s.truncate()
		s.lists()
		s.clients()
		s.durations()
		s.network()
		if s.size() == size || s.runs == before {
			break
		}
	}
	s.out.Plan, s.out.After, s.out.Runs, s.out.Violation, s.out.Seeds = s.best, Events(s.best), s.runs, s.last, s.seeds
	return s.out, nil
}

// retreat keeps to the run's own seed; it reports whether there were others.
func (s *shrinker) retreat() bool {
	more := len(s.seeds) > 1
	s.seeds = s.seeds[:1]
	return more
}

// size orders plans: events first, then simulated time, then delay.
func (s *shrinker) size() [3]int64 {
	return [3]int64{int64(Events(s.best)), int64(s.best.Duration), int64(s.best.Network.LatencyMax)}
}

// fails runs a candidate and reports whether it violates the property.
func (s *shrinker) fails(p *sim.Plan) bool {
	if s.runs >= s.opts.Runs || p.Validate() != nil {
		return false
	}
	var last sim.Violation
	for _, seed := range s.seeds {
		s.runs++
		r := sim.Run(p, seed, sim.Options{Hooks: s.hooks})
		if !r.Violated(s.prop) {
			return false
		}
		if last.Property == "" {
			last = r.Violations[slices.IndexFunc(r.Violations, func(v sim.Violation) bool { return v.Property == s.prop })]
		}
	}
	s.last = last
	return true
}

func (s *shrinker) accept(p *sim.Plan, step string) {
	s.best = p
	s.out.Steps = append(s.out.Steps, fmt.Sprintf("%s: %d events, %v", step, Events(p), p.Duration))
	if s.opts.Progress != nil {
		s.opts.Progress(step, Events(p))
	}
}

// try accepts a candidate that still fails.
func (s *shrinker) try(p *sim.Plan, step string) bool {
	if s.fails(p) {
		s.accept(p, step)
		return true
	}
	return false
}

// clone copies a plan deep enough for the shrinker's edits.
func clone(p *sim.Plan) *sim.Plan {
	q := *p
	q.Faults = slices.Clone(p.Faults)
	q.Commands = slices.Clone(p.Commands)
	if p.Workload != nil {
		w := *p.Workload
		w.Script = slices.Clone(p.Workload.Script)
		q.Workload = &w
	}
	return &q
}

// truncate drops everything after the violation, and ends the run a
// little after it.
func (s *shrinker) truncate() {
	cut := s.last.At + time.Millisecond
	q := clone(s.best)
	q.Faults = slices.DeleteFunc(q.Faults, func(f sim.Fault) bool { return f.At > cut })
	q.Commands = slices.DeleteFunc(q.Commands, func(c sim.Command) bool { return c.At > cut })
	if w := q.Workload; w != nil {
		w.Script = slices.DeleteFunc(w.Script, func(op sim.ScriptOp) bool { return op.At > cut })
		if len(w.Script) == 0 {
			dropWorkload(q)
		}
	}
	if Events(q) < Events(s.best) {
		s.try(q, "cut after the violation")
	}
}

// lists deletes faults, commands and operations by delta debugging.
func (s *shrinker) lists() {
	with := func(edit func(q *sim.Plan)) *sim.Plan {
		q := clone(s.best)
		edit(q)
		return q
	}
	s.best.Faults = ddmin(s.best.Faults, func(fs []sim.Fault) bool {
		return s.try(with(func(q *sim.Plan) { q.Faults = fs }), "delete faults")
	})
	s.best.Commands = ddmin(s.best.Commands, func(cs []sim.Command) bool {
		return s.try(with(func(q *sim.Plan) { q.Commands = cs }), "delete commands")
	})
	if s.best.Workload == nil {
		return
	}
	script := ddmin(s.best.Workload.Script, func(ops []sim.ScriptOp) bool {
		return s.try(with(func(q *sim.Plan) {
			q.Workload.Script = ops
			if len(ops) == 0 {
				dropWorkload(q)
			}
		}), "delete operations")
	})
	if s.best.Workload != nil {
		s.best.Workload.Script = script
	}
}

// clients drops every operation of one client at a time.
func (s *shrinker) clients() {
	if s.best.Workload == nil {
		return
	}
	var ids []int
	for _, op := range s.best.Workload.Script {
		if !slices.Contains(ids, op.Client) {
			ids = append(ids, op.Client)
		}
	}
	for _, id := range ids {
		if s.best.Workload == nil {
			return
		}
		q := clone(s.best)
		q.Workload.Script = slices.DeleteFunc(q.Workload.Script, func(op sim.ScriptOp) bool { return op.Client == id })
		if len(q.Workload.Script) == 0 {
			dropWorkload(q)
		}
		s.try(q, fmt.Sprintf("drop client %d", id))
	}
}

// dropWorkload removes the workload and the expectations that only a
// workload has: a progress share of no operations is an invalid plan.
func dropWorkload(q *sim.Plan) {
	q.Workload = nil
	q.Expect.Progress = 0
}

// judgeable stretches a shortened run to the least whole second that its
// monitors and convergence can still judge (sim.ShortRunError), so the
// shrink tries the shortest valid run rather than an invalid one.
func judgeable(q *sim.Plan) *sim.Plan {
	var short *sim.ShortRunError
	for range 4 { // one stretch per kind of check, at most
		if !errors.As(q.Validate(), &short) {
			break
		}
		q.Duration = (short.From + short.Need + time.Second - 1).Truncate(time.Second)
	}
	return q
}

// durations halves each fault's For and then the run's length.
func (s *shrinker) durations() {
	for i := range s.best.Faults {
		for s.best.Faults[i].For > time.Second {
			q := clone(s.best)
			q.Faults[i].For = (q.Faults[i].For / 2).Round(time.Millisecond)
			if !s.try(q, "shorten a fault") {
				break
			}
		}
	}
	last := latest(s.best)
	for {
		d := (s.best.Duration / 2).Round(time.Second)
		if d <= last || d == s.best.Duration {
			break
		}
		q := clone(s.best)
		q.Duration = d
		if q = judgeable(q); q.Duration >= s.best.Duration || !s.try(q, "halve the run") {
			break
		}
	}
	if d := (last + time.Second).Round(time.Second); d < s.best.Duration {
		q := clone(s.best)
		q.Duration = d
		if q = judgeable(q); q.Duration < s.best.Duration {
			s.try(q, "end the run after the last event")
		}
	}
}

// latest is the time of a plan's last fault, command or operation.
func latest(p *sim.Plan) time.Duration {
	var t time.Duration
	for _, f := range p.Faults {
		t = max(t, f.At)
	}
	for _, c := range p.Commands {
		t = max(t, c.At)
	}
	if p.Workload != nil {
		for _, op := range p.Workload.Script {
			t = max(t, op.At)
		}
	}
	return t
}

// network lowers loss and duplication to zero if it can, and halves the
// latency range.
func (s *shrinker) network() {
	for _, edit := range []struct {
		step string
		f    func(n *sim.Network) bool
	}{
		{"no loss", func(n *sim.Network) bool { ok := n.Loss > 0; n.Loss = 0; return ok }},
		{"no duplication", func(n *sim.Network) bool { ok := n.Duplicate > 0; n.Duplicate = 0; return ok }},
	} {
		q := clone(s.best)
		if edit.f(&q.Network) {
			s.try(q, edit.step)
		}
	}
	for s.best.Network.LatencyMax > time.Millisecond {
		q := clone(s.best)
		q.Network.LatencyMax = (q.Network.LatencyMax / 2).Round(time.Microsecond)
		q.Network.LatencyMin = min(q.Network.LatencyMin, q.Network.LatencyMax)
		if !s.try(q, "halve the delays") {
			break
		}
	}
}

// ddmin is delta debugging's minimisation: it removes ever smaller chunks
// of items while fails (which accepts the candidate it is given) still
// holds, and returns what is left.
func ddmin[T any](items []T, fails func([]T) bool) []T {
	n := 2
	for len(items) > 0 {
		chunk := (len(items) + n - 1) / n
		removed := false
		for i := 0; i < len(items); i += chunk {
			cand := slices.Concat(items[:i], items[min(i+chunk, len(items)):])
			if fails(cand) {
				items, removed = cand, true
				n = max(n-1, 2)
				break
			}
		}
		if !removed {
			if chunk == 1 {
				break
			}
			n = min(2*n, len(items))
		}
	}
	return items
}
