package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"slices"
)

const (
	snapshotMagic = "rvst"
	// snapshotHeaderBytes is magic, version, revision and the resource count;
	// snapshotTrailerBytes the event count's minimum neighbour, the CRC.
	snapshotHeaderBytes  = len(snapshotMagic) + 1 + 8 + 4
	snapshotTrailerBytes = 4
	// envelopeBytesMin is the size of an envelope with empty strings and payload.
	envelopeBytesMin = 1 + 4*2 + 1 + 3*8 + 4
	// revisionMax is the highest revision a snapshot may hold: int64 range,
	// as etcd and Kubernetes resourceVersions, with room for further writes.
	revisionMax = 1<<63 - 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Snapshot returns the store's canonical encoding (see the package doc):
// resources in Compare order, then the retained history. Equal content
// (resources, revision and retained history) gives equal bytes, whatever
// order the writes came in.
func (s *Store) Snapshot() []byte { return s.AppendSnapshot(nil) }

// AppendSnapshot appends Snapshot's bytes to b.
func (s *Store) AppendSnapshot(b []byte) []byte {
	rs, _ := s.List("", "")
	start := len(b)
	b = append(append(b, snapshotMagic...), snapshotVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(s.rev))
	b = binary.BigEndian.AppendUint32(b, uint32(len(rs)))
	for _, r := range rs {
		b = AppendResource(b, r)
	}
	b = s.appendHistory(binary.BigEndian.AppendUint32(b, uint32(len(s.history))))
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
}

// Restore decodes a snapshot into a new store. It accepts only what Snapshot
// produces: a matching checksum, canonical order, valid resources and a
// history consistent with the state, so Restore(b).Snapshot() equals b.
// The store copies what it keeps; b may be reused.
//
// Errors: ErrInvalid (wrapped, with detail) for corrupt or inconsistent
// bytes; ErrUnsupported for a snapshot version this build does not know.
// Restore never panics on any input.
func Restore(b []byte) (*Store, error) {
	if len(b) < snapshotHeaderBytes+4+snapshotTrailerBytes || string(b[:len(snapshotMagic)]) != snapshotMagic {
		return nil, &InvalidError{Field: "snapshot", Reason: fmt.Sprintf("no snapshot header in %d bytes", len(b))}
	}
	d := decoder{b: b[len(snapshotMagic) : len(b)-snapshotTrailerBytes], what: "snapshot"}
	d.version("snapshot", snapshotVersion)
	if d.err != nil {
		return nil, d.err
	}
	body, sum := b[:len(b)-snapshotTrailerBytes], binary.BigEndian.Uint32(b[len(b)-snapshotTrailerBytes:])
	if got := crc32.Checksum(body, castagnoli); got != sum {
		return nil, &InvalidError{Field: "snapshot", Reason: fmt.Sprintf("checksum %08x, computed %08x", sum, got)}
	}
	s := d.snapshot()
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d bytes after the history", len(d.b))
	}
	if d.err != nil {
		return nil, d.err
	}
	if err := s.checkHistory(); err != nil {
		return nil, err
	}
	return s, nil
}

// snapshot decodes the body after the version byte.
func (d *decoder) snapshot() *Store {
	s := New()
	s.rev = Revision(d.u64("revision"))
	if s.rev > revisionMax {
		d.fail("revision %d beyond %d", s.rev, Revision(revisionMax))
	}
	n := d.count("resources", len(d.b)/envelopeBytesMin)
	var prev *Ref
	for range n {
		r := d.resource()
		d.check(validStored(r, s.rev))
		if prev != nil && Compare(*prev, r.Ref) >= 0 && d.err == nil {
			d.fail("resource %s after %s: not in order", r.Ref, *prev)
		}
		if d.err != nil {
			return s
		}
		prev = &r.Ref
		s.put(r)
	}
	d.history(s)
	return s
}

