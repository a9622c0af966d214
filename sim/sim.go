// Package sim is revoada's discrete-event simulator: one goroutine, a virtual
// clock, seeded randomness, and a simulated network and disk with fault
// injection, driving the same core state machines production runs.
//
// Events sit in a heap ordered by (time, sequence number); the sequence
// number breaks ties in insertion order, so a run is a pure function of its
// Plan, seed and build. Randomness comes from named streams split from the
// seed (one per node, one for the network, faults and operator), including the
// election randomness etcd raft draws from crypto/rand (see entropy.go).
//
// After every run the safety properties in check.go are judged, and the plan's
// Expect. Run is safe to call from several goroutines, but runs in one
// process execute one at a time (they share crypto/rand.Reader).
package sim

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/raft/v3"
	"lukechampine.com/blake3"

	"revoada.dev/revoada/checkers"
	"revoada.dev/revoada/core/attest"
	"revoada.dev/revoada/core/cover"
	"revoada.dev/revoada/core/membership"
	"revoada.dev/revoada/core/node"
	"revoada.dev/revoada/core/roles"
)

// Timing and limits of the simulated mesh.
const (
	TickInterval        = 100 * time.Millisecond // one node tick
	ElectionTicks       = 10                     // raft election timeout, in ticks, on a fast network
	ElectionTimeout     = ElectionTicks * TickInterval
	LeaderWithin        = 10 * ElectionTimeout // PropLeaderAfter's bound, on a fast network
	electionRoundTrips  = 5                    // the election timeout spans at least this many round trips
	SettleTime          = 3 * time.Second      // entries committed this long before the end must be applied everywhere
	ChaosDowntimeMax    = 10 * time.Second     // longest a chaos crash lasts
	OperatorRetryDelay  = time.Second          // an operator's pause before resubmitting
	OperatorAttemptsMax = 30                   // submissions of one command before giving up
	HeldMessagesMax     = 10_000               // messages queued for a paused node
	readyLoopsMax       = 16                   // Ready rounds after one input
)

type eventKind uint8

const (
	evTick eventKind = iota + 1
	evDeliver
	evFault
	evUndo
	evCommand
	evChaos
	evSettle
	evLeaderSample
	evClient
	evClientTimeout
	evWatchEnd
	evScript
	evProbe
	evDiskStop
	evReport
)

type event struct {
	at   time.Duration
	seq  uint64
	kind eventKind
	node int    // evTick, evDeliver: the node concerned
	from int    // evDeliver
	gen  uint64 // evTick, evReport: incarnation; evUndo: partition generation
	idx  int    // evFault, evCommand: index in the plan; evReport: a report
	msg  node.Message
	undo *undo
}

// undo is a fault's reversal, scheduled when the fault has a For.
type undo struct {
	kind  FaultKind
	nodes []int
	rate  float64 // loss, duplicate: the rate to restore
	fault *Fault  // clock: what to take back; swizzle: a step of it
	rule  uint64  // link: the rule to remove
}

type simNode struct {
	name           string
	id             roles.NodeID
	n              *node.Node // nil while crashed
	disk           *disk
	incarnation    uint64
	paused         bool
	held           []event
	entropy        *rand.ChaCha8
	status         node.Status
	applied        uint64
	clock          float64 // clock speed factor: ticks come every TickInterval/clock
	jitter         float64 // each tick's interval varies by up to this share either way
	jitterRand     *rand.Rand
	wallOffset     time.Duration // how far the node's wall clock is from simulated time
	ticks          uint64        // ticks run (not paused), over all incarnations
	startTicks     uint64        // ticks at the current incarnation's start
	startedAt      time.Duration
	restartPending bool // crashed with a restart scheduled
	sync           syncState
	syncAt         time.Duration // the ack-before-sync plant: when the late sync is due (0: none)
	diskErr        error         // the disk failed: the node stops (evDiskStop) and sends nothing more
	downSince      time.Duration
	// Content sync (content.go): the roots last seen published and
	// installed, and since when the node has been a live worker.
	published, synced membership.StateRoot
	workerSince       time.Duration
}

