// Package explore generates whole simulation plans from a seed, for a
// VOPR-style randomized search (TigerBeetle's VOPR, FoundationDB's
// simulation swarm): each seed names one plan, drawn by Generate from a
// math/rand/v2 stream seeded by it, that revoada explore runs with the same
// seed and judges. The simulator checks the safety properties on every run;
// the plan adds the liveness monitors a correct mesh must satisfy once its
// faults have healed. A failure is a seed, and the plan is an ordinary
// scenario file, so a failure bundle replays and shrinks like any other.
//
// # What a plan holds
//
//   - a mesh of 1..9 nodes (one seed in ten: 10..25), 1..min(nodes, 5) of
//     them starting in the control plane;
//   - a self-healing target (a topology strategy, or an explicit odd voter
//     count), or none (one seed in six: Raft alone, no gossip, no policy),
//     with policy knobs (grace, damper, stabilize, audit period, φ
//     threshold) left at their defaults or drawn within sane ranges;
//   - a network: a fast LAN (1–10 ms), slow links (50–300 ms) or a lossy
//     LAN (loss and duplication up to 5% each); in one plan of ten, links
//     slower than a content root's period (300–800 ms each way: wan);
//   - a fault schedule over every fault kind the simulator has, with static
//     (n3) and dynamic (leader, random-voter, random-worker, random,
//     minority, majority) selectors; sometimes operator commands, single or
//     multi-command shifts; sometimes a modest workload (≤ 30 ops/s);
//   - a quiet tail: every temporary fault ends by the heal time H (a no-op
//     heal at H pins the simulator's heal time there), and nothing happens
//     after it for long enough to judge the liveness monitors;
//   - in one plan of two, the fault families of issue 11 (extras.go): a
//     latency distribution (normal, pareto), a slow and lossy link between
//     two nodes, a bandwidth per node; named permanent crashes of nodes
//     whose disk was corrupted, restarted in the window so that their logs
//     refuse to start; and up to ExtrasMax temporary link faults (slow,
//     lossy, narrow), clogs, swizzles, bridges, rings, partitions of one
//     traffic class, clock jitter, clock jumps with a restart, full disks
//     and failing reads with a start that meets them. They draw from a
//     stream of their own, so the other plans are those of earlier builds;
//   - in one plan of four, one or two nodes that start outside and join; in
//     one of five, a node that leaves for good — a voter, the leader, a
//     worker or a named node, half the time a voter just after a crash
//     began (each from a stream of its own too).
//
// # The timeline
//
// An optional partition at boot; then an attrition phase of permanent
// crashes (no for), each killing exactly one node: named nodes first, then
// "leader" or "random-voter", which pick only live nodes, so the number of
// nodes dead at the end is exactly the number of permanent crashes; then the
// window of temporary faults and commands, ending at H; then the tail.
// Permanent crashes never overlap temporary faults, and when a plan has any,
// its temporary crashes use only selectors that pick live nodes: a crash
// with for, or a restart, naming a dead node would bring it back.
//
// # Expectations, and why they are correct
//
// The simulator's leader-after-heal monitor always runs, so a plan must
// leave a live majority of voters: the permanent crashes k obey
// k ≤ ⌊(Vlow−1)/2⌋, where Vlow bounds the voter count from below over the
// whole run: the initial control plane less every command that may remove a
// voter (demote, quarantine), and, with a target, the strategy's voter count
// for the nodes that survive. Dead voters are then always a minority of the
// voter set, whatever the policy does within its rule of never leaving less
// than a live majority by its own action. The plan sets Leader to 10
// election timeouts.
//
// The new families need no allowance of their own: each is over by H
// (a full disk, a clog, a link fault end; a node whose reads fail restarts
// a second after they stop), a clock jump is no fault once its node has
// restarted, and a corrupted disk is a permanent crash, counted as one.
// Static slow links stretch the election timeout and the membership bound
// as the network's latency does (sim.Network.Slowest), and a lossy or
// narrow network counts as loss for Shape.
//
// With a target, Membership requires every live node's view to be exactly
// the live nodes within 30 gossip rounds (more on slow links), and Shape
// requires the control-plane count the strategy asks for the surviving
// nodes. Shape is left out when it is not well defined: with quarantine
// commands (whether one commits, and when, decides the eligible count) or an
// explicit target the survivors cannot meet. Its bound covers everything a
// correct policy may have to wait out after H: the damper, grace,
// stabilisation, an election, one promotion per new voter and, when the
// faults may have made a node flap (two disruptions, chaos or loss), the
// policy's two quiet minutes before it restores a node it quarantined for
// flapping. That stretches the run's tail to four minutes or more, which
// would make such plans most of the sweep's cost, so only one in
// flappyShapeOdds of them keeps Shape (the others still judge Leader and
// Membership, with a tail of a minute or so): throughput, not leniency.
//
// # Bias towards rare paths
//
// A share of seeds aims at the declared rare paths (package cover and
// sim.CoveragePoints): multi-voter shifts with a leader crash right after
// (joint configurations, a leader elected in one), a promotion followed by
// the promoted node's crash (a staged promotion timing out), a promotion
// while a minority is cut off, apply-heavy workloads with a node down long
// enough to need a snapshot, pauses under a workload (held messages), watches
// resuming over a short retained history (compacted), and lossy or
// duplicating links under a workload (retries answered from the dedup
// table).
//
// Generate is pure and deterministic: the same seed gives the same plan
// under the same build. Every plan passes sim.Plan.Validate and survives
// scenarios.Marshal and Parse unchanged.
package explore

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/core/topology"
	"revoada.dev/revoada/sim"
)

