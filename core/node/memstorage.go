package node

import (
	"slices"
	"sort"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// MemStorage is the reference semantics of Storage, kept in memory: Save
// changes a volatile image, Sync makes it durable, Crash throws away what
// was not synced. The simulator's disk is a MemStorage; durable backends
// (real/disk) are tested against it.
//
// Save applies a Persist in its documented order: a Snapshot from the leader
// replaces the whole log (as raft's MemoryStorage.ApplySnapshot does);
// Entries at index i replace any stored entry from i on; HardState replaces
// the hard state; a newer Compact snapshot becomes the base and drops the
// entries it covers. Not safe for concurrent use.
type MemStorage struct {
	volatile, durable Durable
	// shared counts the volatile entries, from the first, that sit in the
	// array the durable image reads too. Save appends in place past them,
	// and copies the entries only to write over one of them: a Sync after
	// every Save would otherwise copy the whole log each time.
	shared int
}

var _ Storage = (*MemStorage)(nil)

// Save records p in the volatile image.
func (m *MemStorage) Save(p Persist) error {
	v := &m.volatile
	if p.Snapshot != nil {
		v.Snapshot, v.Entries, m.shared = p.Snapshot, nil, 0
	}
	if len(p.Entries) > 0 {
		// The entries before first stay: found by their indexes, which
		// increase, not by a pass over the log (that pass, at every Save,
		// was a tenth of a simulated write's cost once the log held a few
		// thousand entries).
		first := p.Entries[0].GetIndex()
		keep := sort.Search(len(v.Entries), func(i int) bool { return v.Entries[i].GetIndex() >= first })
		if keep < m.shared { // it would write over what the durable image reads: copy
			v.Entries, m.shared = slices.Clip(v.Entries[:keep]), 0
		}
		v.Entries = append(v.Entries[:keep], p.Entries...)
	}
	if p.HardState != nil {
		v.HardState = proto.Clone(p.HardState).(*pb.HardState)
	}
	if p.Compact != nil {
		m.compact(p.Compact)
	}
	return nil
}

// compact installs a local snapshot and drops the entries it covers.
func (m *MemStorage) compact(s *pb.Snapshot) {
	v := &m.volatile
	idx := s.GetMetadata().GetIndex()
	if v.Snapshot != nil && v.Snapshot.GetMetadata().GetIndex() >= idx {
		return
	}
	v.Snapshot = s
	i := sort.Search(len(v.Entries), func(i int) bool { return v.Entries[i].GetIndex() > idx })
	v.Entries, m.shared = v.Entries[i:], max(m.shared-i, 0)
}

// Sync makes everything saved durable.
func (m *MemStorage) Sync() error {
	m.durable = m.volatile
	m.durable.Entries = slices.Clip(m.volatile.Entries)
	m.shared = len(m.volatile.Entries)
	return nil
}

// Load returns what is durable.
func (m *MemStorage) Load() (Durable, error) {
	out := m.durable
	out.Entries = slices.Clone(m.durable.Entries)
	return out, nil
}

// Crash loses every write since the last Sync.
func (m *MemStorage) Crash() {
	m.volatile = m.durable
	m.shared = len(m.durable.Entries)
}
