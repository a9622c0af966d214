package node

import (
	"bytes"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
)

// TestRaftStorageSharesSnapshotData: raftStorage answers as MemoryStorage
// does, index, term, configuration and data, but hands out the data it was
// given rather than copies of it.
func TestRaftStorageSharesSnapshotData(t *testing.T) {
	s := newRaftStorage()
	var ents []*pb.Entry
	for i := uint64(1); i <= 5; i++ {
		ents = append(ents, &pb.Entry{Index: new(i), Term: new(uint64(2))})
	}
	if err := s.Append(ents); err != nil {
		t.Fatal(err)
	}
	data := []byte("the state machine at 4")
	cs := &pb.ConfState{Voters: []uint64{1, 2, 3}}
	made, err := s.CreateSnapshot(4, cs, data)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	for _, snap := range []*pb.Snapshot{made, got} {
		md := snap.GetMetadata()
		if md.GetIndex() != 4 || md.GetTerm() != 2 || len(md.GetConfState().GetVoters()) != 3 || !bytes.Equal(snap.GetData(), data) {
			t.Fatalf("snapshot %v, want index 4 term 2 voters 1-3 and the data", snap)
		}
		if &snap.GetData()[0] != &data[0] {
			t.Error("the snapshot's data is a copy")
		}
	}
	if _, err := s.CreateSnapshot(3, cs, []byte("older")); err == nil {
		t.Error("an older snapshot was taken")
	}
	installed := &pb.Snapshot{Data: []byte("the leader's state at 9"), Metadata: &pb.SnapshotMetadata{Index: new(uint64(9)), Term: new(uint64(3)), ConfState: cs}}
	if err := s.ApplySnapshot(installed); err != nil {
		t.Fatal(err)
	}
	got, err = s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if got.GetMetadata().GetIndex() != 9 || &got.GetData()[0] != &installed.GetData()[0] {
		t.Fatalf("after installing the snapshot at 9: %v", got)
	}
	if first, _ := s.FirstIndex(); first != 10 {
		t.Errorf("first index %d after installing the snapshot at 9, want 10", first)
	}
	if err := s.ApplySnapshot(made); err == nil || &got.GetData()[0] != &installed.GetData()[0] {
		t.Errorf("an older snapshot was installed (%v), or replaced the data", err)
	}
	if d, _ := s.Snapshot(); &d.GetData()[0] != &installed.GetData()[0] {
		t.Error("a refused snapshot replaced the data")
	}
}
