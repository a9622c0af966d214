package node

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
	"lukechampine.com/blake3"

	"revoada.dev/revoada/core/roles"
)

// Entry payloads (version 1), carried in a normal entry's Data or a
// ConfChangeV2's Context:
//
//	payload := version:u8 kind:u8 origin:[32]u8 incarnation:u64 seq:u64 shift
//
// kind 1 (payloadShift) applies the shift; kind 2 (payloadStage) only adds the
// shift's new voters as Raft learners, so they catch up before they vote.
const (
	payloadVersion = 1
	payloadShift   = 1
	payloadStage   = 2
	payloadHeader  = 2 + 32 + 8 + 8
)

func encodePayload(kind byte, req *Request) []byte {
	b := make([]byte, 0, payloadHeader+3+len(req.Shift)*35)
	b = append(b, payloadVersion, kind)
	b = append(b, req.ID.Origin[:]...)
	b = binary.BigEndian.AppendUint64(b, req.ID.Incarnation)
	b = binary.BigEndian.AppendUint64(b, req.ID.Seq)
	return roles.AppendShift(b, req.Shift)
}

func decodePayload(b []byte) (kind byte, req *Request, err error) {
	if len(b) < payloadHeader || b[0] != payloadVersion {
		return 0, nil, fmt.Errorf("node: corrupt entry payload (%d bytes)", len(b))
	}
	req = &Request{}
	kind = b[1]
	copy(req.ID.Origin[:], b[2:34])
	req.ID.Incarnation = binary.BigEndian.Uint64(b[34:42])
	req.ID.Seq = binary.BigEndian.Uint64(b[42:50])
	req.Shift, _, err = roles.DecodeShift(b[payloadHeader:])
	return kind, req, err
}

// Dedup limits: a request ID is remembered for the last DedupPerOriginMax
// requests of its (origin, incarnation), and at most IncarnationsMax
// incarnations per origin are remembered. A retry older than that is applied
// again; the commands are idempotent, so the shape is still right.
const (
	DedupPerOriginMax = 256
	IncarnationsMax   = 4
)

type originKey struct {
	node        roles.NodeID
	incarnation uint64
}

type outcome struct {
	index   uint64
	changed bool
	rej     *roles.Rejection
}

// Machine is the replicated state machine: the mesh shape and the table of
// applied request IDs. Every replica applies the same entries in the same
// order and so holds the same Machine; checkers replay the log through their
// own Machine to know what every replica must hold.
type Machine struct {
	shape   roles.Shape
	applied map[originKey]map[uint64]outcome
}

// NewMachine starts a machine from a bootstrap shape.
func NewMachine(shape roles.Shape) *Machine {
	return &Machine{shape: shape.Clone(), applied: map[originKey]map[uint64]outcome{}}
}

// Shape returns a copy of the current shape.
func (m *Machine) Shape() roles.Shape { return m.shape.Clone() }

// effect is what applying one entry did.
type effect struct {
	req    *Request         // nil for entries carrying no request
	result *Result          // nil when no result is due (stale, stage, no-op)
	cc     *pb.ConfChangeV2 // to pass to raft's ApplyConfChange; nil if none
}

// Apply applies one committed entry. It panics on a payload this package did
// not write: entries only come from proposals made by Node.
func (m *Machine) Apply(e *pb.Entry) effect {
	switch e.GetType() {
	case pb.EntryNormal:
		if len(e.Data) == 0 {
			return effect{} // the empty entry a new leader appends
		}
		return m.applyPayload(e.GetIndex(), e.Data, nil)
	case pb.EntryConfChangeV2:
		var cc pb.ConfChangeV2
		if err := proto.Unmarshal(e.Data, &cc); err != nil {
			panic(fmt.Sprintf("node: entry %d: conf change does not decode: %v", e.GetIndex(), err))
		}
		if len(cc.Context) == 0 {
			return effect{cc: &cc} // raft's own leave-joint entry
		}
		return m.applyPayload(e.GetIndex(), cc.Context, &cc)
	default:
		panic(fmt.Sprintf("node: entry %d has unexpected type %v", e.GetIndex(), e.GetType()))
	}
}

