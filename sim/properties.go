package sim

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"revoada.dev/revoada/checkers"
	"revoada.dev/revoada/core/node"
	"revoada.dev/revoada/core/roles"
)

// The properties of issue 9: each names a class of bug the simulator once
// missed. They are judged on every run they apply to.
const (
	// PropMustSync: a Ready that appends entries, changes the raft term or
	// vote, or changes the configuration (an applied entry changing the
	// voters or learners or leaving a joint configuration, or a snapshot
	// whose ConfState differs from the last one saved) must ask for a sync: the disk loses unsynced writes in a crash, and a node
	// that forgets a vote or a configuration it acted on breaks Raft.
	PropMustSync = "must-sync"
	// PropStabilize: the policy promotes no node (a committed shift with
	// Promote, or the voter add that completes it) that has run less than
	// the stabilisation time since its last start. Operator commands are
	// not judged.
	PropStabilize = "stabilize"
	// PropJointLeft: a joint configuration is left within JointLeftTimeouts
	// election timeouts while a majority of both its halves is up and
	// connected.
	PropJointLeft = "joint-left"
	// PropPolicyQuorumLoss: a committed policy shift never takes the voter
	// set from having a live, connected majority to having none, judged on
	// shifts during which no fault changed the world, from the failure
	// detector's bound before the decision to the commit (a crash in that
	// time is the fault's doing).
	PropPolicyQuorumLoss = "policy-quorum-loss"
	// PropPolicyBelowTarget: a committed policy shift never lowers the
	// voter count below the target's voter count for the nodes that are up
	// (and not quarantined) by removing a voter that was up all along and
	// connected to the deciding leader, in a world no fault had touched for
	// deadFor before the decision: replace before remove. A voter cut off
	// from the leader is a failure from where the policy stands.
	PropPolicyBelowTarget = "policy-below-target"
	// PropFalseSuspicions bounds membership's false suspicions per node-hour
	// on runs whose links are slow but healthy (FalseSuspicionsPerNodeHourMax).
	PropFalseSuspicions = "false-suspicions"
	// PropLeftServes: a node no client operation succeeds on once it has
	// been out of the committed shape for LeftServesGrace (it left, and
	// had time to learn it): it refuses clients (node.ErrNotMember), and a
	// local read there would serve a store its mesh no longer feeds.
	PropLeftServes = "left-serves"
	// PropLeaderQuiet: before the last heal, in every quiet stretch (no
	// partition, pause, loss above the baseline, skewed clock, chaos or
	// crash awaiting its restart) in which a majority of the voters is up
	// and connected, a leader within the leader bound.
	PropLeaderQuiet = "leader-quiet-window"
)

// Bounds of the properties above.
const (
	JointLeftTimeouts             = 10              // election timeouts a joint configuration may last with both quorums up
	FalseSuspicionsPerNodeHourMax = 6.0             // on slow but healthy links
	defaultStabilize              = 5 * time.Second // policy.DefaultConfig's StabilizeTicks
)

// syncState is what a node last saved of the state that needs a sync.
type syncState struct {
	term, vote uint64
	conf       *pb.ConfState // in the last snapshot saved
	voters     []uint64      // applied: voters and learners, sorted
	learners   []uint64
	failed     bool // reported once per node
}

// loaded resets the node's sync state to what survived on its disk.
func (st *syncState) loaded(d node.Durable) {
	st.term, st.vote = d.HardState.GetTerm(), d.HardState.GetVote()
	st.conf = d.Snapshot.GetMetadata().GetConfState()
	st.voters = slices.Sorted(slices.Values(st.conf.GetVoters()))
	st.learners = slices.Sorted(slices.Values(st.conf.GetLearners()))
}

// confChanged reports whether an applied entry changed the node's
// configuration: its voters or learners, or the joint configuration left.
// A conf change entry the machine refused changes nothing.
func (st *syncState) confChanged(a node.Applied) bool {
	changed := !slices.Equal(a.ConfVoters, st.voters) || !slices.Equal(a.ConfLearners, st.learners)
	st.voters, st.learners = a.ConfVoters, a.ConfLearners
	if a.Raw.GetType() == pb.EntryConfChangeV2 {
		var cc pb.ConfChangeV2
		changed = changed || proto.Unmarshal(a.Raw.GetData(), &cc) == nil && cc.LeaveJoint()
	}
	return changed
}

