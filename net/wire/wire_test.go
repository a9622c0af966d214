package wire_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"

	"revoada.dev/revoada/core/membership"
	"revoada.dev/revoada/core/node"
	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/core/store"
	"revoada.dev/revoada/internal/testalloc"
	"revoada.dev/revoada/net/wire"
)

// fataler is what testing.T and rapid.T share.
type fataler interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// roundTrip checks that m survives encoding and decoding, as bytes and
// framed, and that its encoding is canonical.
func roundTrip(t fataler, m node.Message) {
	t.Helper()
	b := wire.AppendMessage(nil, m)
	scratch := bytes.Clone(b)
	got, err := wire.DecodeMessage(scratch)
	if err != nil {
		t.Fatalf("%s: decoding its own encoding: %v", m.Describe(), err)
	}
	for i := range scratch { // the decoded message must not share them
		scratch[i] ^= 0xff
	}
	if !sameMessage(m, got) {
		t.Fatalf("%s: decoded differently:\n got %s\nwant %s", m.Describe(), dump(got), dump(m))
	}
	if again := wire.AppendMessage(nil, got); !bytes.Equal(again, b) {
		t.Fatalf("%s: re-encoded differently:\n got %x\nwant %x", m.Describe(), again, b)
	}
	f, err := wire.AppendMsgFrame([]byte("prefix"), m)
	if err != nil {
		t.Fatal(err)
	}
	read, err := wire.ReadFrame(bytes.NewReader(f[len("prefix"):]), wire.FrameBytesMax)
	if err != nil || read.Kind != wire.FrameMsg || !bytes.Equal(read.Payload, b) {
		t.Fatalf("%s: framed: %v, kind %s, payload equal %t", m.Describe(), err, read.Kind, bytes.Equal(read.Payload, b))
	}
}

func TestWireRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) { roundTrip(t, genMessage.Draw(t, "message")) })
}

// Every message a real mesh sends round-trips, so the checks DecodeMessage
// adds (the envelope's sender and receiver are the parts', no local raft
// types) hold for what nodes make.
func TestWireRealMessages(t *testing.T) {
	kinds := map[string]int{}
	for _, m := range realMessages(t) {
		roundTrip(t, m)
		kinds[kindOf(m)]++
	}
	for _, want := range []string{"raft MsgApp", "raft MsgAppResp", "raft MsgHeartbeat", "raft MsgVote", "raft MsgReadIndex", "raft MsgSnap",
		"forward", "result", "result error", "gossip gossip", "gossip push-pull", "gossip push-pull-reply", "gossip push-pull-final"} {
		if kinds[want] == 0 {
			t.Errorf("the mesh sent no %s; it sent %v", want, kinds)
		}
	}
}

// kindOf names a message's kind for seeding and coverage.
func kindOf(m node.Message) string {
	switch {
	case m.Raft != nil:
		return "raft " + m.Raft.GetType().String()
	case m.Gossip != nil:
		return "gossip " + m.Gossip.Kind.String()
	case m.Result != nil && m.Result.Err != nil:
		return "result error"
	}
	return m.Kind.String()
}

// heartbeat is a typical message on the wire.
func heartbeat() node.Message {
	from, to := roles.NodeID{1}, roles.NodeID{2}
	return node.Message{From: from, To: to, Kind: node.MsgRaft, Raft: &pb.Message{
		Type: new(pb.MsgHeartbeat), From: new(from.RaftID()), To: new(to.RaftID()), Term: new(uint64(7)), Commit: new(uint64(1000)),
	}}
}

// frame builds a frame header by hand, with a right checksum unless bad.
func frame(magic string, version, kind byte, length uint32, payload []byte) []byte {
	b := append([]byte(magic), version, kind)
	b = binary.BigEndian.AppendUint32(b, length)
	crc := crc32.Update(0, crc32.MakeTable(crc32.Castagnoli), b[:8])
	crc = crc32.Update(crc, crc32.MakeTable(crc32.Castagnoli), payload)
	return append(binary.BigEndian.AppendUint32(b, crc), payload...)
}

