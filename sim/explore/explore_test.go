package explore

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/core/topology"
	"revoada.dev/revoada/scenarios"
	"revoada.dev/revoada/sim"
)

const seedsChecked = 500

// TestGenerateRoundTrip: every plan validates, is the same when drawn
// again, and reads back from its scenario file as the same plan.
func TestGenerateRoundTrip(t *testing.T) {
	for seed := uint64(1); seed <= seedsChecked; seed++ {
		p := Generate(seed)
		if err := p.Validate(); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if again := Generate(seed); !reflect.DeepEqual(p, again) {
			t.Fatalf("seed %d: Generate is not deterministic", seed)
		}
		data, err := scenarios.Marshal(p)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		back, err := scenarios.Parse(p.Name+".yaml", data)
		if err != nil {
			t.Fatalf("seed %d: %v\n%s", seed, err, data)
		}
		if !reflect.DeepEqual(p, back) {
			t.Fatalf("seed %d: the plan read back differs:\n%+v\n%+v\n%s", seed, p, back, data)
		}
	}
}

// permanent are a plan's crashes without for that no restart undoes: a
// restart of a node whose disk was corrupted before it crashed is refused.
func permanent(p *sim.Plan) []sim.Fault {
	var out []sim.Fault
	for i, f := range p.Faults {
		if f.Kind != sim.Crash || f.For > 0 {
			continue
		}
		corrupt := slices.ContainsFunc(p.Faults[:i], func(d sim.Fault) bool {
			return d.Kind == sim.Disk && d.Mode == sim.DiskCorrupt && d.Target == f.Target
		})
		restarted := slices.ContainsFunc(p.Faults[i:], func(r sim.Fault) bool { return r.Kind == sim.Restart && r.Target == f.Target })
		if !restarted || corrupt {
			out = append(out, f)
		}
	}
	return out
}

// heal is the time the last fault is undone, as the simulator computes it.
func heal(p *sim.Plan) time.Duration {
	var end time.Duration
	for _, f := range p.Faults {
		e := f.At + f.For
		if f.Kind == sim.Chaos {
			e += sim.ChaosDowntimeMax
		}
		end = max(end, e)
	}
	return end
}

// TestGenerateTimeline checks the shape of every timeline: a heal fault
// pins the heal time, every temporary fault ends by it, permanent crashes
// come before every temporary fault and stay a minority of the initial
// control plane, and the tail leaves the monitors time to judge.
func TestGenerateTimeline(t *testing.T) {
	for seed := uint64(1); seed <= seedsChecked; seed++ {
		p := Generate(seed)
		h := heal(p)
		last := p.Faults[len(p.Faults)-1]
		if last.Kind != sim.Heal || last.At != h {
			t.Fatalf("seed %d: the last fault is %+v, want a heal at the heal time %v", seed, last, h)
		}
		if tail := p.Duration - h; tail < QuietMin {
			t.Fatalf("seed %d: only %v after the heal time", seed, tail)
		}
		if p.Duration > 7*time.Minute {
			t.Fatalf("seed %d: duration %v", seed, p.Duration)
		}
		for _, c := range p.Commands {
			if c.At >= h {
				t.Fatalf("seed %d: command at %v after the heal time %v", seed, c.At, h)
			}
		}
		perm := permanent(p)
		if 2*len(perm) >= p.ControlPlane {
			t.Fatalf("seed %d: %d permanent crashes with %d control-plane nodes", seed, len(perm), p.ControlPlane)
		}
		if len(perm) == 0 {
			continue
		}
		lastKill := perm[len(perm)-1].At
		for _, f := range p.Faults {
			temporary := f.For > 0 || f.Kind == sim.Restart || f.Kind == sim.Resume || f.Kind == sim.Pause
			boot := f.At == 0 && f.Kind == sim.Partition
			if temporary && !boot && f.At <= lastKill {
				t.Fatalf("seed %d: temporary fault %+v before the last permanent crash at %v", seed, f, lastKill)
			}
			if f.Kind == sim.Crash && f.For > 0 && !slices.Contains(live, f.Target) {
				t.Fatalf("seed %d: crash %+v may restart a dead node", seed, f)
			}
		}
		named := map[sim.Selector]bool{}
		for i, f := range perm {
			if slices.Contains(live, f.Target) {
				if i+1 < len(perm) && !slices.Contains(live, perm[i+1].Target) {
					t.Fatalf("seed %d: a named permanent crash follows a dynamic one: %v", seed, perm)
				}
				continue
			}
			if named[f.Target] {
				t.Fatalf("seed %d: %s crashed for good twice", seed, f.Target)
			}
			named[f.Target] = true
		}
	}
}

