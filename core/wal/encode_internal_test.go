package wal

import (
	"bytes"
	"math"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
	"pgregory.net/rapid"

	"revoada.dev/revoada/core/node"
)

// TestSplicedPayloadIsTheWholeEncoding checks appendPersist's splices
// against its payload with none, every message marshalled whole: b with
// sp's data inserted must be exactly those bytes, for snapshots of every
// size around spliceBytesMin, with and without metadata.
func TestSplicedPayloadIsTheWholeEncoding(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		snap := func(label string) *pb.Snapshot {
			if !rapid.Bool().Draw(t, label) {
				return nil
			}
			n := rapid.SampledFrom([]int{0, 1, spliceBytesMin - 1, spliceBytesMin, 70000, 1 << 20}).Draw(t, label+"-bytes")
			s := &pb.Snapshot{Data: bytes.Repeat([]byte{rapid.Byte().Draw(t, label+"-byte")}, n)}
			if rapid.Bool().Draw(t, label+"-meta") {
				s.Metadata = &pb.SnapshotMetadata{Index: new(rapid.Uint64().Draw(t, label+"-index")), Term: new(uint64(3)),
					ConfState: &pb.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{9}}}
			}
			return s
		}
		p := node.Persist{Snapshot: snap("snapshot"), Compact: snap("compact")}
		if rapid.Bool().Draw(t, "entry") {
			p.Entries = []*pb.Entry{{Index: new(uint64(7)), Term: new(uint64(3)), Data: []byte("e")}}
		}
		if rapid.Bool().Draw(t, "hardstate") {
			p.HardState = &pb.HardState{Term: new(uint64(3)), Commit: new(uint64(6))}
		}
		b, sp, err := appendPersist([]byte{0, 0, 0, 0, kindPersist}, p, nil, spliceBytesMin)
		if err != nil {
			t.Fatal(err)
		}
		whole, none, err := appendPersist([]byte{0, 0, 0, 0, kindPersist}, p, nil, math.MaxInt)
		if err != nil || len(none) != 0 {
			t.Fatalf("unspliced: %d splices, %v", len(none), err)
		}
		var got []byte
		at := 0
		for _, s := range sp {
			got = append(append(got, b[at:s.at]...), s.data...)
			at = s.at
		}
		got = append(got, b[at:]...)
		if !bytes.Equal(got, whole) {
			t.Fatalf("spliced payload of %d bytes (%d splices) differs from the %d-byte encoding", len(got)-5, len(sp), len(whole)-5)
		}
		if want := checksum(7, got, nil); checksum(7, b, sp) != want {
			t.Fatalf("checksum over the splices differs from the checksum of the whole")
		}
	})
}
