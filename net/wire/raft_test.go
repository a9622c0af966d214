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

// appendRaft writes what protobuf writes: for raft's messages (genRaft),
// and for every message protobuf decodes from arbitrary fields (unknown
// ones, snapshots and Responses included, which go to protobuf).
func TestAppendRaftIsProtobufs(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var m *pb.Message
		if rapid.Bool().Draw(t, "raw") {
			m = new(pb.Message)
			if err := raftUnmarshal.Unmarshal(genRaftBytes(t), m); err != nil {
				return
			}
		} else {
			m = genPlainRaft(t)
		}
		prefix := rapid.SliceOfN(rapid.Byte(), 0, 4).Draw(t, "prefix")
		want, err := raftMarshal.MarshalAppend(bytes.Clone(prefix), m)
		if err != nil {
			t.Fatalf("protobuf: %v", err)
		}
		got, err := appendRaft(bytes.Clone(prefix), m)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%v:\n got %x (%v)\nwant %x", m, got, err, want)
		}
	})
}

// The messages raft sends between nodes take the plain encoder, and the
// rest protobuf: a message with unknown fields or a snapshot is not plain.
func TestAppendRaftPlain(t *testing.T) {
	hb := &pb.Message{Type: new(pb.MsgHeartbeat), To: new(uint64(2)), From: new(uint64(1)), Term: new(uint64(3)), Commit: new(uint64(40)), Context: []byte{}}
	if _, ok := appendRaftPlain(nil, hb); !ok {
		t.Error("a heartbeat left to protobuf")
	}
	unknown := new(pb.Message)
	if err := raftUnmarshal.Unmarshal(protowire.AppendVarint(protowire.AppendTag(nil, 20, protowire.VarintType), 1), unknown); err != nil {
		t.Fatal(err)
	}
	entry := protowire.AppendVarint(protowire.AppendTag(nil, 9, protowire.VarintType), 1) // an Entry field it does not know
	unknownInEntry := new(pb.Message)
	if err := raftUnmarshal.Unmarshal(protowire.AppendBytes(protowire.AppendTag(nil, raftFieldEntries, protowire.BytesType), entry), unknownInEntry); err != nil {
		t.Fatal(err)
	}
	for name, m := range map[string]*pb.Message{
		"unknown field":          unknown,
		"unknown field in entry": unknownInEntry,
		"snapshot":               {Type: new(pb.MsgSnap), Snapshot: &pb.Snapshot{}},
		"nil entry":              {Type: new(pb.MsgApp), Entries: []*pb.Entry{nil}},
	} {
		if b, ok := appendRaftPlain([]byte{7}, m); ok || !bytes.Equal(b, []byte{7}) {
			t.Errorf("%s: plain %t, bytes %x", name, ok, b)
		}
	}
}

// genPlainRaft draws a message of the fields raft sends between nodes,
// each optional one set or not, with values of any size.
func genPlainRaft(t *rapid.T) *pb.Message {
	u := func(label string) *uint64 {
		if rapid.Bool().Draw(t, label+"Set") {
			return new(rapid.Uint64().Draw(t, label))
		}
		return nil
	}
	bs := func(label string) []byte {
		if rapid.Bool().Draw(t, label+"Set") {
			return rapid.SliceOfN(rapid.Byte(), 0, 200).Draw(t, label)
		}
		return nil
	}
	m := &pb.Message{To: u("to"), From: u("from"), Term: u("term"), LogTerm: u("logTerm"), Index: u("index"),
		Commit: u("commit"), RejectHint: u("hint"), Vote: u("vote"), Context: bs("context")}
	if rapid.Bool().Draw(t, "typeSet") {
		m.Type = new(pb.MessageType(rapid.Int32().Draw(t, "type")))
	}
	if rapid.Bool().Draw(t, "rejectSet") {
		m.Reject = new(rapid.Bool().Draw(t, "reject"))
	}
	for range rapid.IntRange(0, 3).Draw(t, "entries") {
		e := &pb.Entry{Term: u("eterm"), Index: u("eindex"), Data: bs("data")}
		if rapid.Bool().Draw(t, "etypeSet") {
			e.Type = new(pb.EntryType(rapid.Int32().Draw(t, "etype")))
		}
		m.Entries = append(m.Entries, e)
	}
	return m
}

// enumSet holds exactly the values of the enum's name map, below 64 and
// above.
func TestEnumSet(t *testing.T) {
	names := map[int32]string{0: "a", 5: "b", 63: "c", 64: "d", -1: "e", 1 << 30: "f"}
	s := newEnumSet(names)
	for _, v := range []int32{0, 1, 5, 62, 63, 64, 65, -1, -2, 1 << 30, 1<<31 - 1, -1 << 31} {
		if _, want := names[v]; s.has(v) != want {
			t.Errorf("has(%d) = %t, want %t", v, s.has(v), want)
		}
	}
	for v := range int32(100) {
		if _, want := pb.MessageType_name[v]; raftTypes.has(v) != want {
			t.Errorf("raft message type %d: has %t, want %t", v, raftTypes.has(v), want)
		}
	}
}