type operation struct {
	idx      int      // in the plan's commands
	resolved *Command // the command with its targets resolved, once submitted
	roleOp   int      // its index in roleOps, once submitted
	cmd      Command
	shift    roles.Shift
	attempts int
	refused  int // submissions a node outside the shape refused: not attempts
	node     int // where it is pending; -1 when not pending
	id       node.RequestID
	done     bool
	outcome  string
}

type simulator struct {
	plan    *Plan
	seed    uint64
	streams streams
	now     time.Duration
	seq     uint64
	events  eventHeap
	nodes   []*simNode
	byID    map[roles.NodeID]int
	// verified remembers the role history's signatures that verified, for
	// every node and the checker: each applies the same blocks, and a node
	// verifies its whole history at every restart (attest.Verified).
	verified *attest.Verified

	sw                 *entropySwitch
	netRand, faultRand *rand.Rand
	opRand             *rand.Rand
	loss, dup          float64
	block              [][]bool // block[a][b]: messages from a to b are cut
	spared             uint8    // the message kinds the block lets through, a bit per node.MessageKind
	net                network
	partGen            uint64
	chaosRate          float64
	chaosUntil         time.Duration
	healAt             time.Duration
	roots              contentCheck
	poisoned           []bool        // by node: poison.go's fault in force (nil: never poisoned)
	poisonRand         *rand.Rand    // its draws, a stream of its own
	unpoisonedAt       time.Duration // when a poison fault last ended
	settleMark         uint64
	settleMembers      []uint64 // raft members at the settle mark, sorted
	live               liveness
	ops                []*operation
	clients            []*client
	reqClient          map[node.RequestID]int // workload requests in flight
	watchers           map[int][]int          // node -> clients watching it
	history            []Op
	wlRand             *rand.Rand
	trace              *tracer
	hooks              Hooks
	mesh               *Mesh                        // set when driven as a Mesh
	policyReqs         map[node.RequestID]policyReq // the policy's requests in flight
	shifted            map[roles.NodeID]shiftMark   // when each node was last shifted by a committed shift
	operatorReqs       map[node.RequestID]shiftMark // the operator's requests, when submitted
	promoting          map[roles.NodeID]bool        // promoted by the policy, not yet voters
	joint              *joint                       // the joint configuration the log is in, if any
	confVoters         []uint64                     // the committed raft voters (incoming)
	disruptedAt        time.Duration                // when a fault, its undoing or chaos last changed the world
	firstCrash         time.Duration
	restoredAt         time.Duration
	check              *checker
	stats              Stats
	marks              []checkers.Mark
	roleOps            []checkers.RoleOp // role commands, for checkRoles
	cover              cover.Counts      // rare paths reached (nodes' counts are added when they stop)
	recording          bool              // Options.Choices
	checkTimeout       time.Duration     // Options.CheckTimeout
	choices            []Choice          // the random choices made, when recording
	issued             []ScriptOp        // the workload's operations as issued
	injected           []Fault           // the faults as injected, with explicit targets
}

// Run simulates the plan with the seed and judges the result. A panic inside
// the run (a core bug) is reported as a failed run, never propagated.
func Run(p *Plan, seed uint64, opts Options) (res *Result) {
	res = &Result{Scenario: p.Name, Seed: seed}
	if err := p.Validate(); err != nil {
		res.Violations = []Violation{{Property: PropInvalidPlan, Detail: err.Error()}}
		return res
	}
	sw, restore := installEntropy()
	defer restore()
	s := newSimulator(p, seed, opts, sw)
	defer func() {
		if r := recover(); r != nil {
			s.sw.cur = nil
			s.check.fail(s.now, PropPanic, "", "%v\n%s", r, debug.Stack())
		}
		s.result(res)
	}()
	s.boot()
	s.loop()
	s.judge()
	return res
}

