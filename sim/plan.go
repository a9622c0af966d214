package sim

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/core/topology"
)

// Plan is one simulation's script: the mesh, its network, the faults and role
// commands to inject at given simulated times, and what to expect. Package
// scenarios builds Plans from YAML; tests may build them directly.
type Plan struct {
	Name         string
	Description  string
	Nodes        int // mesh size, nodes n1..nN
	ControlPlane int // nodes n1..nK start with every control-plane role
	// Outside, if non-zero, is how many of the last nodes start outside
	// the shape, as nodes joining a running mesh (node.Config.Join): a
	// join command admits them. Until then their peers drop what they
	// send, as a production host does.
	Outside  int
	Duration time.Duration // simulated time
	Network  Network
	Faults   []Fault
	Commands []Command
	Workload *Workload // resource traffic; nil for none
	// Target turns on self-healing: gossip membership on every node and the
	// policy on the leader, aiming at this topology strategy (solo, pair,
	// quorum-3m, cluster-3m-nw, mesh-all-peers, phalanx). "" for none.
	Target string
	// TargetVoters, if non-zero, is an explicit voter count instead of a
	// strategy (with Target "explicit").
	TargetVoters int
	Policy       PolicyKnobs
	Expect       Expect
}

// PolicyKnobs tune the policy; zero values take the defaults.
type PolicyKnobs struct {
	AuditEvery   time.Duration // how often the leader audits (1s)
	Grace        time.Duration // a suspect voter is replaced after this long (3s)
	Damper       time.Duration // at most one shift per node per this long (60s)
	Stabilize    time.Duration // a node must be up this long to be promoted (5s)
	PhiThreshold float64       // membership's suspicion threshold (8)
}

// Workload is resource traffic from simulated clients. Each client issues one
// operation at a time to a node it picked at random (switching node when the
// node crashes or an operation times out), starting each an exponentially
// distributed pause after the start of its previous one (at once if that
// one took longer), so that all clients together issue about Rate operations
// per simulated second. Clients that cannot keep up (operations lasting
// longer than Clients/Rate on average: slow links, watches, which last
// WatchSpan) issue fewer; Stats.OpsPerSecond is what they issued. Keys name
// the resources it writes (key-0 .. key-N-1), all of one kind of the Face.
type Workload struct {
	Clients int
	Rate    float64 // operations per second, over all clients
	Keys    int
	Face    string // kubernetes, nomad, systemd, pureraft or baremetal
	Mix     Mix
	// CAS is the share of applies and deletes made with an expected
	// revision (the last one the client saw for the key).
	CAS float64
	// Local is the share of gets and lists asked as local reads.
	Local float64
	// Resume is the share of watches that resume from a revision up to
	// ResumeBackMax revisions back, replaying the store's history first,
	// instead of starting from the contact's current revision.
	Resume float64
	// Retain, if non-zero, keeps only this many events of store history: a
	// client compacts its contact node's history before each operation, so
	// resumed watches meet compaction.
	Retain int
	// PaceFromEnd counts each client's pause from its operation's end, as
	// the simulator did before it counted from the start: its clients then
	// issue less than Rate whenever operations last. It keeps the plans
	// frozen before (sim/explore/testdata/found) running as when they
	// failed; new plans leave it out.
	PaceFromEnd bool
	// Script, if set, replaces the random clients: each operation is issued
	// at its time to its node by its client, once the client's previous
	// operation has returned. Clients, Rate, Mix and the shares are then
	// unused. A shrunk scenario carries its operations this way.
	Script []ScriptOp
}

// ScriptOp is one scripted client operation.
type ScriptOp struct {
	At     time.Duration
	Client int
	Node   Selector // the contact node; a live one is picked if it is down
	Verb   string   // apply, get, list, delete or watch
	Key    string   // the resource name, for apply, get and delete
	CAS    bool     // an apply or delete expecting the client's last seen revision
	Local  bool     // a local get or list
	Back   int      // a watch resuming this many revisions back; 0 starts from now
}

// Saturated reports whether a workload's clients could not keep up with
// the rate asked: of the ops operations they issued, at rate a second,
// more than LateShareMax were late (Stats.OpsLate), and the rate is below
// RateShortfall of the one asked. Either alone says little: an operation
// is late whenever its pause was drawn shorter than the one before took,
// and at low rates the rate issued varies by chance. The CLI says so;
// no built-in is.
func Saturated(asked, rate float64, ops, late int) bool {
	return ops > 0 && float64(late)/float64(ops) > LateShareMax && rate < RateShortfall*asked
}

// The thresholds of Saturated.
const (
	LateShareMax  = 0.2
	RateShortfall = 0.8
)

// ResumeBackMax is how far back a resumed watch may start.
const ResumeBackMax = 20

// Mix weighs the five verbs; an operation picks one with probability
// proportional to its weight.
type Mix struct {
	Apply, Get, List, Delete, Watch int
}

// Workload limits.
const (
	ClientsMax = 64
	KeysMax    = 10_000
	RateMax    = 10_000
)