// checkSync judges PropMustSync on a Ready before it is saved.
func (s *simulator) checkSync(i int, rd *node.Ready) {
	sn := s.nodes[i]
	st := &sn.sync
	p := rd.Persist
	// A reason fails the run only in a Ready that asks for no sync, the
	// first time: only then are the reasons put in words (most Readys with
	// entries ask for one).
	judged := !rd.MustSync && !st.failed
	var why []string
	if len(p.Entries) > 0 && judged {
		why = append(why, fmt.Sprintf("%d entries", len(p.Entries)))
	}
	if hs := p.HardState; hs != nil {
		if (hs.GetTerm() != st.term || hs.GetVote() != st.vote) && judged {
			why = append(why, fmt.Sprintf("term %d vote %d (was %d, %d)", hs.GetTerm(), hs.GetVote(), st.term, st.vote))
		}
		st.term, st.vote = hs.GetTerm(), hs.GetVote()
	}
	if p.Snapshot != nil { // the boot snapshot, or one received: the applied configuration is its
		st.voters = slices.Sorted(slices.Values(p.Snapshot.GetMetadata().GetConfState().GetVoters()))
		st.learners = slices.Sorted(slices.Values(p.Snapshot.GetMetadata().GetConfState().GetLearners()))
	}
	for _, snap := range []*pb.Snapshot{p.Snapshot, p.Compact} {
		if snap == nil {
			continue
		}
		if cs := snap.GetMetadata().GetConfState(); !sameConf(cs, st.conf) {
			if judged {
				why = append(why, fmt.Sprintf("a snapshot at %d with a new configuration", snap.GetMetadata().GetIndex()))
			}
			st.conf = cs
		}
	}
	for _, a := range rd.Applied {
		if st.confChanged(a) && judged {
			why = append(why, fmt.Sprintf("the configuration changed at %d", a.Index))
		}
	}
	if len(why) > 0 {
		st.failed = true
		s.check.fail(s.now, PropMustSync, sn.name, "a Ready with %s did not ask for a sync", strings.Join(why, ", "))
	}
}

func sameConf(a, b *pb.ConfState) bool {
	eq := func(x, y []uint64) bool {
		return slices.Equal(slices.Sorted(slices.Values(x)), slices.Sorted(slices.Values(y)))
	}
	return eq(a.GetVoters(), b.GetVoters()) && eq(a.GetLearners(), b.GetLearners()) &&
		eq(a.GetVotersOutgoing(), b.GetVotersOutgoing()) && eq(a.GetLearnersNext(), b.GetLearnersNext()) && a.GetAutoLeave() == b.GetAutoLeave()
}

// stabilizeTicks is the policy's stabilisation time in ticks.
func (s *simulator) stabilizeTicks() uint64 {
	if d := s.plan.Policy.Stabilize; d > 0 {
		return ticks(d)
	}
	return ticks(defaultStabilize)
}

// checkStable judges PropStabilize on a node the policy promotes: it must
// have run the stabilisation time, in its own ticks, since its last start.
// A node that is down or paused is not judged (dead-promoted judges it).
func (s *simulator) checkStable(id roles.NodeID, what string) {
	t := s.nodes[s.byID[id]]
	if t.n == nil || t.paused {
		return
	}
	if up := t.ticks - t.startTicks; up < s.stabilizeTicks() {
		s.check.fail(s.now, PropStabilize, t.name, "%s after %d ticks up since its start at %v, less than the stabilisation time (%d ticks)", what, up, t.startedAt, s.stabilizeTicks())
	}
}

// policyShiftCommitted judges the policy's committed shift against the
// mesh's ground truth: stabilisation, quorum and target.
func (s *simulator) policyShiftCommitted(before, after roles.Shape, a node.Applied, req policyReq) {
	for _, c := range a.Shift {
		if c.Kind != roles.Promote {
			continue
		}
		if k := s.byID[c.Node]; req.inc != nil && req.inc[k] != s.nodes[k].incarnation {
			// It restarted after the decision: the leader re-checks a
			// promotion when it proposes the voter change (node's
			// promotable), but a restart between that proposal and the
			// commit is the fault's doing, which no policy can foresee.
			continue
		}
		s.checkStable(c.Node, fmt.Sprintf("promoted by the policy (proposed at %v)", req.at))
		if !slices.Contains(a.ConfVoters, c.Node.RaftID()) {
			s.promoting[c.Node] = true
		}
	}
	was, is := s.indexes(before.Voters()), s.indexes(after.Voters())
	comps := s.components()
	// Judged only when the world stood still from the decision to the
	// commit: a crash or partition in between is the fault's doing, not the
	// policy's, which decided on a majority that was there.
	if majorityUp(comps, was) && !majorityUp(comps, is) && s.disruptedAt+s.detectBound() <= req.at {
		s.check.fail(s.now, PropPolicyQuorumLoss, s.nodes[req.node].name, "the shift %v took the voters from %s, a majority up and connected, to %s, none", a.Shift, s.nodeNames(was), s.nodeNames(is))
	}
	if len(is) >= len(was) || s.disruptedAt+deadFor > req.at || !s.removedHealthy(before, after, req, comps) {
		return
	}
	strategy, err := s.plan.strategy()
	if err != nil {
		return
	}
	up := 0 // members that are up: a node outside the shape is no part of the target
	for _, sn := range s.nodes {
		if r, member := before.Roles(sn.id); member && sn.n != nil && !sn.paused && r != roles.Quarantined && r != roles.Observer {
			up++
		}
	}
	target, err := strategy.Target(up)
	if err == nil && len(is) < target.Voters {
		s.check.fail(s.now, PropPolicyBelowTarget, s.nodes[req.node].name, "the shift %v took the voters from %d to %d, below the target's %d for the %d nodes up", a.Shift, len(was), len(is), target.Voters, up)
	}
}