// TestGenerateExpect checks the liveness expectations against the plan.
func TestGenerateExpect(t *testing.T) {
	for seed := uint64(1); seed <= seedsChecked; seed++ {
		p := Generate(seed)
		l := p.Expect.Liveness
		if l.Leader != LeaderTimeouts {
			t.Fatalf("seed %d: leader %d", seed, l.Leader)
		}
		if (p.Target != "") != (l.Membership > 0) {
			t.Fatalf("seed %d: target %q with membership %d", seed, p.Target, l.Membership)
		}
		if l.Shape == nil {
			continue
		}
		quarantine := slices.ContainsFunc(p.Commands, func(c sim.Command) bool {
			return c.Kind == roles.Quarantine || slices.ContainsFunc(c.With, func(w sim.Command) bool { return w.Kind == roles.Quarantine })
		})
		if p.Target == "" || quarantine {
			t.Fatalf("seed %d: shape expected with target %q and quarantine %v", seed, p.Target, quarantine)
		}
		s, err := topology.ByName(p.Target)
		if p.Target == "explicit" {
			s, err = topology.Explicit{Voters: p.TargetVoters, ControlPlane: p.TargetVoters}, nil
		}
		if err != nil {
			t.Fatal(err)
		}
		want, err := s.Target(p.Nodes - len(permanent(p)))
		if err != nil || want.ControlPlane != l.Shape.ControlPlane {
			t.Fatalf("seed %d: shape wants %d control-plane nodes; the strategy %s for %d survivors says %+v, %v",
				seed, l.Shape.ControlPlane, p.Target, p.Nodes-len(permanent(p)), want, err)
		}
		if h := heal(p); p.Duration-h < l.Shape.Within {
			t.Fatalf("seed %d: shape within %v but only %v after the heal", seed, l.Shape.Within, p.Duration-h)
		}
	}
}

// TestGenerateVariety: over the seeds, every fault kind, selector, target
// and rare-path flavour is drawn, and the shares are near what the package
// doc promises.
func TestGenerateVariety(t *testing.T) {
	kinds := map[sim.FaultKind]int{}
	sels := map[sim.Selector]int{}
	targets := map[string]int{}
	var large, workloads, busy, shifts, oneWay, boot, perm, knobs, shapes, flavored, wan int
	extras := map[string]int{}
	for seed := uint64(1); seed <= seedsChecked; seed++ {
		p := Generate(seed)
		targets[p.Target]++
		countExtras(p, extras)
		if p.Nodes > 9 {
			large++
		}
		if p.Workload != nil {
			workloads++
		}
		if p.Workload != nil && p.Workload.Clients >= 16 {
			busy++
		}
		if p.Policy != (sim.PolicyKnobs{}) {
			knobs++
		}
		if p.Expect.Liveness.Shape != nil {
			shapes++
		}
		if strings.Contains(p.Description, "Aims at") {
			flavored++
		}
		if len(permanent(p)) > 0 {
			perm++
		}
		if p.Network.LatencyMin >= 300*time.Millisecond {
			wan++
		}
		for _, f := range p.Faults {
			kinds[f.Kind]++
			if f.Target != "" {
				sels[f.Target]++
			}
			for _, g := range f.Groups {
				for _, s := range g {
					sels[s]++
				}
			}
			if f.OneWay {
				oneWay++
			}
			if f.Kind == sim.Partition && f.At == 0 {
				boot++
			}
		}
		for _, c := range p.Commands {
			if len(c.With) > 0 {
				shifts++
			}
		}
	}
	for _, k := range []sim.FaultKind{sim.Crash, sim.Restart, sim.Pause, sim.Resume, sim.Partition, sim.Heal, sim.Loss, sim.Duplicate, sim.Chaos, sim.ClockSkew,
		sim.LinkFault, sim.Clog, sim.Swizzle, sim.Ring, sim.Disk} {
		if kinds[k] == 0 {
			t.Errorf("no %s fault in %d seeds", k, seedsChecked)
		}
	}
	for _, what := range []string{"disk corrupt", "disk full", "disk read-errors", "traffic raft", "traffic gossip", "traffic requests", "bridge",
		"jitter", "jump", "narrow link", "random swizzle", "latency normal", "latency pareto", "network link", "bandwidth"} {
		if extras[what] == 0 {
			t.Errorf("no %s in %d seeds", what, seedsChecked)
		}
	}
	for _, s := range append(slices.Clone(dynamic), "n1", "n9", "n12") {
		if sels[s] == 0 {
			t.Errorf("no fault on %s in %d seeds", s, seedsChecked)
		}
	}
	for _, s := range append(slices.Clone(strategies), "explicit", "") {
		if targets[s] == 0 {
			t.Errorf("no plan with target %q in %d seeds", s, seedsChecked)
		}
	}
	share := func(what string, n int, lo, hi float64) {
		if f := float64(n) / seedsChecked; f < lo || f > hi {
			t.Errorf("%s in %.2f of the plans, want %.2f..%.2f", what, f, lo, hi)
		}
	}
	share("no target", targets[""], 0.10, 0.25)
	share("more than 9 nodes", large, 0.05, 0.16)
	share("a workload", workloads, 0.35, 0.65)
	share("permanent crashes", perm, 0.05, 0.40)
	share("a multi-command shift", shifts, 0.15, 0.8)
	share("a boot partition", boot, 0.05, 0.2)
	share("policy knobs", knobs, 0.1, 0.4)
	share("a shape expectation", shapes, 0.15, 0.9)
	share("a rare-path flavour", flavored, 0.4, 1)
	share("links slower than a root period (wan)", wan, 0.05, 0.15)
	share("busy workloads (16 clients or more)", busy, 0.04, 0.13)
	if oneWay == 0 {
		t.Errorf("no one-way partition in %d seeds", seedsChecked)
	}
}