func newSimulator(p *Plan, seed uint64, opts Options, sw *entropySwitch) *simulator {
	st := streams{seed: seed}
	s := &simulator{
		plan: p, seed: seed, streams: st, sw: sw, byID: map[roles.NodeID]int{},
		netRand: st.rand("network"), faultRand: st.rand("faults"), opRand: st.rand("operator"), wlRand: st.rand("workload"),
		loss: p.Network.Loss, dup: p.Network.Duplicate, net: newNetwork(p),
		trace: newTracer(opts.Trace), healAt: p.HealTime(), hooks: opts.Hooks, recording: opts.Choices, checkTimeout: opts.CheckTimeout,
		policyReqs: map[node.RequestID]policyReq{}, cover: cover.Counts{}, shifted: map[roles.NodeID]shiftMark{}, operatorReqs: map[node.RequestID]shiftMark{}, promoting: map[roles.NodeID]bool{}, firstCrash: -1, restoredAt: -1,
	}
	members := make([]roles.Member, p.Nodes-p.Outside)
	for i := range p.Nodes {
		name := fmt.Sprintf("n%d", i+1)
		sn := &simNode{name: name, id: NodeKey(name), disk: newDisk(st.rand("disk/"+name), opts.Hooks.ForgetVote), clock: 1}
		s.nodes = append(s.nodes, sn)
		s.byID[sn.id] = i
		if i >= len(members) {
			continue // outside: joins later
		}
		members[i] = roles.Member{Node: sn.id, Roles: roles.Worker}
		if i < p.ControlPlane {
			members[i].Roles = roles.ControlPlane
		}
	}
	shape, err := roles.NewShape(members)
	if err != nil {
		panic(fmt.Sprintf("sim: bootstrap shape: %v", err)) // node keys are fixed; a collision is a build bug
	}
	s.check = newChecker(shape)
	s.verified = &attest.Verified{}
	s.check.ref.Remember(s.verified)
	s.confVoters = slices.Clone(s.check.members)
	for _, sn := range s.nodes {
		sn.status.Member = slices.Contains(shape.Voters(), sn.id)
	}
	return s
}

// SimEpoch is the Unix time, in nanoseconds, a run begins at: the clock a
// node's signed proposals carry starts there (2026-01-01T00:00:00Z).
const SimEpoch int64 = 1767225600 * int64(time.Second)

// NodeKey is the NodeID of a simulated node: the ed25519 public key whose
// seed is BLAKE3("revoada/sim/" + name). Keys do not depend on the run seed,
// so node IDs read the same in every trace.
func NodeKey(name string) roles.NodeID {
	var id roles.NodeID
	copy(id[:], nodeSecret(name).Public().(ed25519.PublicKey))
	return id
}

func nodeSecret(name string) ed25519.PrivateKey {
	seed := blake3.Sum256([]byte("revoada/sim/" + name))
	return ed25519.NewKeyFromSeed(seed[:])
}

// HealTime is when the plan's last fault heals (its For ends; a chaos
// crash may last ChaosDowntimeMax more). The liveness monitors are armed
// here.
func (p *Plan) HealTime() time.Duration {
	var end time.Duration
	for _, f := range p.Faults {
		e := f.At + f.For
		if f.Kind == Chaos {
			e += ChaosDowntimeMax
		}
		end = max(end, e)
	}
	return end
}

func (s *simulator) push(e event) {
	s.seq++
	e.seq = s.seq
	s.events.push(e)
}

func (s *simulator) boot() {
	for _, m := range s.check.bootstrap().Members() {
		s.mark(s.nodes[s.byID[m.Node]].name, checkers.MarkRoles, roleName(m.Roles))
	}
	for i := range s.nodes {
		s.start(i)
	}
	for i, f := range s.plan.Faults {
		s.push(event{at: f.At, kind: evFault, idx: i})
	}
	for i, c := range s.plan.Commands {
		s.ops = append(s.ops, &operation{cmd: c, node: -1, idx: i})
		s.push(event{at: c.At, kind: evCommand, idx: i})
	}
	s.startWorkload()
	s.startMonitors()
	s.startProbes()
	if s.plan.Duration > SettleTime {
		s.push(event{at: s.plan.Duration - SettleTime, kind: evSettle})
	}
	s.push(event{at: min(s.healAt, s.plan.Duration), kind: evLeaderSample})
}

