package sim

import "time"

// eventHeap is a min-heap of events by (at, seq). The heap proper is 4-ary
// and orders keys that hold no pointers, so sifting moves 24 bytes without
// write barriers and visits half the levels of a binary heap; the events
// themselves (with a message's pointers, about 200 bytes) stay put in slots,
// reused last freed first, so the hot loop allocates nothing.
type eventHeap struct {
	keys  []eventKey
	slots []event
	free  []int32 // slots not holding an event
}

// eventKey is an event's place in the order and its slot.
type eventKey struct {
	at   time.Duration
	seq  uint64
	slot int32
}

func (a eventKey) less(b eventKey) bool {
	return a.at < b.at || (a.at == b.at && a.seq < b.seq)
}

// heapArity is how many children a key has in the heap.
const heapArity = 4

func (h *eventHeap) len() int { return len(h.keys) }

// firstAt is when the first event is due; the heap must not be empty.
func (h *eventHeap) firstAt() time.Duration { return h.keys[0].at }

func (h *eventHeap) push(e event) {
	var slot int32
	if n := len(h.free); n > 0 {
		slot = h.free[n-1]
		h.free = h.free[:n-1]
		h.slots[slot] = e
	} else {
		slot = int32(len(h.slots))
		h.slots = append(h.slots, e)
	}
	k := eventKey{at: e.at, seq: e.seq, slot: slot}
	i := len(h.keys)
	h.keys = append(h.keys, k)
	for i > 0 {
		p := (i - 1) / heapArity
		if !k.less(h.keys[p]) {
			break
		}
		h.keys[i] = h.keys[p]
		i = p
	}
	h.keys[i] = k
}

func (h *eventHeap) pop() event {
	top := h.keys[0]
	e := h.slots[top.slot]
	h.slots[top.slot] = event{} // drop its message for the collector
	h.free = append(h.free, top.slot)
	last := len(h.keys) - 1
	k := h.keys[last]
	h.keys = h.keys[:last]
	if last == 0 {
		return e
	}
	i := 0
	for {
		c := heapArity*i + 1
		if c >= last {
			break
		}
		m := c
		for j := c + 1; j < min(c+heapArity, last); j++ {
			if h.keys[j].less(h.keys[m]) {
				m = j
			}
		}
		if !h.keys[m].less(k) {
			break
		}
		h.keys[i] = h.keys[m]
		i = m
	}
	h.keys[i] = k
	return e
}
