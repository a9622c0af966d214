package sim

import (
	"slices"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"revoada.dev/revoada/core/node"
)

// disk is a node's simulated stable storage. Save changes the volatile
// image; Sync makes it durable; crash throws away what was not synced.
type disk struct {
	volatile, durable node.Durable
	forgetVote        bool // planted bug: the vote is never written
}

var _ node.Storage = (*disk)(nil)

func (d *disk) Save(p node.Persist) error {
	v := &d.volatile
	if p.Snapshot != nil {
		// A snapshot from the leader replaces the whole log, as raft's
		// MemoryStorage.ApplySnapshot does.
		v.Snapshot, v.Entries = p.Snapshot, nil
	}
	if len(p.Entries) > 0 {
		first := p.Entries[0].GetIndex()
		keep := 0
		for keep < len(v.Entries) && v.Entries[keep].GetIndex() < first {
			keep++
		}
		// Clip so the append never writes into an array the durable image shares.
		v.Entries = append(slices.Clip(v.Entries[:keep]), p.Entries...)
	}
	if p.HardState != nil {
		hs := proto.Clone(p.HardState).(*pb.HardState)
		if d.forgetVote {
			hs.Vote = nil
		}
		v.HardState = hs
	}
	if p.Compact != nil {
		d.compact(p.Compact)
	}
	return nil
}

// compact installs a local snapshot and drops the entries it covers.
func (d *disk) compact(s *pb.Snapshot) {
	v := &d.volatile
	idx := s.GetMetadata().GetIndex()
	if v.Snapshot != nil && v.Snapshot.GetMetadata().GetIndex() >= idx {
		return
	}
	v.Snapshot = s
	i := 0
	for i < len(v.Entries) && v.Entries[i].GetIndex() <= idx {
		i++
	}
	v.Entries = slices.Clip(v.Entries[i:])
}

func (d *disk) Sync() error {
	d.durable = d.volatile
	d.durable.Entries = slices.Clip(d.volatile.Entries)
	return nil
}

func (d *disk) Load() (node.Durable, error) {
	out := d.durable
	out.Entries = slices.Clone(d.durable.Entries)
	return out, nil
}

// crash loses every write since the last Sync.
func (d *disk) crash() {
	d.volatile = d.durable
	d.volatile.Entries = slices.Clip(d.durable.Entries)
}
