package simtest

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"pgregory.net/rapid"

	"revoada.dev/revoada/sim"
)

// Limits of a generated fault plan.
const (
	FaultsMax = 8                // generated faults per plan, on top of the base's own
	ForMax    = 20 * time.Second // longest a generated fault lasts before it is undone
	// WindowMin is the shortest fault window: a base plan too short to
	// leave this much before its judging tail is lengthened.
	WindowMin = 30 * time.Second
	// TailMin is the least time left after the window for the liveness
	// checks; slow networks get more (see tail).
	TailMin = 30 * time.Second
	step    = 100 * time.Millisecond // resolution of generated times
)

// Faults returns a generator of copies of base, each with a generated fault
// plan of up to FaultsMax faults appended to base's own: crashes, pauses,
// partitions (one-way, or of one traffic class, too), rings, loss,
// duplication, clock skew and jitter, slow and lossy links, clogs and
// swizzles, full disks and failing reads, and chaos windows, each undone
// after a For of at most ForMax (a chaos window's last crash within
// sim.ChaosDowntimeMax more), and restarts, resumes and heals, on nodes
// named ("n2") or picked when the fault fires ("leader", "majority", ...),
// at times on a 100ms grid.
//
// Every generated fault is undone by the end of the fault window, so a
// correct mesh has a leader again and every check can judge: the window
// ends at least max(TailMin, the liveness bound plus slack) before the end
// of the run, and Duration is lengthened when base leaves no window of
// WindowMin. Overlapping loss (or duplicate) windows can restore each other's
// rates out of order, so a plan with either kind ends its window by setting
// the rate back to base's network rate; a kind base scripts itself is not
// generated, so that reset never overrides base's faults. Generated undos and
// heals may still end one of base's own faults early.
//
// Every plan drawn passes Validate, and scenarios.Marshal can write it when
// it can write base. The run's seed is drawn apart (Check draws it from
// [0, SeedsMax)). Faults panics if base does not pass Validate.
func Faults(base *sim.Plan) *rapid.Generator[*sim.Plan] {
	w := newWindow(base)
	fault := rapid.Custom(func(t *rapid.T) sim.Fault { return w.fault(rapidSource{t}) })
	return rapid.Custom(func(t *rapid.T) *sim.Plan {
		n := 0
		if w.kinds != nil {
			n = FaultsMax
		}
		return w.plan(rapid.SliceOfN(fault, 0, n).Draw(t, "faults"))
	})
}

// PlanFromBytes turns a fuzzer's input into a copy of base with a generated
// fault plan, as Faults does, and a seed. It reads data front to back: one
// byte for the number of faults (at most FaultsMax), a few bytes per fault,
// then up to 8 bytes of seed; missing bytes read as zero, so a short input
// gives few faults and the empty input none. The same data always gives the
// same plan and seed; the plan always passes Validate. PlanFromBytes panics
// only if base does not pass Validate.
func PlanFromBytes(base *sim.Plan, data []byte) (*sim.Plan, uint64) {
	w := newWindow(base)
	src := &byteSource{data: data}
	var faults []sim.Fault
	if w.kinds != nil {
		for range src.intn("faults", 0, FaultsMax) {
			faults = append(faults, w.fault(src))
		}
	}
	var seed [8]byte
	src.data = src.data[copy(seed[:], src.data):]
	return w.plan(faults), binary.LittleEndian.Uint64(seed[:])
}

// source is where generation draws its choices: rapid's bit stream under
// Check, the fuzzer's bytes under Fuzz.
type source interface {
	intn(label string, lo, hi int) int // a number in [lo, hi]
}

type rapidSource struct{ t *rapid.T }

func (s rapidSource) intn(label string, lo, hi int) int {
	return rapid.IntRange(lo, hi).Draw(s.t, label)
}

// byteSource reads big-endian numbers of as many bytes as the range needs,
// reduced modulo its size; bytes past the end read as zero.
type byteSource struct{ data []byte }

func (s *byteSource) intn(_ string, lo, hi int) int {
	span := uint64(hi-lo) + 1
	var x uint64
	for r := span - 1; r > 0; r >>= 8 {
		x <<= 8
		if len(s.data) > 0 {
			x |= uint64(s.data[0])
			s.data = s.data[1:]
		}
	}
	return lo + int(x%span)
}

// window is where a base plan leaves room for generated faults.
type window struct {
	base     *sim.Plan
	start    time.Duration // no generated fault before: base's last crash of a named node for good
	end      time.Duration // every generated fault is over by end - step
	duration time.Duration // the generated plan's Duration
	kinds    []sim.FaultKind
}