// Every class of bad input gets its typed error, from bytes and from a
// stream, and nothing panics.
func TestWireBadInput(t *testing.T) {
	hb := wire.AppendMessage(nil, heartbeat())
	good := frame("RV", wire.ProtocolVersion, byte(wire.FrameMsg), uint32(len(hb)), hb)
	flipped := bytes.Clone(good)
	flipped[len(flipped)-1] ^= 1
	flippedKind := bytes.Clone(good)
	flippedKind[3] = byte(wire.FrameSnapChunk)
	frames := []struct {
		name string
		b    []byte
		max  int
		want error
	}{
		{"garbage on the port", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), wire.FrameBytesMax, wire.ErrMagic},
		{"a TLS hello in the clear", []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0}, wire.FrameBytesMax, wire.ErrMagic},
		{"another protocol version", frame("RV", wire.ProtocolVersion+1, byte(wire.FrameMsg), uint32(len(hb)), hb), wire.FrameBytesMax, wire.ErrVersion},
		{"an unknown frame kind", frame("RV", wire.ProtocolVersion, 0, 0, nil), wire.FrameBytesMax, wire.ErrKind},
		{"a kind past the last", frame("RV", wire.ProtocolVersion, byte(wire.FramePing)+1, 0, nil), wire.FrameBytesMax, wire.ErrKind},
		{"over FrameBytesMax", frame("RV", wire.ProtocolVersion, byte(wire.FrameMsg), wire.FrameBytesMax+1, nil), wire.FrameBytesMax, wire.ErrOversized},
		{"a 4 GiB claim", frame("RV", wire.ProtocolVersion, byte(wire.FrameMsg), 1<<32-1, nil), wire.FrameBytesMax, wire.ErrOversized},
		{"over the caller's limit", good, len(hb) - 1, wire.ErrOversized},
		{"a chunk over SnapChunkBytes", frame("RV", wire.ProtocolVersion, byte(wire.FrameSnapChunk), wire.SnapChunkBytes+1, nil), wire.FrameBytesMax, wire.ErrOversized},
		{"a long hello", frame("RV", wire.ProtocolVersion, byte(wire.FrameHello), wire.HelloBytes+1, make([]byte, wire.HelloBytes+1)), wire.FrameBytesMax, wire.ErrOversized},
		{"a short hello", frame("RV", wire.ProtocolVersion, byte(wire.FrameHello), 3, []byte{1, 2, 3}), wire.FrameBytesMax, wire.ErrField},
		{"a ping with a payload", frame("RV", wire.ProtocolVersion, byte(wire.FramePing), 1, []byte{0}), wire.FrameBytesMax, wire.ErrOversized},
		{"a truncated header", good[:7], wire.FrameBytesMax, wire.ErrTruncated},
		{"a truncated payload", good[:len(good)-1], wire.FrameBytesMax, wire.ErrTruncated},
		{"a flipped payload bit", flipped, wire.FrameBytesMax, wire.ErrChecksum},
		{"a flipped kind", flippedKind, wire.FrameBytesMax, wire.ErrChecksum},
	}
	for _, c := range frames {
		if _, _, err := wire.DecodeFrame(c.b, c.max); !errors.Is(err, c.want) {
			t.Errorf("DecodeFrame of %s: %v, want %v", c.name, err, c.want)
		}
		if _, err := wire.ReadFrame(iotest.HalfReader(bytes.NewReader(c.b)), c.max); !errors.Is(err, c.want) {
			t.Errorf("ReadFrame of %s: %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := wire.ReadFrame(bytes.NewReader(nil), wire.FrameBytesMax); err != io.EOF {
		t.Errorf("ReadFrame at the end of a stream: %v, want io.EOF", err)
	}
	if _, err := wire.ReadFrame(iotest.ErrReader(errors.New("reset")), wire.FrameBytesMax); err == nil || !strings.Contains(err.Error(), "reset") {
		t.Errorf("ReadFrame of a failing reader: %v", err)
	}
	if _, err := wire.ReadFrame(bytes.NewReader(good[:wire.FrameHeaderBytes+3]), wire.FrameBytesMax); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("ReadFrame of a cut frame: %v, want it to wrap io.ErrUnexpectedEOF", err)
	}

	for _, c := range badMessages(t) {
		if _, err := wire.DecodeMessage(c.b); !errors.Is(err, c.want) {
			t.Errorf("DecodeMessage of %s: %v, want %v", c.name, err, c.want)
		}
	}
}

type badMessage struct {
	name string
	b    []byte
	want error
}