func (m *Machine) applyPayload(index uint64, data []byte, cc *pb.ConfChangeV2) effect {
	kind, req, err := decodePayload(data)
	if err != nil {
		panic(fmt.Sprintf("node: entry %d: %v", index, err))
	}
	if kind == payloadStage {
		return m.applyStage(req, cc)
	}
	if prev, dup := m.lookup(req.ID); dup {
		return effect{req: req, result: prev.result(req.ID)}
	}
	next, change, rej := m.shape.Plan(req.Shift)
	if rej != nil {
		m.remember(req.ID, outcome{index: index, rej: rej})
		return effect{req: req, result: &Result{ID: req.ID, Index: index, Err: rej}}
	}
	if !sameChange(change, cc) {
		// The shape moved since the leader planned this entry; nothing is
		// applied or remembered, so the origin's retry is planned afresh.
		return effect{req: req}
	}
	out := outcome{index: index, changed: !m.shape.Equal(next)}
	m.shape = next
	m.remember(req.ID, out)
	return effect{req: req, result: out.result(req.ID), cc: cc}
}

// applyStage admits a stage entry's learners unless one of them is a voter
// already (adding a voter as a learner would demote it in Raft alone).
func (m *Machine) applyStage(req *Request, cc *pb.ConfChangeV2) effect {
	if cc == nil {
		panic("node: stage payload outside a conf change")
	}
	voters := m.shape.Voters()
	for _, ch := range cc.Changes {
		if ch.GetType() != pb.ConfChangeAddLearnerNode {
			return effect{req: req}
		}
		if slices.ContainsFunc(voters, func(v roles.NodeID) bool { return v.RaftID() == ch.GetNodeId() }) {
			return effect{req: req}
		}
	}
	return effect{req: req, cc: cc}
}

// sameChange reports whether a conf change (nil for a normal entry) makes
// exactly the voter change the shift makes to the shape.
func sameChange(change roles.VoterChange, cc *pb.ConfChangeV2) bool {
	if cc == nil {
		return change.Empty()
	}
	want := make(map[uint64]pb.ConfChangeType, len(change.Add)+len(change.Remove))
	for _, id := range change.Add {
		want[id.RaftID()] = pb.ConfChangeAddNode
	}
	for _, id := range change.Remove {
		want[id.RaftID()] = pb.ConfChangeRemoveNode
	}
	if len(cc.Changes) != len(want) {
		return false
	}
	for _, ch := range cc.Changes {
		if t, ok := want[ch.GetNodeId()]; !ok || t != ch.GetType() {
			return false
		}
	}
	return true
}

func (o outcome) result(id RequestID) *Result {
	r := &Result{ID: id, Index: o.index, Changed: o.changed}
	if o.rej != nil {
		r.Err = o.rej
	}
	return r
}

func (m *Machine) lookup(id RequestID) (outcome, bool) {
	o, ok := m.applied[originKey{id.Origin, id.Incarnation}][id.Seq]
	return o, ok
}

func (m *Machine) remember(id RequestID, o outcome) {
	key := originKey{id.Origin, id.Incarnation}
	win := m.applied[key]
	if win == nil {
		win = map[uint64]outcome{}
		m.applied[key] = win
		m.pruneIncarnations(id.Origin)
	}
	win[id.Seq] = o
	if len(win) > DedupPerOriginMax {
		delete(win, slices.Min(slices.Collect(maps.Keys(win))))
	}
}

func (m *Machine) pruneIncarnations(origin roles.NodeID) {
	var incs []uint64
	for k := range m.applied {
		if k.node == origin {
			incs = append(incs, k.incarnation)
		}
	}
	slices.Sort(incs)
	for len(incs) > IncarnationsMax {
		delete(m.applied, originKey{origin, incs[0]})
		incs = incs[1:]
	}
}

