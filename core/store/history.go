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
