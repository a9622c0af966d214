package sim

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"revoada.dev/revoada/core/node"
)

// TestLatencyDistributions: every distribution stays within [min, max] and
// has the shape its doc promises; min = max draws nothing.
func TestLatencyDistributions(t *testing.T) {
	const lo, hi, n = 1 * time.Millisecond, 101 * time.Millisecond, 200_000
	span := float64(hi - lo)
	for _, d := range []Distribution{"", Uniform, Normal, Pareto} {
		r := rand.New(rand.NewPCG(1, 2))
		draws := make([]float64, n)
		for i := range draws {
			x := drawLatency(r, lo, hi, d)
			if x < lo || x > hi {
				t.Fatalf("%q: %v outside [%v, %v]", d, x, lo, hi)
			}
			draws[i] = float64(x-lo) / span // share of the span
		}
		slices.Sort(draws)
		quantile := func(q float64) float64 { return draws[int(q*(n-1))] }
		above := func(x float64) float64 {
			i, _ := slices.BinarySearch(draws, x)
			return float64(n-i) / n
		}
		near := func(what string, got, want, tol float64) {
			if math.Abs(got-want) > tol {
				t.Errorf("%q: %s %.4f, want %.4f ± %.4f", d, what, got, want, tol)
			}
		}
		switch d {
		case "", Uniform:
			near("median", quantile(0.5), 0.5, 0.01)
			near("10th percentile", quantile(0.1), 0.1, 0.01)
		case Normal:
			near("median", quantile(0.5), 0.5, 0.01)
			near("share beyond one sigma", above(0.5+1.0/6)+1-above(0.5-1.0/6), 0.317, 0.01)
			near("share clamped at max", above(1), 0.00135, 0.0005)
		case Pareto:
			near("median", quantile(0.5), 0.0059, 0.0005)
			near("share above 1%", above(0.01), 0.354, 0.01)
			near("share above 10%", above(0.1), 0.0274, 0.003)
			near("share at the cap", above(1), 0.00098, 0.0003)
		}
	}
	r, untouched := rand.New(rand.NewPCG(1, 2)), rand.New(rand.NewPCG(1, 2))
	for _, d := range []Distribution{Uniform, Normal, Pareto} {
		if x := drawLatency(r, lo, lo, d); x != lo {
			t.Errorf("%q: %v for a range of one value", d, x)
		}
	}
	if r.Uint64() != untouched.Uint64() {
		t.Error("a range of one value drew from the stream")
	}
}

// TestPipe: an idle pipe sends at once, a busy one queues behind what it
// holds, a message that finds more than the queue unsent is dropped, and
// one that finds room is taken whole, however large.
func TestPipe(t *testing.T) {
	p := pipe{bandwidth: 1000, queue: 1500} // a byte a millisecond
	if out, ok := p.send(0, 1000); !ok || out != time.Second {
		t.Fatalf("idle pipe: %v %v, want 1s", out, ok)
	}
	if out, ok := p.send(0, 1000); !ok || out != 2*time.Second {
		t.Fatalf("second message: %v %v, want 2s", out, ok) // 2000 bytes unsent now
	}
	if _, ok := p.send(0, 10); ok {
		t.Fatal("a queue of 1500 bytes took more with 2000 waiting")
	}
	if out, ok := p.send(600*time.Millisecond, 5000); !ok || out != 7*time.Second {
		t.Fatalf("with 1400 bytes waiting: %v %v, want 5000 bytes more, out at 7s", out, ok)
	}
	big := pipe{bandwidth: 1000, queue: 10}
	if _, ok := big.send(0, 5000); !ok {
		t.Fatal("an idle pipe refused a message larger than its queue")
	}
	if none := (pipe{}); none.bandwidth != 0 {
		t.Fatal("zero pipe")
	} else if out, ok := none.send(7, 1<<30); !ok || out != 7 {
		t.Fatal("a pipe without bandwidth delayed a message")
	}
}