// Limits of a generated plan.
const (
	NodesMax       = 25                     // the largest mesh
	ControlMax     = 5                      // the largest initial control plane
	RateMax        = 30                     // workload operations per second
	TempFaultsMax  = 8                      // random temporary faults, besides the biased ones
	CommandsMax    = 4                      // random operator commands, besides the biased ones
	WindowMin      = 20 * time.Second       // the shortest window of temporary faults
	WindowMax      = 60 * time.Second       // the longest
	QuietMin       = 60 * time.Second       // the shortest tail after the heal time
	LeaderTimeouts = 10                     // Expect.Liveness.Leader
	MemberRounds   = 30                     // Expect.Liveness.Membership on a fast network
	SyncedWithin   = 30 * time.Second       // Expect.Liveness.Synced on a fast network
	step           = 100 * time.Millisecond // resolution of generated times
)

// Timing the expectations allow for, mirroring package sim's and package
// policy's defaults (sim.AuditEvery; policy.DefaultConfig at 100 ms ticks).
const (
	defaultGrace     = 3 * time.Second
	defaultDamper    = time.Minute
	defaultStabilize = 5 * time.Second
	flapQuiet        = 2 * time.Minute // policy QuietTicks: a flapping node is restored after this
	gossipRound      = 200 * time.Millisecond
	shapeSlack       = 20 * time.Second
	perVoterShift    = 3 * time.Second // one staged promotion, learner to voter
	// flappyShapeOdds: one plan in this many whose faults may make a node
	// flap keeps its Shape expectation, which then needs the flap quiet.
	flappyShapeOdds = 3
)

// Strategies are the targets a plan may name, besides "explicit".
var strategies = []string{"solo", "pair", "quorum-3m", "cluster-3m-nw", "mesh-all-peers", "phalanx"}

// Generate draws the plan of a seed. It panics if it draws a plan that does
// not pass Validate, which is a bug of this package.
func Generate(seed uint64) *sim.Plan {
	g := &gen{r: draws{rand.New(rand.NewPCG(seed, 0x7265766f616461))}, x: draws{rand.New(rand.NewPCG(seed, extrasKey))},
		m: draws{rand.New(rand.NewPCG(seed, joinsKey))}, l: draws{rand.New(rand.NewPCG(seed, leavesKey))},
		c: draws{rand.New(rand.NewPCG(seed, contentKey))}, w: draws{rand.New(rand.NewPCG(seed, wanKey))},
		b: draws{rand.New(rand.NewPCG(seed, busyKey))}, p: &sim.Plan{Name: Name(seed)}}
	g.mesh()
	g.target()
	g.network()
	g.wan()
	g.commands()
	g.permanent()
	g.timeline()
	g.extras()
	g.joins()
	g.leaves()
	g.content()
	g.workload()
	g.busy()
	g.expect()
	g.p.Description = g.describe()
	if err := g.p.Validate(); err != nil {
		panic(fmt.Sprintf("explore: seed %d drew an invalid plan: %v", seed, err))
	}
	return g.p
}

// wanKey keys g.w.
const wanKey = 0x77616e

// wan makes one plan in ten a wide-area mesh: links of 300 to 800 ms each
// way, slower than a content root's period (a second), whatever loss and
// duplication network drew. They draw only from g.w: a plan without it is
// the plan its seed drew before. The bug class it aims at: a worker that
// gave up its target after one root period never received a part over
// such links (worker-sync-very-slow-links).
func (g *gen) wan() {
	if !g.w.chance(1, 10) {
		return
	}
	nw := &g.p.Network
	nw.LatencyMin = time.Duration(g.w.intIn(300, 500)) * time.Millisecond
	nw.LatencyMax = nw.LatencyMin + time.Duration(g.w.intIn(0, 300))*time.Millisecond
	g.flavors = append(g.flavors, "wan")
}

// busyKey keys g.b.
const busyKey = 0x62757379

// busy makes one plan in six with a workload a busy one: 16 to 48 clients
// asking 40 to 120 operations a second, over enough keys that at most
// sim.ClientsPerKeyMax clients write each (the linearizability check's
// cost grows fast with a key's concurrent writers). They draw only from
// g.b: a plan without it is the plan its seed drew before. The other
// workloads have at most 8 clients asking 30 a second, and until clients
// paused from each operation's start they issued far less: no plan loaded
// the store as the store built-ins' descriptions said they did.
func (g *gen) busy() {
	w := g.p.Workload
	if w == nil || !g.b.chance(1, 6) {
		return
	}
	w.Clients = g.b.intIn(16, 48)
	w.Rate = float64(g.b.intIn(40, 120))
	w.Keys = max(w.Keys, sim.KeysFor(w.Clients))
	g.flavors = append(g.flavors, "busy")
}

