package sim

import (
	"cmp"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// TestEventHeapPopsInOrder: pushes and pops interleaved, the heap pops
// exactly what a sorted list of the pending events would, by (at, seq).
func TestEventHeapPopsInOrder(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var h eventHeap
		var ref []event
		var seq uint64
		for range rapid.IntRange(1, 300).Draw(t, "steps") {
			if len(ref) > 0 && rapid.IntRange(0, 2).Draw(t, "pop") == 0 {
				got := h.pop()
				want := ref[0]
				ref = ref[1:]
				if got.at != want.at || got.seq != want.seq || got.node != want.node {
					t.Fatalf("popped (%v, %d, node %d), want (%v, %d, node %d)", got.at, got.seq, got.node, want.at, want.seq, want.node)
				}
				continue
			}
			seq++
			e := event{at: time.Duration(rapid.IntRange(0, 20).Draw(t, "at")), seq: seq, node: int(seq) * 7}
			h.push(e)
			i, _ := slices.BinarySearchFunc(ref, e, func(a, b event) int {
				return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.seq, b.seq))
			})
			ref = slices.Insert(ref, i, e)
			if h.len() != len(ref) || h.firstAt() != ref[0].at {
				t.Fatalf("%d events first at %v, want %d at %v", h.len(), h.firstAt(), len(ref), ref[0].at)
			}
		}
	})
}
