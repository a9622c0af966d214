package wire

import (
	"encoding/binary"
	"errors"
	"fmt"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"revoada.dev/revoada/core/attest"
	"revoada.dev/revoada/core/membership"
	"revoada.dev/revoada/core/node"
	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/core/store"
)

// Versions and limits; see the package doc.
const (
	// MessageVersion is the version of the message encoding.
	MessageVersion = 1
	// MessageHeaderBytes is the envelope before the body.
	MessageHeaderBytes = 1 + 1 + 1 + 32 + 32
	// SnapBytesMax bounds a message reassembled from snapshot chunks, and
	// so every message.
	SnapBytesMax = store.SnapshotBytesMax + 1<<20
	// RaftEntriesMax bounds the entries of one raft message.
	RaftEntriesMax = node.MsgBytesMax / 4
	// raftDepthMax bounds protobuf nesting: Message, Snapshot,
	// SnapshotMetadata, ConfState is the deepest raft goes.
	raftDepthMax = 8
	// The raft Message fields the scan looks at.
	raftFieldEntries   = 7
	raftFieldResponses = 14
)

// The error classes.
var (
	ErrMagic     = errors.New("wire: bad magic")
	ErrVersion   = errors.New("wire: unknown version")
	ErrKind      = errors.New("wire: unknown kind")
	ErrOversized = errors.New("wire: oversized")
	ErrTruncated = errors.New("wire: truncated")
	ErrChecksum  = errors.New("wire: checksum mismatch")
	ErrTrailing  = errors.New("wire: trailing bytes")
	ErrField     = errors.New("wire: field out of range")
)

var raftMarshal = proto.MarshalOptions{Deterministic: true}
var raftUnmarshal = proto.UnmarshalOptions{RecursionLimit: raftDepthMax}

// AppendMessage appends m's canonical encoding to dst. m is as a node makes
// it: Kind is one of node's kinds and exactly the matching part is set; it
// panics otherwise, or on a part its own encoder refuses.
func AppendMessage(dst []byte, m node.Message) []byte {
	if !wellFormed(m) {
		panic(fmt.Sprintf("wire: encoding a %s message with raft %t, request %t, result %t, gossip %t, shape %t, content %t",
			m.Kind, m.Raft != nil, m.Request != nil, m.Result != nil, m.Gossip != nil, m.Shape != nil, m.Content != nil))
	}
	dst = append(dst, MessageVersion, byte(m.Kind), m.Hops)
	dst = append(dst, m.From[:]...)
	dst = append(dst, m.To[:]...)
	switch m.Kind {
	case node.MsgRaft:
		at := len(dst)
		dst, err := appendRaft(append(dst, 0, 0, 0, 0), m.Raft)
		if err != nil {
			panic(fmt.Sprintf("wire: marshalling raft %s: %v", m.Raft.GetType(), err))
		}
		binary.BigEndian.PutUint32(dst[at:], uint32(len(dst)-at-4))
		return dst
	case node.MsgForward:
		return node.AppendRequest(dst, *m.Request)
	case node.MsgResult:
		return node.AppendResult(dst, *m.Result)
	case node.MsgShape:
		dst = roles.AppendShape(binary.BigEndian.AppendUint64(dst, m.Shape.Index), m.Shape.Shape)
		if len(m.Shape.Chain) == 0 {
			return dst
		}
		at := len(dst)
		dst = attest.AppendChain(binary.BigEndian.AppendUint32(dst, 0), m.Shape.Chain)
		binary.BigEndian.PutUint32(dst[at:], uint32(len(dst)-at-4))
		return dst
	case node.MsgContent:
		return node.AppendContent(dst, *m.Content)
	default: // node.MsgGossip
		return membership.AppendMessage(dst, *m.Gossip)
	}
}

// wellFormed reports whether exactly the part m.Kind names is set.
func wellFormed(m node.Message) bool {
	set := [...]bool{
		node.MsgRaft: m.Raft != nil, node.MsgForward: m.Request != nil, node.MsgResult: m.Result != nil,
		node.MsgGossip: m.Gossip != nil, node.MsgShape: m.Shape != nil, node.MsgContent: m.Content != nil,
	}
	if m.Kind < node.MsgRaft || m.Kind > node.MsgContent {
		return false
	}
	for k, on := range set[1:] {
		if on != (node.MessageKind(k+1) == m.Kind) {
			return false
		}
	}
	return true
}

