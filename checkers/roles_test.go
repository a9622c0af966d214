package checkers

import (
	"strings"
	"testing"

	"revoada.dev/revoada/core/roles"
)

func nodeID(b byte) roles.NodeID {
	var n roles.NodeID
	n[0], n[31] = b, b
	return n
}

// shape3 is one control-plane node (1) and two workers (2, 3).
func shape3(t *testing.T) roles.Shape {
	t.Helper()
	s, err := roles.NewShape([]roles.Member{
		{Node: nodeID(1), Roles: roles.ControlPlane},
		{Node: nodeID(2), Roles: roles.Worker},
		{Node: nodeID(3), Roles: roles.Worker},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func shift(kind roles.Kind, node byte) roles.Shift {
	return roles.Shift{{Kind: kind, Node: nodeID(node), Reason: roles.Operator}}
}

func roleOp(c int, inv, ret int, sh roles.Shift, outcome string, code roles.RejectCode) RoleOp {
	return RoleOp{Client: c, Invoke: ms(inv), Return: ms(ret), Shift: sh, Outcome: outcome, Code: code}
}

func TestRolesLinearizable(t *testing.T) {
	cases := []struct {
		name string
		ops  []RoleOp
		ok   bool
	}{
		{"sequential promote then demote", []RoleOp{
			roleOp(1, 0, 1, shift(roles.Promote, 2), RoleAccepted, 0),
			roleOp(1, 2, 3, shift(roles.Demote, 1), RoleAccepted, 0),
			roleOp(1, 4, 5, shift(roles.Demote, 2), RoleRejected, roles.ErrLastVoter),
		}, true},
		{"concurrent: the quarantine went first", []RoleOp{
			roleOp(1, 0, 10, shift(roles.Promote, 2), RoleRejected, roles.ErrQuarantined),
			roleOp(2, 1, 9, shift(roles.Quarantine, 2), RoleAccepted, 0),
		}, true},
		{"an unknown shift that took effect explains a rejection", []RoleOp{
			roleOp(1, 0, 1, shift(roles.Quarantine, 3), RoleUnknown, 0),
			roleOp(2, 5, 6, shift(roles.Promote, 3), RoleRejected, roles.ErrQuarantined),
		}, true},
		{"an unknown shift that did not take effect", []RoleOp{
			roleOp(1, 0, 1, shift(roles.Quarantine, 3), RoleUnknown, 0),
			roleOp(2, 5, 6, shift(roles.Promote, 3), RoleAccepted, 0),
		}, true},
		{"a stale rejection is always legal", []RoleOp{
			roleOp(1, 0, 1, shift(roles.Promote, 2), RoleRejected, roles.ErrStale),
		}, true},
		{"accepted where Plan rejects", []RoleOp{
			roleOp(1, 0, 1, shift(roles.Demote, 1), RoleAccepted, 0),
		}, false},
		{"rejected where Plan accepts", []RoleOp{
			roleOp(1, 0, 1, shift(roles.Promote, 2), RoleRejected, 0),
		}, false},
		{"rejected with the wrong code", []RoleOp{
			roleOp(1, 0, 1, shift(roles.Quarantine, 2), RoleAccepted, 0),
			roleOp(1, 2, 3, shift(roles.Promote, 2), RoleRejected, roles.ErrObserver),
		}, false},
		{"accepted as if an earlier accepted shift were lost", []RoleOp{
			roleOp(1, 0, 1, shift(roles.Quarantine, 2), RoleAccepted, 0),
			roleOp(2, 2, 3, shift(roles.Promote, 2), RoleAccepted, 0),
		}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			initial := shape3(t)
			v := RolesLinearizable(initial, c.ops, Options{})
			if v.OK() != c.ok {
				t.Fatalf("OK %v, want %v: %v", v.OK(), c.ok, v)
			}
			if !c.ok && (len(v.Illegal) != 1 || v.Illegal[0] != "roles" || !strings.Contains(v.Detail, "fits no linearization")) {
				t.Errorf("illegal %v, detail %q", v.Illegal, v.Detail)
			}
			if !initial.Equal(shape3(t)) {
				t.Errorf("the initial shape was modified")
			}
		})
	}
}
