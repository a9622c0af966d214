package wire

import (
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/encoding/protowire"
)

// The raft Message fields unmarshalRaft decodes itself, and Entry's.
const (
	raftFieldType       = 1
	raftFieldTo         = 2
	raftFieldFrom       = 3
	raftFieldTerm       = 4
	raftFieldLogTerm    = 5
	raftFieldIndex      = 6
	raftFieldCommit     = 8
	raftFieldReject     = 10
	raftFieldRejectHint = 11
	raftFieldContext    = 12
	raftFieldVote       = 13
	entryFieldType      = 1
	entryFieldTerm      = 2
	entryFieldIndex     = 3
	entryFieldData      = 4
)

// The values raft defines of its enums.
var (
	raftTypes  = newEnumSet(pb.MessageType_name)
	entryTypes = newEnumSet(pb.EntryType_name)
)

// enumSet is the values of a protobuf enum, those in 0..63 as bits, for a
// lookup without the map of names.
type enumSet struct {
	low   uint64
	names map[int32]string
}

func newEnumSet(names map[int32]string) enumSet {
	s := enumSet{names: names}
	for v := range names {
		if v >= 0 && v < 64 {
			s.low |= 1 << v
		}
	}
	return s
}

// has reports whether v is one of the enum's values.
func (s enumSet) has(v int32) bool {
	if v >= 0 && v < 64 {
		return s.low&(1<<v) != 0
	}
	_, ok := s.names[v]
	return ok
}

// raftBlock is a raft message and the scalars its optional fields point
// to, in one allocation: protobuf's Unmarshal makes one per field.
type raftBlock struct {
	msg                                                      pb.Message
	typ                                                      pb.MessageType
	to, from, term, logTerm, index, commit, vote, rejectHint uint64
	reject                                                   bool
}

// entryBlock is an entry and the scalars its fields point to.
type entryBlock struct {
	entry       pb.Entry
	typ         pb.EntryType
	term, index uint64
}

// unmarshalRaft unmarshals b, a raft message scanRaft passed with entries
// entries, as raftUnmarshal does. The messages raft sends between nodes
// (scalars, entries, a context) it decodes itself, in a few allocations
// rather than one per field; anything else (a snapshot, a field it does not
// know or meets twice, an enum value raft does not define, bytes protobuf
// would refuse) goes to raftUnmarshal. So it accepts and refuses what
// raftUnmarshal does and gives the message it gives: the same fields set,
// to the same values, a bytes field present but empty as empty, not nil.
func unmarshalRaft(b []byte, entries int) (*pb.Message, error) {
	if m, ok := unmarshalRaftPlain(b, entries); ok {
		return m, nil
	}
	r := new(pb.Message)
	if err := raftUnmarshal.Unmarshal(b, r); err != nil {
		return nil, err
	}
	return r, nil
}

// unmarshalRaftPlain is unmarshalRaft's own decoder; false for a message it
// leaves to protobuf.
func unmarshalRaftPlain(b []byte, entries int) (*pb.Message, bool) {
	blk := new(raftBlock)
	m := &blk.msg
	var ents []entryBlock
	var data []byte // every entry's data; no entry holds more than b
	if entries > 0 {
		ents, m.Entries, data = make([]entryBlock, 0, entries), make([]*pb.Entry, 0, entries), make([]byte, 0, len(b))
	}
	var seen uint32
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num >= 32 {
			return nil, false
		}
		b = b[n:]
		if num == raftFieldEntries {
			v, n := protowire.ConsumeBytes(b)
			if typ != protowire.BytesType || n < 0 || len(ents) == cap(ents) {
				return nil, false
			}
			b = b[n:]
			ents = append(ents, entryBlock{})
			e := &ents[len(ents)-1] // ents never grows past its array: pointers stay
			if data, n = decodeEntry(e, v, data); n < 0 {
				return nil, false
			}
			m.Entries = append(m.Entries, &e.entry)
			continue
		}
		if seen&(1<<num) != 0 {
			return nil, false
		}
		seen |= 1 << num
		if num == raftFieldContext {
			v, n := protowire.ConsumeBytes(b)
			if typ != protowire.BytesType || n < 0 {
				return nil, false
			}
			b = b[n:]
			m.Context = append([]byte{}, v...)
			continue
		}
		v, n := protowire.ConsumeVarint(b)
		if typ != protowire.VarintType || n < 0 {
			return nil, false
		}
		b = b[n:]
		if !blk.set(num, v) {
			return nil, false
		}
	}
	return m, true
}

// set sets the scalar field num of the message to v; false for a field it
// does not decode or an enum value raft does not define.
func (blk *raftBlock) set(num protowire.Number, v uint64) bool {
	m := &blk.msg
	switch num {
	case raftFieldType:
		if v > 1<<31-1 || !raftTypes.has(int32(v)) {
			return false
		}
		blk.typ, m.Type = pb.MessageType(v), &blk.typ
	case raftFieldTo:
		blk.to, m.To = v, &blk.to
	case raftFieldFrom:
		blk.from, m.From = v, &blk.from
	case raftFieldTerm:
		blk.term, m.Term = v, &blk.term
	case raftFieldLogTerm:
		blk.logTerm, m.LogTerm = v, &blk.logTerm
	case raftFieldIndex:
		blk.index, m.Index = v, &blk.index
	case raftFieldCommit:
		blk.commit, m.Commit = v, &blk.commit
	case raftFieldVote:
		blk.vote, m.Vote = v, &blk.vote
	case raftFieldRejectHint:
		blk.rejectHint, m.RejectHint = v, &blk.rejectHint
	case raftFieldReject:
		blk.reject, m.Reject = protowire.DecodeBool(v), &blk.reject
	default:
		return false
	}
	return true
}