// extrasKey keys g.x. Any key would do; this one leaves the seeds the
// regression tests of this package pin (plants_test.go) without extras, so
// that they keep the plans on which they found their bugs.
const extrasKey = 0x6973737565205e45

// joinsKey keys g.m.
const joinsKey = 0x6a6f696e73

// joinLead is how long before the heal time a join is issued at the latest:
// time for it to commit, and for the joined node to learn it, before the
// expectations, which count it as a member, begin.
const joinLead = 20 * time.Second

// joins adds, to one plan in four, one or two nodes that start outside the
// shape, after the mesh's own, each admitted by a join command in the
// window of temporary faults. They draw only from g.m, after every draw but
// the workload's and the expectations': a plan without joins is the plan
// this seed drew before they existed. The expectations count the joined
// nodes as members, as the policy does once they are.
func (g *gen) joins() {
	if !g.m.chance(1, 4) || g.p.Nodes >= NodesMax {
		return
	}
	k := min(g.m.intIn(1, 2), NodesMax-g.p.Nodes)
	for i := range k {
		at := g.m.between(g.start, g.h-joinLead)
		g.p.Commands = append(g.p.Commands, sim.Command{At: at, Kind: roles.Join, Target: node(g.p.Nodes + 1 + i), Reason: roles.Operator})
	}
	slices.SortStableFunc(g.p.Commands, func(a, b sim.Command) int { return cmp.Compare(a.At, b.At) })
	g.p.Nodes += k
	g.p.Outside = k
	g.flavors = append(g.flavors, "join")
}

// contentKey keys g.c.
const contentKey = 0x636f6e74656e74

// content adds issue 14's faults to self-healing plans, drawing only from
// g.c after every draw but the workload's and the expectations': in one
// plan in three a worker turns hostile for good (poison: corrupt blob
// parts, forged roots), and in one in three with named permanent crashes
// those become disks an attacker tampered with (the node is rebooted on a
// role history whose signature no longer verifies, and must refuse it).
func (g *gen) content() {
	if g.strategy == nil {
		return
	}
	if g.c.chance(1, 3) {
		g.p.Faults = append(g.p.Faults, sim.Fault{At: g.c.between(g.start, g.h-2*time.Second), Kind: sim.Poison, Target: "random-worker"})
		g.flavors = append(g.flavors, "poison")
	}
	if g.kills > 0 && g.c.chance(1, 3) {
		tampered := false
		for i, f := range g.p.Faults {
			if f.Kind == sim.Crash && f.For == 0 && !slices.Contains(dynamic, f.Target) {
				g.p.Faults[i] = sim.Fault{At: f.At, Kind: sim.Disk, Target: f.Target, Mode: sim.DiskTamper}
				tampered = true
			}
		}
		if tampered {
			g.flavors = append(g.flavors, "disk-tamper")
		}
	}
	slices.SortStableFunc(g.p.Faults, func(a, b sim.Fault) int { return cmp.Compare(a.At, b.At) })
}

// leavesKey keys g.l.
const leavesKey = 0x6c6561766573

// leaves adds, to one plan in five, a node leaving the mesh for good in the
// window of temporary faults: a voter, the leader, a worker or a named node;
// in half of them a voter, half a second or so after a temporary crash
// began, before anyone can know that voter is down (the mesh lost two
// voters of three that way: scenario leave-with-dead-voter). A voter's
// leave counts as a removal for the permanent crashes' bound, and it is
// dropped when the plan's crashes leave no room for one. They draw only
// from g.l, after every draw but the workload's and the expectations'.
func (g *gen) leaves() {
	if g.p.Nodes < 2 || !g.l.chance(1, 5) {
		return
	}
	sels := []sim.Selector{"random-voter", "leader", "random-worker", node(g.l.intIn(1, g.p.Nodes))}
	c := sim.Command{At: g.l.between(g.start, g.h-joinLead), Kind: roles.Leave, Target: sels[g.l.IntN(len(sels))], Reason: roles.Operator}
	crashes := slices.DeleteFunc(slices.Clone(g.p.Faults), func(f sim.Fault) bool {
		return f.Kind != sim.Crash || f.For == 0 || f.At < g.start || f.At+time.Second > g.h-joinLead
	})
	if len(crashes) > 0 && g.l.chance(1, 2) {
		f := crashes[g.l.IntN(len(crashes))]
		c.At, c.Target = f.At+g.l.between(step, time.Second), "random-voter"
		g.flavors = append(g.flavors, "leave-after-crash")
	}
	if c.Target != "random-worker" {
		g.removals++
		if g.kills > 0 && 2*g.kills+1 > g.voterFloor(g.kills) {
			g.removals--
			return
		}
	}
	g.left++
	g.p.Commands = append(g.p.Commands, c)
	slices.SortStableFunc(g.p.Commands, func(a, b sim.Command) int { return cmp.Compare(a.At, b.At) })
	g.flavors = append(g.flavors, "leave")
}

// Name is the scenario name of a seed's plan.
func Name(seed uint64) string { return fmt.Sprintf("explore-%d", seed) }

