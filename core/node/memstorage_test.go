package node

import (
	"slices"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
	"pgregory.net/rapid"
)

// copyStorage is the dumb reference for MemStorage: the same rules, with
// every image's entries a copy of its own.
type copyStorage struct{ volatile, durable Durable }

func (c *copyStorage) save(p Persist) {
	v := &c.volatile
	if p.Snapshot != nil {
		v.Snapshot, v.Entries = p.Snapshot, nil
	}
	if len(p.Entries) > 0 {
		keep := 0
		for keep < len(v.Entries) && v.Entries[keep].GetIndex() < p.Entries[0].GetIndex() {
			keep++
		}
		v.Entries = append(slices.Clone(v.Entries[:keep]), p.Entries...)
	}
	if p.HardState != nil {
		v.HardState = p.HardState
	}
	if s := p.Compact; s != nil && (v.Snapshot == nil || v.Snapshot.GetMetadata().GetIndex() < s.GetMetadata().GetIndex()) {
		v.Snapshot = s
		i := 0
		for i < len(v.Entries) && v.Entries[i].GetIndex() <= s.GetMetadata().GetIndex() {
			i++
		}
		v.Entries = slices.Clone(v.Entries[i:])
	}
}

func (c *copyStorage) sync() {
	c.durable = c.volatile
	c.durable.Entries = slices.Clone(c.volatile.Entries)
}
func (c *copyStorage) crash() {
	c.volatile = c.durable
	c.volatile.Entries = slices.Clone(c.durable.Entries)
}

// TestMemStorageAgainstCopies: under saves that append, overwrite a tail,
// compact or install a snapshot, syncs and crashes, MemStorage, which
// shares arrays between its images, keeps what the copying reference
// keeps; both images are compared after every step (the volatile one
// through a Sync of a clone).
func TestMemStorageAgainstCopies(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var m MemStorage
		var ref copyStorage
		next := uint64(1)
		entry := func(i uint64) *pb.Entry { return &pb.Entry{Index: new(i), Term: new(next)} }
		for range rapid.IntRange(1, 60).Draw(t, "steps") {
			switch rapid.IntRange(0, 5).Draw(t, "op") {
			case 0, 1: // entries, possibly overwriting a tail
				if next > 1 {
					next -= uint64(rapid.IntRange(0, min(3, int(next)-1)).Draw(t, "back"))
				}
				var p Persist
				for range rapid.IntRange(1, 4).Draw(t, "n") {
					p.Entries = append(p.Entries, entry(next))
					next++
				}
				m.Save(p)
				ref.save(p)
			case 2: // a local snapshot
				idx := rapid.Uint64Range(0, next).Draw(t, "compact")
				p := Persist{Compact: &pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: new(idx)}}}
				m.Save(p)
				ref.save(p)
			case 3: // a snapshot from the leader
				next += uint64(rapid.IntRange(0, 3).Draw(t, "ahead"))
				p := Persist{Snapshot: &pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: new(next)}}}
				next++
				m.Save(p)
				ref.save(p)
			case 4:
				m.Sync()
				ref.sync()
			case 5:
				m.Crash()
				ref.crash()
			}
			d, _ := m.Load()
			sameImage(t, "durable", d, ref.durable)
			v := MemStorage{durable: m.volatile}
			vd, _ := v.Load()
			sameImage(t, "volatile", vd, ref.volatile)
		}
	})
}

func sameImage(t *rapid.T, what string, got, want Durable) {
	index := func(es []*pb.Entry) []uint64 {
		var out []uint64
		for _, e := range es {
			out = append(out, e.GetIndex(), e.GetTerm())
		}
		return out
	}
	if got.Snapshot != want.Snapshot || !slices.Equal(index(got.Entries), index(want.Entries)) {
		t.Fatalf("%s: snapshot at %d, entries (index, term) %v; want %d, %v", what,
			got.Snapshot.GetMetadata().GetIndex(), index(got.Entries), want.Snapshot.GetMetadata().GetIndex(), index(want.Entries))
	}
}
