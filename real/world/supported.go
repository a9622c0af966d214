package world

import (
	"fmt"

	"revoada.dev/revoada/core/topology"
	"revoada.dev/revoada/sim"
)

// defaultTarget is the strategy that sets a plan's bootstrap shape when
// the plan has no target (self-healing is off then): every node computes
// the shape from it.
const defaultTarget = "quorum-3m"

// supportedFaults are the fault kinds the real world injects: crash,
// restart, pause, resume, partition (but bridges and traffic classes),
// heal, loss, duplicate, and clock rates (not jumps or jitter). Link,
// clog, swizzle, ring, disk and chaos faults are refused.
var supportedFaults = map[sim.FaultKind]bool{
	sim.Crash: true, sim.Restart: true, sim.Pause: true, sim.Resume: true, sim.Partition: true, sim.Heal: true,
	sim.Loss: true, sim.Duplicate: true, sim.ClockSkew: true,
}

// Supported reports what in the plan the real world cannot do, as an
// *UnsupportedError naming the first such thing, or nil. Nothing of a plan
// is skipped silently: a plan Run accepts is a plan Run carries out.
func Supported(p *sim.Plan) error {
	no := func(format string, args ...any) error {
		return &UnsupportedError{Scenario: p.Name, What: fmt.Sprintf(format, args...)}
	}
	for i, f := range p.Faults {
		switch {
		case !supportedFaults[f.Kind]:
			return no("fault %d: %s", i, f.Kind)
		case f.Bridge != "":
			return no("fault %d: a partition with a bridge", i)
		case f.Traffic != "":
			return no("fault %d: a partition of %s traffic only", i, f.Traffic)
		case f.Kind == sim.ClockSkew && (f.Jump != 0 || f.Jitter != 0 || f.Rate <= 0):
			return no("fault %d: a clock jump or jitter (a real node's clock only changes its rate)", i)
		}
	}
	n := p.Network
	switch {
	case n.Distribution != "" && n.Distribution != sim.Uniform:
		return no("network latency distribution %s (the proxies draw uniformly)", n.Distribution)
	case n.Bandwidth > 0 || n.Queue > 0:
		return no("network bandwidth and queues")
	case len(n.Links) > 0:
		return no("network links")
	}
	if et := p.ElectionTicks(); et != sim.ElectionTicks {
		return no("an election timeout of %d ticks for its slow network (the node runs %d)", et, sim.ElectionTicks)
	}
	if pk := p.Policy; pk != (sim.PolicyKnobs{}) {
		return no("policy knobs %+v (the node runs the default policy)", pk)
	}
	if p.Target == "explicit" {
		return no("target explicit")
	}
	target := p.Target
	if target == "" {
		target = defaultTarget
	}
	s, err := topology.ByName(target)
	if err != nil {
		return no("target %q: %v", target, err)
	}
	members := p.Nodes - p.Outside
	t, err := s.Target(members)
	if err != nil || t.ControlPlane != p.ControlPlane {
		return no("control_plane %d of %d members: a real mesh bootstraps %s's shape (%d control-plane nodes)", p.ControlPlane, members, target, t.ControlPlane)
	}
	if wl := p.Workload; wl != nil {
		switch {
		case len(wl.Script) > 0:
			return no("a scripted workload")
		case wl.Local > 0:
			return no("workload local reads (the socket reads linearizably)")
		case wl.Resume > 0:
			return no("workload resumed watches")
		case wl.Retain > 0:
			return no("workload retain (compaction)")
		}
	}
	return nil
}