// kinds are the fault kinds generated, in the order a draw indexes them.
var kinds = []sim.FaultKind{sim.Crash, sim.Partition, sim.Pause, sim.Loss, sim.Duplicate,
	sim.ClockSkew, sim.Chaos, sim.Restart, sim.Resume, sim.Heal, sim.Ring, sim.LinkFault, sim.Clog, sim.Swizzle, sim.Disk}

var traffics = []sim.Traffic{"", sim.RaftTraffic, sim.GossipTraffic, sim.RequestTraffic}

var dynamic = []sim.Selector{"leader", "random-voter", "random-worker", "random", "minority", "majority"}

func newWindow(base *sim.Plan) window {
	if err := base.Validate(); err != nil {
		panic(fmt.Sprintf("simtest: base plan %q: %v", base.Name, err))
	}
	base = withDamperBounds(base)
	t := tail(base)
	start := lastNamedKill(base)
	w := window{base: base, start: start, end: max(base.Duration-t, start+WindowMin)}
	w.duration = max(base.Duration, w.end+t)
	if w.duration > sim.DurationMax {
		return window{base: base, duration: base.Duration} // a network too slow to judge in a day: no faults
	}
	scripted := map[sim.FaultKind]bool{}
	for _, f := range base.Faults {
		scripted[f.Kind] = true
	}
	for _, k := range kinds {
		if !(scripted[k] && (k == sim.Loss || k == sim.Duplicate)) {
			w.kinds = append(w.kinds, k)
		}
	}
	return w
}

// lastNamedKill is when base crashes a node it names ("n2", not "leader")
// for good, the last time it does; zero if it never does. Generated faults
// start then, as the explorer's do: a fault before it can make the policy
// shift roles early (a voter cut off past the grace is replaced), and the
// named crashes then strike a shape the base was not written for — in
// phalanx-10-to-5, a worker the policy made a voter at 6 s is one of the
// five nodes crashed at 20 s, and the crashes take a majority of the
// voters. A dynamic selector picks its node when the fault fires, so it
// needs no such care.
func lastNamedKill(base *sim.Plan) time.Duration {
	var at time.Duration
	for _, f := range base.Faults {
		if f.Kind == sim.Crash && f.For == 0 && !slices.Contains(dynamic, f.Target) {
			at = max(at, f.At)
		}
	}
	return at
}

// withDamperBounds returns base, or when base has a target and operator
// commands, a copy whose convergence bounds (Converge and Liveness.Shape)
// are longer by the damper, and so is its Duration. A generated fault can make the policy shift a
// node early — a voter cut off past the grace is replaced and demoted — and
// an operator's command still retrying then gives that node a role back (a
// promote that was a no-op on the base plan's voter). Scaling that excess
// down is not a recovery, so the damper rightly holds it for up to its
// length after the policy's shift: a bound written for the base's own faults
// does not cover it. Found by TestSelfHealingUnderGeneratedFaults over
// self-heal-leader-kill (plan 865 of 1,000: converged at 66.9 s, the damper
// of the node demoted at 6.2 s ending at 66.2 s).
func withDamperBounds(base *sim.Plan) *sim.Plan {
	if base.Target == "" || len(base.Commands) == 0 {
		return base
	}
	p := *base
	d := p.Policy.DamperOrDefault()
	p.Duration += d // the base's own faults keep their slack to be judged
	if c := p.Expect.Converge; c != nil {
		longer := *c
		longer.Within += d
		p.Expect.Converge = &longer
	}
	if sh := p.Expect.Liveness.Shape; sh != nil {
		longer := *sh
		longer.Within += d
		p.Expect.Liveness.Shape = &longer
	}
	return &p
}

// tail is the time left after the fault window: the simulator's
// leader-after-heal bound (ten election timeouts, the timeout stretched to
// five round trips on a slow network; sim's leaderWithin) and time for the
// last entries to apply everywhere, or the plan's convergence and liveness
// bounds if longer (a plan that ends before they can judge is invalid:
// sim.ShortRunError), and never less than TailMin.
func tail(p *sim.Plan) time.Duration {
	rtt := 2 * p.Network.Slowest()
	ticks := max(sim.ElectionTicks, int((5*rtt+sim.TickInterval-1)/sim.TickInterval))
	t := max(TailMin, 10*time.Duration(ticks)*sim.TickInterval+3*sim.SettleTime)
	if c := p.Expect.Converge; c != nil {
		t = max(t, c.Within)
	}
	if sh := p.Expect.Liveness.Shape; sh != nil {
		t = max(t, sh.Within)
	}
	return max(t, time.Duration(p.Expect.Liveness.Membership)*2*sim.TickInterval)
}