// Network is the baseline network model. Each message's latency is drawn
// from Distribution over [LatencyMin, LatencyMax], so messages reorder.
// Links override the baseline between given nodes; Bandwidth and Queue bound
// what each node can send (see network.go for the model).
type Network struct {
	LatencyMin, LatencyMax time.Duration
	Distribution           Distribution // "" is Uniform
	Loss                   float64      // probability a message is dropped
	Duplicate              float64      // probability a message is delivered twice
	// Bandwidth, if positive, is the bytes per second each node can send:
	// its messages leave one after the other, each taking its size over
	// the bandwidth. Queue is the most bytes a node holds not yet sent: a
	// message that finds more than that waiting is dropped (tail drop). A
	// message is taken whole whatever its size, so a snapshot larger than
	// the queue waits its turn rather than starve. One pipe per node, as
	// one connection would be: a large message holds back every message
	// behind it, heartbeats too (a transport with a stream per kind, as
	// etcd's, would not).
	Bandwidth, Queue int64
	Links            []Link // in order: a later link wins where two cover the same pair
}

// Distribution is the shape of a latency distribution over [min, max]. Each
// draws once from the network's stream per message (none when min = max).
type Distribution string

// The latency distributions.
const (
	// Uniform: every latency in [min, max] alike (the default, also "").
	Uniform Distribution = "uniform"
	// Normal: mean (min+max)/2, standard deviation (max-min)/6, clamped to
	// [min, max] (0.3% of draws are clamped).
	Normal Distribution = "normal"
	// Pareto is the long tail: min + s·(u^(-1/ParetoShape) - 1) for u
	// uniform in (0, 1] and s = (max-min)/ParetoSpanShares, capped at max.
	// Half the messages take less than min + 0.6% of the span, 35% more
	// than 1%, 2.7% more than 10%, and 0.1% reach max: a LAN whose
	// queues sometimes back up.
	Pareto Distribution = "pareto"
)

// The Pareto distribution's constants.
const (
	ParetoShape      = 1.5 // α: the tail's weight; above 1 the mean is finite (2s)
	ParetoSpanShares = 100 // the span over the scale s
)

// Link overrides the network on the links between two sets of nodes: every
// message from a node of From to a node of To, and back unless OneWay, takes
// this latency and suffers this loss on top of the network's. With a
// Bandwidth, the link is a pipe of that many bytes per second each way
// (shared by every pair it covers), queueing up to Queue bytes, on top of the
// senders' own bandwidth.
type Link struct {
	From, To []Selector // To empty: every node not in From
	OneWay   bool

	LatencyMin, LatencyMax time.Duration
	Distribution           Distribution
	Loss                   float64 // the chance of a drop on this link, independent of the network's
	Bandwidth, Queue       int64
}

// Traffic is a class of messages a partition may cut alone.
type Traffic string

// The traffic classes: a node.Message's Kind.
const (
	RaftTraffic    Traffic = "raft"     // node.MsgRaft, and node.MsgShape: what raft replicates
	GossipTraffic  Traffic = "gossip"   // node.MsgGossip: membership
	RequestTraffic Traffic = "requests" // node.MsgForward and node.MsgResult: clients' requests and their answers
)

// DiskMode is what a disk fault does to a node's disk.
type DiskMode string

// The disk fault modes.
const (
	DiskCorrupt DiskMode = "corrupt" // blocks corrupted on the medium: a checksum must catch them; never undone
	// DiskTamper alters a block of the role history in the snapshot on
	// Target's disk and makes every checksum good again, as an attacker
	// with the disk would, and restarts the node: it must refuse its own
	// state (a signature no longer verifies). Never undone.
	DiskTamper     DiskMode = "tamper"
	DiskFull       DiskMode = "full"        // writes fail while it lasts
	DiskReadErrors DiskMode = "read-errors" // each read fails with probability Rate while it lasts
)

// FaultKind names a fault.
type FaultKind string

// The fault kinds.
const (
	Crash     FaultKind = "crash"     // stop Target; it loses what it had not synced
	Restart   FaultKind = "restart"   // start a crashed Target from its disk
	Pause     FaultKind = "pause"     // freeze Target; messages to it wait
	Resume    FaultKind = "resume"    // unfreeze Target
	Partition FaultKind = "partition" // split the mesh into Groups
	Heal      FaultKind = "heal"      // remove every partition
	Loss      FaultKind = "loss"      // set the network's loss probability to Rate
	Duplicate FaultKind = "duplicate" // set the network's duplicate probability to Rate
	Chaos     FaultKind = "chaos"     // random crashes and restarts, Rate per node per second
	// ClockSkew changes Target's clock: it runs at Rate times real speed
	// (1.05: 5% fast), each tick's interval varies by up to Jitter either
	// way, and its wall clock steps by Jump (seen when the node starts
	// next: a running node counts ticks). Any of the three, or several.
	ClockSkew FaultKind = "clock"
	LinkFault FaultKind = "link"    // Link's links take its latency, loss and bandwidth
	Clog      FaultKind = "clog"    // messages to and from Target are held, not dropped, until the fault is undone
	Swizzle   FaultKind = "swizzle" // clog Target's nodes (a random subset: "") one by one over For/2, unclog in reverse order
	Ring      FaultKind = "ring"    // each node reaches only its neighbours in the ring Groups[0] (none: a random order)
	Disk      FaultKind = "disk"    // Target's disk fails in Mode
	// Poison makes Target hostile to content sync: it serves corrupt blob
	// parts and forges state roots in voters' names (sim/poison.go).
	Poison FaultKind = "poison"
)