// Snapshot encoding (version 1):
//
//	snapshot := version:u8 shape origins:u32 (origin:[32]u8 incarnation:u64 n:u32 record*)*
//	record := seq:u64 index:u64 changed:u8 code:u8 command:u16 detailLen:u16 detail
//
// Origins are sorted by (node, incarnation), records by seq: the bytes depend
// only on the content.

// Encode returns the machine's canonical snapshot bytes.
func (m *Machine) Encode() []byte {
	b := []byte{payloadVersion}
	b = roles.AppendShape(b, m.shape)
	keys := slices.SortedFunc(maps.Keys(m.applied), func(a, b originKey) int {
		return cmp.Or(a.node.Compare(b.node), cmp.Compare(a.incarnation, b.incarnation))
	})
	b = binary.BigEndian.AppendUint32(b, uint32(len(keys)))
	for _, k := range keys {
		b = append(b, k.node[:]...)
		b = binary.BigEndian.AppendUint64(b, k.incarnation)
		win := m.applied[k]
		b = binary.BigEndian.AppendUint32(b, uint32(len(win)))
		for _, seq := range slices.Sorted(maps.Keys(win)) {
			o := win[seq]
			b = binary.BigEndian.AppendUint64(b, seq)
			b = binary.BigEndian.AppendUint64(b, o.index)
			var code byte
			var cmdIdx uint16
			var detail string
			if o.rej != nil {
				code, cmdIdx, detail = byte(o.rej.Code), uint16(o.rej.Command), o.rej.Detail
			}
			b = append(b, boolByte(o.changed), code)
			b = binary.BigEndian.AppendUint16(b, cmdIdx)
			b = binary.BigEndian.AppendUint16(b, uint16(len(detail)))
			b = append(b, detail...)
		}
	}
	return b
}

// DecodeMachine restores a machine from snapshot bytes.
func DecodeMachine(b []byte) (*Machine, error) {
	if len(b) < 1 || b[0] != payloadVersion {
		return nil, fmt.Errorf("node: corrupt snapshot header")
	}
	shape, rest, err := roles.DecodeShape(b[1:])
	if err != nil {
		return nil, fmt.Errorf("node: snapshot: %w", err)
	}
	d := decoder{b: rest}
	m := &Machine{shape: shape, applied: map[originKey]map[uint64]outcome{}}
	for n := d.u32(); n > 0 && d.err == nil; n-- {
		var k originKey
		copy(k.node[:], d.bytes(32))
		k.incarnation = d.u64()
		win := map[uint64]outcome{}
		for r := d.u32(); r > 0 && d.err == nil; r-- {
			seq := d.u64()
			o := outcome{index: d.u64(), changed: d.u8() == 1}
			code, cmdIdx := d.u8(), d.u16()
			detail := string(d.bytes(int(d.u16())))
			if code != 0 {
				o.rej = &roles.Rejection{Code: roles.RejectCode(code), Command: int(cmdIdx), Detail: detail}
			}
			win[seq] = o
		}
		m.applied[k] = win
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return nil, fmt.Errorf("node: corrupt snapshot: %w", d.err)
	}
	return m, nil
}

// Digest is the BLAKE3 hash of the machine's snapshot bytes.
func (m *Machine) Digest() roles.Digest { return blake3.Sum256(m.Encode()) }

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// decoder reads big-endian fields and remembers the first short read.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) bytes(n int) []byte {
	if d.err != nil || n > len(d.b) {
		if d.err == nil {
			d.err = fmt.Errorf("short read: want %d bytes, have %d", n, len(d.b))
		}
		return make([]byte, n)
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8() byte    { return d.bytes(1)[0] }
func (d *decoder) u16() uint16 { return binary.BigEndian.Uint16(d.bytes(2)) }
func (d *decoder) u32() uint32 { return binary.BigEndian.Uint32(d.bytes(4)) }
func (d *decoder) u64() uint64 { return binary.BigEndian.Uint64(d.bytes(8)) }