// gen is one plan being drawn.
type gen struct {
	r draws
	// x draws the fault families of issue 11 (extras), so that adding them
	// left every draw of r, and the plans without them, as they were; m
	// draws the joins, for the same reason.
	x, m, l draws
	c       draws // issue 14's content faults, for the same reason
	w       draws // wide-area links (wan), for the same reason
	b       draws // busy workloads, for the same reason
	p       *sim.Plan

	strategy              topology.Strategy // nil without a target
	quarantines, removals int               // commands that may fence a node, or remove a voter
	kills                 int               // permanent crashes
	left                  int               // leave commands
	flavors               []string
	cmds                  []draft       // commands before they get their times
	h, start              time.Duration // the heal time, and the start of the window of temporary faults
	disruptions           int           // faults that change some node's health
	lossy                 bool          // a link of the network loses messages or drops them from a full queue
}

// draft is a command waiting for its time; after, if set, places it after
// the command of that index in cmds.
type draft struct {
	c     sim.Command
	after int // -1: anywhere in the window
}

// draws are the draws of a plan from one random stream.
type draws struct{ *rand.Rand }

func (d draws) chance(num, den int) bool { return d.IntN(den) < num }

// between draws a multiple of step in [lo, hi], or lo if hi < lo.
func (d draws) between(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(d.Int64N(int64((hi-lo)/step)+1))*step
}

func (d draws) intIn(lo, hi int) int { return lo + d.IntN(hi-lo+1) }

func (g *gen) chance(num, den int) bool                   { return g.r.chance(num, den) }
func (g *gen) between(lo, hi time.Duration) time.Duration { return g.r.between(lo, hi) }
func (g *gen) intIn(lo, hi int) int                       { return g.r.intIn(lo, hi) }

func node(i int) sim.Selector { return sim.Selector(fmt.Sprintf("n%d", i)) }

// anyNode names one node of the mesh.
func (g *gen) anyNode() sim.Selector { return node(g.intIn(1, g.p.Nodes)) }

func (g *gen) mesh() {
	g.p.Nodes = g.intIn(1, 9)
	if g.chance(1, 10) {
		g.p.Nodes = g.intIn(10, NodesMax)
	}
	g.p.ControlPlane = g.intIn(1, min(g.p.Nodes, ControlMax))
}

func (g *gen) target() {
	if g.chance(1, 6) {
		return
	}
	n := g.p.Nodes
	if g.chance(1, 7) {
		g.p.Target, g.p.TargetVoters = "explicit", 2*g.intIn(0, (n-1)/2)+1
		g.strategy = topology.Explicit{Voters: g.p.TargetVoters, ControlPlane: g.p.TargetVoters}
	} else {
		g.p.Target = strategies[g.r.IntN(len(strategies))]
		s, err := topology.ByName(g.p.Target)
		if err != nil {
			panic(fmt.Sprintf("explore: %v", err))
		}
		g.strategy = s
	}
	if g.chance(1, 3) {
		k := &g.p.Policy
		if g.chance(1, 2) {
			k.Grace = g.between(time.Second, 10*time.Second)
		}
		if g.chance(1, 2) {
			k.Damper = g.between(10*time.Second, 60*time.Second)
		}
		if g.chance(1, 2) {
			k.Stabilize = g.between(2*time.Second, 15*time.Second)
		}
		if g.chance(1, 3) {
			k.AuditEvery = g.between(500*time.Millisecond, 3*time.Second)
		}
		if g.chance(1, 3) {
			k.PhiThreshold = float64(g.intIn(8, 16)) // 8 is the default; lower flaps on lossy links
		}
	}
}

func (g *gen) network() {
	nw := &g.p.Network
	switch g.r.IntN(10) {
	case 0, 1: // slow links
		nw.LatencyMin = time.Duration(g.intIn(50, 150)) * time.Millisecond
		nw.LatencyMax = nw.LatencyMin + time.Duration(g.intIn(0, 150))*time.Millisecond
	case 2, 3, 4: // a lossy LAN
		nw.LatencyMin, nw.LatencyMax = time.Millisecond, time.Duration(g.intIn(1, 10))*time.Millisecond
		nw.Loss = float64(g.intIn(0, 10)) / 200
		nw.Duplicate = float64(g.intIn(0, 10)) / 200
	default: // a fast LAN
		nw.LatencyMin = time.Duration(g.intIn(1, 5)) * time.Millisecond
		nw.LatencyMax = nw.LatencyMin + time.Duration(g.intIn(0, 5))*time.Millisecond
	}
}

// Reasons an operator may give, by command kind.
var reasons = map[roles.Kind][]roles.Reason{
	roles.Promote:    {roles.ScalingUp, roles.Operator, roles.Rebalance, roles.ReplacingFailed},
	roles.Demote:     {roles.ScalingDown, roles.Operator, roles.Rebalance, roles.HealthDegraded},
	roles.Quarantine: {roles.HealthDegraded, roles.Operator},
	roles.Restore:    {roles.Operator},
}

func (g *gen) command(kind roles.Kind, target sim.Selector) sim.Command {
	rs := reasons[kind]
	c := sim.Command{Kind: kind, Target: target, Reason: rs[g.r.IntN(len(rs))]}
	switch kind {
	case roles.Demote, roles.Quarantine:
		g.removals++
	}
	if kind == roles.Quarantine {
		g.quarantines++
	}
	return c
}