// start boots node i from its disk with a fresh incarnation.
func (s *simulator) start(i int) {
	sn := s.nodes[i]
	sn.incarnation++
	inc := strconv.FormatUint(sn.incarnation, 10)
	sn.entropy = s.streams.chacha("node/" + sn.name + "/" + inc + "/entropy")
	cfg := node.DefaultConfig(sn.id, s.check.bootstrap(), s.streams.rand("node/"+sn.name+"/"+inc))
	cfg.Incarnation = sn.incarnation
	cfg.RecycleOutbox = true // send encodes every message before drive calls Advance
	// The node signs the shifts it proposes, stamped with its own clock:
	// its ticks since the run began, at its own rate (clock faults).
	cfg.Key, cfg.Now = nodeSecret(sn.name), func() int64 { return SimEpoch + int64(sn.ticks)*int64(TickInterval) }
	cfg.Verified = s.verified
	cfg.Join = i >= s.plan.Nodes-s.plan.Outside
	cfg.ElectionTicks = s.electionTicks()
	if s.hooks.SlowElections {
		cfg.ElectionTicks *= slowElections
	}
	cfg.Planted = node.Planted{NoDedup: s.hooks.NoDedup, AckTimedOutWrites: s.hooks.AckTimedOutWrites,
		NoConfSync: s.hooks.NoConfSync, LaxCatchUp: s.hooks.LaxCatchUp, StayJoint: s.hooks.StayJoint, EarlyInstall: s.hooks.EarlyInstall}
	s.selfHealing(&cfg, sn, inc)
	durable, rec, err := sn.disk.open()
	if err != nil {
		s.startFailed(i, err)
		return
	}
	if rec.TornBytes > 0 {
		s.cover.Sometimes(CoverTornTail)
	}
	sn.sync.loaded(durable)
	sn.startTicks, sn.startedAt, sn.restartPending = sn.ticks, s.now, false
	sn.published, sn.synced, sn.workerSince = membership.StateRoot{}, membership.StateRoot{}, s.now
	sn.syncAt, sn.diskErr = 0, nil
	s.sw.cur = sn.entropy
	n, err := node.New(cfg, durable)
	s.sw.cur = nil
	if errors.Is(err, node.ErrCorruptSnapshot) {
		s.startFailed(i, err)
		return
	}
	if err != nil {
		panic(fmt.Sprintf("sim: %s: restart: %v", sn.name, err))
	}
	sn.n = n
	sn.status = n.Status()
	start := "incarnation " + inc
	if sn.wallOffset != 0 {
		// A node reads no wall clock (time in the core is ticks); the
		// trace shows where its wall clock stood, for the reader.
		start += " wall clock " + sn.wallOffset.String() + " off"
	}
	s.trace.event(s.now, sn.name, "start", start)
	s.mark(sn.name, checkers.MarkStart, "incarnation "+inc)
	phase := time.Duration(s.faultRand.Int64N(int64(TickInterval)))
	s.chose("node/"+sn.name+"/phase", phase)
	s.push(event{at: s.now + phase, kind: evTick, node: i, gen: sn.incarnation})
	s.drive(i, func(*node.Node) {})
}

func (s *simulator) loop() {
	for s.events.len() > 0 {
		e := s.events.pop()
		if e.at > s.plan.Duration {
			break
		}
		s.now = e.at
		s.stats.Events++
		s.handle(e)
	}
	s.now = s.plan.Duration
	s.endWorkload()
}

func (s *simulator) handle(e event) {
	switch e.kind {
	case evTick:
		sn := s.nodes[e.node]
		if sn.n == nil || e.gen != sn.incarnation {
			return // the tick chain of a crashed incarnation ends
		}
		if !sn.paused {
			sn.ticks++
			s.drive(e.node, (*node.Node).Tick)
		}
		e.at += s.tickInterval(sn)
		s.push(e)
	case evDeliver:
		s.deliver(e)
	case evReport:
		s.report(e)
	case evFault:
		s.disruptedAt = s.now
		s.fault(e.idx)
	case evUndo:
		s.disruptedAt = s.now
		s.undo(e)
	case evCommand:
		s.submit(s.ops[e.idx])
	case evChaos:
		s.disruptedAt = s.now
		s.chaos()
	case evSettle:
		s.settleMark = s.maxApplied()
		s.settleMembers = slices.Clone(s.check.members)
	case evLeaderSample:
		s.sample()
	case evClient:
		s.clientStep(e.idx)
	case evClientTimeout:
		s.clientTimeout(e.idx, e.gen)
	case evWatchEnd:
		s.watchEnd(e.idx, e.gen)
	case evScript:
		s.scriptStep(e.idx)
	case evProbe:
		s.probe()
	case evDiskStop:
		s.diskStop(e.node, e.gen)
	}
}