// history decodes the retained events into s, which holds its revision.
func (d *decoder) history(s *Store) {
	n := d.count("events", min(HistoryMax, len(d.b)/(1+envelopeBytesMin)))
	if uint64(n) > uint64(s.rev) {
		d.fail("%d events in a store at revision %d", n, s.rev)
		return
	}
	s.first = s.rev + 1 - Revision(n)
	s.history = make([]Event, 0, n)
	events, off := d.b, make([]int, 0, n)
	for i := range n {
		off = append(off, len(events)-len(d.b))
		ev := Event{Type: EventType(d.u8("event type")), Resource: d.resource()}
		ev.Revision = ev.Resource.ModRevision
		d.check(validEvent(ev, s.first+Revision(i), s.rev))
		if d.err != nil {
			return
		}
		s.history = append(s.history, ev)
	}
	// The events' bytes are their canonical encoding (Restore accepts no
	// other): the next snapshot copies them rather than encode them again.
	s.enc = historyEncoding{buf: slices.Clone(events[:len(events)-len(d.b)]), off: off}
}

// count reads a u32 count and fails when it exceeds limit.
func (d *decoder) count(field string, limit int) int {
	n := d.u32(field)
	if d.err == nil && uint64(n) > uint64(limit) {
		d.fail("%d %s, at most %d fit", n, field, limit)
		return 0
	}
	return int(n)
}

// check records err, if any, as the decoder's failure.
func (d *decoder) check(err error) {
	if d.err == nil && err != nil {
		d.err = fmt.Errorf("%w: snapshot: %v", ErrInvalid, err)
	}
}

// validStored checks a resource as the store holds it at revision rev.
func validStored(r Resource, rev Revision) error {
	if err := validInput(r); err != nil {
		return fmt.Errorf("%s: %v", r.Ref, err)
	}
	if r.CreateRevision < 1 || r.CreateRevision > r.ModRevision || r.ModRevision > rev {
		return fmt.Errorf("%s: revisions %d..%d outside 1..%d", r.Ref, r.CreateRevision, r.ModRevision, rev)
	}
	if r.Version < 1 || uint64(r.Version) > uint64(r.ModRevision-r.CreateRevision)+1 {
		return fmt.Errorf("%s: version %d impossible for revisions %d..%d", r.Ref, r.Version, r.CreateRevision, r.ModRevision)
	}
	return nil
}

// validEvent checks a history event expected at revision at.
func validEvent(ev Event, at, rev Revision) error {
	r := ev.Resource
	if err := validStored(r, rev); err != nil {
		return err
	}
	created := r.CreateRevision == r.ModRevision
	switch {
	case ev.Revision != at:
		return fmt.Errorf("event at revision %d, expected %d", ev.Revision, at)
	case ev.Type == Added && created && r.Version == 1:
	case ev.Type == Modified && !created && r.Version > 1:
	case ev.Type == Deleted && !created:
	default:
		return fmt.Errorf("%s event at %d for %s created at %d, version %d", ev.Type, at, r.Ref, r.CreateRevision, r.Version)
	}
	return nil
}

// checkHistory pairs the history with the state: a ref's last event is its
// current state (or its absence, for Deleted), and every resource written
// within the history has an event.
func (s *Store) checkHistory() error {
	seen := map[Ref]bool{}
	for i := len(s.history) - 1; i >= 0; i-- {
		ev := s.history[i]
		ref := ev.Resource.Ref
		if seen[ref] {
			continue
		}
		seen[ref] = true
		cur, ok := s.lookup(ref)
		if ev.Type == Deleted && ok || ev.Type != Deleted && (!ok || !sameResource(cur, ev.Resource)) {
			return fmt.Errorf("%w: snapshot: %s: last event %s at %d disagrees with the state", ErrInvalid, ref, ev.Type, ev.Revision)
		}
	}
	rs, _ := s.List("", "")
	for _, r := range rs {
		if r.ModRevision >= s.first && !seen[r.Ref] {
			return fmt.Errorf("%w: snapshot: %s written at %d has no event", ErrInvalid, r.Ref, r.ModRevision)
		}
	}
	return nil
}

func sameResource(a, b Resource) bool {
	return a.Ref == b.Ref && a.Face == b.Face && a.Format == b.Format && bytes.Equal(a.Payload, b.Payload) &&
		a.CreateRevision == b.CreateRevision && a.ModRevision == b.ModRevision && a.Version == b.Version
}
