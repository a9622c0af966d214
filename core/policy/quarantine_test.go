package policy_test

import (
	"slices"
	"testing"

	"revoada.dev/revoada/core/policy"
	"revoada.dev/revoada/core/roles"
)

// A flapping voter is quarantined only while the live voters left keep the
// target: with one of four voters dead and no worker to replace it,
// quarantining a second would leave two live voters of three, one failure
// from a stalled mesh. (Found in the README example, seed 7: a disk fault
// killed one voter and the policy quarantined a flapping one three seconds
// later, then had no candidate for either.) With every other voter alive
// the same flapping voter is quarantined.
func TestFlappingVoterKeepsTheLiveTarget(t *testing.T) {
	flap := func(deadVoter bool) policy.Decision {
		s, vs := mesh(t, 5, 3)
		s = apply(t, s, roles.Shift{{Kind: roles.Promote, Node: nid(4), Reason: roles.ScalingUp}})
		dead(vs, 4) // n5: no worker left to promote
		if deadVoter {
			dead(vs, 2) // n3, a voter
		}
		p := policy.New(cfg())
		var d policy.Decision
		for k := range cfg().FlapMax + 1 {
			vs[1].Health = []policy.Health{policy.Healthy, policy.Suspect}[k%2]
			d = p.Audit(s, vs, uint64(100+k*10), none)
		}
		return d
	}
	quarantines := func(d policy.Decision) bool {
		return slices.ContainsFunc(d.Shift, func(c roles.Command) bool { return c.Kind == roles.Quarantine && c.Node == nid(2) })
	}
	if d := flap(true); quarantines(d) {
		t.Fatalf("quarantined a flapping voter while another voter is dead: %v", d)
	}
	if d := flap(false); !quarantines(d) {
		t.Fatalf("did not quarantine the flapping voter with three live voters left: %v", d)
	}
}
