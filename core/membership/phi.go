// This file holds the phi-accrual failure detector.
//
// The detector follows Hayashibara et al., "The φ Accrual Failure Detector"
// (SRDS 2004): instead of a yes/no timeout it reports φ, the suspicion that a
// peer has failed, on a continuous scale. It keeps a bounded window of the
// intervals between a peer's heartbeats, models them as a normal distribution
// N(μ, σ²), and for the time t since the last heartbeat reports
//
//	φ(t) = -log10( P(interval > t) ) = -log10( ½·erfc((t - μ') / (σ'·√2)) )
//
// where μ' = μ + AcceptablePauseTicks (a pause the operator tolerates, as in
// Akka's acceptable-heartbeat-pause) and σ' = max(σ, MinStdDevTicks) (so a
// perfectly regular heartbeat does not make φ jump from 0 to infinity). φ = 1
// means a 10% chance that the peer is merely late, φ = 8 one in 10⁸.
//
// Time is ticks: the detector takes Heartbeat(at) and answers Phi(at), with
// at a tick count; it never reads a clock. Not safe for concurrent use.

package membership

import "math"

// DetectorConfig tunes a Detector. Counts are in ticks.
type DetectorConfig struct {
	WindowMax            int     // intervals kept (a named bound)
	MinStdDevTicks       float64 // floor under σ
	AcceptablePauseTicks float64 // added to μ
	// FirstIntervalTicks seeds the window before the second heartbeat, so a
	// peer heard from once is not suspected at once (Akka does the same).
	FirstIntervalTicks float64
}

// DefaultDetectorConfig: 1000 intervals; with a 100 ms tick, σ ≥ 100 ms and
// a 500 ms pause tolerated; a first interval of 1 s.
func DefaultDetectorConfig() DetectorConfig {
	return DetectorConfig{WindowMax: 1000, MinStdDevTicks: 1, AcceptablePauseTicks: 5, FirstIntervalTicks: 10}
}

// Detector is the phi-accrual detector for one peer.
type Detector struct {
	cfg       DetectorConfig
	intervals []float64 // ring buffer of the last WindowMax intervals
	next      int
	sum, sq   float64 // running sums over intervals
	last      uint64  // tick of the last heartbeat
	heard     bool
}

// NewDetector returns a detector that has heard nothing yet.
func NewDetector(cfg DetectorConfig) *Detector {
	d := newDetector(cfg)
	return &d
}

// newDetector is NewDetector as a value, for a caller that holds it inline.
func newDetector(cfg DetectorConfig) Detector {
	if cfg.WindowMax < 1 {
		cfg.WindowMax = 1
	}
	return Detector{cfg: cfg}
}

// Heartbeat records a heartbeat at tick at. Heartbeats out of order (at
// before the last one) are ignored.
func (d *Detector) Heartbeat(at uint64) {
	switch {
	case !d.heard:
		d.heard = true
		d.add(d.cfg.FirstIntervalTicks)
	case at < d.last:
		return
	default:
		d.add(float64(at - d.last))
	}
	d.last = at
}

func (d *Detector) add(interval float64) {
	if len(d.intervals) < d.cfg.WindowMax {
		d.intervals = append(d.intervals, interval)
	} else {
		old := d.intervals[d.next]
		d.sum -= old
		d.sq -= old * old
		d.intervals[d.next] = interval
		d.next = (d.next + 1) % d.cfg.WindowMax
	}
	d.sum += interval
	d.sq += interval * interval
}

// Stats returns the window's mean and standard deviation, in ticks.
func (d *Detector) Stats() (mean, stddev float64) {
	n := float64(len(d.intervals))
	if n == 0 {
		return 0, 0
	}
	mean = d.sum / n
	variance := d.sq/n - mean*mean
	return mean, math.Sqrt(max(variance, 0))
}

// Phi is the suspicion at tick at; 0 before the first heartbeat (a peer
// never heard from is not suspected by this detector — membership handles
// joining separately).
func (d *Detector) Phi(at uint64) float64 {
	if !d.heard || at <= d.last {
		return 0
	}
	mean, stddev := d.Stats()
	return PhiOf(float64(at-d.last), mean+d.cfg.AcceptablePauseTicks, max(stddev, d.cfg.MinStdDevTicks))
}