// Selector picks nodes when a fault or command fires:
//
//	n3              one node by number
//	leader          the leader; a random live voter when there is none
//	follower        a random live voter that is not the leader (any live
//	                voter when there is no leader)
//	random-voter    a random live voter
//	random-worker   a random live worker
//	random          a random live node
//	minority        a random minority of the voters, up or down
//	majority        a random majority of the voters, up or down
//	not:leader,n2   every node of the mesh, up or down, that none of the
//	                listed selectors picks (Not builds it)
//
// The random ones draw from the fault stream when they fire, in the order
// the plan lists them; a selector a plan does not use draws nothing, so a
// new one leaves the runs of plans without it as they were. A not-selector
// lists plain selectors (no not inside a not) and may pick many nodes, so it
// is valid as a fault's Target and as a partition group of its own (at most
// one per partition), not as a command's Target or To nor a script
// operation's Node. In a partition, a selector the not lists that another
// group of the same partition also names stands for the nodes it picked
// there: Groups {{"random-voter"}, {Not("random-voter")}} cut one voter off
// from every other node.
type Selector string

// notPrefix starts a not-selector's string form.
const notPrefix = "not:"

// dynamicSelectors are the selectors other than node names and nots.
var dynamicSelectors = []Selector{"leader", "follower", "random-voter", "random-worker", "random", "minority", "majority"}

// Not is the selector of every node that none of sels picks.
func Not(sels ...Selector) Selector {
	parts := make([]string, len(sels))
	for i, s := range sels {
		parts[i] = string(s)
	}
	return Selector(notPrefix + strings.Join(parts, ","))
}

// Negated returns the selectors a not-selector lists, and whether s is one.
func (s Selector) Negated() ([]Selector, bool) {
	rest, ok := strings.CutPrefix(string(s), notPrefix)
	if !ok {
		return nil, false
	}
	var sels []Selector
	if rest != "" {
		for part := range strings.SplitSeq(rest, ",") {
			sels = append(sels, Selector(part))
		}
	}
	return sels, true
}

// Node returns the number of the node s names ("n3" is 3), and whether s is
// a node name at all; the number is not checked against a mesh.
func (s Selector) Node() (int, bool) {
	digits, ok := strings.CutPrefix(string(s), "n")
	n, err := strconv.Atoi(digits)
	return n, ok && err == nil && "n"+strconv.Itoa(n) == string(s)
}

// Fault is one fault injected at a simulated time.
type Fault struct {
	At     time.Duration
	Kind   FaultKind
	Target Selector      // crash, restart, pause, resume, clock, clog, swizzle, disk
	Groups [][]Selector  // partition: nodes named in no group form one more group; ring: its order
	OneWay bool          // partition: only messages from Groups[0] to the rest are cut
	For    time.Duration // if non-zero, the fault is undone after this long
	Rate   float64       // loss, duplicate, chaos; clock: speed; disk read-errors: a read's chance to fail
	Jump   time.Duration // clock: the step of the node's wall clock (negative: back)
	Jitter float64       // clock: the most a tick's interval varies, as a share, either way
	// Bridge (partition) picks nodes that belong to no group: they reach
	// every group and every group reaches them.
	Bridge  Selector
	Traffic Traffic  // partition, ring: the only class of messages cut ("": all)
	Link    *Link    // link
	Mode    DiskMode // disk
}

// Command is a role command submitted by an operator client at a simulated
// time. The client submits to a random live node, or to To when it is set,
// and submits again on timeout, OperatorRetryDelay later, up to
// OperatorAttemptsMax attempts in all; a refusal by a node outside the
// shape is no attempt (the mesh never had the command).
type Command struct {
	At     time.Duration
	Kind   roles.Kind
	Target Selector
	Roles  roles.Roles // zero: every control-plane role
	Reason roles.Reason
	// To, if set, is the node (a name such as "n3") the client submits to,
	// every attempt. An attempt that finds it crashed or paused counts and
	// fails at once, as a timeout would, and the client tries it again after
	// OperatorRetryDelay; a command pending on it when it crashes is
	// submitted to it again the same way. "" submits each attempt to a
	// random live node. In a shift only the first command's To counts: the
	// commands of With must leave it empty.
	To Selector
	// With are further commands submitted in the same shift, applied
	// atomically with this one; when several voters change, Raft moves
	// through a joint configuration. Their At is ignored.
	With []Command
}

// Expect is what must hold at the end of the run, beyond the safety checks
// that always run.
type Expect struct {
	// Converge, if set, requires the committed shape to have ControlPlane
	// control-plane nodes within Within of the last fault healing or the
	// last command being issued, whichever is later.
	Converge *Converge
	// CommandsComplete requires every scheduled command to have a final
	// result (accepted, or rejected with a typed reason) by the end.
	CommandsComplete bool
	// Progress, if set, requires the workload to complete at least this
	// share of its operations successfully (it always checks the history).
	Progress float64
	// Liveness are monitors judged from the heal time on.
	Liveness Liveness
}