func badMessages(t *testing.T) []badMessage {
	hb := wire.AppendMessage(nil, heartbeat())
	with := func(i int, v byte) []byte { b := bytes.Clone(hb); b[i] = v; return b }
	raftBytes := func(b []byte) []byte {
		return append(binary.BigEndian.AppendUint32(hb[:wire.MessageHeaderBytes:wire.MessageHeaderBytes], uint32(len(b))), b...)
	}
	raftOf := func(r *pb.Message) []byte {
		b, err := proto.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		return raftBytes(b)
	}
	from, to := roles.NodeID{1}, roles.NodeID{2}
	local := &pb.Message{Type: new(pb.MsgStorageAppend), From: new(from.RaftID()), To: new(to.RaftID())}
	misrouted := &pb.Message{Type: new(pb.MsgHeartbeat), From: new(uint64(99)), To: new(to.RaftID())}
	responses := &pb.Message{Type: new(pb.MsgApp), From: new(from.RaftID()), To: new(to.RaftID()), Responses: []*pb.Message{{}}}
	entries, err := proto.Marshal(&pb.Message{Type: new(pb.MsgApp), From: new(from.RaftID()), To: new(to.RaftID())})
	if err != nil {
		t.Fatal(err)
	}
	for range wire.RaftEntriesMax + 1 {
		entries = protowire.AppendBytes(protowire.AppendTag(entries, 7, protowire.BytesType), nil)
	}
	gossip := wire.AppendMessage(nil, node.Message{From: from, To: to, Kind: node.MsgGossip, Gossip: &membership.Message{From: to, To: from, Kind: membership.Ping}})
	result := wire.AppendMessage(nil, node.Message{From: from, To: to, Kind: node.MsgResult, Result: &node.Result{}})
	return []badMessage{
		{"an empty message", nil, wire.ErrTruncated},
		{"a cut envelope", hb[:wire.MessageHeaderBytes-1], wire.ErrTruncated},
		{"another message version", with(0, wire.MessageVersion+1), wire.ErrVersion},
		{"an unknown message kind", with(1, 0), wire.ErrKind},
		{"a message kind past the last", with(1, byte(node.MsgContent)+1), wire.ErrKind},
		{"too many hops", with(2, node.ForwardHopsMax+1), wire.ErrField},
		{"a raft body that is not protobuf", raftBytes([]byte{0xff}), wire.ErrField},
		{"a raft message cut short", hb[:len(hb)-1], wire.ErrTruncated},
		{"a raft message with trailing bytes", append(bytes.Clone(hb), 0), wire.ErrTrailing},
		{"a local raft message", raftOf(local), wire.ErrField},
		{"a raft message of another sender", raftOf(misrouted), wire.ErrField},
		{"a raft message with responses", raftOf(responses), wire.ErrField},
		{"a raft message of too many entries", raftBytes(entries), wire.ErrOversized},
		{"gossip of other nodes", gossip, wire.ErrField},
		{"a result with trailing bytes", append(bytes.Clone(result), 0), wire.ErrTrailing},
		{"a cut result", result[:len(result)-1], wire.ErrField},
		{"a message over SnapBytesMax", make([]byte, wire.SnapBytesMax+1), wire.ErrOversized},
	}
}

// A message cut anywhere, or with any byte changed, is refused or decodes
// to a message that re-encodes to the same bytes; nothing panics.
func TestWireCutsAndFlips(t *testing.T) {
	for _, m := range seedMessages(t) {
		b := wire.AppendMessage(nil, m)
		for i := range b {
			if _, err := wire.DecodeMessage(b[:i]); err == nil {
				t.Fatalf("%s cut at %d of %d bytes decoded", m.Describe(), i, len(b))
			}
			for _, x := range []byte{1, 0x80, 0xff} {
				c := bytes.Clone(b)
				c[i] ^= x
				checkDecoded(t, c)
			}
		}
	}
}

// checkDecoded fails t unless b is refused with a class error, or decodes
// to a message whose encoding decodes to the same message again.
func checkDecoded(t testing.TB, b []byte) {
	m, err := wire.DecodeMessage(b)
	if err != nil {
		for _, class := range []error{wire.ErrTruncated, wire.ErrVersion, wire.ErrKind, wire.ErrOversized, wire.ErrTrailing, wire.ErrField} {
			if errors.Is(err, class) {
				return
			}
		}
		t.Fatalf("an error of no class: %v", err)
	}
	again := wire.AppendMessage(nil, m)
	m2, err := wire.DecodeMessage(again)
	if err != nil || !sameMessage(m, m2) || !bytes.Equal(wire.AppendMessage(nil, m2), again) {
		t.Fatalf("accepted %x, re-encoded %x: %v", b, again, err)
	}
	if m.Kind != node.MsgRaft && !bytes.Equal(again, b) {
		t.Fatalf("accepted non-canonical %x, canonical %x", b, again)
	}
}