// partialRoles are control-plane role sets short of all four.
var partialRoles = []roles.Roles{roles.Scheduler, roles.APIServer | roles.Scheduler, roles.ControllerManager, roles.Etcd}

// worker names an initial worker, or any node when there is none.
func (g *gen) worker() sim.Selector {
	if g.p.Nodes > g.p.ControlPlane {
		return node(g.intIn(g.p.ControlPlane+1, g.p.Nodes))
	}
	return g.anyNode()
}

// voter names an initial control-plane node.
func (g *gen) voter() sim.Selector { return node(g.intIn(1, g.p.ControlPlane)) }

// commands drafts the operator's commands; they get their times in
// timeline, once the window is known.
func (g *gen) commands() {
	if g.chance(1, 4) && g.p.Nodes > 1 { // a joint shift, the leader crashing just after
		g.flavors = append(g.flavors, "joint")
		g.cmds = append(g.cmds, draft{c: g.jointShift(), after: -1})
	}
	if g.chance(1, 2) {
		return
	}
	for range g.intIn(1, CommandsMax) {
		switch g.r.IntN(6) {
		case 0, 1:
			c := g.command(roles.Promote, g.pick(g.worker(), "random-worker"))
			if g.strategy == nil && g.chance(1, 3) {
				c.Roles = partialRoles[g.r.IntN(len(partialRoles))]
			}
			g.cmds = append(g.cmds, draft{c: c, after: -1})
		case 2:
			c := g.command(roles.Demote, g.pick(g.voter(), "random-voter"))
			if g.strategy == nil && g.chance(1, 3) {
				c.Roles = partialRoles[g.r.IntN(len(partialRoles))]
			}
			g.cmds = append(g.cmds, draft{c: c, after: -1})
		case 3: // quarantine, and usually restore, one named node
			n := g.anyNode()
			g.cmds = append(g.cmds, draft{c: g.command(roles.Quarantine, n), after: -1})
			if g.chance(3, 4) {
				g.cmds = append(g.cmds, draft{c: g.command(roles.Restore, n), after: len(g.cmds) - 1})
			}
		case 4:
			g.cmds = append(g.cmds, draft{c: g.jointShift(), after: -1})
		case 5: // a promotion the policy or a fault may undo at once
			g.flavors = append(g.flavors, "staged")
			g.cmds = append(g.cmds, draft{c: g.command(roles.Promote, g.worker()), after: -1})
		}
	}
}

func (g *gen) pick(named, dynamic sim.Selector) sim.Selector {
	if g.chance(1, 3) {
		return dynamic
	}
	return named
}

// jointShift swaps voters in one shift, or adds two: either way more than
// one voter changes, so Raft goes through a joint configuration.
func (g *gen) jointShift() sim.Command {
	workers := g.p.Nodes - g.p.ControlPlane
	switch {
	case workers >= 2 && g.chance(1, 2): // two new voters at once
		a := g.intIn(g.p.ControlPlane+1, g.p.Nodes)
		b := g.p.ControlPlane + 1 + (a-g.p.ControlPlane)%workers // another worker
		c := g.command(roles.Promote, node(a))
		c.With = []sim.Command{g.command(roles.Promote, node(b))}
		return c
	case workers >= 1:
		c := g.command(roles.Promote, g.worker())
		c.With = []sim.Command{g.command(roles.Demote, g.voter())}
		return c
	default: // no worker: demote two voters, or one and promote it back
		c := g.command(roles.Demote, g.voter())
		other := node(1 + g.intIn(0, g.p.Nodes-1))
		c.With = []sim.Command{g.command(roles.Promote, other)}
		return c
	}
}

// voterFloor is Vlow for k permanent crashes: the fewest voters the mesh
// may have at any moment.
func (g *gen) voterFloor(k int) int {
	low := g.p.ControlPlane - g.removals
	if g.strategy != nil {
		e := g.p.Nodes - k - g.quarantines - g.left
		if e < 1 {
			return 0
		}
		t, err := g.strategy.Target(e)
		if err != nil && g.p.Target != "explicit" {
			return 0
		}
		low = min(low, t.Voters)
	}
	return low
}

// permanent draws how many nodes crash for good.
func (g *gen) permanent() {
	if !g.chance(1, 3) {
		return
	}
	most := 0
	for k := 1; k < g.p.Nodes; k++ {
		if 2*k+1 <= g.voterFloor(k) {
			most = k
		}
	}
	if most > 0 {
		g.kills = g.intIn(1, most)
	}
}

