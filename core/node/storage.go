package node

import (
	pb "go.etcd.io/raft/v3/raftpb"
)

// Persist is what a Ready asks the driver to make durable before it sends
// the Ready's messages or delivers its results. Apply the fields in order:
// Snapshot (replaces everything up to its index), Entries (an entry at index
// i replaces any stored entry at i or after), HardState, then Compact (a newer
// local snapshot; stored entries up to its index may be discarded).
type Persist struct {
	Snapshot  *pb.Snapshot
	Entries   []*pb.Entry
	HardState *pb.HardState
	Compact   *pb.Snapshot
}

// Empty reports whether there is nothing to persist.
func (p Persist) Empty() bool {
	return p.Snapshot == nil && len(p.Entries) == 0 && p.HardState == nil && p.Compact == nil
}

// Durable is what a node had synced to stable storage: the input of a restart.
type Durable struct {
	Snapshot  *pb.Snapshot // nil for a node that never persisted anything
	Entries   []*pb.Entry  // entries after the snapshot, contiguous
	HardState *pb.HardState
}

// Storage is the small contract a driver's disk fulfils for a node. Save
// records p; Sync makes everything saved so far durable; Load returns what was
// durable at the last Sync (what survives a crash). Implementations: the
// simulator's fault-injecting disk, bbolt in production.
type Storage interface {
	Save(p Persist) error
	Sync() error
	Load() (Durable, error)
}