// DecodeMessage decodes a message that fills b. Nothing in the message
// aliases b. See the package doc for what it checks.
//
// Errors: ErrOversized (over SnapBytesMax, or over RaftEntriesMax entries),
// ErrTruncated (a short envelope), ErrVersion, ErrKind, ErrTrailing (bytes
// after the body), ErrField (a field out of range, or a part that does not
// decode, wrapping the part's error).
func DecodeMessage(b []byte) (node.Message, error) { return decodeMessage(b, nil) }

// decodeMessage is DecodeMessage, decoding a gossip body into g if it is not
// nil (see Decoder).
func decodeMessage(b []byte, g *membership.Message) (node.Message, error) {
	switch {
	case len(b) > SnapBytesMax:
		return node.Message{}, fmt.Errorf("%w: message of %d bytes, limit %d", ErrOversized, len(b), SnapBytesMax)
	case len(b) < MessageHeaderBytes:
		return node.Message{}, fmt.Errorf("%w: message of %d bytes, its envelope takes %d", ErrTruncated, len(b), MessageHeaderBytes)
	case b[0] != MessageVersion:
		return node.Message{}, fmt.Errorf("%w: message version %d, this build reads %d", ErrVersion, b[0], MessageVersion)
	}
	m := node.Message{Kind: node.MessageKind(b[1]), Hops: b[2]}
	copy(m.From[:], b[3:35])
	copy(m.To[:], b[35:67])
	if m.Hops > node.ForwardHopsMax {
		return node.Message{}, fmt.Errorf("%w: hops %d, limit %d", ErrField, m.Hops, node.ForwardHopsMax)
	}
	body := b[MessageHeaderBytes:]
	var rest []byte
	var err error
	switch m.Kind {
	case node.MsgRaft:
		m.Raft, rest, err = decodeRaft(body, m.From, m.To)
	case node.MsgForward:
		var r node.Request
		if r, rest, err = node.DecodeRequest(body); err == nil {
			m.Request = &r
		}
	case node.MsgResult:
		var r node.Result
		if r, rest, err = node.DecodeResult(body); err == nil {
			m.Result = &r
		}
	case node.MsgGossip:
		m.Gossip, rest, err = decodeGossip(body, m.From, m.To, g)
	case node.MsgShape:
		m.Shape, rest, err = decodeShape(body)
	case node.MsgContent:
		var c node.ContentMessage
		if c, rest, err = node.DecodeContent(body); err == nil {
			m.Content = &c
		}
	default:
		return node.Message{}, fmt.Errorf("%w: message kind %d", ErrKind, b[1])
	}
	switch {
	case errors.Is(err, ErrOversized) || errors.Is(err, ErrField) || errors.Is(err, ErrTruncated):
		return node.Message{}, err
	case err != nil:
		return node.Message{}, fmt.Errorf("%w: %s body: %w", ErrField, m.Kind, err)
	case len(rest) > 0:
		return node.Message{}, fmt.Errorf("%w: %d bytes after a %s body", ErrTrailing, len(rest), m.Kind)
	}
	return m, nil
}

// decodeRaft reads a raft message's length, then scans, unmarshals and
// checks it, and returns the bytes after it.
func decodeRaft(b []byte, from, to roles.NodeID) (*pb.Message, []byte, error) {
	if len(b) < 4 {
		return nil, nil, fmt.Errorf("%w: a raft body of %d bytes", ErrTruncated, len(b))
	}
	n := binary.BigEndian.Uint32(b)
	if b = b[4:]; uint64(n) > uint64(len(b)) {
		return nil, nil, fmt.Errorf("%w: a raft message of %d bytes, %d present", ErrTruncated, n, len(b))
	}
	b, rest := b[:n], b[n:]
	entries, err := scanRaft(b)
	if err != nil {
		return nil, nil, err
	}
	r, err := unmarshalRaft(b, entries)
	if err != nil {
		return nil, nil, err
	}
	t := r.GetType()
	if !raftTypes.has(int32(t)) || raft.IsLocalMsg(t) {
		return nil, nil, fmt.Errorf("%w: raft message type %s never leaves a node", ErrField, t)
	}
	if r.GetFrom() != from.RaftID() && !forwarded(t) || r.GetTo() != to.RaftID() {
		return nil, nil, fmt.Errorf("%w: raft %s from %x to %x in a message from %s to %s",
			ErrField, t, r.GetFrom(), r.GetTo(), from.Short(), to.Short())
	}
	return r, rest, nil
}

