package explore

import (
	"cmp"
	"slices"
	"time"

	"revoada.dev/revoada/sim"
)

// Limits of the fault families of issue 11 in a plan.
const (
	ExtrasMax       = 4                      // temporary faults of the new families, at most
	slowLinkMax     = 150 * time.Millisecond // a network link's latency, at most
	linkFaultMax    = 800 * time.Millisecond // a link fault's latency, at most
	bandwidthMinKB  = 1000                   // a network's bandwidth, in KB per second, at least
	narrowMinBytes  = 5_000                  // a narrowed link's bandwidth, bytes per second, at least
	readErrorsStart = 2 * time.Second        // a node with failing reads is crashed this soon after
)

// extras adds, to one plan in two, the fault families of issue 11: a
// network shape (a latency distribution, a slow and lossy link between two
// nodes, a bandwidth per node), named permanent crashes turned into
// corrupted disks that refuse the restart that follows, and up to
// ExtrasMax temporary faults: link faults, clogs and swizzles, bridges,
// rings and partitions of one traffic class, clock jitter and jumps, full
// disks and failing reads. They draw only from g.x, after every draw of
// g.r but the workload's and the expectations', which come after: a plan
// without extras is the plan this seed drew before they existed.
func (g *gen) extras() {
	if g.x.IntN(2) != 0 {
		return
	}
	g.shapeNetwork()
	g.corruptKills()
	for range 1 + g.x.IntN(ExtrasMax) {
		g.extraFault(g.x.between(g.start, g.h-2*time.Second))
	}
	slices.SortStableFunc(g.p.Faults, func(a, b sim.Fault) int { return cmp.Compare(a.At, b.At) })
}

func (g *gen) xNode() sim.Selector { return node(g.x.intIn(1, g.p.Nodes)) }

var distributions = []sim.Distribution{sim.Uniform, sim.Normal, sim.Pareto}

// shapeNetwork gives the network a distribution, sometimes a slow and lossy
// link between two nodes, and sometimes a bandwidth generous enough for the
// mesh (a second of it queued).
func (g *gen) shapeNetwork() {
	nw := &g.p.Network
	if g.x.chance(1, 2) {
		nw.Distribution = distributions[g.x.IntN(len(distributions))]
		g.flavors = append(g.flavors, "latency-"+string(nw.Distribution))
	}
	if g.p.Nodes > 1 && g.x.chance(1, 4) {
		a := g.x.intIn(1, g.p.Nodes)
		b := 1 + (a+g.x.intIn(0, g.p.Nodes-2))%g.p.Nodes // another node
		lo := time.Duration(g.x.intIn(5, 50)) * time.Millisecond
		l := sim.Link{From: []sim.Selector{node(a)}, To: []sim.Selector{node(b)}, LatencyMin: lo,
			LatencyMax:   lo + time.Duration(g.x.intIn(0, int((slowLinkMax-lo)/time.Millisecond)))*time.Millisecond,
			Distribution: distributions[g.x.IntN(len(distributions))], Loss: float64(g.x.intIn(0, 5)) / 100}
		nw.Links = append(nw.Links, l)
		g.lossy = g.lossy || l.Loss > 0
		g.flavors = append(g.flavors, "slow-link")
	}
	if g.x.chance(1, 5) {
		nw.Bandwidth = int64(g.x.intIn(bandwidthMinKB, 10*bandwidthMinKB)) * 1000
		nw.Queue = nw.Bandwidth
		g.lossy = true
		g.flavors = append(g.flavors, "bandwidth")
	}
}

// corruptKills turns, in one plan in two, the named permanent crashes into
// crashes of nodes whose disk was corrupted a moment before, and restarts
// them in the window: each log must refuse to start, so the node stays
// down for good, as the crash alone would have left it.
func (g *gen) corruptKills() {
	if g.kills == 0 || !g.x.chance(1, 2) {
		return
	}
	var added []sim.Fault
	for _, f := range g.p.Faults {
		if f.Kind != sim.Crash || f.For > 0 || slices.Contains(dynamic, f.Target) {
			continue
		}
		added = append(added,
			sim.Fault{At: f.At - step, Kind: sim.Disk, Target: f.Target, Mode: sim.DiskCorrupt},
			sim.Fault{At: g.x.between(g.start, g.h-2*time.Second), Kind: sim.Restart, Target: f.Target})
	}
	if len(added) > 0 {
		g.flavors = append(g.flavors, "disk-corrupt")
		g.p.Faults = append(g.p.Faults, added...)
	}
}

// liveSelector picks a node as crashSelector does, from g.x.
func (g *gen) liveSelector() sim.Selector {
	if g.kills > 0 {
		return live[g.x.IntN(len(live))]
	}
	if g.x.chance(1, 2) {
		return dynamic[g.x.IntN(len(dynamic))]
	}
	return g.xNode()
}

