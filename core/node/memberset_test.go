package node

import (
	"testing"

	"pgregory.net/rapid"

	"revoada.dev/revoada/core/roles"
)

// TestMemberSetIsShapeMembership checks that memberSet.has answers as the
// shape's own Roles does, for members and strangers, over shapes of node
// IDs drawn from a few bytes (so that many share words, and probes collide)
// and including the zero ID.
func TestMemberSetIsShapeMembership(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		// Raft IDs (the first 8 bytes) are unique within a shape: byte 7
		// tells members apart, and a few values in the other 24 bytes
		// make their words alike.
		id := func(label string, b7 byte) roles.NodeID {
			var n roles.NodeID
			n[7] = b7
			for range rapid.IntRange(0, 3).Draw(t, label+"-bytes") {
				n[rapid.IntRange(8, 31).Draw(t, label+"-at")] = byte(rapid.IntRange(1, 3).Draw(t, label+"-value"))
			}
			return n
		}
		var ms []roles.Member
		for i := range rapid.IntRange(1, 40).Draw(t, "members") {
			ms = append(ms, roles.Member{Node: id("member", byte(i+2)), Roles: roles.Worker})
		}
		if rapid.Bool().Draw(t, "zero") {
			ms = append(ms, roles.Member{Roles: roles.Worker})
		}
		ms[0].Roles = roles.ControlPlane
		shape, err := roles.NewShape(ms)
		if err != nil {
			t.Fatalf("shape: %v", err)
		}
		x := newMemberSet(shape)
		for _, m := range ms {
			if !x.has(m.Node) {
				t.Fatalf("member %x not found", m.Node)
			}
		}
		for range 20 {
			n := id("probe", byte(rapid.IntRange(0, 45).Draw(t, "probe-b7")))
			if _, want := shape.Roles(n); x.has(n) != want {
				t.Fatalf("has(%x) = %v, the shape says %v", n, !want, want)
			}
		}
	})
}
