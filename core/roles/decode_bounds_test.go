package roles_test

import (
	"encoding/binary"
	"errors"
	"testing"

	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/internal/testalloc"
)

// hugeClaims are a small shift and shape whose counts claim far more than
// they hold (issue 10); they seed FuzzDecode.
func hugeClaims(t testing.TB) [][]byte {
	shape := roles.AppendShape(nil, mesh(t, 2, 1))
	binary.BigEndian.PutUint32(shape[1:], 0xffffffff)
	shift := roles.AppendShift(nil, roles.Shift{{Kind: roles.Promote, Node: id(1), Reason: roles.Operator}})
	binary.BigEndian.PutUint16(shift[1:], 0xffff)
	return [][]byte{shape, shift}
}

// Issue 10: a count the bytes cannot hold is refused before anything is
// allocated for it.
func TestDecodeDoesNotTrustCounts(t *testing.T) {
	claims := hugeClaims(t)
	var errShape, errShift error
	testalloc.Check(t, 64<<10, func() {
		_, _, errShape = roles.DecodeShape(claims[0])
		_, _, errShift = roles.DecodeShift(claims[1])
	})
	if !errors.Is(errShape, roles.ErrCorrupt) || !errors.Is(errShift, roles.ErrCorrupt) {
		t.Fatalf("shape: %v; shift: %v; want ErrCorrupt", errShape, errShift)
	}
}

// A shape of more than ShapeMembersMax nodes is refused on both sides: it
// is never built, so every shape built decodes.
func TestShapeMembersMax(t *testing.T) {
	members := make([]roles.Member, roles.ShapeMembersMax+1)
	for i := range members {
		binary.BigEndian.PutUint32(members[i].Node[:], uint32(i))
		members[i].Roles = roles.Worker
	}
	members[0].Roles = roles.ControlPlane
	largest, err := roles.NewShape(members[:roles.ShapeMembersMax])
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := roles.DecodeShape(roles.AppendShape(nil, largest)); err != nil {
		t.Fatalf("the largest shape does not decode: %v", err)
	}
	if _, err := roles.NewShape(members); err == nil {
		t.Fatal("a shape over ShapeMembersMax was built")
	}
	b := []byte{1, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], roles.ShapeMembersMax+1)
	for _, m := range members {
		b = append(append(b, m.Node[:]...), byte(m.Roles))
	}
	if _, _, err := roles.DecodeShape(b); !errors.Is(err, roles.ErrCorrupt) {
		t.Fatalf("decoding a shape over ShapeMembersMax: %v", err)
	}
}