// countExtras counts the features of issue 11's fault families a plan uses.
func countExtras(p *sim.Plan, n map[string]int) {
	nw := p.Network
	n["latency "+string(nw.Distribution)]++
	if len(nw.Links) > 0 {
		n["network link"]++
	}
	if nw.Bandwidth > 0 {
		n["bandwidth"]++
	}
	for _, f := range p.Faults {
		switch {
		case f.Kind == sim.Disk:
			n["disk "+string(f.Mode)]++
		case f.Traffic != "":
			n["traffic "+string(f.Traffic)]++
		case f.Bridge != "":
			n["bridge"]++
		case f.Jitter > 0:
			n["jitter"]++
		case f.Jump != 0:
			n["jump"]++
		case f.Link != nil && f.Link.Bandwidth > 0:
			n["narrow link"]++
		case f.Kind == sim.Swizzle && f.Target == "":
			n["random swizzle"]++
		}
	}
}

// TestGeneratedPlansJudge runs a few plans: none is refused, and every
// run is long enough for the simulator to judge liveness after the heal.
func TestGeneratedPlansJudge(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the simulator")
	}
	for seed := uint64(1); seed <= 8; seed++ {
		res := sim.Run(Generate(seed), seed, sim.Options{})
		for _, v := range res.Violations {
			if v.Property == sim.PropInvalidPlan || strings.Contains(v.Detail, "needs") && strings.Contains(v.Detail, "to judge") {
				t.Errorf("seed %d: %v", seed, v)
			}
		}
	}
}

// TestExtrasCorruptDisksRefuse: a plan that turned its named permanent
// crashes into corrupted disks restarts those nodes, and their logs refuse
// to start (seeds 144 and 167 draw disk-corrupt). Each run passes.
func TestExtrasCorruptDisksRefuse(t *testing.T) {
	if testing.Short() {
		t.Skip("runs generated plans")
	}
	for _, seed := range []uint64{144, 167} {
		p := Generate(seed)
		if !strings.Contains(p.Description, "disk-corrupt") {
			t.Fatalf("seed %d draws no corrupt disk: %s", seed, p.Description)
		}
		r := sim.Run(p, seed, sim.Options{})
		if !r.OK() {
			t.Fatalf("seed %d: %v", seed, r.Violations)
		}
		if r.Coverage[sim.CoverDiskRefused] == 0 {
			t.Errorf("seed %d: no log refused to start", seed)
		}
	}
}