// AlarmAt is the first tick at which Phi exceeds threshold if no heartbeat
// comes before; math.MaxUint64 before the first heartbeat. φ only grows with
// the time since the last heartbeat, so a caller can compare ticks with it
// until the next heartbeat instead of computing φ at every tick.
func (d *Detector) AlarmAt(threshold float64) uint64 {
	return d.alarmAt(threshold, alarmQuantile(threshold))
}

// alarmMargin bounds, with a thousandfold to spare, how far in ticks the
// closed form e of the threshold's crossing may be from where φ as PhiOf
// computes it crosses: Erfcinv(x) is Erfinv(1-x), so the tail probability
// 10^-threshold carries an absolute error of about 2⁻⁵³, which moves the
// crossing by that over the normal density there, σ'·√(2π)·exp(q²)·2⁻⁵³;
// rounding e and φ themselves adds far less than 10⁻⁹·(1+e). At threshold 8
// and σ' of one tick that is some 10⁻⁵ ticks; at 16 it exceeds a tick, and
// alarmAt searches instead.
func alarmMargin(e, stddev, q float64) float64 {
	return 1e-9*(1+e) + 1e-12*stddev*math.Exp(q*q)
}

// phiAsymptoticX is where PhiOf turns from erfc to its asymptotic expansion.
const phiAsymptoticX = 20

// alarmQuantile is erfcinv(2·10^-threshold): where φ crosses threshold, in
// standard deviations·√2 past the mean. A caller with a fixed threshold
// computes it once.
func alarmQuantile(threshold float64) float64 { return math.Erfcinv(2 * math.Pow(10, -threshold)) }

// alarmAt is AlarmAt with q = alarmQuantile(threshold).
func (d *Detector) alarmAt(threshold, q float64) uint64 {
	if !d.heard {
		return math.MaxUint64
	}
	mean, stddev := d.Stats()
	mean, stddev = mean+d.cfg.AcceptablePauseTicks, max(stddev, d.cfg.MinStdDevTicks)
	above := func(k uint64) bool { return PhiOf(float64(k), mean, stddev) > threshold }
	// φ(e) = threshold at e = μ' + σ'·√2·erfcinv(2·10^-threshold): start at
	// the whole tick at or below it and settle on the first whole tick past
	// the threshold, so the answer is exactly the one Phi gives. (φ grows
	// with the elapsed ticks, by far more from one tick to the next than
	// float64 rounds it, so the first tick past the threshold is the same
	// from any start; starting at ⌊e⌋ usually settles in two φs.)
	e := mean + stddev*math.Sqrt2*q
	if q < phiAsymptoticX && e >= 1 && e < 1<<52 {
		// Most of the time e is well inside a tick, and that tick's end is
		// the answer without a φ. How well e is known bounds how close to a
		// whole tick it may fall (alarmMargin).
		if f, m := e-math.Floor(e), alarmMargin(e, stddev, q); f > m && f < 1-m {
			return d.last + uint64(e) + 1
		}
	}
	k := uint64(1)
	if e >= 1 && e < 1<<52 {
		k = uint64(e)
	} else if !(e < 1) { // threshold beyond float64's 10^-x: search
		for !above(k) && k < 1<<62 {
			k *= 2
		}
		k /= 2
	}
	// Down while above; then up until above. Each φ is computed once: the
	// way down ends on a k known not above.
	known, isAbove := false, false
	for k > 1 {
		if isAbove = above(k); !isAbove {
			known = true
			break
		}
		k--
	}
	for {
		if !known {
			isAbove = above(k)
		}
		known = false
		if isAbove || k >= 1<<62 {
			return d.last + k
		}
		k++
	}
}

// PhiOf is φ for an elapsed time, given the interval distribution's mean and
// standard deviation: -log10(½·erfc((elapsed-mean)/(stddev·√2))). For very
// large arguments it uses the asymptotic expansion of log(erfc), so φ stays
// finite and increasing instead of overflowing to +Inf.
func PhiOf(elapsed, mean, stddev float64) float64 {
	x := (elapsed - mean) / (stddev * math.Sqrt2)
	if x < phiAsymptoticX {
		return -math.Log10(0.5 * math.Erfc(x))
	}
	// ln erfc(x) ≈ -x² - ln(x·√π) for large x.
	lnErfc := -x*x - math.Log(x*math.SqrtPi)
	return (math.Ln2 - lnErfc) / math.Ln10
}