// detectBound is how long before a decision a fault may have struck without
// the policy being to blame for not knowing it: the failure detector needs a
// few election timeouts (φ rising, a confirming probe, suspicion).
func (s *simulator) detectBound() time.Duration {
	return 3 * time.Duration(s.plan.ElectionTicks()) * TickInterval
}

// removedHealthy reports whether the shift removed a voter that was, by the
// ground truth, healthy as far as the deciding node could know: up for
// deadFor before the decision and still, and connected to the decider.
// Removing a voter that was down a moment ago, or cut off from the decider
// (a partition looks like a crash from the side that decides), is cleanup
// of a failure the policy saw, not scaling below the target. No fault
// changed the world since deadFor before the decision (the caller checks),
// so connectivity now is connectivity throughout.
func (s *simulator) removedHealthy(before, after roles.Shape, req policyReq, comps []int) bool {
	for _, id := range before.Voters() {
		if slices.Contains(after.Voters(), id) {
			continue
		}
		i := s.byID[id]
		sn := s.nodes[i]
		if sn.n != nil && !sn.paused && sn.startedAt+deadFor <= req.at && comps[i] >= 0 && comps[i] == comps[req.node] {
			return true
		}
	}
	return false
}

// confApplied follows the committed configuration on every fresh entry:
// the voter adds that complete a policy promotion, and joint
// configurations, as raft holds them after the entry (node.Applied's
// ConfOutgoing). A conf change entry whose command the machine rejected
// is applied as a no-op, not passed to raft, and enters no joint
// configuration, though its change would (explore-5830: a promotion of a
// node quarantined by then).
func (s *simulator) confApplied(a node.Applied) {
	// Sorted: two violations in one call are reported in a fixed order.
	for _, id := range slices.SortedFunc(maps.Keys(s.promoting), roles.NodeID.Compare) {
		if slices.Contains(a.ConfVoters, id.RaftID()) {
			delete(s.promoting, id)
			s.checkStable(id, fmt.Sprintf("made a voter at index %d", a.Index))
		}
	}
	switch {
	case len(a.ConfOutgoing) == 0:
		s.joint = nil
	case s.joint == nil:
		s.joint = &joint{since: s.now, index: a.Index, outgoing: s.raftIndexes(a.ConfOutgoing), incoming: s.raftIndexes(a.ConfVoters)}
	}
	s.confVoters = slices.Clone(a.ConfVoters)
}

// joint is a joint configuration the log entered and has not yet left.
type joint struct {
	since              time.Duration
	index              uint64
	outgoing, incoming []int
}

func (s *simulator) indexes(ids []roles.NodeID) []int {
	out := make([]int, 0, len(ids))
	for _, id := range ids {
		out = append(out, s.byID[id])
	}
	slices.Sort(out)
	return out
}

func (s *simulator) raftIndexes(ids []uint64) []int {
	out := make([]int, 0, len(ids))
	for _, id := range ids {
		for i, sn := range s.nodes {
			if sn.id.RaftID() == id {
				out = append(out, i)
			}
		}
	}
	slices.Sort(out)
	return out
}

// components labels each node up and unpaused with its connected
// component (linked both ways by uncut links), the least index in it; -1
// for the others.
func (s *simulator) components() []int {
	comp := make([]int, len(s.nodes))
	for i := range comp {
		comp[i] = -1
	}
	up := func(i int) bool { return s.nodes[i].n != nil && !s.nodes[i].paused }
	// Without a partition or a clog every link carries raft traffic both
	// ways: one component of every node up.
	open := s.block == nil && !slices.ContainsFunc(s.net.clogs, func(c int) bool { return c > 0 })
	var next []int // reached, their links not yet followed
	for a := range s.nodes {
		if comp[a] >= 0 || !up(a) {
			continue
		}
		comp[a] = a // the least index of its component: every lesser one is labelled
		if open {
			for b := a + 1; b < len(comp); b++ {
				if up(b) {
					comp[b] = a
				}
			}
			break
		}
		next = append(next[:0], a)
		for len(next) > 0 {
			x := next[len(next)-1]
			next = next[:len(next)-1]
			for b := range s.nodes {
				if comp[b] < 0 && up(b) && s.hears(x, b, node.MsgRaft) && s.hears(b, x, node.MsgRaft) {
					comp[b] = a
					next = append(next, b)
				}
			}
		}
	}
	return comp
}

