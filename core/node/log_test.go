package node

import (
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
	"lukechampine.com/blake3"
)

// TestEntryDigestReused: a node's reused hasher digests each entry as a
// fresh one does, whatever it digested before.
func TestEntryDigestReused(t *testing.T) {
	h := blake3.New(32, nil)
	big := make([]byte, 5000)
	for i, data := range [][]byte{nil, []byte("x"), big, []byte("after a long one")} {
		e := &pb.Entry{Term: new(uint64(i + 1)), Type: pb.EntryNormal.Enum(), Data: data}
		if got, want := entryDigest(h, e), EntryDigest(e); got != want {
			t.Errorf("entry %d: reused hasher %x, fresh %x", i, got, want)
		}
	}
}