// No claimed length or count makes a decoder allocate what the bytes do
// not hold (issue 10).
func TestWireDoesNotTrustLengths(t *testing.T) {
	from, to := roles.NodeID{1}, roles.NodeID{2}
	gossip := wire.AppendMessage(nil, node.Message{From: from, To: to, Kind: node.MsgGossip, Gossip: &membership.Message{From: from, To: to, Kind: membership.Ping}})
	digest := len(gossip) - 12 // the digest's count
	claims := map[string][]byte{}
	claims["a gossip digest of 65536 stamps"] = binary.BigEndian.AppendUint32(gossip[:digest:digest], membership.MessageListMax)
	result := wire.AppendMessage(nil, node.Message{From: from, To: to, Kind: node.MsgResult, Result: &node.Result{}})
	items := len(result) - 4
	claims["a result of 2^32-1 items"] = binary.BigEndian.AppendUint32(result[:items:items], 1<<32-1)
	hdr := frame("RV", wire.ProtocolVersion, byte(wire.FrameMsg), wire.FrameBytesMax, nil)
	for name, b := range claims {
		var err error
		testalloc.Check(t, 4<<10, func() { _, err = wire.DecodeMessage(b) })
		if !errors.Is(err, wire.ErrField) {
			t.Errorf("%s: %v, want ErrField", name, err)
		}
	}
	var err error
	testalloc.Check(t, 128<<10, func() { _, err = wire.ReadFrame(bytes.NewReader(hdr), wire.FrameBytesMax) })
	if !errors.Is(err, wire.ErrTruncated) {
		t.Errorf("a frame claiming 4 MiB with no payload: %v, want ErrTruncated", err)
	}
}

// A payload longer than one read step arrives whole.
func TestWireReadsLongFrames(t *testing.T) {
	for _, n := range []int{0, 1, 64<<10 - 1, 64 << 10, 64<<10 + 1, 1 << 20, wire.SnapChunkBytes} {
		p := bytes.Repeat([]byte{byte(n)}, n)
		kind := wire.FrameSnapChunk
		if n == 0 {
			kind = wire.FramePing
		}
		b, err := wire.AppendFrame(nil, kind, p)
		if err != nil {
			t.Fatal(err)
		}
		f, err := wire.ReadFrame(iotest.OneByteReader(bytes.NewReader(b)), wire.FrameBytesMax)
		if err != nil || f.Kind != kind || !bytes.Equal(f.Payload, p) {
			t.Fatalf("%d bytes: %v, kind %s", n, err, f.Kind)
		}
		if f2, rest, err := wire.DecodeFrame(append(b, 'x'), wire.FrameBytesMax); err != nil || !bytes.Equal(f2.Payload, p) || string(rest) != "x" {
			t.Fatalf("%d bytes from bytes: %v, rest %q", n, err, rest)
		}
	}
}

func TestWireHelloAndSnapEnd(t *testing.T) {
	h := wire.Hello{Mesh: roles.Digest{9}, Node: roles.NodeID{7}}
	b, err := wire.AppendFrame(nil, wire.FrameHello, wire.AppendHello(nil, h))
	if err != nil {
		t.Fatal(err)
	}
	f, _, err := wire.DecodeFrame(b, wire.HelloBytes)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := wire.DecodeHello(f.Payload); err != nil || got != h {
		t.Fatalf("hello: %+v, %v", got, err)
	}
	if _, err := wire.DecodeHello(f.Payload[1:]); !errors.Is(err, wire.ErrTruncated) {
		t.Fatalf("a short hello: %v", err)
	}
	if total, err := wire.DecodeSnapEnd(wire.AppendSnapEnd(nil, 12345)); err != nil || total != 12345 {
		t.Fatalf("snap end: %d, %v", total, err)
	}
	if _, err := wire.DecodeSnapEnd(wire.AppendSnapEnd(nil, wire.SnapBytesMax+1)); !errors.Is(err, wire.ErrOversized) {
		t.Fatalf("a snapshot over SnapBytesMax: %v", err)
	}
	if _, err := wire.AppendFrame(nil, wire.FramePing, []byte{1}); !errors.Is(err, wire.ErrOversized) {
		t.Fatalf("a ping with a payload: %v", err)
	}
	if _, err := wire.AppendFrame(nil, 0, nil); !errors.Is(err, wire.ErrKind) {
		t.Fatalf("kind 0: %v", err)
	}
	big := node.Message{Kind: node.MsgRaft, Raft: &pb.Message{Type: new(pb.MsgSnap), From: new(roles.NodeID{}.RaftID()), To: new(roles.NodeID{}.RaftID()),
		Snapshot: &pb.Snapshot{Data: make([]byte, wire.FrameBytesMax)}}}
	if b, err := wire.AppendMsgFrame([]byte("x"), big); !errors.Is(err, wire.ErrOversized) || string(b) != "x" {
		t.Fatalf("a snapshot message over FrameBytesMax: %v, %q", err, b[:min(len(b), 8)])
	}
	roundTrip(t, node.Message{Kind: node.MsgResult, Result: &node.Result{Err: fmt.Errorf("x: %w", &store.ConflictError{})}})
}

