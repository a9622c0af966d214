package node

import (
	"encoding/binary"
	"math/bits"

	"revoada.dev/revoada/core/roles"
)

// memberSet is a shape's members in an open-addressed hash table: a
// driver asks whether a message's sender is a member for every message
// (IsMember), and a probe of one slot, most often, touches a cache line
// or two where a map keyed by 32 bytes hashes them all and a search of a
// sorted list touches several.
type memberSet struct {
	slots []roles.NodeID // a power of two of them, at least twice the members; the zero ID marks an empty slot
	shift uint           // 64 - log2(len(slots)): slotOf keeps the hash's top bits
	zero  bool           // the zero NodeID is a member (no slot can say so)
}

// newMemberSet indexes the members of s.
func newMemberSet(s roles.Shape) *memberSet {
	ms := s.Nodes()
	size := 8
	for size < 2*len(ms) {
		size *= 2
	}
	x := &memberSet{slots: make([]roles.NodeID, size), shift: uint(64 - bits.TrailingZeros(uint(size)))}
	mask := uint64(size - 1)
	for _, id := range ms {
		if id == (roles.NodeID{}) {
			x.zero = true
			continue
		}
		i := x.slotOf(id)
		for x.slots[i] != (roles.NodeID{}) && x.slots[i] != id {
			i = (i + 1) & mask
		}
		x.slots[i] = id
	}
	return x
}

// slotOf is where id's probe starts: a multiplicative hash of its four
// words (a node ID is a public key, but a test's may differ in one byte).
func (x *memberSet) slotOf(id roles.NodeID) uint64 {
	h := binary.LittleEndian.Uint64(id[0:]) ^ bits.RotateLeft64(binary.LittleEndian.Uint64(id[8:]), 16) ^
		bits.RotateLeft64(binary.LittleEndian.Uint64(id[16:]), 32) ^ bits.RotateLeft64(binary.LittleEndian.Uint64(id[24:]), 48)
	return (h * 0x9e3779b97f4a7c15) >> x.shift
}

// has reports whether id is a member.
func (x *memberSet) has(id roles.NodeID) bool {
	var zero roles.NodeID
	if sameID(&id, &zero) {
		return x.zero
	}
	mask := uint64(len(x.slots) - 1)
	for i := x.slotOf(id); ; i = (i + 1) & mask {
		s := &x.slots[i]
		switch {
		case sameID(s, &id):
			return true
		case sameID(s, &zero):
			return false
		}
	}
}

// sameID is a == b, word by word: the compiler calls memequal for 32-byte
// arrays.
func sameID(a, b *roles.NodeID) bool {
	le := binary.LittleEndian
	return le.Uint64(a[0:]) == le.Uint64(b[0:]) && le.Uint64(a[8:]) == le.Uint64(b[8:]) &&
		le.Uint64(a[16:]) == le.Uint64(b[16:]) && le.Uint64(a[24:]) == le.Uint64(b[24:])
}
