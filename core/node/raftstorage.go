package node

import (
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
)

// raftStorage is raft's MemoryStorage with the data of its snapshot held
// beside it rather than in it. MemoryStorage copies a snapshot whole
// (proto.Clone) when it takes one, when it installs one and each time raft
// asks for it to send, and a snapshot's data is the whole state machine
// (hundreds of KB with a workload's history); that data is never written
// once encoded (Machine.Encode returns a new array; decoders copy out of
// it), so it is shared instead of copied. Not safe for concurrent use,
// unlike MemoryStorage: the node is driven from one goroutine.
type raftStorage struct {
	*raft.MemoryStorage
	data []byte // the data of MemoryStorage's snapshot, which holds none
}

var _ raft.Storage = (*raftStorage)(nil)

func newRaftStorage() *raftStorage { return &raftStorage{MemoryStorage: raft.NewMemoryStorage()} }

// Snapshot is MemoryStorage's snapshot, a copy, with the shared data.
func (s *raftStorage) Snapshot() (*pb.Snapshot, error) {
	snap, err := s.MemoryStorage.Snapshot()
	if err != nil {
		return nil, err
	}
	snap.Data = s.data
	return snap, nil
}

// ApplySnapshot installs snap, keeping its data without copying it.
func (s *raftStorage) ApplySnapshot(snap *pb.Snapshot) error {
	if err := s.MemoryStorage.ApplySnapshot(&pb.Snapshot{Metadata: snap.GetMetadata()}); err != nil {
		return err
	}
	s.data = snap.GetData()
	return nil
}

// CreateSnapshot takes a snapshot at index i with data, which it keeps
// and returns without copying.
func (s *raftStorage) CreateSnapshot(i uint64, cs *pb.ConfState, data []byte) (*pb.Snapshot, error) {
	snap, err := s.MemoryStorage.CreateSnapshot(i, cs, nil)
	if err != nil {
		return nil, err
	}
	s.data, snap.Data = data, data
	return snap, nil
}