// dump shows a message's parts.
func dump(m node.Message) string {
	s := fmt.Sprintf("%+v", m)
	for _, p := range []any{m.Raft, m.Request, m.Result, m.Gossip} {
		s += fmt.Sprintf("\n\t%+v", p)
	}
	if m.Request != nil {
		s += fmt.Sprintf("\n\twrite %+v read %+v fence %+v", m.Request.Write, m.Request.Read, m.Request.Fence)
	}
	return s
}

// The raft messages a follower passes on to its leader keep the From of the
// node that first sent them, so they decode from another envelope sender;
// their receiver must still be the envelope's. (The simulator found a
// follower that had just lost the lead passing on a peer's MsgReadIndex.)
func TestForwardedRaftMessagesKeepTheirSender(t *testing.T) {
	first, via, leader := roles.NodeID{1}, roles.NodeID{2}, roles.NodeID{3}
	for _, typ := range []pb.MessageType{pb.MsgReadIndex, pb.MsgProp, pb.MsgTransferLeader} {
		m := node.Message{From: via, To: leader, Kind: node.MsgRaft, Raft: &pb.Message{Type: new(typ), From: new(first.RaftID()), To: new(leader.RaftID())}}
		got, err := wire.DecodeMessage(wire.AppendMessage(nil, m))
		if err != nil || got.Raft.GetFrom() != first.RaftID() {
			t.Errorf("%s passed on by another node: %v, %v", typ, got.Raft, err)
		}
		m.Raft.To = new(via.RaftID())
		if _, err := wire.DecodeMessage(wire.AppendMessage(nil, m)); !errors.Is(err, wire.ErrField) {
			t.Errorf("%s to a node other than the envelope's: %v, want ErrField", typ, err)
		}
	}
	hb := node.Message{From: via, To: leader, Kind: node.MsgRaft, Raft: &pb.Message{Type: new(pb.MsgHeartbeat), From: new(first.RaftID()), To: new(leader.RaftID())}}
	if _, err := wire.DecodeMessage(wire.AppendMessage(nil, hb)); !errors.Is(err, wire.ErrField) {
		t.Errorf("a heartbeat of another sender: %v, want ErrField", err)
	}
}

// A Decoder decodes what DecodeMessage does, also over the recycled gossip
// messages of other kinds and sizes.
func TestDecoderRecycles(t *testing.T) {
	msgs := realMessages(t)
	var d wire.Decoder
	all := slices.Concat(msgs, msgs)
	slices.Reverse(all[len(msgs):])
	for _, m := range all {
		b := wire.AppendMessage(nil, m)
		got, err := d.Decode(b)
		if err != nil {
			t.Fatalf("%s: %v", m.Describe(), err)
		}
		if again := wire.AppendMessage(nil, got); !bytes.Equal(again, b) {
			t.Fatalf("%s: decoded over a recycled message, re-encoded differently", m.Describe())
		}
		d.Recycle(got)
	}
}

// A Decoder keeps a recycled gossip message while it decodes messages of
// other kinds, for the next gossip message to decode over.
func TestDecoderKeepsSpareOverOtherKinds(t *testing.T) {
	msgs := realMessages(t)
	gi := slices.IndexFunc(msgs, func(m node.Message) bool { return m.Kind == node.MsgGossip })
	ri := slices.IndexFunc(msgs, func(m node.Message) bool { return m.Kind == node.MsgRaft })
	if gi < 0 || ri < 0 {
		t.Fatal("no gossip or no raft message among the samples")
	}
	var d wire.Decoder
	first, err := d.Decode(wire.AppendMessage(nil, msgs[gi]))
	if err != nil {
		t.Fatal(err)
	}
	d.Recycle(first)
	if _, err := d.Decode(wire.AppendMessage(nil, msgs[ri])); err != nil {
		t.Fatal(err)
	}
	again, err := d.Decode(wire.AppendMessage(nil, msgs[gi]))
	if err != nil {
		t.Fatal(err)
	}
	if again.Gossip != first.Gossip {
		t.Fatal("the recycled gossip message was lost to a raft message's decoding")
	}
}
