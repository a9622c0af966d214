package sim

import (
	"slices"
	"time"

	"revoada.dev/revoada/checkers"
	"revoada.dev/revoada/core/membership"
)

// The liveness monitors' properties.
const (
	PropShapeWithin     = "shape-within"
	PropMembershipAgree = "membership-agree"
)

// liveness holds the run's monitors; they are armed at the heal time and
// sampled every tick from then on.
type liveness struct {
	leader, shape, members *checkers.Monitor
	joint, quiet           *checkers.Monitor // from the start (properties.go)
}

func (s *simulator) startMonitors() {
	l := s.plan.Expect.Liveness
	s.live.leader = checkers.NewMonitor(PropLeaderAfter, s.leaderWithin())
	if sh := l.Shape; sh != nil {
		s.live.shape = checkers.NewMonitor(PropShapeWithin, sh.Within)
	}
	if l.Membership > 0 {
		round := GossipRound
		s.live.members = checkers.NewMonitor(PropMembershipAgree, time.Duration(l.Membership)*round)
	}
}

// sample observes every monitor once; it runs every tick from the heal.
func (s *simulator) sample() {
	if s.live.leader.Observe(s.now, !s.hasLeader()) {
		since, _ := s.live.leader.HotSince()
		s.check.fail(s.now, PropLeaderAfter, "", "no leader since %v, more than %v (the last fault healed at %v)", since, s.leaderWithin(), s.healAt)
	}
	if m := s.live.shape; m != nil && m.Observe(s.now, !s.shapeAtTarget()) {
		since, _ := m.HotSince()
		s.check.fail(s.now, PropShapeWithin, "", "the committed shape has not held %d live control-plane nodes since %v, more than %v (the last fault healed at %v)",
			s.plan.Expect.Liveness.Shape.ControlPlane, since, m.Bound, s.healAt)
	}
	if m := s.live.members; m != nil {
		odd := s.membershipOdd()
		if m.Observe(s.now, odd != "") {
			since, _ := m.HotSince()
			s.check.fail(s.now, PropMembershipAgree, odd, "its membership view has differed from the live nodes since %v, more than %v (%d rounds)", since, m.Bound, s.plan.Expect.Liveness.Membership)
		}
	}
	s.checkSynced()
	if s.now+TickInterval <= s.plan.Duration {
		s.push(event{at: s.now + TickInterval, kind: evLeaderSample})
	}
}

func (s *simulator) endMonitors() []checkers.Monitor {
	var out []checkers.Monitor
	for _, m := range []*checkers.Monitor{s.live.leader, s.live.shape, s.live.members, s.live.quiet, s.live.joint} {
		if m != nil {
			m.End(s.now)
			out = append(out, *m)
		}
	}
	return out
}

// shapeAtTarget reports whether the committed shape holds the wanted number
// of control-plane nodes, all up.
func (s *simulator) shapeAtTarget() bool {
	want := s.plan.Expect.Liveness.Shape.ControlPlane
	shape := s.check.ref.Shape()
	up := 0
	for _, m := range shape.Members() {
		if m.Roles.IsControlPlane() {
			if s.nodes[s.byID[m.Node]].n == nil {
				return false
			}
			up++
		}
	}
	return up == want
}

// membershipOdd names a live member whose view of who is healthy differs
// from the members that are up and running, or is "" when every view is
// right. Members are the committed shape's: a node outside it is silent
// and dropped by every member (a node not admitted yet, or one that left).
func (s *simulator) membershipOdd() string {
	var live []int
	shape := s.check.ref.Shape()
	for i, sn := range s.nodes {
		if _, member := shape.Roles(sn.id); member && sn.n != nil && !sn.paused {
			live = append(live, i)
		}
	}
	for _, i := range live {
		var healthy []int
		for _, m := range s.nodes[i].n.Members() {
			if m.Health == membership.Healthy {
				healthy = append(healthy, s.byID[m.State.Node])
			}
		}
		slices.Sort(healthy)
		if !slices.Equal(healthy, live) {
			return s.nodes[i].name
		}
	}
	return ""
}