// timeline places the boot partition, the permanent crashes, the window of
// temporary faults and the commands, and sets the heal time H.
func (g *gen) timeline() {
	t := time.Duration(0)
	if g.chance(1, 8) && g.p.Nodes > 1 {
		f := g.partition(0)
		f.For = g.between(3*time.Second, 15*time.Second)
		g.p.Faults = append(g.p.Faults, f)
		g.disruptions++
		t = f.For
	}
	t = g.attrition(t)
	start := t + g.between(2*time.Second, 8*time.Second)
	g.h, g.start = start+g.between(WindowMin, WindowMax), start
	g.placeCommands(start)
	g.biased(start)
	for range g.intIn(0, TempFaultsMax) {
		g.tempFault(start)
	}
	g.resets()
	g.p.Faults = append(g.p.Faults, sim.Fault{At: g.h, Kind: sim.Heal}) // pins the heal time at H
	slices.SortStableFunc(g.p.Faults, func(a, b sim.Fault) int { return cmp.Compare(a.At, b.At) })
	slices.SortStableFunc(g.p.Commands, func(a, b sim.Command) int { return cmp.Compare(a.At, b.At) })
}

// attrition places the permanent crashes from t on and returns when the
// phase ends: named nodes first, each a distinct node, then selectors that
// pick a live node.
func (g *gen) attrition(t time.Duration) time.Duration {
	if g.kills == 0 {
		return t
	}
	named := g.intIn(0, g.kills)
	perm := g.r.Perm(g.p.Nodes)
	for i := range g.kills {
		t += g.between(3*time.Second, 15*time.Second)
		sel := sim.Selector("leader")
		switch {
		case i < named:
			sel = node(perm[i] + 1)
		case g.chance(1, 2):
			sel = "random-voter"
		}
		g.p.Faults = append(g.p.Faults, sim.Fault{At: t, Kind: sim.Crash, Target: sel})
	}
	return t + g.between(5*time.Second, 20*time.Second)
}

// placeCommands gives the drafted commands times in [start, H-5s]; a
// restore comes after its quarantine.
func (g *gen) placeCommands(start time.Duration) {
	last := g.h - 5*time.Second
	for i, d := range g.cmds {
		lo := start
		if d.after >= 0 {
			lo = g.cmds[d.after].c.At + step
		}
		d.c.At = g.between(lo, last)
		g.cmds[i] = d
		g.p.Commands = append(g.p.Commands, d.c)
		if len(d.c.With) > 0 && g.chance(1, 2) {
			// The leader dies mid-shift: the joint configuration lasts a
			// few round trips after the learners caught up, so the crash
			// is timed in round trips, and a new leader is elected in it.
			rtt := 2 * g.p.Network.LatencyMax
			g.addTemp(sim.Fault{At: d.c.At + g.between(step+rtt, time.Second+3*rtt), Kind: sim.Crash, Target: "leader"}, 3*time.Second, 10*time.Second)
		}
		if g.kills == 0 && d.c.Kind == roles.Promote && len(d.c.With) == 0 && d.c.Target != "random-worker" && g.chance(1, 2) {
			// the promoted node dies before it catches up: the staged
			// promotion must give up (it cannot be a dead node: no kills)
			g.addTemp(sim.Fault{At: d.c.At + g.between(step, time.Second), Kind: sim.Crash, Target: d.c.Target}, 10*time.Second, 30*time.Second)
		}
	}
}

// addTemp appends f with a For drawn in [lo, hi], cut so that it ends by H
// less a second; f is dropped when it would not fit.
func (g *gen) addTemp(f sim.Fault, lo, hi time.Duration) {
	end := g.h - time.Second
	if f.At+lo > end || f.At < 0 {
		return
	}
	f.For = g.between(lo, min(hi, end-f.At))
	g.p.Faults = append(g.p.Faults, f)
	if f.Kind != sim.Duplicate { // all but duplication may change a node's health
		g.disruptions++
	}
}

// biased adds the faults a share of seeds aims at rare paths with.
func (g *gen) biased(start time.Duration) {
	if g.chance(1, 6) && g.p.Nodes > 2 { // promotion while a minority is cut off
		g.flavors = append(g.flavors, "promote-partitioned")
		at := g.between(start, g.h-15*time.Second)
		g.addTemp(sim.Fault{At: at, Kind: sim.Partition, Groups: [][]sim.Selector{{"minority"}}}, 8*time.Second, 20*time.Second)
		c := g.command(roles.Promote, g.pick(g.worker(), "random-worker"))
		c.At = at + g.between(step, 3*time.Second)
		if c.At < g.h-5*time.Second {
			g.p.Commands = append(g.p.Commands, c)
		}
	}
	if g.chance(1, 5) { // the leader crashes
		g.flavors = append(g.flavors, "leader-crash")
		g.addTemp(sim.Fault{At: g.between(start, g.h-5*time.Second), Kind: sim.Crash, Target: "leader"}, 2*time.Second, 20*time.Second)
	}
	if g.chance(1, 6) { // a paused node collects messages
		g.flavors = append(g.flavors, "pause")
		g.addTemp(sim.Fault{At: g.between(start, g.h-5*time.Second), Kind: sim.Pause, Target: g.crashSelector()}, 2*time.Second, 15*time.Second)
	}
	if g.chance(1, 6) { // a follower down long enough to need a snapshot
		g.flavors = append(g.flavors, "snapshot")
		g.addTemp(sim.Fault{At: g.between(start, g.h-25*time.Second), Kind: sim.Crash, Target: "random-voter"}, 20*time.Second, 40*time.Second)
	}
}