// fault draws one fault that is over (undone, and a chaos window's last
// crash restarted) by w.end - step.
func (w window) fault(src source) sim.Fault {
	f := sim.Fault{Kind: w.kinds[src.intn("kind", 0, len(w.kinds)-1)]}
	last := w.end - step // latest end of a generated fault
	switch f.Kind {
	case sim.Restart, sim.Resume, sim.Heal:
		f.At = w.time(src, "at", w.start, last)
	case sim.Chaos:
		f.At = w.time(src, "at", w.start, last-sim.ChaosDowntimeMax-time.Second)
		f.For = w.time(src, "for", time.Second, min(ForMax, last-sim.ChaosDowntimeMax-f.At))
	default:
		f.At = w.time(src, "at", w.start, last-step)
		f.For = w.time(src, "for", step, min(ForMax, last-f.At))
	}
	switch f.Kind {
	case sim.Crash, sim.Pause, sim.Restart, sim.Resume:
		f.Target = w.selector(src)
	case sim.Partition:
		named := map[sim.Selector]bool{} // a node named twice would sit in two groups
		for range src.intn("groups", 1, 2) {
			var g []sim.Selector
			for range src.intn("group", 1, 3) {
				s := w.selector(src)
				if s == "leader" || !slices.Contains(dynamic, s) {
					if named[s] {
						continue
					}
					named[s] = true
				}
				g = append(g, s)
			}
			if len(g) > 0 {
				f.Groups = append(f.Groups, g)
			}
		}
		f.OneWay = src.intn("oneway", 0, 1) == 1
		f.Traffic = traffics[src.intn("traffic", 0, len(traffics)-1)]
	case sim.Ring:
		f.Traffic = traffics[src.intn("traffic", 0, len(traffics)-1)]
	case sim.LinkFault:
		lo := time.Duration(src.intn("latency", 1, 300)) * time.Millisecond
		f.Link = &sim.Link{From: []sim.Selector{w.selector(src)}, LatencyMin: lo, LatencyMax: lo + time.Duration(src.intn("spread", 0, 300))*time.Millisecond,
			Distribution: distributions[src.intn("distribution", 0, len(distributions)-1)], Loss: float64(src.intn("loss", 0, 50)) / 100}
	case sim.Clog:
		f.Target = w.selector(src)
	case sim.Swizzle:
		if i := src.intn("swizzle", 0, len(dynamic)+w.base.Nodes); i > 0 {
			f.Target = w.selectorAt(i - 1)
		}
	case sim.Disk:
		f.Target = w.selector(src)
		f.Mode = sim.DiskFull
		if src.intn("mode", 0, 1) == 1 {
			f.Mode, f.Rate = sim.DiskReadErrors, float64(src.intn("rate", 1, 10))/10
		}
	case sim.Loss, sim.Duplicate:
		f.Rate = float64(src.intn("rate", 1, 50)) / 100
	case sim.Chaos:
		f.Rate = float64(src.intn("rate", 1, 20)) / 100 // crashes per node per second
	case sim.ClockSkew:
		f.Target = w.selector(src)
		f.Rate = float64(src.intn("rate", 1, 40)) / 10 // 0.1x to 4x
		f.Jitter = float64(src.intn("jitter", 0, 5)) / 10
	}
	return f
}

var distributions = []sim.Distribution{sim.Uniform, sim.Normal, sim.Pareto}

// time draws a multiple of step in [lo, hi], or lo if hi < lo.
func (w window) time(src source, label string, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(src.intn(label, 0, int(max(0, hi-lo)/step)))*step
}

func (w window) selector(src source) sim.Selector {
	return w.selectorAt(src.intn("selector", 0, len(dynamic)+w.base.Nodes-1))
}

// selectorAt is the i-th selector: the dynamic ones, then n1, n2, ...
func (w window) selectorAt(i int) sim.Selector {
	if i < len(dynamic) {
		return dynamic[i]
	}
	return sim.Selector(fmt.Sprintf("n%d", i-len(dynamic)+1))
}

// plan is a copy of the base plan with the generated faults, sorted by time,
// after its own, and a reset of any loss or duplicate rate at w.end. The
// copy has a Faults slice of its own and shares the rest (commands,
// workload, expectations), which neither simtest nor sim modifies.
func (w window) plan(faults []sim.Fault) *sim.Plan {
	p := *w.base
	p.Duration = w.duration
	faults = slices.Clone(faults)
	slices.SortStableFunc(faults, func(a, b sim.Fault) int { return cmp.Compare(a.At, b.At) })
	p.Faults = append(slices.Clone(p.Faults), faults...)
	for _, reset := range []sim.Fault{
		{At: w.end, Kind: sim.Loss, Rate: w.base.Network.Loss},
		{At: w.end, Kind: sim.Duplicate, Rate: w.base.Network.Duplicate},
	} {
		if slices.ContainsFunc(faults, func(f sim.Fault) bool { return f.Kind == reset.Kind }) {
			p.Faults = append(p.Faults, reset)
		}
	}
	return &p
}
