package wire

import (
	"bytes"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"
)

// genField appends one protobuf field: mostly the numbers and wire types of
// raft's Message (or Entry's, up to maxNum), sometimes another number or the
// wrong type, with values near the edges (enum values raft does not define,
// varints past int32).
func genField(t *rapid.T, b []byte, maxNum int, nested func(*rapid.T) []byte) []byte {
	num := protowire.Number(rapid.IntRange(1, maxNum+2).Draw(t, "num"))
	bytesField := num == raftFieldEntries || num == raftFieldContext || num == raftFieldSnapshot
	if maxNum == entryFieldData {
		bytesField = num == entryFieldData
	}
	if rapid.IntRange(0, 20).Draw(t, "wrongType") == 0 {
		bytesField = !bytesField
	}
	if bytesField {
		var v []byte
		if nested != nil && num == raftFieldEntries {
			v = nested(t)
		} else {
			v = rapid.SliceOfN(rapid.Byte(), 0, 8).Draw(t, "bytes")
		}
		return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), v)
	}
	v := rapid.OneOf(rapid.Uint64Range(0, 40), rapid.Uint64(), rapid.Just(uint64(1<<32+2))).Draw(t, "varint")
	return protowire.AppendVarint(protowire.AppendTag(b, num, protowire.VarintType), v)
}

const raftFieldSnapshot = 9

func genEntryBytes(t *rapid.T) []byte {
	var b []byte
	for range rapid.IntRange(0, 5).Draw(t, "entryFields") {
		b = genField(t, b, entryFieldData, nil)
	}
	return b
}

func genRaftBytes(t *rapid.T) []byte {
	var b []byte
	for range rapid.IntRange(0, 14).Draw(t, "fields") {
		b = genField(t, b, raftFieldVote, genEntryBytes)
	}
	return b
}

// unmarshalRaft gives what protobuf gives, for every input its own decoder
// takes and for the ones it leaves to protobuf.
func TestUnmarshalRaftIsProtobufs(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		b := genRaftBytes(t)
		if !rapid.Bool().Draw(t, "raw") { // or a well-formed message raft could send
			m := &pb.Message{Type: new(pb.MsgApp), To: new(uint64(2)), From: new(uint64(1)), Term: new(uint64(7)),
				Reject: new(rapid.Bool().Draw(t, "reject")), Context: rapid.SliceOfN(rapid.Byte(), 0, 4).Draw(t, "context")}
			for range rapid.IntRange(0, 3).Draw(t, "entries") {
				m.Entries = append(m.Entries, &pb.Entry{Term: new(uint64(7)), Index: new(uint64(9)), Type: new(pb.EntryNormal),
					Data: rapid.SliceOfN(rapid.Byte(), 0, 16).Draw(t, "data")})
			}
			b, _ = raftMarshal.Marshal(m)
		}
		entries, err := scanRaft(b)
		if err != nil {
			return
		}
		want := new(pb.Message)
		wantErr := raftUnmarshal.Unmarshal(b, want)
		got, err := unmarshalRaft(bytes.Clone(b), entries)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("%x: error %v, protobuf's %v", b, err, wantErr)
		}
		if err != nil {
			return
		}
		g, _ := raftMarshal.Marshal(got)
		w, _ := raftMarshal.Marshal(want)
		if !proto.Equal(got, want) || !bytes.Equal(g, w) {
			t.Fatalf("%x:\n got %v\nwant %v", b, got, want)
		}
	})
}

// The messages raft sends between nodes take the plain decoder, not
// protobuf's: a heartbeat in one allocation.
func TestUnmarshalRaftPlainAllocations(t *testing.T) {
	hb, _ := raftMarshal.Marshal(&pb.Message{Type: new(pb.MsgHeartbeat), To: new(uint64(2)), From: new(uint64(1)),
		Term: new(uint64(3)), Commit: new(uint64(40)), Context: []byte{}})
	if allocs := testing.AllocsPerRun(100, func() {
		if _, ok := unmarshalRaftPlain(hb, 0); !ok {
			t.Fatal("a heartbeat left to protobuf")
		}
	}); allocs > 1 {
		t.Errorf("a heartbeat took %.0f allocations, want 1", allocs)
	}
}