// dynamic are the selectors resolved when a fault fires; live picks only a
// live node, so a crash with for or a pause through it never names a dead
// node.
var (
	dynamic = []sim.Selector{"leader", "random-voter", "random-worker", "random", "minority", "majority"}
	live    = []sim.Selector{"leader", "random-voter", "random-worker", "random"}
)

// crashSelector picks the target of a temporary crash or pause: any
// selector, or, when some node is dead for good, one that picks a live
// node ("minority" and "majority" pick among every voter, dead or not).
func (g *gen) crashSelector() sim.Selector {
	if g.kills > 0 {
		return live[g.r.IntN(len(live))]
	}
	return g.selector()
}

func (g *gen) selector() sim.Selector {
	if g.chance(1, 2) {
		return dynamic[g.r.IntN(len(dynamic))]
	}
	return g.anyNode()
}

// tempFault adds one temporary fault in [start, H).
func (g *gen) tempFault(start time.Duration) {
	at := g.between(start, g.h-2*time.Second)
	switch g.r.IntN(11) {
	case 0, 1:
		g.addTemp(sim.Fault{At: at, Kind: sim.Crash, Target: g.crashSelector()}, time.Second, 25*time.Second)
	case 2: // a crash undone by an explicit restart of the same node
		if g.kills > 0 || at+2*time.Second > g.h-time.Second {
			return
		}
		n := g.anyNode()
		g.p.Faults = append(g.p.Faults, sim.Fault{At: at, Kind: sim.Crash, Target: n},
			sim.Fault{At: g.between(at+time.Second, g.h-time.Second), Kind: sim.Restart, Target: n})
		g.disruptions++
	case 3:
		g.addTemp(sim.Fault{At: at, Kind: sim.Pause, Target: g.crashSelector()}, time.Second, 15*time.Second)
	case 4: // a pause undone by an explicit resume
		if at+2*time.Second > g.h-time.Second {
			return
		}
		n := g.anyNode()
		g.p.Faults = append(g.p.Faults, sim.Fault{At: at, Kind: sim.Pause, Target: n},
			sim.Fault{At: g.between(at+time.Second, min(at+20*time.Second, g.h-time.Second)), Kind: sim.Resume, Target: n})
		g.disruptions++
	case 5:
		g.addTemp(g.partition(at), time.Second, 30*time.Second)
	case 6: // a partition ended by an explicit heal
		if at+2*time.Second > g.h-time.Second {
			return
		}
		g.p.Faults = append(g.p.Faults, g.partition(at),
			sim.Fault{At: g.between(at+time.Second, min(at+30*time.Second, g.h-time.Second)), Kind: sim.Heal})
		g.disruptions++
	case 7:
		g.addTemp(sim.Fault{At: at, Kind: sim.Loss, Rate: float64(g.intIn(1, 30)) / 100}, time.Second, 20*time.Second)
	case 8:
		g.addTemp(sim.Fault{At: at, Kind: sim.Duplicate, Rate: float64(g.intIn(1, 30)) / 100}, time.Second, 20*time.Second)
	case 9:
		g.addTemp(sim.Fault{At: at, Kind: sim.ClockSkew, Target: g.selector(), Rate: float64(g.intIn(10, 40)) / 20}, 5*time.Second, 40*time.Second)
	case 10: // chaos: its last crash is restarted within sim.ChaosDowntimeMax
		end := g.h - sim.ChaosDowntimeMax - time.Second
		if at+2*time.Second > end {
			return
		}
		g.p.Faults = append(g.p.Faults, sim.Fault{At: at, Kind: sim.Chaos, Rate: float64(g.intIn(1, 10)) / 100,
			For: g.between(time.Second, min(15*time.Second, end-at))})
		g.disruptions += 2
	}
}

// partition draws a partition at a time, without For: of named nodes
// (each in at most one group), or of one dynamic selector; one-way
// sometimes.
func (g *gen) partition(at time.Duration) sim.Fault {
	f := sim.Fault{At: at, Kind: sim.Partition, OneWay: g.chance(1, 4)}
	if g.chance(1, 2) {
		sels := []sim.Selector{"minority", "majority", "leader", "random-voter", "random-worker"}
		f.Groups = [][]sim.Selector{{sels[g.r.IntN(len(sels))]}}
		return f
	}
	perm := g.r.Perm(g.p.Nodes)
	cut := g.intIn(1, max(1, g.p.Nodes-1)) // nodes named; the rest form one more group
	groups := 1
	if cut >= 2 && g.chance(1, 3) {
		groups = 2
	}
	f.Groups = make([][]sim.Selector, groups)
	for i, p := range perm[:cut] {
		gi := 0
		if groups == 2 && i >= (cut+1)/2 {
			gi = 1
		}
		f.Groups[gi] = append(f.Groups[gi], node(p+1))
	}
	return f
}

// resets returns the loss and duplicate rates to the network's just after
// H less a second: overlapping loss windows restore each other's rates out
// of order, and every window (addTemp) ends by H less a second, so its undo
// comes before the reset.
func (g *gen) resets() {
	for _, k := range []sim.FaultKind{sim.Loss, sim.Duplicate} {
		if slices.ContainsFunc(g.p.Faults, func(f sim.Fault) bool { return f.Kind == k }) {
			rate := g.p.Network.Loss
			if k == sim.Duplicate {
				rate = g.p.Network.Duplicate
			}
			g.p.Faults = append(g.p.Faults, sim.Fault{At: g.h - time.Second + step, Kind: k, Rate: rate})
		}
	}
}