// majorityUp reports whether one component holds a majority of every
// given voter set.
func majorityUp(comp []int, sets ...[]int) bool {
	for c := range comp {
		ok := true
		for _, set := range sets {
			n := 0
			for _, i := range set {
				if comp[i] == c {
					n++
				}
			}
			ok = ok && 2*n > len(set)
		}
		if ok {
			return true
		}
	}
	return false
}

// quiet reports whether no fault is acting on the mesh: no partition, no
// paused node, the baseline loss, no link fault or clog, every clock at
// speed and steady, no chaos, no disk fault in force, and no crashed node
// awaiting a scheduled restart.
func (s *simulator) quiet() bool {
	if s.block != nil || s.loss != s.plan.Network.Loss || s.chaosRate > 0 && s.now <= s.chaosUntil+ChaosDowntimeMax || s.networkDisturbed() {
		return false
	}
	for _, sn := range s.nodes {
		if sn.paused || sn.clock != 1 || sn.jitter > 0 || sn.n == nil && sn.restartPending || sn.disk.full || sn.disk.readErrors > 0 {
			return false
		}
	}
	return true
}

// startProbes arms the monitors that run from the start: the joint
// configuration's and the leader's in quiet stretches before the heal.
func (s *simulator) startProbes() {
	et := time.Duration(s.electionTicks()) * TickInterval
	s.live.joint = checkers.NewMonitor(PropJointLeft, JointLeftTimeouts*et)
	s.live.quiet = checkers.NewMonitor(PropLeaderQuiet, s.leaderWithin())
	s.push(event{at: 0, kind: evProbe})
}

// probe samples the joint and quiet-leader monitors; it runs every tick.
func (s *simulator) probe() {
	comps := s.components()
	j := s.joint
	if s.live.joint.Observe(s.now, j != nil && majorityUp(comps, j.outgoing, j.incoming)) {
		since, _ := s.live.joint.HotSince()
		s.check.fail(s.now, PropJointLeft, "", "the joint configuration entered at index %d (%v; outgoing %s, incoming %s) not left since %v with a majority of both up and connected, more than %v",
			j.index, j.since, s.nodeNames(j.outgoing), s.nodeNames(j.incoming), since, s.live.joint.Bound)
	}
	if s.now < s.healAt {
		hot := s.quiet() && majorityUp(comps, s.raftIndexes(s.confVoters)) && !s.hasLeader()
		if s.live.quiet.Observe(s.now, hot) {
			since, _ := s.live.quiet.HotSince()
			s.check.fail(s.now, PropLeaderQuiet, "", "no leader since %v in a quiet stretch with a majority of the voters up and connected, more than %v", since, s.leaderWithin())
		}
	}
	if s.now+TickInterval <= s.plan.Duration {
		s.push(event{at: s.now + TickInterval, kind: evProbe})
	}
}

// falseSuspicionsJudged reports whether the plan's links are slow but
// healthy, so that membership has no excuse for suspecting a live node:
// gossip on, no loss (nor links, nor bandwidth limits that drop), and no
// partition, pause, clock, network or disk fault.
func (p *Plan) falseSuspicionsJudged() bool {
	if p.Target == "" || p.Network.Loss > 0 || len(p.Network.Links) > 0 || p.Network.Bandwidth > 0 {
		return false
	}
	for _, f := range p.Faults {
		switch f.Kind {
		case Partition, Pause, ClockSkew, LinkFault, Clog, Swizzle, Ring, Disk, Poison:
			return false
		case Loss:
			if f.Rate > 0 {
				return false
			}
		}
	}
	return true
}

// perNodeHour is a count over the run as a rate per node-hour.
func (p *Plan) perNodeHour(n int) float64 {
	return float64(n) / (float64(p.Nodes) * p.Duration.Hours())
}

func (s *simulator) checkFalseSuspicions() {
	if !s.plan.falseSuspicionsJudged() {
		return
	}
	if r := s.plan.perNodeHour(s.stats.FalseSuspicions); r > FalseSuspicionsPerNodeHourMax {
		s.check.fail(s.now, PropFalseSuspicions, "", "%d false suspicions in %.3f node-hours on healthy links: %.1f per node-hour, more than %v",
			s.stats.FalseSuspicions, float64(s.plan.Nodes)*s.plan.Duration.Hours(), r, FalseSuspicionsPerNodeHourMax)
	}
}