func netPlan(faults ...Fault) *Plan {
	return &Plan{Name: "net", Nodes: 5, ControlPlane: 3, Duration: 40 * time.Second,
		Network: Network{LatencyMin: time.Millisecond, LatencyMax: 10 * time.Millisecond}, Faults: faults}
}

// TestUniformIsTheDefault: naming the default distribution, or adding a
// link that covers nothing new, changes nothing in a run.
func TestUniformIsTheDefault(t *testing.T) {
	base := netPlan(Fault{At: 10 * time.Second, Kind: Crash, Target: "leader", For: 5 * time.Second})
	named := *base
	named.Network.Distribution = Uniform
	a, b := Run(base, 3, Options{}), Run(&named, 3, Options{})
	if a.Fingerprint != b.Fingerprint {
		t.Fatal("distribution uniform ran differently from the default")
	}
}

// TestClogHoldsMessages: nothing reaches or leaves a clogged node, nothing
// is dropped for it, and what it missed arrives when it is unclogged.
func TestClogHoldsMessages(t *testing.T) {
	p := netPlan(Fault{At: 10 * time.Second, Kind: Clog, Target: "n2", For: 5 * time.Second})
	var trace strings.Builder
	r := Run(p, 1, Options{Trace: &trace})
	if !r.OK() || r.Stats.Held == 0 || r.Stats.Dropped != 0 {
		t.Fatalf("violations %v, held %d, dropped %d", r.Violations, r.Stats.Held, r.Stats.Dropped)
	}
	var during, released int
	for _, line := range strings.Split(trace.String(), "\n") {
		if !strings.Contains(line, `"ev":"recv"`) {
			continue
		}
		us := traceMicros(t, line)
		touches := strings.Contains(line, `"n":"n2"`) || strings.Contains(line, `"d":"n2 `)
		switch {
		case touches && us > 10_000_000 && us < 15_000_000:
			during++
		case touches && us >= 15_000_000 && us <= 15_010_000:
			released++
		}
	}
	if during != 0 || released == 0 {
		t.Fatalf("%d messages to or from n2 while clogged, %d released at the unclog", during, released)
	}
}

// traceMicros is a trace line's time.
func traceMicros(t *testing.T, line string) int64 {
	t.Helper()
	var us int64
	rest, ok := strings.CutPrefix(line, `{"t":`)
	if !ok {
		t.Fatalf("trace line %q", line)
	}
	for _, c := range rest {
		if c < '0' || c > '9' {
			break
		}
		us = 10*us + int64(c-'0')
	}
	return us
}

// TestSwizzleMaterializes: a swizzle clogs its nodes one by one and
// unclogs them in reverse order; the materialized plan holds those clogs.
func TestSwizzleMaterializes(t *testing.T) {
	p := netPlan(Fault{At: 10 * time.Second, Kind: Swizzle, For: 8 * time.Second})
	for seed := uint64(1); seed <= 5; seed++ {
		r := Run(p, seed, Options{})
		if !r.OK() {
			t.Fatalf("seed %d: %v", seed, r.Violations)
		}
		var clogs []Fault
		for _, f := range r.Materialized.Faults {
			if f.Kind == Swizzle {
				t.Fatalf("seed %d: swizzle left in the materialized plan", seed)
			}
			if f.Kind == Clog {
				clogs = append(clogs, f)
			}
		}
		if len(clogs) == 0 || len(clogs) > p.Nodes {
			t.Fatalf("seed %d: %d clogs", seed, len(clogs))
		}
		step := 8 * time.Second / time.Duration(2*len(clogs))
		for k, f := range clogs {
			if f.At != 10*time.Second+time.Duration(k)*step || f.At+f.For != 18*time.Second-time.Duration(k)*step {
				t.Fatalf("seed %d: clog %d is %v..%v, want the %d-th of %d in and out in reverse", seed, k, f.At, f.At+f.For, k, len(clogs))
			}
		}
		again := *p
		again.Faults = r.Materialized.Faults
		if b := Run(&again, seed, Options{}); !b.OK() || b.Stats.Held != r.Stats.Held {
			t.Fatalf("seed %d: the materialized clogs held %d messages, the swizzle %d", seed, b.Stats.Held, r.Stats.Held)
		}
	}
}

