package membership

import (
	"math"
	"testing"

	"pgregory.net/rapid"
)

// TestPhiAgainstFormula: over random heartbeat histories, the detector's φ
// is the formula computed from a naive mean and standard deviation of the
// last WindowMax intervals.
func TestPhiAgainstFormula(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg := drawDetectorConfig(t)
		d := NewDetector(cfg)
		at := uint64(rapid.IntRange(0, 100).Draw(t, "start"))
		d.Heartbeat(at)
		intervals := []float64{cfg.FirstIntervalTicks}
		for _, gap := range rapid.SliceOfN(rapid.IntRange(0, 40), 0, 50).Draw(t, "gaps") {
			at += uint64(gap)
			d.Heartbeat(at)
			intervals = append(intervals, float64(gap))
		}
		window := intervals[max(0, len(intervals)-cfg.WindowMax):]
		var mean, sq float64
		for _, v := range window {
			mean += v
		}
		mean /= float64(len(window))
		for _, v := range window {
			sq += (v - mean) * (v - mean)
		}
		sd := math.Sqrt(sq / float64(len(window)))
		gotMean, gotSD := d.Stats()
		if math.Abs(gotMean-mean) > 1e-6 || math.Abs(gotSD-sd) > 1e-4 {
			t.Fatalf("stats %v±%v, naive %v±%v", gotMean, gotSD, mean, sd)
		}
		elapsed := uint64(rapid.IntRange(1, 200).Draw(t, "elapsed"))
		x := (float64(elapsed) - mean - cfg.AcceptablePauseTicks) / (math.Max(sd, cfg.MinStdDevTicks) * math.Sqrt2)
		if x >= 20 {
			return // beyond double precision of erfc: see TestPhiLargeArguments
		}
		want := -math.Log10(0.5 * math.Erfc(x))
		if got := d.Phi(at + elapsed); math.Abs(got-want) > 1e-6*math.Max(1, want) {
			t.Fatalf("phi %v, formula %v (x=%v)", got, want, x)
		}
	})
}

func TestPhiLargeArguments(t *testing.T) {
	prev := 0.0
	for e := 0.0; e < 2000; e += 0.5 {
		phi := PhiOf(e, 10, 1)
		if math.IsInf(phi, 0) || math.IsNaN(phi) || phi < prev {
			t.Fatalf("phi(%v) = %v after %v: not finite and increasing", e, phi, prev)
		}
		prev = phi
	}
	// The two branches agree where they meet.
	x := 20.0
	direct := -math.Log10(0.5 * math.Erfc(x))
	if got := PhiOf(10+x*math.Sqrt2, 10, 1); math.Abs(got-direct)/direct > 1e-3 {
		t.Fatalf("asymptotic %v vs direct %v at x=20", got, direct)
	}
}

func TestPhiRegularHeartbeats(t *testing.T) {
	d := NewDetector(DefaultDetectorConfig())
	for at := uint64(0); at <= 1000; at += 10 {
		d.Heartbeat(at)
	}
	if phi := d.Phi(1010); phi > 1 {
		t.Errorf("on time: phi %v, want small", phi)
	}
	if phi := d.Phi(1030); phi < 8 {
		t.Errorf("three intervals late: phi %v, want above the default threshold 8", phi)
	}
	if d.Phi(1000) != 0 {
		t.Error("phi at the heartbeat itself is not 0")
	}
	if NewDetector(DefaultDetectorConfig()).Phi(5) != 0 {
		t.Error("a peer never heard from is suspected")
	}
}

// TestAlarmAtIsWherePhiCrosses: AlarmAt is exactly the first tick at which
// Phi exceeds the threshold, over random histories and thresholds (extreme
// ones included), and never before the first heartbeat.
func TestAlarmAtIsWherePhiCrosses(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg := drawDetectorConfig(t)
		threshold := rapid.SampledFrom([]float64{0.01, 0.5, 1, 3, 8, 16, 50, 400}).Draw(t, "threshold")
		d := NewDetector(cfg)
		if got := d.AlarmAt(threshold); got != math.MaxUint64 {
			t.Fatalf("alarm at %d before any heartbeat", got)
		}
		at := uint64(rapid.IntRange(0, 100).Draw(t, "start"))
		d.Heartbeat(at)
		scale := rapid.SampledFrom([]int{1, 1, 1, 150}).Draw(t, "scale") // σ of thousands of ticks too
		for _, gap := range rapid.SliceOfN(rapid.IntRange(0, 40), 0, 30).Draw(t, "gaps") {
			at += uint64(gap * scale)
			d.Heartbeat(at)
		}
		alarm := d.AlarmAt(threshold)
		if alarm <= at || d.Phi(alarm) <= threshold || alarm-1 > at && d.Phi(alarm-1) > threshold {
			t.Fatalf("last beat %d, alarm %d: φ there %v, a tick before %v, threshold %v", at, alarm, d.Phi(alarm), d.Phi(alarm-1), threshold)
		}
	})
}

// drawDetectorConfig draws a detector tuning over the ranges the property
// tests explore.
func drawDetectorConfig(t *rapid.T) DetectorConfig {
	return DetectorConfig{
		WindowMax:            rapid.IntRange(1, 20).Draw(t, "window"),
		MinStdDevTicks:       rapid.Float64Range(0.1, 5).Draw(t, "minsd"),
		AcceptablePauseTicks: rapid.Float64Range(0, 10).Draw(t, "pause"),
		FirstIntervalTicks:   rapid.Float64Range(1, 20).Draw(t, "first"),
	}
}