// decodeEntry decodes an Entry from b into e, its data appended to data
// (and e's Data cut from there); it returns data, and -1 for an entry it
// leaves to protobuf.
func decodeEntry(e *entryBlock, b, data []byte) ([]byte, int) {
	var seen uint8
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num < entryFieldType || num > entryFieldData || seen&(1<<num) != 0 {
			return data, -1
		}
		seen |= 1 << num
		b = b[n:]
		if num == entryFieldData {
			v, n := protowire.ConsumeBytes(b)
			if typ != protowire.BytesType || n < 0 {
				return data, -1
			}
			b = b[n:]
			at := len(data)
			data = append(data, v...)
			e.entry.Data = data[at:len(data):len(data)]
			continue
		}
		v, n := protowire.ConsumeVarint(b)
		if typ != protowire.VarintType || n < 0 {
			return data, -1
		}
		b = b[n:]
		switch num {
		case entryFieldType:
			if v > 1<<31-1 || !entryTypes.has(int32(v)) {
				return data, -1
			}
			e.typ, e.entry.Type = pb.EntryType(v), &e.typ
		case entryFieldTerm:
			e.term, e.entry.Term = v, &e.term
		case entryFieldIndex:
			e.index, e.entry.Index = v, &e.index
		}
	}
	return data, 0
}

// appendRaft appends m's protobuf encoding to dst, the bytes raftMarshal
// writes. The messages raft sends between nodes (scalars, entries, a
// context) it encodes itself, without protobuf's reflection; anything else
// (a snapshot, responses, unknown fields, a nil entry) goes to raftMarshal.
func appendRaft(dst []byte, m *pb.Message) ([]byte, error) {
	if b, ok := appendRaftPlain(dst, m); ok {
		return b, nil
	}
	return raftMarshal.MarshalAppend(dst, m)
}

// appendRaftPlain is appendRaft's own encoder: fields in the order of
// their numbers, as protobuf writes a generated message's, each optional
// one when set (a bytes field when not nil, even empty); false, and dst
// unchanged, for a message it leaves to protobuf.
func appendRaftPlain(dst []byte, m *pb.Message) ([]byte, bool) {
	if m.Snapshot != nil || m.Responses != nil || len(m.ProtoReflect().GetUnknown()) > 0 {
		return dst, false
	}
	for _, e := range m.Entries {
		if e == nil || len(e.ProtoReflect().GetUnknown()) > 0 {
			return dst, false
		}
	}
	b := dst
	if m.Type != nil {
		b = appendVarintField(b, raftFieldType, uint64(int64(*m.Type)))
	}
	b = appendOptional(b, raftFieldTo, m.To)
	b = appendOptional(b, raftFieldFrom, m.From)
	b = appendOptional(b, raftFieldTerm, m.Term)
	b = appendOptional(b, raftFieldLogTerm, m.LogTerm)
	b = appendOptional(b, raftFieldIndex, m.Index)
	for _, e := range m.Entries {
		b = protowire.AppendVarint(b, protowire.EncodeTag(raftFieldEntries, protowire.BytesType))
		b = appendEntry(protowire.AppendVarint(b, uint64(entrySize(e))), e)
	}
	b = appendOptional(b, raftFieldCommit, m.Commit)
	if m.Reject != nil {
		b = appendVarintField(b, raftFieldReject, protowire.EncodeBool(*m.Reject))
	}
	b = appendOptional(b, raftFieldRejectHint, m.RejectHint)
	if m.Context != nil {
		b = protowire.AppendBytes(protowire.AppendVarint(b, protowire.EncodeTag(raftFieldContext, protowire.BytesType)), m.Context)
	}
	b = appendOptional(b, raftFieldVote, m.Vote)
	return b, true
}

// entrySize is the length of e's encoding, appendEntry's bytes.
func entrySize(e *pb.Entry) int {
	n := 0
	if e.Type != nil {
		n += 1 + protowire.SizeVarint(uint64(int64(*e.Type)))
	}
	if e.Term != nil {
		n += 1 + protowire.SizeVarint(*e.Term)
	}
	if e.Index != nil {
		n += 1 + protowire.SizeVarint(*e.Index)
	}
	if e.Data != nil {
		n += 1 + protowire.SizeBytes(len(e.Data))
	}
	return n
}

// appendEntry appends e's fields, in the order of their numbers.
func appendEntry(b []byte, e *pb.Entry) []byte {
	if e.Type != nil {
		b = appendVarintField(b, entryFieldType, uint64(int64(*e.Type)))
	}
	b = appendOptional(b, entryFieldTerm, e.Term)
	b = appendOptional(b, entryFieldIndex, e.Index)
	if e.Data != nil {
		b = protowire.AppendBytes(protowire.AppendVarint(b, protowire.EncodeTag(entryFieldData, protowire.BytesType)), e.Data)
	}
	return b
}

// appendOptional appends the varint field num when v is set.
func appendOptional(b []byte, num protowire.Number, v *uint64) []byte {
	if v == nil {
		return b
	}
	return appendVarintField(b, num, *v)
}

func appendVarintField(b []byte, num protowire.Number, v uint64) []byte {
	return protowire.AppendVarint(protowire.AppendVarint(b, protowire.EncodeTag(num, protowire.VarintType)), v)
}
