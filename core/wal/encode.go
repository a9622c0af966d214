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

// appendPersist appends p's payload to b. It grows b once per message, with
// room left for the 4-byte checksum that ends a frame (Log.seal), so a
// record's bytes are not copied again to make room.
func appendPersist(b []byte, p node.Persist) ([]byte, error) {
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
	return b, err
}

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