// drive calls f on node i and then runs the node's Ready loop: persist (and
// sync) first, then send, then deliver results, then Advance.
func (s *simulator) drive(i int, f func(*node.Node)) {
	sn := s.nodes[i]
	s.sw.cur = sn.entropy
	defer func() { s.sw.cur = nil }()
	if sn.syncAt > 0 && s.now >= sn.syncAt && sn.diskErr == nil { // the ack-before-sync plant's late sync
		sn.syncAt = 0
		if err := sn.disk.Sync(); err != nil {
			s.diskFailed(i, err)
		}
	}
	f(sn.n)
	if sn.diskErr != nil {
		return // stopping: nothing more leaves the node
	}
	for k := 0; k < readyLoopsMax && sn.n.HasReady(); k++ {
		rd := sn.n.Ready()
		s.checkSync(i, &rd)
		if err := sn.disk.Save(rd.Persist); err != nil {
			s.diskFailed(i, err)
			return
		}
		switch {
		case !rd.MustSync:
		case s.hooks.AckBeforeSync:
			if sn.syncAt == 0 {
				sn.syncAt = s.now + TickInterval
			}
		default:
			if err := sn.disk.Sync(); err != nil {
				s.diskFailed(i, err)
				return
			}
		}
		if rd.Status != nil {
			s.onStatus(i, *rd.Status)
		}
		for _, a := range rd.Applied {
			s.onApplied(i, a)
		}
		for _, ev := range rd.Events {
			s.onEvent(i, ev)
			if s.mesh != nil && i == s.mesh.contact {
				s.mesh.publish(ev)
			}
		}
		for _, m := range rd.Messages {
			s.send(i, m)
		}
		for _, r := range rd.Results {
			s.onResult(i, r)
		}
		for _, c := range rd.Membership {
			s.onMembership(i, c)
		}
		for _, d := range rd.Decisions {
			s.onDecision(i, d)
		}
		sn.n.Advance(rd)
		s.observeRoots(i)
		if s.hooks.CrashAfterSnapshot && rd.Persist.Snapshot != nil && len(rd.Applied) > 0 && rd.Applied[0].Raw == nil {
			s.trace.event(s.now, "sim", "fault", "crash after snapshot "+sn.name)
			s.crashNow(i)
			return
		}
	}
}

func (s *simulator) onStatus(i int, st node.Status) {
	sn := s.nodes[i]
	if st.State != sn.status.State || st.Term != sn.status.Term {
		s.mark(sn.name, checkers.MarkState, fmt.Sprintf("%s term %d", stateName(st.State), st.Term))
	}
	if !st.Member && (sn.status.Member || sn.workerSince == 0) {
		sn.workerSince = s.now
	}
	sn.status = st
	d := append(s.trace.line(s.now, sn.name, "status"), st.State.String()...)
	d = strconv.AppendUint(append(d, " term "...), st.Term, 10)
	s.trace.endLine(append(append(d, " lead "...), s.nameOfRaft(st.Lead)...))
	if st.State == raft.StateLeader {
		s.stats.Elections++
	}
	s.check.status(s.now, i, sn.name, st)
}