// forwarded reports whether raft sends messages of type t on unchanged
// but for their To: a follower hands a proposal, a read index request or a
// leadership transfer it received on to the leader it knows (raft's
// stepFollower), so their From is the node that first sent them, not the
// one whose connection carries them. The simulator found it: a follower
// that had just lost the lead passed a peer's MsgReadIndex on.
func forwarded(t pb.MessageType) bool {
	return t == pb.MsgProp || t == pb.MsgReadIndex || t == pb.MsgTransferLeader
}

// scanRaft walks a raft message's top-level fields without decoding them:
// it counts the entries, and refuses Responses.
func scanRaft(b []byte) (int, error) {
	entries := 0
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, protowire.ParseError(n)
		}
		b = b[n:]
		if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
			return 0, protowire.ParseError(n)
		}
		b = b[n:]
		switch num {
		case raftFieldEntries:
			if entries++; entries > RaftEntriesMax {
				return 0, fmt.Errorf("%w: raft message of over %d entries", ErrOversized, RaftEntriesMax)
			}
		case raftFieldResponses:
			return 0, fmt.Errorf("%w: raft message with responses (a local storage message)", ErrField)
		}
	}
	return entries, nil
}

// decodeGossip decodes a membership message, into g if it is not nil, and
// checks that its sender and receiver are the envelope's.
func decodeGossip(b []byte, from, to roles.NodeID, g *membership.Message) (*membership.Message, []byte, error) {
	if g == nil {
		g = new(membership.Message)
	}
	rest, err := membership.DecodeMessageInto(g, b)
	switch {
	case err != nil:
		return nil, nil, err
	case g.From != from || g.To != to:
		return nil, nil, fmt.Errorf("%w: gossip from %s to %s in a message from %s to %s",
			ErrField, g.From.Short(), g.To.Short(), from.Short(), to.Short())
	}
	return g, rest, nil
}

// spareGossipMax bounds the gossip messages a Decoder keeps for reuse.
const spareGossipMax = 256

// Decoder is DecodeMessage with memory: a gossip message its caller hands
// back with Recycle, once done with it, is decoded over by a later Decode
// (membership.DecodeMessageInto), so a steady stream of gossip allocates
// little. It decodes exactly what DecodeMessage does. A Decoder is not safe
// for concurrent use; the zero Decoder is ready.
type Decoder struct {
	spare []*membership.Message
}

// Decode is DecodeMessage, decoding a gossip body over a recycled message
// if there is one.
func (d *Decoder) Decode(b []byte) (node.Message, error) {
	var g *membership.Message
	if n := len(d.spare); n > 0 {
		g, d.spare = d.spare[n-1], d.spare[:n-1]
	}
	m, err := decodeMessage(b, g)
	if g != nil && m.Gossip != g { // not decoded over: kept for the next
		d.spare = append(d.spare, g)
	}
	return m, err
}

// Recycle hands back m, which Decode returned and no one will read again,
// nor anything in its gossip message: a later Decode writes over it.
func (d *Decoder) Recycle(m node.Message) {
	if m.Gossip != nil && len(d.spare) < spareGossipMax {
		d.spare = append(d.spare, m.Gossip)
	}
}

// decodeShape reads a shape notice: the index, then the shape.
func decodeShape(b []byte) (*node.ShapeNotice, []byte, error) {
	if len(b) < 8 {
		return nil, nil, fmt.Errorf("%w: a shape body of %d bytes", ErrTruncated, len(b))
	}
	sn := &node.ShapeNotice{Index: binary.BigEndian.Uint64(b)}
	var err error
	if sn.Shape, b, err = roles.DecodeShape(b[8:]); err != nil {
		return nil, nil, err
	}
	if len(b) == 0 {
		return sn, b, nil
	}
	// The role history's tail: chainLen:u32 attest.AppendChain's bytes.
	if len(b) < 4 || uint64(len(b)-4) < uint64(binary.BigEndian.Uint32(b)) {
		return nil, nil, fmt.Errorf("%w: a shape notice's chain of %d bytes", ErrTruncated, len(b))
	}
	size := binary.BigEndian.Uint32(b)
	if sn.Chain, err = attest.DecodeChain(b[4 : 4+size]); err != nil {
		return nil, nil, fmt.Errorf("%w: a shape notice's chain: %w", ErrField, err)
	}
	if len(sn.Chain) == 0 || len(sn.Chain) > node.ShapeNoticeBlocksMax {
		return nil, nil, fmt.Errorf("%w: a shape notice's chain of %d blocks (1..%d)", ErrField, len(sn.Chain), node.ShapeNoticeBlocksMax)
	}
	return sn, b[4+size:], nil
}