var faces = []string{"kubernetes", "kubernetes", "kubernetes", "kubernetes", "nomad", "systemd", "pureraft", "baremetal"}

func (g *gen) workload() {
	if !g.chance(1, 2) {
		return
	}
	w := &sim.Workload{
		Clients: g.intIn(1, 8),
		Rate:    float64(g.intIn(2, 2*RateMax)) / 2,
		Keys:    g.intIn(1, 50),
		Face:    faces[g.r.IntN(len(faces))],
		Mix:     sim.Mix{Apply: g.intIn(0, 5), Get: g.intIn(0, 4), List: g.intIn(0, 2), Delete: g.intIn(0, 2), Watch: g.intIn(0, 2)},
		CAS:     float64(g.intIn(0, 5)) / 10,
		Local:   float64(g.intIn(0, 3)) / 10,
	}
	if w.Mix == (sim.Mix{}) {
		w.Mix.Apply = 1
	}
	if g.chance(1, 4) { // watches resume over a short retained history
		g.flavors = append(g.flavors, "watch-compacted")
		w.Mix.Watch = g.intIn(2, 4)
		w.Resume = float64(g.intIn(5, 9)) / 10
		w.Retain = g.intIn(5, 20)
	}
	if g.chance(1, 4) { // many writes and few keys: snapshots
		g.flavors = append(g.flavors, "write-heavy")
		w.Mix = sim.Mix{Apply: 8, Get: 1, Delete: 1}
		w.Keys = g.intIn(1, 8)
		w.Rate = float64(g.intIn(20, RateMax))
	}
	g.p.Workload = w
}

// expect sets the liveness monitors and the run's length: H plus a tail
// long enough for every monitor's bound.
func (g *gen) expect() {
	p := g.p
	l := &p.Expect.Liveness
	l.Leader = LeaderTimeouts
	// sim's election timeout: at least five round trips of the slowest link.
	rtt := 2 * p.Network.Slowest()
	electionTicks := max(sim.ElectionTicks, int((5*rtt+sim.TickInterval-1)/sim.TickInterval))
	leaderWithin := time.Duration(LeaderTimeouts*electionTicks) * sim.TickInterval
	tail := max(QuietMin, leaderWithin+20*time.Second)
	if g.strategy != nil {
		l.Synced = SyncedWithin + 10*p.Network.Slowest()
		l.Membership = MemberRounds + int(10*p.Network.Slowest()/gossipRound)
		if sh := g.shape(leaderWithin); sh != nil {
			l.Shape = sh
			tail = max(tail, sh.Within+10*time.Second)
		}
	}
	p.Duration = g.h + tail
}

// shape is the Shape expectation, or nil when it is not well defined.
func (g *gen) shape(leaderWithin time.Duration) *sim.Converge {
	if g.quarantines > 0 {
		return nil
	}
	// The policy sizes its target on the whole mesh, dead nodes included,
	// and never scales below it (core/policy, rule 4): the shape is
	// expected only where the survivors can fill that target.
	survivors := g.p.Nodes - g.kills - g.left
	t, err := g.strategy.Target(g.p.Nodes)
	if err != nil || t.ControlPlane < 1 || survivors < t.Voters {
		return nil
	}
	if g.left > 0 {
		// A leave may commit or time out (held, then given up): the shape
		// is expected only where both meshes want the same.
		if tl, err := g.strategy.Target(g.p.Nodes - g.left); err != nil || tl != t {
			return nil
		}
	}
	k := g.p.Policy
	within := or(k.Damper, defaultDamper) + or(k.Grace, defaultGrace) + or(k.Stabilize, defaultStabilize) +
		2*or(k.AuditEvery, sim.AuditEvery) + leaderWithin + time.Duration(max(0, t.Voters-g.p.ControlPlane))*perVoterShift + shapeSlack
	if g.disruptions >= 2 || g.p.Network.Loss > 0 || g.lossy {
		if !g.chance(1, flappyShapeOdds) {
			return nil // a tail of four minutes or more: kept for a share only
		}
		within += flapQuiet
	}
	if len(g.p.Commands) > 0 {
		within += 15 * time.Second // a command still retrying at H
	}
	return &sim.Converge{Within: within, ControlPlane: t.ControlPlane}
}

func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func (g *gen) describe() string {
	target := "no target"
	if g.p.Target != "" {
		target = "target " + g.p.Target
		if g.p.Target == "explicit" {
			target += fmt.Sprintf(" %d voters", g.p.TargetVoters)
		}
	}
	heal := fmt.Sprintf("faults heal at %v", g.h)
	if slices.Contains(g.flavors, "poison") {
		heal += ", but for the poisoned worker: it stays hostile for good"
	}
	s := fmt.Sprintf("Generated by revoada explore: %d nodes, %s, %d permanent crashes, %s.", g.p.Nodes, target, g.kills, heal)
	if len(g.flavors) > 0 {
		s += fmt.Sprintf(" Aims at: %v.", g.flavors)
	}
	return s
}