func (s *simulator) onApplied(i int, a node.Applied) {
	sn := s.nodes[i]
	sn.applied = a.Index
	s.stats.CommitIndex = max(s.stats.CommitIndex, a.Index)
	d := strconv.AppendUint(s.trace.line(s.now, sn.name, "apply"), a.Index, 10)
	d = strconv.AppendUint(append(d, " t"...), a.Term, 10)
	d = append(hex.AppendEncode(append(d, ' '), a.Shape[:6]), ' ') // the shape's digest, 12 digits
	if a.Raw == nil {
		d = append(d, "snapshot"...)
	} else {
		d = append(d, a.Raw.GetType().String()...)
		if a.Request != nil {
			d = append(append(d, ' '), a.Request.String()...)
		}
	}
	s.trace.endLine(d)
	fresh := a.Raw != nil && a.Index == s.check.refIndex+1
	before := s.check.shape // replaced, never written, when the entry changes the shape
	s.check.applied(s.now, sn.name, a)
	if fresh {
		s.markRoles(before, a)
		s.policyCommitted(before, a)
		s.confApplied(a)
		s.checkRestored()
	}
}

// mark records a point on the run's timeline.
func (s *simulator) mark(node, kind, detail string) {
	s.marks = append(s.marks, checkers.Mark{At: s.now, Node: node, Kind: kind, Detail: detail})
}

// markRoles marks a committed shift and every node whose roles it changed.
func (s *simulator) markRoles(before roles.Shape, a node.Applied) {
	after := s.check.shape
	if after.Equal(before) {
		return
	}
	if a.Shift != nil {
		s.mark("", checkers.MarkShift, fmt.Sprint(a.Shift))
		if s.block != nil && slices.ContainsFunc(a.Shift, func(c roles.Command) bool { return c.Kind == roles.Promote }) {
			s.cover.Sometimes(CoverPromoteInPartition)
		}
	}
	for _, m := range after.Members() {
		if was, _ := before.Roles(m.Node); was != m.Roles {
			s.mark(s.nodes[s.byID[m.Node]].name, checkers.MarkRoles, roleName(m.Roles))
		}
	}
}

func roleName(r roles.Roles) string {
	if r.IsControlPlane() {
		return "control-plane"
	}
	return r.String()
}

func stateName(st raft.StateType) string {
	switch st {
	case raft.StateLeader:
		return "leader"
	case raft.StateCandidate:
		return "candidate"
	case raft.StatePreCandidate:
		return "pre-candidate"
	}
	return "follower"
}

func (s *simulator) nameOfRaft(id uint64) string {
	for _, sn := range s.nodes {
		if sn.id.RaftID() == id {
			return sn.name
		}
	}
	return "none"
}

func (s *simulator) maxApplied() uint64 {
	var m uint64
	for _, sn := range s.nodes {
		if sn.n != nil && s.check.isMember(sn.id.RaftID()) {
			m = max(m, sn.applied)
		}
	}
	return m
}

func (s *simulator) result(res *Result) {
	res.SimTime = s.now
	res.Fingerprint = s.trace.fingerprint()
	res.Violations = s.check.violations
	res.Chain = s.check.ref.Chain().Blocks()
	for _, sn := range s.nodes {
		s.nodeCoverage(sn)
	}
	res.Stats = s.stats
	res.Stats.CommandsTotal = len(s.ops)
	res.Stats.FalseSuspicionsPerNodeHour = s.plan.perNodeHour(s.stats.FalseSuspicions)
	switch {
	case s.firstCrash < 0:
	case s.restoredAt < 0:
		res.Stats.Restored = -1
	default:
		res.Stats.Restored = s.restoredAt - s.firstCrash
	}
	res.History = s.history
	res.Coverage = s.cover
	res.Marks = s.marks
	res.Monitors = s.endMonitors()
	res.Choices = s.choices
	res.Materialized = s.materialized()
	for _, op := range s.history {
		if op.Outcome == OutcomeOK {
			res.Stats.OpsOK++
		}
	}
	res.Stats.Ops = len(s.history)
	if s.now > 0 {
		res.Stats.OpsPerSecond = float64(res.Stats.Ops) / s.now.Seconds()
	}
	for _, op := range s.ops {
		if op.done {
			res.Stats.CommandsDone++
		}
	}
}

func (s *simulator) nodeNames(idx []int) string {
	names := make([]string, len(idx))
	for k, i := range idx {
		names[k] = s.nodes[i].name
	}
	return strings.Join(names, ",")
}

func (s *simulator) electionTicks() int          { return s.plan.ElectionTicks() }
func (s *simulator) leaderWithin() time.Duration { return s.plan.LeaderWithin() }
