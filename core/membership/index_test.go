package membership

import (
	"testing"

	"revoada.dev/revoada/core/roles"
)

// TestPeerIndexClash checks the index against a map when NodeIDs share
// their first eight bytes: every lookup finds exactly the peer held.
func TestPeerIndexClash(t *testing.T) {
	id := func(prefix, rest byte) roles.NodeID {
		var id roles.NodeID
		id[0], id[31] = prefix, rest
		return id
	}
	ids := []roles.NodeID{id(1, 1), id(1, 2), id(1, 3), id(2, 1), id(3, 9)}
	x, ref := newPeerIndex(), map[roles.NodeID]*peer{}
	check := func(step string) {
		t.Helper()
		if x.len() != len(ref) {
			t.Fatalf("%s: len %d, want %d", step, x.len(), len(ref))
		}
		for _, id := range append(ids, id(1, 4), id(4, 1)) {
			if got := x.get(id); got != ref[id] {
				t.Fatalf("%s: get(%x…%x) = %p, want %p", step, id[0], id[31], got, ref[id])
			}
		}
	}
	for _, id := range ids {
		p := &peer{signed: SignedState{State: State{Node: id}}}
		x.put(p)
		ref[id] = p
		check("put")
	}
	for _, i := range []int{0, 2, 4, 1, 3} {
		x.del(ids[i])
		x.del(ids[i]) // twice is once
		delete(ref, ids[i])
		check("del")
	}
}
