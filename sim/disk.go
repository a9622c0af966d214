package sim

import (
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"revoada.dev/revoada/core/node"
)

// disk is a node's simulated stable storage: node.MemStorage's semantics
// (a crash loses what was not synced), with one planted bug on request.
type disk struct {
	node.MemStorage
	forgetVote bool // planted bug: the vote is never written
}

var _ node.Storage = (*disk)(nil)

func (d *disk) Save(p node.Persist) error {
	if d.forgetVote && p.HardState != nil {
		hs := proto.Clone(p.HardState).(*pb.HardState)
		hs.Vote = nil
		p.HardState = hs
	}
	return d.MemStorage.Save(p)
}

// crash loses every write since the last Sync.
func (d *disk) crash() { d.Crash() }