// Liveness declares liveness monitors. Each is hot while its goal is unmet
// and cold once met; it is armed when the last fault heals (its For ends)
// and fails if it then stays hot longer than its bound at a stretch.
type Liveness struct {
	// Leader bounds a leaderless stretch, in election timeouts. The
	// leader-after-heal monitor always runs; zero keeps its bound of 10.
	Leader int
	// Shape requires the committed shape to hold ControlPlane control-plane
	// nodes, every one of them up, within Within.
	Shape *Converge
	// Membership requires every live node's membership view (the nodes it
	// holds healthy) to be exactly the live nodes within this many gossip
	// rounds. It needs gossip, so a Target.
	Membership int
	// Synced bounds how stale a live worker's synced state may be (see
	// PropSynced): from the moment a newer root than the one it installed
	// is published, it installs one at least as new within Synced. It
	// needs gossip, so a Target.
	Synced time.Duration
}

// Liveness limits.
const (
	LeaderTimeoutsMax   = 1000
	MembershipRoundsMax = 10_000
)

// Converge is a convergence expectation.
type Converge struct {
	Within       time.Duration
	ControlPlane int
}

// Validate checks a plan for values the simulator cannot run. Package
// scenarios reports the same problems with file and line.
func (p *Plan) Validate() error {
	switch {
	case p.Nodes < 1 || p.Nodes > NodesMax:
		return fmt.Errorf("sim: nodes %d out of range 1..%d", p.Nodes, NodesMax)
	case p.ControlPlane < 1 || p.ControlPlane > p.Nodes:
		return fmt.Errorf("sim: control_plane %d out of range 1..%d", p.ControlPlane, p.Nodes)
	case p.Outside < 0 || p.Outside > p.Nodes-p.ControlPlane:
		return fmt.Errorf("sim: outside %d out of range 0..%d (nodes less control_plane)", p.Outside, p.Nodes-p.ControlPlane)
	case p.Duration <= 0 || p.Duration > DurationMax:
		return fmt.Errorf("sim: duration %v out of range (0, %v]", p.Duration, DurationMax)
	case p.Network.LatencyMin < 0 || p.Network.LatencyMax < p.Network.LatencyMin:
		return fmt.Errorf("sim: latency range [%v, %v] is invalid", p.Network.LatencyMin, p.Network.LatencyMax)
	case !isProbability(p.Network.Loss) || !isProbability(p.Network.Duplicate):
		return fmt.Errorf("sim: network loss and duplicate must be within [0, 1]")
	}
	if err := p.Network.validate(p.Nodes); err != nil {
		return fmt.Errorf("sim: network: %w", err)
	}
	for i, f := range p.Faults {
		if err := f.validate(p.Nodes); err != nil {
			return fmt.Errorf("sim: fault %d: %w", i, err)
		}
	}
	for i, c := range p.Commands {
		if err := c.validate(p.Nodes, ""); err != nil {
			return fmt.Errorf("sim: command %d: %w", i, err)
		}
	}
	if w := p.Workload; w != nil {
		if err := w.validate(p.Nodes); err != nil {
			return fmt.Errorf("sim: workload: %w", err)
		}
	}
	if p.Target != "" {
		if _, err := p.strategy(); err != nil {
			return fmt.Errorf("sim: target: %w", err)
		}
	}
	switch {
	case !isProbability(p.Expect.Progress):
		return fmt.Errorf("sim: expect progress %v not within [0, 1]", p.Expect.Progress)
	case p.Expect.Progress > 0 && p.Workload == nil:
		return fmt.Errorf("sim: expect progress is a share of the workload's operations: it needs a workload")
	}
	if err := p.Expect.Liveness.validate(p); err != nil {
		return err
	}
	return p.judgeable()
}

// ShortRunError is Validate's error for a plan that ends before one of its
// time-bounded checks could judge it: a monitor armed when the last fault
// heals (or convergence, timed from the calm) needs Need after From, and the
// run ends at Duration. Such a run proves nothing either way, so it is
// refused as a bad scenario rather than failed (and a shrink cannot end on
// it). Field is the expectation that needs the time ("duration" for the
// leader monitor, which always runs).
type ShortRunError struct {
	Field    string // e.g. "duration", "expect.converge.within"
	Check    string // the property that could not be judged
	Duration time.Duration
	From     time.Duration // the last heal, or the calm for convergence
	Need     time.Duration
}

func (e *ShortRunError) Error() string {
	return fmt.Sprintf("sim: duration %v is too short to judge %s: it needs %v after %v, so at least %v",
		e.Duration, e.Check, e.Need, e.From, e.From+e.Need)
}