// blockAfter runs p to its end and returns who reaches whom with messages
// of the kind: reach[a] lists the nodes a's messages reach.
func blockAfter(t *testing.T, p *Plan, kind node.MessageKind) []string {
	t.Helper()
	s := settled(t, p, 1)
	out := make([]string, len(s.nodes))
	for a := range s.nodes {
		var to []int
		for b := range s.nodes {
			if a != b && !s.cut(a, b, kind) {
				to = append(to, b)
			}
		}
		out[a] = s.nodeNames(to)
	}
	return out
}

// TestPartitionShapes: a ring reaches only neighbours, a bridge node
// reaches both sides that cannot reach each other, and a traffic class
// cuts only its messages.
func TestPartitionShapes(t *testing.T) {
	ring := netPlan(Fault{At: 5 * time.Second, Kind: Ring, Groups: [][]Selector{{"n1", "n3", "n5", "n2", "n4"}}})
	want := []string{"n3,n4", "n4,n5", "n1,n5", "n1,n2", "n2,n3"}
	if got := blockAfter(t, ring, node.MsgRaft); !slices.Equal(got, want) {
		t.Errorf("ring: %v, want %v", got, want)
	}
	bridge := netPlan(Fault{At: 5 * time.Second, Kind: Partition, Groups: [][]Selector{{"n1", "n2"}, {"n4", "n5"}}, Bridge: "n3"})
	want = []string{"n2,n3", "n1,n3", "n1,n2,n4,n5", "n3,n5", "n3,n4"}
	if got := blockAfter(t, bridge, node.MsgGossip); !slices.Equal(got, want) {
		t.Errorf("bridge: %v, want %v", got, want)
	}
	gossip := netPlan(Fault{At: 5 * time.Second, Kind: Partition, Groups: [][]Selector{{"n1"}}, Traffic: GossipTraffic})
	if got := blockAfter(t, gossip, node.MsgGossip); got[0] != "" || got[1] != "n3,n4,n5" {
		t.Errorf("gossip partition, gossip: %v", got)
	}
	if got := blockAfter(t, gossip, node.MsgRaft); got[0] != "n2,n3,n4,n5" {
		t.Errorf("gossip partition, raft: %v", got)
	}
	random := netPlan(Fault{At: 5 * time.Second, Kind: Ring})
	r := Run(random, 4, Options{})
	f := r.Materialized.Faults[0]
	if len(f.Groups) != 1 || len(f.Groups[0]) != 5 {
		t.Fatalf("a random ring materialized as %+v", f)
	}
}

// TestLinkFault: a link fault's rule holds on its links from when it fires
// to its undo, with its latency, over the plan's own links.
func TestLinkFault(t *testing.T) {
	p := netPlan(Fault{At: 5 * time.Second, Kind: LinkFault,
		Link: &Link{From: []Selector{"n1"}, OneWay: true, LatencyMin: 300 * time.Millisecond, LatencyMax: 300 * time.Millisecond}})
	p.Network.Links = []Link{{From: []Selector{"n1"}, To: []Selector{"n2"}, LatencyMin: 50 * time.Millisecond, LatencyMax: 50 * time.Millisecond}}
	s := settled(t, p, 1)
	for _, c := range []struct {
		a, b int
		want time.Duration
	}{{0, 1, 300 * time.Millisecond}, {0, 4, 300 * time.Millisecond}, {1, 0, 50 * time.Millisecond}} {
		if got := s.delay(s.net.rule(c.a, c.b)); got != c.want {
			t.Errorf("n%d>n%d: latency %v, want %v", c.a+1, c.b+1, got, c.want)
		}
	}
	if r := s.net.rule(2, 0); r != nil {
		t.Errorf("n3>n1 under %+v, want the baseline", r.link)
	}
	p.Faults[0].For = 10 * time.Second
	s = settled(t, p, 1)
	if got := s.delay(s.net.rule(0, 1)); got != 50*time.Millisecond {
		t.Errorf("after the undo n1>n2 takes %v, want the network's link (50ms)", got)
	}
}

