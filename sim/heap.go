package sim

// eventHeap is a binary min-heap of events by (at, seq), kept by value so the
// hot loop does not allocate an event per push.
type eventHeap struct{ es []event }

func (h *eventHeap) len() int { return len(h.es) }

func (h *eventHeap) less(i, j int) bool {
	a, b := &h.es[i], &h.es[j]
	return a.at < b.at || (a.at == b.at && a.seq < b.seq)
}

func (h *eventHeap) push(e event) {
	h.es = append(h.es, e)
	for i := len(h.es) - 1; i > 0; {
		p := (i - 1) / 2
		if !h.less(i, p) {
			break
		}
		h.es[i], h.es[p] = h.es[p], h.es[i]
		i = p
	}
}

func (h *eventHeap) pop() event {
	top := h.es[0]
	last := len(h.es) - 1
	h.es[0] = h.es[last]
	h.es[last] = event{}
	h.es = h.es[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(h.es) && h.less(l, m) {
			m = l
		}
		if r < len(h.es) && h.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		h.es[i], h.es[m] = h.es[m], h.es[i]
		i = m
	}
	return top
}
