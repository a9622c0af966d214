package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"revoada.dev/revoada/core/node"
)

// A persist payload:
//
//	flags      u8: 1 snapshot, 2 hard state, 4 compact
//	snapshot   uvarint length, raftpb.Snapshot   (flag 1)
//	entries    uvarint count, then per entry uvarint length, raftpb.Entry
//	hardstate  uvarint length, raftpb.HardState  (flag 2)
//	compact    uvarint length, raftpb.Snapshot   (flag 4)
//
// Messages are deterministic protobuf encodings.
const (
	flagSnapshot  = 1
	flagHardState = 2
	flagCompact   = 4
)

// marshal encodes messages; marshalSized one whose size marshal just took
// (the size is cached in the message, not computed again).
var (
	marshal      = proto.MarshalOptions{Deterministic: true}
	marshalSized = proto.MarshalOptions{Deterministic: true, UseCachedSize: true}
)

// splice is bytes of a record that follow byte at of its frame buffer
// (Log.frame): a snapshot's state, written to the file from the message
// itself rather than copied into the frame first. It is most of what a log
// writes, and the file copies it anyway.
type splice struct {
	at   int
	data []byte
}

// spliceBytesMin is the smallest snapshot state appendPersist splices.
const spliceBytesMin = 4 << 10

// splicedBytes is the length of sp's data.
func splicedBytes(sp []splice) int {
	n := 0
	for _, s := range sp {
		n += len(s.data)
	}
	return n
}

// appendPersist appends p's payload to b, but for the state of a snapshot
// of spliceMin bytes or more (spliceBytesMin; math.MaxInt for none), which
// it appends to sp as a splice instead: the payload is b with sp's data
// inserted. It grows b once per message, with room left for the 4-byte
// checksum that ends a frame (Log.seal), so a record's bytes are not copied
// again to make room.
func appendPersist(b []byte, p node.Persist, sp []splice, spliceMin int) ([]byte, []splice, error) {
	var flags byte
	if p.Snapshot != nil {
		flags |= flagSnapshot
	}
	if p.HardState != nil {
		flags |= flagHardState
	}
	if p.Compact != nil {
		flags |= flagCompact
	}
	b = append(b, flags)
	var err error
	put := func(m proto.Message) {
		if err != nil {
			return
		}
		if s, ok := m.(*pb.Snapshot); ok && len(s.Data) >= spliceMin {
			var ok bool
			if b, sp, ok = appendSnapshotSpliced(b, s, sp); ok {
				return
			}
		}
		n := marshal.Size(m)
		b = slices.Grow(binary.AppendUvarint(b, uint64(n)), n+4)
		b, err = marshalSized.MarshalAppend(b, m)
	}
	if p.Snapshot != nil {
		put(p.Snapshot)
	}
	b = binary.AppendUvarint(b, uint64(len(p.Entries)))
	for _, e := range p.Entries {
		put(e)
	}
	if p.HardState != nil {
		put(p.HardState)
	}
	if p.Compact != nil {
		put(p.Compact)
	}
	return b, sp, err
}

// appendSnapshotSpliced appends s as put does (its length, then its
// deterministic encoding) with s.Data as a splice. The encoding of a
// Snapshot is its data field (number 1) and then the rest, which is the
// encoding of s without its data; ok is false, and b and sp unchanged,
// if the sizes say otherwise (unknown fields, say), for put to marshal s
// whole.
func appendSnapshotSpliced(b []byte, s *pb.Snapshot, sp []splice) (_ []byte, _ []splice, ok bool) {
	rest := &pb.Snapshot{Metadata: s.Metadata}
	head := 1 + uvarintBytes(uint64(len(s.Data))) // tag 1, wire type 2: 0x0a
	n, rn := marshal.Size(s), marshal.Size(rest)
	if len(s.ProtoReflect().GetUnknown()) != 0 || head+len(s.Data)+rn != n {
		return b, sp, false
	}
	b = binary.AppendUvarint(b, uint64(n))
	b = binary.AppendUvarint(append(b, 0x0a), uint64(len(s.Data)))
	sp = append(sp, splice{len(b), s.Data})
	b, err := marshalSized.MarshalAppend(slices.Grow(b, rn+4), rest)
	if err != nil {
		panic(fmt.Sprintf("wal: a snapshot's metadata sized but did not marshal: %v", err))
	}
	return b, sp, true
}

func uvarintBytes(v uint64) int { return len(binary.AppendUvarint(nil, v)) }

var errShort = errors.New("payload cut short")

func decodePersist(b []byte) (node.Persist, error) {
	var p node.Persist
	if len(b) == 0 {
		return p, errShort
	}
	flags := b[0]
	if flags&^(flagSnapshot|flagHardState|flagCompact) != 0 {
		return p, fmt.Errorf("unknown flags %#x", flags)
	}
	b = b[1:]
	get := func(m proto.Message) error {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return errShort
		}
		if err := proto.Unmarshal(b[k:k+int(n)], m); err != nil {
			return err
		}
		b = b[k+int(n):]
		return nil
	}
	if flags&flagSnapshot != 0 {
		p.Snapshot = &pb.Snapshot{}
		if err := get(p.Snapshot); err != nil {
			return p, fmt.Errorf("snapshot: %w", err)
		}
	}
	count, k := binary.Uvarint(b)
	if k <= 0 || count > uint64(len(b)) { // every entry takes at least a byte
		return p, fmt.Errorf("entries: %w", errShort)
	}
	b = b[k:]
	p.Entries = make([]*pb.Entry, count)
	for i := range p.Entries {
		p.Entries[i] = &pb.Entry{}
		if err := get(p.Entries[i]); err != nil {
			return p, fmt.Errorf("entry %d: %w", i, err)
		}
	}
	if count == 0 {
		p.Entries = nil
	}
	if flags&flagHardState != 0 {
		p.HardState = &pb.HardState{}
		if err := get(p.HardState); err != nil {
			return p, fmt.Errorf("hard state: %w", err)
		}
	}
	if flags&flagCompact != 0 {
		p.Compact = &pb.Snapshot{}
		if err := get(p.Compact); err != nil {
			return p, fmt.Errorf("compact: %w", err)
		}
	}
	if len(b) != 0 {
		return p, fmt.Errorf("%d bytes after the end", len(b))
	}
	return p, nil
}
