package sim_test

import (
	"io"
	"log"
	"testing"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// BenchmarkRaftFloor is the least the simulator's raft can cost: five bare
// etcd raft nodes in one process, on raft's own MemoryStorage, handing each
// other their messages with no codec, network, disk, log, store, checker or
// gossip. In "apply" an iteration proposes one entry of 512 bytes (about a
// Kubernetes apply's command) and steps every node until all five applied
// it; in "idle-second" it is a simulated second of heartbeats. They are the
// floors under sim's cost of an apply and of an idle mesh; compare
// BenchmarkMeshSize and issue 11's goals:
//
//	go test ./sim/ -run '^$' -bench RaftFloor -cpu 1
func BenchmarkRaftFloor(b *testing.B) {
	b.Run("apply", func(b *testing.B) {
		c := newFloorCluster(b)
		data := make([]byte, 512)
		b.ReportAllocs()
		for b.Loop() {
			if err := c.nodes[0].Propose(data); err != nil {
				b.Fatal(err)
			}
			c.settle()
		}
		for i, a := range c.applied {
			if a != c.applied[0] {
				b.Fatalf("node %d applied %d, node 1 %d", i+1, a, c.applied[0])
			}
		}
	})
	// A simulated second with nothing proposed: sim's tick (100 ms) ten
	// times on every node, a heartbeat round each (HeartbeatTicks 1).
	b.Run("idle-second", func(b *testing.B) {
		c := newFloorCluster(b)
		b.ReportAllocs()
		for b.Loop() {
			for range 10 {
				for _, rn := range c.nodes {
					rn.Tick()
				}
				c.settle()
			}
		}
		if c.nodes[0].Status().RaftState != raft.StateLeader {
			b.Fatal("node 1 lost its leadership")
		}
	})
}

// floorCluster is BenchmarkRaftFloor's five nodes, node 1 their leader.
type floorCluster struct {
	b       *testing.B
	nodes   []*raft.RawNode
	stores  []*raft.MemoryStorage
	applied []uint64
	queue   []*pb.Message
}

func newFloorCluster(b *testing.B) *floorCluster {
	const n = 5
	voters := make([]uint64, n)
	for i := range voters {
		voters[i] = uint64(i + 1)
	}
	c := &floorCluster{b: b, nodes: make([]*raft.RawNode, n), stores: make([]*raft.MemoryStorage, n), applied: make([]uint64, n)}
	for i := range c.nodes {
		c.stores[i] = raft.NewMemoryStorage()
		snap := &pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: proto.Uint64(1), Term: proto.Uint64(1), ConfState: &pb.ConfState{Voters: voters}}}
		if err := c.stores[i].ApplySnapshot(snap); err != nil {
			b.Fatal(err)
		}
		rn, err := raft.NewRawNode(&raft.Config{ID: voters[i], ElectionTick: 10, HeartbeatTick: 1, Storage: c.stores[i],
			MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256, CheckQuorum: true, PreVote: true, Logger: &raft.DefaultLogger{Logger: log.New(io.Discard, "", 0)}})
		if err != nil {
			b.Fatal(err)
		}
		c.nodes[i] = rn
	}
	if err := c.nodes[0].Campaign(); err != nil {
		b.Fatal(err)
	}
	c.settle()
	if c.nodes[0].Status().RaftState != raft.StateLeader {
		b.Fatal("node 1 did not become leader")
	}
	return c
}

// settle steps every node until none has anything left to do.
func (c *floorCluster) settle() {
	for busy := true; busy; {
		busy = false
		for i, rn := range c.nodes {
			if !rn.HasReady() {
				continue
			}
			busy = true
			rd := rn.Ready()
			if err := c.stores[i].Append(rd.Entries); err != nil {
				c.b.Fatal(err)
			}
			if rd.HardState != nil && !raft.IsEmptyHardState(rd.HardState) {
				c.stores[i].SetHardState(rd.HardState)
			}
			c.queue = append(c.queue, rd.Messages...)
			for _, e := range rd.CommittedEntries {
				c.applied[i] = e.GetIndex()
			}
			rn.Advance(rd)
		}
		for len(c.queue) > 0 {
			m := c.queue[0]
			c.queue = c.queue[1:]
			busy = true
			if err := c.nodes[m.GetTo()-1].Step(m); err != nil {
				c.b.Fatal(err)
			}
		}
	}
}