// judgeable refuses a plan whose run ends before its liveness monitors and
// convergence could be judged.
func (p *Plan) judgeable() error {
	heal := p.HealTime()
	short := func(field, check string, from, need time.Duration) error {
		if p.Duration < from+need {
			return &ShortRunError{Field: field, Check: check, Duration: p.Duration, From: from, Need: need}
		}
		return nil
	}
	l := p.Expect.Liveness
	errs := []error{short("duration", PropLeaderAfter+" (the last fault heals at "+heal.String()+")", heal, p.LeaderWithin())}
	if l.Shape != nil {
		errs = append(errs, short("expect.liveness.shape.within", PropShapeWithin, heal, l.Shape.Within))
	}
	if l.Membership > 0 {
		errs = append(errs, short("expect.liveness.membership", PropMembershipAgree, heal, time.Duration(l.Membership)*gossipInterval*TickInterval))
	}
	if l.Synced > 0 {
		errs = append(errs, short("expect.liveness.synced", PropSynced, heal, l.Synced))
	}
	if c := p.Expect.Converge; c != nil {
		errs = append(errs, short("expect.converge.within", PropConverge+" (timed from "+p.CalmAt().String()+")", p.CalmAt(), c.Within))
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// CalmAt is when the plan stops disturbing the mesh: the last fault healed
// and the last command issued. Convergence is timed from here.
func (p *Plan) CalmAt() time.Duration {
	t := p.HealTime()
	for _, c := range p.Commands {
		t = max(t, c.At)
	}
	return t
}

// ElectionTicks follows Raft's timing rule, broadcast time ≪ election
// timeout (Raft §5.6): the nodes' election timeout spans at least
// electionRoundTrips round trips of the slowest link (the network's, or one
// of its links': a link fault is a fault, not the network), and never less
// than ElectionTicks. On 250 ms links a 1 s timeout makes two candidates
// split their votes again and again.
func (p *Plan) ElectionTicks() int {
	rtt := 2 * p.Network.Slowest()
	return max(ElectionTicks, int((electionRoundTrips*rtt+TickInterval-1)/TickInterval))
}

// Slowest is the longest latency of the network or of its links.
func (n Network) Slowest() time.Duration {
	lat := n.LatencyMax
	for _, l := range n.Links {
		lat = max(lat, l.LatencyMax)
	}
	return lat
}

// LeaderWithin is PropLeaderAfter's bound: ten election timeouts, or as
// many as the plan's liveness expectation says.
func (p *Plan) LeaderWithin() time.Duration {
	k := 10
	if l := p.Expect.Liveness.Leader; l > 0 {
		k = l
	}
	return time.Duration(k) * time.Duration(p.ElectionTicks()) * TickInterval
}

func (l Liveness) validate(p *Plan) error {
	switch {
	case l.Leader < 0 || l.Leader > LeaderTimeoutsMax:
		return fmt.Errorf("sim: liveness leader %d out of range 0..%d election timeouts", l.Leader, LeaderTimeoutsMax)
	case l.Membership < 0 || l.Membership > MembershipRoundsMax:
		return fmt.Errorf("sim: liveness membership %d out of range 0..%d rounds", l.Membership, MembershipRoundsMax)
	case l.Membership > 0 && p.Target == "":
		return fmt.Errorf("sim: liveness membership needs gossip: set a target")
	case l.Synced < 0 || l.Synced > 0 && p.Target == "":
		return fmt.Errorf("sim: liveness synced wants a positive duration and gossip (a target)")
	case l.Shape != nil && (l.Shape.Within <= 0 || l.Shape.ControlPlane < 1 || l.Shape.ControlPlane > p.Nodes):
		return fmt.Errorf("sim: liveness shape wants a positive within and control_plane in 1..%d", p.Nodes)
	}
	return nil
}

// strategy is the plan's topology strategy. An explicit target is checked
// against the mesh size here, so a mesh that can never satisfy it is refused
// before the run starts.
func (p *Plan) strategy() (topology.Strategy, error) {
	if p.Target == "explicit" {
		t := topology.Target{Voters: p.TargetVoters, ControlPlane: p.TargetVoters}
		if err := topology.Validate(t, p.Nodes, false); err != nil {
			return nil, err
		}
		return topology.Explicit(t), nil
	}
	if p.TargetVoters != 0 {
		return nil, fmt.Errorf("target_voters goes with target explicit")
	}
	return topology.ByName(p.Target)
}

func (w *Workload) validate(nodes int) error {
	m := w.Mix
	if len(w.Script) > 0 {
		return w.validateScript(nodes)
	}
	switch {
	case w.Clients < 1 || w.Clients > ClientsMax:
		return fmt.Errorf("clients %d out of range 1..%d", w.Clients, ClientsMax)
	case w.Keys < 1 || w.Keys > KeysMax:
		return fmt.Errorf("keys %d out of range 1..%d", w.Keys, KeysMax)
	case w.Keys < KeysFor(w.Clients):
		return fmt.Errorf("keys %d too few for %d clients: at most %d clients write one key (the linearizability check's cost grows fast with a key's concurrent writers), so at least %d keys", w.Keys, w.Clients, ClientsPerKeyMax, KeysFor(w.Clients))
	case !(w.Rate > 0 && w.Rate <= RateMax):
		return fmt.Errorf("rate %v out of range (0, %d]", w.Rate, RateMax)
	case !isProbability(w.CAS) || !isProbability(w.Local) || !isProbability(w.Resume):
		return fmt.Errorf("cas, local and resume are shares within [0, 1]")
	case w.Retain < 0:
		return fmt.Errorf("retain %d is negative", w.Retain)
	case m.Apply < 0 || m.Get < 0 || m.List < 0 || m.Delete < 0 || m.Watch < 0 || m.Apply+m.Get+m.List+m.Delete+m.Watch == 0:
		return fmt.Errorf("mix weights must be non-negative and not all zero")
	}
	if _, ok := workloadKinds[w.Face]; !ok {
		return fmt.Errorf("unknown face %q (want kubernetes, nomad, systemd, pureraft or baremetal)", w.Face)
	}
	return nil
}

// KeysFor is the fewest keys that clients can write with at most
// ClientsPerKeyMax of them on each (PickKey's key groups). A plan with 64
// clients on 5 keys (13 a key) ran out of memory in the linearizability
// check once clients kept their rate.
func KeysFor(clients int) int { return (clients + ClientsPerKeyMax - 1) / ClientsPerKeyMax }

func (w *Workload) validateScript(nodes int) error {
	if w.PaceFromEnd {
		return fmt.Errorf("pacing goes with random clients, not a script")
	}
	if _, ok := workloadKinds[w.Face]; !ok {
		return fmt.Errorf("unknown face %q (want kubernetes, nomad, systemd, pureraft or baremetal)", w.Face)
	}
	if w.Retain < 0 {
		return fmt.Errorf("retain %d is negative", w.Retain)
	}
	for i, op := range w.Script {
		switch {
		case op.At < 0:
			return fmt.Errorf("script %d: negative time", i)
		case op.Client < 0 || op.Client >= ClientsMax:
			return fmt.Errorf("script %d: client %d out of range 0..%d", i, op.Client, ClientsMax-1)
		case !slices.Contains(verbs, op.Verb):
			return fmt.Errorf("script %d: unknown verb %q (want apply, get, list, delete or watch)", i, op.Verb)
		case (op.Verb == "apply" || op.Verb == "get" || op.Verb == "delete") && op.Key == "":
			return fmt.Errorf("script %d: %s needs a key", i, op.Verb)
		case op.Back < 0 || op.Back > ResumeBackMax:
			return fmt.Errorf("script %d: back %d out of range 0..%d", i, op.Back, ResumeBackMax)
		}
		if err := validateOne("node", op.Node, nodes); err != nil {
			return fmt.Errorf("script %d: %w", i, err)
		}
	}
	return nil
}

var verbs = []string{"apply", "get", "list", "delete", "watch"}

// validate checks a command; field prefixes the fields its errors name
// ("with[1]." for a command of a shift).
func (c Command) validate(nodes int, field string) error {
	if err := validateOne(field+"target", c.Target, nodes); err != nil {
		return err
	}
	if c.To != "" {
		if field != "" {
			return &SelectorError{Field: field + "to", Selector: c.To, Reason: "a shift is submitted to its first command's to: leave it out of the others"}
		}
		if err := validateNode("to", c.To, nodes); err != nil {
			return err
		}
	}
	if c.Kind < roles.Promote || c.Kind > roles.Leave {
		return fmt.Errorf("unknown kind %d", c.Kind)
	}
	if len(c.With)+1 > roles.ShiftCommandsMax {
		return fmt.Errorf("a shift takes at most %d commands", roles.ShiftCommandsMax)
	}
	for k, w := range c.With {
		if len(w.With) > 0 {
			return fmt.Errorf("nested shifts")
		}
		if err := w.validate(nodes, fmt.Sprintf("with[%d].", k)); err != nil {
			return err
		}
	}
	return nil
}

// Limits of a plan.
const (
	NodesMax     = 128
	DurationMax  = 24 * time.Hour
	ClockRateMax = 10                   // a clock fault's speed: ten times fast is far outside what NTP allows
	JitterMax    = 0.9                  // a clock's jitter: a tick's interval stays above a tenth of its length
	ClockJumpMax = 365 * 24 * time.Hour // a clock fault's step, either way
	LinksMax     = 256                  // a network's links
	BandwidthMax = 1 << 40              // bytes per second
	QueueMax     = 1 << 32              // bytes
)

// FieldError is a value a plan cannot hold where it stands. Field names the
// place in its network, link or fault ("bandwidth", "links[2].loss",
// "jitter"); Reason is the whole complaint.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// validate checks what Plan.Validate does not already: the distribution,
// the bandwidth and the links.
func (n Network) validate(nodes int) error {
	if err := validateLatency("", n.LatencyMin, n.LatencyMax, n.Distribution); err != nil {
		return err
	}
	if err := validatePipe("", n.Bandwidth, n.Queue); err != nil {
		return err
	}
	if len(n.Links) > LinksMax {
		return &FieldError{Field: "links", Reason: fmt.Sprintf("%d links, more than %d", len(n.Links), LinksMax)}
	}
	for i, l := range n.Links {
		if err := l.validate(nodes, fmt.Sprintf("links[%d].", i), true); err != nil {
			return err
		}
	}
	return nil
}

// validateLatency checks a latency range and its distribution; prefix
// starts the fields its errors name.
func validateLatency(prefix string, lo, hi time.Duration, d Distribution) error {
	switch {
	case lo < 0 || hi < lo:
		return &FieldError{Field: prefix + "latency", Reason: fmt.Sprintf("range [%v, %v] is invalid", lo, hi)}
	case d != "" && d != Uniform && d != Normal && d != Pareto:
		return &FieldError{Field: prefix + "latency.distribution", Reason: fmt.Sprintf("unknown distribution %q (want uniform, normal or pareto)", d)}
	}
	return nil
}

// validatePipe checks a bandwidth and its queue.
func validatePipe(prefix string, bandwidth, queue int64) error {
	switch {
	case bandwidth < 0 || bandwidth > BandwidthMax:
		return &FieldError{Field: prefix + "bandwidth", Reason: fmt.Sprintf("%d bytes per second out of range 0..%d", bandwidth, int64(BandwidthMax))}
	case queue < 0 || queue > QueueMax:
		return &FieldError{Field: prefix + "queue", Reason: fmt.Sprintf("%d bytes out of range 0..%d", queue, int64(QueueMax))}
	case queue > 0 && bandwidth == 0:
		return &FieldError{Field: prefix + "queue", Reason: "a queue needs a bandwidth"}
	}
	return nil
}

// validate checks a link; prefix starts the fields its errors name. The
// links of the network are set before the run starts, so their ends must be
// node names; a link fault's may be any selectors.
func (l *Link) validate(nodes int, prefix string, static bool) error {
	if len(l.From) == 0 {
		return &FieldError{Field: prefix + "from", Reason: "a link needs at least one node to run from"}
	}
	for _, end := range []struct {
		name string
		sels []Selector
	}{{"from", l.From}, {"to", l.To}} {
		for k, sel := range end.sels {
			field := fmt.Sprintf("%s%s[%d]", prefix, end.name, k)
			check := validateSelector
			if static {
				check = validateNode
			}
			if err := check(field, sel, nodes); err != nil {
				return err
			}
		}
	}
	if err := validateLatency(prefix, l.LatencyMin, l.LatencyMax, l.Distribution); err != nil {
		return err
	}
	if !isProbability(l.Loss) {
		return &FieldError{Field: prefix + "loss", Reason: fmt.Sprintf("%v not within [0, 1]", l.Loss)}
	}
	return validatePipe(prefix, l.Bandwidth, l.Queue)
}

func isProbability(x float64) bool { return x >= 0 && x <= 1 }

func (f Fault) validate(nodes int) error {
	if f.At < 0 || f.For < 0 {
		return fmt.Errorf("negative time")
	}
	switch f.Kind {
	case Crash, Restart, Pause, Resume:
		return validateSelector("target", f.Target, nodes)
	case Partition:
		if err := validateTraffic(f.Traffic); err != nil {
			return err
		}
		if f.Bridge != "" {
			if err := validateSelector("bridge", f.Bridge, nodes); err != nil {
				return err
			}
		}
		return validateGroups(f.Groups, nodes)
	case Heal:
	case Loss, Duplicate, Chaos:
		if !isProbability(f.Rate) {
			return fmt.Errorf("%s rate %v not within [0, 1]", f.Kind, f.Rate)
		}
	case ClockSkew:
		return f.validateClock(nodes)
	case LinkFault:
		if f.Link == nil {
			return &FieldError{Field: "link", Reason: "a link fault needs its link"}
		}
		return f.Link.validate(nodes, "link.", false)
	case Clog, Swizzle:
		if f.For <= 0 {
			return &FieldError{Field: "for", Reason: fmt.Sprintf("%s needs a positive for: how long the messages are held", f.Kind)}
		}
		if f.Kind == Swizzle && f.Target == "" {
			return nil // a random subset of the nodes
		}
		return validateSelector("target", f.Target, nodes)
	case Ring:
		if err := validateTraffic(f.Traffic); err != nil {
			return err
		}
		return validateRing(f.Groups, nodes)
	case Disk:
		if err := f.validateDisk(); err != nil {
			return err
		}
		return validateSelector("target", f.Target, nodes)
	case Poison:
		return validateSelector("target", f.Target, nodes)
	default:
		return fmt.Errorf("unknown fault kind %q", f.Kind)
	}
	return nil
}

// validateClock checks a clock fault: a rate, a jitter or a jump, each in
// its range.
func (f Fault) validateClock(nodes int) error {
	switch {
	case f.Rate == 0 && f.Jitter == 0 && f.Jump == 0:
		return &FieldError{Field: "rate", Reason: "a clock fault needs a rate, a jitter or a jump"}
	case f.Rate != 0 && !(f.Rate > 0 && f.Rate <= ClockRateMax):
		return fmt.Errorf("clock rate %v not within (0, %d]", f.Rate, ClockRateMax)
	case !(f.Jitter >= 0 && f.Jitter <= JitterMax):
		return &FieldError{Field: "jitter", Reason: fmt.Sprintf("%v not within [0, %v]", f.Jitter, JitterMax)}
	case f.Jump < -ClockJumpMax || f.Jump > ClockJumpMax:
		return &FieldError{Field: "jump", Reason: fmt.Sprintf("%v beyond ±%v", f.Jump, ClockJumpMax)}
	}
	return validateSelector("target", f.Target, nodes)
}

// validateDisk checks a disk fault's mode against its rate and for.
func (f Fault) validateDisk() error {
	switch f.Mode {
	case DiskCorrupt, DiskTamper:
		if f.For != 0 {
			return &FieldError{Field: "for", Reason: fmt.Sprintf("altered blocks stay altered: %s takes no for", f.Mode)}
		}
	case DiskFull:
	case DiskReadErrors:
		if !(f.Rate > 0 && f.Rate <= 1) {
			return &FieldError{Field: "rate", Reason: fmt.Sprintf("read-errors needs a rate within (0, 1], not %v", f.Rate)}
		}
		return nil
	default:
		return &FieldError{Field: "mode", Reason: fmt.Sprintf("unknown disk mode %q (want corrupt, tamper, full or read-errors)", f.Mode)}
	}
	if f.Rate != 0 {
		return &FieldError{Field: "rate", Reason: fmt.Sprintf("only read-errors takes a rate, not %s", f.Mode)}
	}
	return nil
}

// validateTraffic checks a partition's traffic class.
func validateTraffic(t Traffic) error {
	switch t {
	case "", RaftTraffic, GossipTraffic, RequestTraffic:
		return nil
	}
	return &FieldError{Field: "traffic", Reason: fmt.Sprintf("unknown traffic %q (want raft, gossip or requests)", t)}
}

// validateRing checks a ring: none (a random order of every node), or one
// group of at least two node names, each once.
func validateRing(groups [][]Selector, nodes int) error {
	switch {
	case len(groups) == 0:
		return nil
	case len(groups) > 1 || len(groups[0]) < 2:
		return &FieldError{Field: "ring", Reason: "a ring is one list of at least two nodes"}
	}
	for k, sel := range groups[0] {
		field := fmt.Sprintf("ring[%d]", k)
		if err := validateNode(field, sel, nodes); err != nil {
			return err
		}
		if slices.Contains(groups[0][:k], sel) {
			return &SelectorError{Field: field, Selector: sel, Reason: fmt.Sprintf("%s appears twice in the ring", sel)}
		}
	}
	return nil
}

// validateGroups checks a partition's groups: at least one, each of valid
// selectors, a not-selector a group of its own, and at most one such group.
func validateGroups(groups [][]Selector, nodes int) error {
	if len(groups) == 0 {
		return fmt.Errorf("partition needs at least one group")
	}
	nots := 0
	for g, sels := range groups {
		for k, sel := range sels {
			field := fmt.Sprintf("groups[%d][%d]", g, k)
			if err := validateSelector(field, sel, nodes); err != nil {
				return err
			}
			if _, ok := sel.Negated(); !ok {
				continue
			}
			nots++
			switch {
			case len(sels) > 1:
				return &SelectorError{Field: field, Selector: sel, Reason: "a not is a group of its own, not a member of one"}
			case nots > 1:
				return &SelectorError{Field: field, Selector: sel, Reason: "a partition holds at most one not group"}
			}
		}
	}
	return nil
}

// SelectorError is a selector a plan cannot use where it stands. Field names
// the place in its fault, command or script operation ("target",
// "groups[1][0]", "with[0].target", "to", "node"); ValidateSelector and
// ValidateNode leave it empty.
type SelectorError struct {
	Field    string
	Selector Selector
	Reason   string // the whole complaint, naming the selector
}

func (e *SelectorError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

// ValidateSelector checks that s is a selector of a mesh of the given size:
// a node name, a dynamic selector, or a not-selector listing at least one of
// those. Its error is a *SelectorError.
func ValidateSelector(s Selector, nodes int) error { return validateSelector("", s, nodes) }

// ValidateNode checks that s names a node of a mesh of the given size, as a
// command's To must. Its error is a *SelectorError.
func ValidateNode(s Selector, nodes int) error { return validateNode("", s, nodes) }

func validateSelector(field string, s Selector, nodes int) error {
	sels, ok := s.Negated()
	if !ok {
		return validatePlain(field, s, nodes)
	}
	if len(sels) == 0 {
		return &SelectorError{Field: field, Selector: s, Reason: "not needs at least one selector"}
	}
	for _, in := range sels {
		if _, nested := in.Negated(); nested {
			return &SelectorError{Field: field, Selector: s, Reason: fmt.Sprintf("a not cannot list a not (%q)", s)}
		}
		if err := validatePlain(field, in, nodes); err != nil {
			return err
		}
	}
	return nil
}

// validateOne checks a selector that must pick at most one node: any but a
// not-selector.
func validateOne(field string, s Selector, nodes int) error {
	if _, ok := s.Negated(); ok {
		return &SelectorError{Field: field, Selector: s, Reason: fmt.Sprintf("%q may pick many nodes; want a selector of one node", s)}
	}
	return validatePlain(field, s, nodes)
}

// validatePlain checks a node name or dynamic selector.
func validatePlain(field string, s Selector, nodes int) error {
	if slices.Contains(dynamicSelectors, s) {
		return nil
	}
	if _, ok := s.Node(); !ok {
		return &SelectorError{Field: field, Selector: s, Reason: fmt.Sprintf("unknown node selector %q (want n1..n%d, leader, follower, random-voter, random-worker, random, minority, majority or a not)", s, nodes)}
	}
	return validateNode(field, s, nodes)
}

func validateNode(field string, s Selector, nodes int) error {
	n, ok := s.Node()
	switch {
	case !ok:
		return &SelectorError{Field: field, Selector: s, Reason: fmt.Sprintf("%q is not a node name (want n1..n%d)", s, nodes)}
	case n < 1 || n > nodes:
		return &SelectorError{Field: field, Selector: s, Reason: fmt.Sprintf("node %q is not in a mesh of %d nodes", s, nodes)}
	}
	return nil
}
