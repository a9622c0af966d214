package store

import "fmt"

// record appends the event of the write at s.rev+1, makes it the store's
// revision and trims history to HistoryMax.
func (s *Store) record(t EventType, r Resource) Event {
	s.rev++
	if r.ModRevision != s.rev {
		panic(fmt.Sprintf("store: %s event for %s at revision %d, store writes revision %d", t, r.Ref, r.ModRevision, s.rev))
	}
	ev := Event{Type: t, Revision: s.rev, Resource: r}
	s.history = append(s.history, ev)
	if len(s.history) > HistoryMax {
		s.Compact(s.rev + 1 - HistoryMax)
	}
	return ev
}

// Compacted is the oldest revision still in history: Events answers for
// every from in [Compacted(), Revision()+1]. It is Revision()+1 when the
// history is empty.
func (s *Store) Compacted() Revision { return s.first }

// Compact forgets the history below rev. rev is capped at Revision()+1
// (forget everything); a rev at or below Compacted() does nothing.
func (s *Store) Compact(rev Revision) {
	rev = min(rev, s.rev+1)
	if rev <= s.first {
		return
	}
	n := int(rev - s.first)
	clear(s.history[:n]) // release the payloads
	s.history = s.history[n:]
	s.first = rev
	s.enc.drop(n)
}

// historyEncoding keeps the snapshot encoding of the history's first events
// (a type byte and the resource's envelope each, as AppendSnapshot writes
// them), so a snapshot encodes only the events written since the last one
// and copies the rest in one piece: the history is most of a busy store's
// snapshot, and a node snapshots every few hundred entries. It is filled
// by AppendSnapshot only; a store that never snapshots never holds it.
type historyEncoding struct {
	buf []byte // the encodings, from off[0] on; bytes before it are dropped events'
	off []int  // off[i] is where history[i]'s encoding starts in buf
}

// drop forgets the first n events' encodings, and moves the rest to the
// front of buf once the dropped bytes outweigh them.
func (h *historyEncoding) drop(n int) {
	if n >= len(h.off) {
		h.buf, h.off = h.buf[:0], h.off[:0]
		return
	}
	h.off = h.off[n:]
	if dead := h.off[0]; dead > len(h.buf)-dead {
		h.buf = h.buf[:copy(h.buf, h.buf[dead:])]
		for i := range h.off {
			h.off[i] -= dead
		}
	}
}

// appendHistory appends the encoding of every event in history to b,
// encoding those the cache lacks.
func (s *Store) appendHistory(b []byte) []byte {
	h := &s.enc
	for _, ev := range s.history[len(h.off):] {
		h.off = append(h.off, len(h.buf))
		h.buf = AppendResource(append(h.buf, byte(ev.Type)), ev.Resource)
	}
	if len(h.off) == 0 {
		return b
	}
	return append(b, h.buf[h.off[0]:]...)
}

// Events returns the history of writes with Revision >= from, of kind (""
// for every kind), in revision order. from == 0 means "from now" and returns
// nothing; a from beyond Revision() returns nothing. The slice is the
// caller's; its payloads are shared and read-only.
//
// Errors: ErrCompacted, naming the oldest revision held, when 0 < from <
// Compacted().
func (s *Store) Events(from Revision, kind string) ([]Event, error) {
	if from == 0 || from > s.rev {
		return nil, nil
	}
	if from < s.first {
		return nil, fmt.Errorf("%w: revision %d; the oldest revision held is %d", ErrCompacted, from, s.first)
	}
	var out []Event
	for _, ev := range s.history[from-s.first:] {
		if kind == "" || ev.Resource.Ref.Kind == kind {
			out = append(out, ev)
		}
	}
	return out, nil
}
