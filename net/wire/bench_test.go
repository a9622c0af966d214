package wire_test

import (
	"crypto/ed25519"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"

	"revoada.dev/revoada/core/membership"
	"revoada.dev/revoada/core/node"
	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/net/wire"
)

// msgApp is a leader's append of one 1 KiB entry, as raft sends it.
func msgApp() node.Message {
	from, to := roles.NodeID{1}, roles.NodeID{2}
	return node.Message{From: from, To: to, Kind: node.MsgRaft, Raft: &pb.Message{
		Type: new(pb.MsgApp), From: new(from.RaftID()), To: new(to.RaftID()), Term: new(uint64(7)),
		LogTerm: new(uint64(7)), Index: new(uint64(1041)), Commit: new(uint64(1040)),
		Entries: []*pb.Entry{{Term: new(uint64(7)), Index: new(uint64(1042)), Type: new(pb.EntryNormal), Data: make([]byte, 1024)}},
	}}
}

// gossipMsg is a gossip round's message: two signed states, one suspicion.
func gossipMsg(tb testing.TB) node.Message {
	from, to := roles.NodeID{1}, roles.NodeID{2}
	g := &membership.Message{From: from, To: to, Kind: membership.Gossip, Seq: 88, Uptime: 5000, Incarnation: 2,
		Suspects: []membership.Suspicion{{Node: roles.NodeID{3}, Incarnation: 1}}}
	for i := range 2 {
		var seed [ed25519.SeedSize]byte
		seed[0] = byte(i + 1)
		key := ed25519.NewKeyFromSeed(seed[:])
		var id roles.NodeID
		copy(id[:], key.Public().(ed25519.PublicKey))
		s, err := membership.Sign(key, membership.State{Node: id, Incarnation: 1, Version: 12,
			GossipAddr: "10.0.0.1:7946", RaftAddr: "10.0.0.1:7000", Roles: roles.ControlPlane, SoftwareVersion: "revoada v0.1.0",
			Capacity: membership.Capacity{CPUMilli: 4000, MemoryBytes: 16 << 30, StorageBytes: 100 << 30, Pods: 110}})
		if err != nil {
			tb.Fatal(err)
		}
		g.States = append(g.States, s)
	}
	return node.Message{From: from, To: to, Kind: node.MsgGossip, Gossip: g}
}

func benchmark(b *testing.B, m node.Message) {
	enc := wire.AppendMessage(nil, m)
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(enc)))
		buf := make([]byte, 0, len(enc))
		for b.Loop() {
			buf = wire.AppendMessage(buf[:0], m)
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(enc)))
		for b.Loop() {
			if _, err := wire.DecodeMessage(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
	benchmarkClone(b, m)
	b.Run("encode+decode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(enc)))
		var buf []byte
		for b.Loop() {
			buf = wire.AppendMessage(buf[:0], m)
			if _, err := wire.DecodeMessage(buf); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// The simulator today hands each receiver a Clone; the codec's decode
// gives a fresh copy too, so clone is the baseline encode+decode replaces.
func benchmarkClone(b *testing.B, m node.Message) {
	b.Run("clone", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = m.Clone()
		}
	})
}

func BenchmarkWireMsgApp1KiB(b *testing.B) { benchmark(b, msgApp()) }
func BenchmarkWireHeartbeat(b *testing.B)  { benchmark(b, heartbeat()) }
func BenchmarkWireGossip(b *testing.B)     { benchmark(b, gossipMsg(b)) }