// extraFault adds one temporary fault of the new families at a time in the
// window, ending by H less a second (addTemp).
func (g *gen) extraFault(at time.Duration) {
	switch g.x.IntN(10) {
	case 0: // a link fault: slow, lossy, sometimes narrow
		l := &sim.Link{From: []sim.Selector{g.liveSelector()}, OneWay: g.x.chance(1, 3),
			LatencyMin: time.Duration(g.x.intIn(1, 100)) * time.Millisecond, Distribution: distributions[g.x.IntN(len(distributions))],
			Loss: float64(g.x.intIn(0, 30)) / 100}
		l.LatencyMax = l.LatencyMin + time.Duration(g.x.intIn(0, int((linkFaultMax-l.LatencyMin)/time.Millisecond)))*time.Millisecond
		if g.x.chance(1, 3) {
			l.Bandwidth = int64(g.x.intIn(narrowMinBytes, 100*narrowMinBytes))
			l.Queue = l.Bandwidth / int64(g.x.intIn(1, 10))
		}
		g.addExtra("slow-link", sim.Fault{At: at, Kind: sim.LinkFault, Link: l}, time.Second, 20*time.Second)
	case 1:
		g.addExtra("clog", sim.Fault{At: at, Kind: sim.Clog, Target: g.liveSelector()}, time.Second, 10*time.Second)
	case 2:
		f := sim.Fault{At: at, Kind: sim.Swizzle}
		if g.x.chance(1, 2) {
			f.Target = []sim.Selector{"majority", "minority", "random"}[g.x.IntN(3)]
		}
		g.addExtra("swizzle", f, 2*time.Second, 16*time.Second)
	case 3: // one side, the rest, and a bridge node between them
		if g.p.Nodes < 3 {
			return
		}
		perm := g.x.Perm(g.p.Nodes)
		var side []sim.Selector
		for _, p := range perm[1 : 1+g.x.intIn(1, g.p.Nodes-2)] {
			side = append(side, node(p+1))
		}
		f := sim.Fault{At: at, Kind: sim.Partition, Groups: [][]sim.Selector{side}, Bridge: node(perm[0] + 1)}
		if g.x.chance(1, 3) {
			f.Bridge = "leader" // leaves its side, unless it is the side
		}
		g.addExtra("bridge", f, time.Second, 20*time.Second)
	case 4:
		if g.p.Nodes < 3 {
			return
		}
		g.addExtra("ring", sim.Fault{At: at, Kind: sim.Ring, Traffic: g.traffic()}, time.Second, 20*time.Second)
	case 5: // a partition of one class of messages
		f := g.xPartition(at)
		f.Traffic = []sim.Traffic{sim.RaftTraffic, sim.GossipTraffic, sim.RequestTraffic}[g.x.IntN(3)]
		g.addExtra("cut-"+string(f.Traffic), f, time.Second, 25*time.Second)
	case 6:
		g.addExtra("jitter", sim.Fault{At: at, Kind: sim.ClockSkew, Target: g.liveSelector(), Jitter: float64(g.x.intIn(1, 9)) / 10}, 2*time.Second, 30*time.Second)
	case 7: // a wall clock steps, and its node restarts with it
		jump := time.Duration(g.x.intIn(1, 600)) * time.Second
		if g.x.chance(1, 2) {
			jump = -jump
		}
		target := g.liveSelector()
		if at+3*time.Second > g.h-time.Second {
			return
		}
		g.addExtra("clock-jump", sim.Fault{At: at, Kind: sim.ClockSkew, Target: target, Jump: jump}, 3*time.Second, 40*time.Second)
		g.addTemp(sim.Fault{At: at + step, Kind: sim.Crash, Target: target}, time.Second, 2*time.Second)
	case 8:
		g.addExtra("disk-full", sim.Fault{At: at, Kind: sim.Disk, Target: g.liveSelector(), Mode: sim.DiskFull}, time.Second, 15*time.Second)
	case 9: // failing reads, and a start that meets them
		f := sim.Fault{At: at, Kind: sim.Disk, Target: g.liveSelector(), Mode: sim.DiskReadErrors, Rate: float64(g.x.intIn(1, 9)) / 10}
		if at+readErrorsStart+2*time.Second > g.h-time.Second {
			return
		}
		g.addExtra("disk-read-errors", f, readErrorsStart+time.Second, 15*time.Second)
		g.addTemp(sim.Fault{At: at + readErrorsStart, Kind: sim.Crash, Target: f.Target}, time.Second, 2*time.Second)
	}
}

// addExtra adds a temporary fault of a flavour (addTemp).
func (g *gen) addExtra(flavor string, f sim.Fault, lo, hi time.Duration) {
	n := len(g.p.Faults)
	g.addTemp(f, lo, hi)
	if len(g.p.Faults) > n && !slices.Contains(g.flavors, flavor) {
		g.flavors = append(g.flavors, flavor)
	}
}

// traffic is a ring's or partition's class of messages: all, often.
func (g *gen) traffic() sim.Traffic {
	if g.x.chance(1, 2) {
		return ""
	}
	return []sim.Traffic{sim.RaftTraffic, sim.GossipTraffic, sim.RequestTraffic}[g.x.IntN(3)]
}

// xPartition draws a partition as partition does, from g.x: one dynamic
// selector, or named nodes in one or two groups.
func (g *gen) xPartition(at time.Duration) sim.Fault {
	f := sim.Fault{At: at, Kind: sim.Partition, OneWay: g.x.chance(1, 4)}
	if g.x.chance(1, 2) || g.p.Nodes < 2 {
		sels := []sim.Selector{"minority", "majority", "leader", "random-voter", "random-worker"}
		f.Groups = [][]sim.Selector{{sels[g.x.IntN(len(sels))]}}
		return f
	}
	perm := g.x.Perm(g.p.Nodes)
	f.Groups = [][]sim.Selector{nil}
	for _, p := range perm[:g.x.intIn(1, g.p.Nodes-1)] {
		f.Groups[0] = append(f.Groups[0], node(p+1))
	}
	return f
}