// TestQueueDrops: a narrow pipe drops what it cannot queue, and counts it.
func TestQueueDrops(t *testing.T) {
	p := netPlan()
	p.Network.Bandwidth, p.Network.Queue = 500, 300
	r := Run(p, 1, Options{})
	if r.Stats.QueueDrops == 0 || r.Stats.QueueDrops > r.Stats.Dropped {
		t.Fatalf("queue drops %d of %d drops", r.Stats.QueueDrops, r.Stats.Dropped)
	}
	if again := Run(p, 1, Options{}); again.Fingerprint != r.Fingerprint {
		t.Fatal("two runs of one seed differ")
	}
}

// TestClockJitterAndJump: a jittered clock ticks at uneven intervals drawn
// from its own stream, and a jump steps the wall clock a node reads at its
// next start, until the fault is undone.
func TestClockJitterAndJump(t *testing.T) {
	p := netPlan(
		Fault{At: 5 * time.Second, Kind: ClockSkew, Target: "n2", Jitter: 0.5, Jump: 10 * time.Minute, For: 20 * time.Second},
		Fault{At: 10 * time.Second, Kind: Crash, Target: "n2", For: 2 * time.Second},
	)
	var trace strings.Builder
	r := Run(p, 1, Options{Trace: &trace})
	if !r.OK() {
		t.Fatal(r.Violations)
	}
	s := settled(t, p, 1)
	if sn := s.nodes[1]; sn.wallOffset != 0 || sn.jitter != 0 {
		t.Fatalf("after the undo: offset %v, jitter %v", sn.wallOffset, sn.jitter)
	}
	p.Faults[0].For = 0
	s = settled(t, p, 1)
	if sn := s.nodes[1]; sn.wallOffset != 10*time.Minute {
		t.Fatalf("offset %v", sn.wallOffset)
	}
	sn := &simNode{clock: 1, jitter: 0.5, jitterRand: rand.New(rand.NewPCG(1, 1))}
	seen := map[time.Duration]bool{}
	for range 100 {
		d := s.tickInterval(sn)
		if d < TickInterval/2 || d > 3*TickInterval/2 {
			t.Fatalf("interval %v outside ±50%%", d)
		}
		seen[d] = true
	}
	if len(seen) < 90 {
		t.Fatalf("%d distinct intervals of 100", len(seen))
	}
}

// TestMessageBytes: sizes grow with what a message carries.
func TestMessageBytes(t *testing.T) {
	empty := MessageBytes(node.Message{Kind: node.MsgGossip})
	if empty != envelopeBytes {
		t.Fatalf("an empty message is %d bytes", empty)
	}
	p := netPlan()
	p.Network.Bandwidth, p.Network.Queue = 1<<30, 1<<30
	if r := Run(p, 1, Options{}); !r.OK() || r.Stats.QueueDrops != 0 {
		t.Fatalf("a wide pipe: %v, %d queue drops", r.Violations, r.Stats.QueueDrops)
	}
}

// TestSlowLinkStretchesElections: the election timeout spans five round
// trips of the slowest link of the network, the network's own links
// included, as it does of the network's latency.
func TestSlowLinkStretchesElections(t *testing.T) {
	p := netPlan()
	if got := p.ElectionTicks(); got != ElectionTicks {
		t.Fatalf("a fast LAN: %d ticks", got)
	}
	p.Network.Links = []Link{{From: []Selector{"n1"}, LatencyMin: 100 * time.Millisecond, LatencyMax: 300 * time.Millisecond}}
	if got := p.ElectionTicks(); got != 30 {
		t.Fatalf("a 300ms link: %d ticks, want 30", got)
	}
}
