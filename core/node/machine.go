package node

import (
	"cmp"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
	"lukechampine.com/blake3"

	"revoada.dev/revoada/core/attest"
	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/core/store"
)

// Entry payloads (version 1), carried in a normal entry's Data or a
// ConfChangeV2's Context:
//
//	payload := version:u8 kind:u8 origin:[32]u8 incarnation:u64 seq:u64 body
//
// kind 1 (payloadShift): body is a roles shift, applied to the shape.
// kind 2 (payloadStage): body is a shift whose new voters are only added as
// Raft learners, so they catch up before they vote.
// kind 3 (payloadWrite): body is a store.Command, applied to the store.
// kind 5 (payloadFenced): body is fenced:u8 [term:u64 basis:[32]u8] shift —
// a shift with, for a policy shift, the fence it must pass at apply (see
// Fence). Kind 4 (payloadStamped) is kind 5 after an 8-byte stamp of the
// origin's wall-based clock, which logs written before the damper ran on
// ticks hold; it decodes, and the stamp is ignored.
// kind 7 (payloadWitness): body is a witness (seq:u64 signer:[32]u8
// sig:[64]u8), a voter's co-signature added to the chain's block seq.
// kind 6 (payloadSigned): kind 5 with the leader's signed proposal
// (core/attest) between the fence and the shift:
// leader:[32]u8 term:u64 time:u64 sig:[64]u8 — the proposal's shift is the
// entry's. A leader with a key proposes every shift so; the machine makes
// each that changes the shape a block of its chain.
const (
	payloadVersion = 1
	payloadShift   = 1
	payloadStage   = 2
	payloadWrite   = 3
	payloadStamped = 4
	payloadFenced  = 5
	payloadSigned  = 6
	payloadWitness = 7
	payloadHeader  = 2 + 32 + 8 + 8
	proposalBytes  = 32 + 8 + 8 + ed25519.SignatureSize
)

func encodePayload(kind byte, req *Request) []byte {
	b := make([]byte, 0, payloadHeader+64)
	b = append(b, payloadVersion, kind)
	b = append(b, req.ID.Origin[:]...)
	b = binary.BigEndian.AppendUint64(b, req.ID.Incarnation)
	b = binary.BigEndian.AppendUint64(b, req.ID.Seq)
	switch kind {
	case payloadWrite:
		return store.AppendCommand(b, *req.Write)
	case payloadWitness:
		return appendWitness(b, req.Witness)
	case payloadFenced:
		b = appendFence(b, req.Fence)
	case payloadSigned:
		b = appendFence(b, req.Fence)
		p := req.proposal
		b = append(b, p.Leader[:]...)
		b = binary.BigEndian.AppendUint64(b, p.Term)
		b = binary.BigEndian.AppendUint64(b, uint64(p.Time))
		b = append(b, p.Sig[:]...)
	}
	return roles.AppendShift(b, req.Shift)
}

// appendFence appends fenced:u8 [term:u64 basis:[32]u8]: 0 for no fence.
func appendFence(b []byte, f *Fence) []byte {
	if f == nil {
		return append(b, 0)
	}
	b = append(b, 1)
	b = binary.BigEndian.AppendUint64(b, f.Term)
	return append(b, f.Basis[:]...)
}

// decodeFence reads a fenced body's fence, returning the shift after it.
func decodeFence(req *Request, b []byte) ([]byte, error) {
	if len(b) < 1 {
		return nil, fmt.Errorf("node: corrupt fenced shift (%d bytes)", len(b))
	}
	fenced := b[0]
	b = b[1:]
	switch fenced {
	case 0:
		return b, nil
	case 1:
		if len(b) < 8+32 {
			return nil, fmt.Errorf("node: corrupt shift fence (%d bytes)", len(b))
		}
		f := &Fence{Term: binary.BigEndian.Uint64(b)}
		copy(f.Basis[:], b[8:40])
		req.Fence = f
		return b[40:], nil
	}
	return nil, fmt.Errorf("node: corrupt shift fence flag %d", fenced)
}

// decodeProposal reads a signed body's proposal, returning the shift after it.
func decodeProposal(req *Request, b []byte) ([]byte, error) {
	if len(b) < proposalBytes {
		return nil, fmt.Errorf("node: corrupt signed proposal (%d bytes)", len(b))
	}
	p := &attest.Proposal{Term: binary.BigEndian.Uint64(b[32:]), Time: int64(binary.BigEndian.Uint64(b[40:]))}
	copy(p.Leader[:], b)
	copy(p.Sig[:], b[48:])
	req.proposal = p
	return b[proposalBytes:], nil
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
	switch kind {
	case payloadShift, payloadStage:
		req.Shift, _, err = roles.DecodeShift(b[payloadHeader:])
	case payloadFenced, payloadStamped, payloadSigned:
		body := b[payloadHeader:]
		if kind == payloadStamped {
			if len(body) < 8 {
				return 0, nil, fmt.Errorf("node: corrupt stamped shift (%d bytes)", len(body))
			}
			body = body[8:]
		}
		if body, err = decodeFence(req, body); err == nil && kind == payloadSigned {
			body, err = decodeProposal(req, body)
		}
		if err == nil {
			req.Shift, _, err = roles.DecodeShift(body)
		}
		if req.proposal != nil {
			req.proposal.Shift = req.Shift
		}
	case payloadWrite:
		var c store.Command
		c, _, err = store.DecodeCommand(b[payloadHeader:])
		req.Write = &c
	case payloadWitness:
		req.Witness, _, err = decodeWitness(b[payloadHeader:])
	default:
		err = fmt.Errorf("node: unknown payload kind %d", kind)
	}
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

// window is the dedup table of one (origin, incarnation): the outcomes by
// seq, and the seqs in ascending order, so that forgetting the oldest, and
// encoding them in order, need no scan and no sort.
type window struct {
	outcomes map[uint64]outcome
	seqs     []uint64 // the keys of outcomes, ascending
}

func newWindow() *window { return &window{outcomes: map[uint64]outcome{}} }

// put records seq's outcome and, past DedupPerOriginMax records, forgets
// the oldest.
func (w *window) put(seq uint64, o outcome) {
	if _, ok := w.outcomes[seq]; !ok {
		i, _ := slices.BinarySearch(w.seqs, seq)
		w.seqs = slices.Insert(w.seqs, i, seq)
	}
	w.outcomes[seq] = o
	if len(w.seqs) > DedupPerOriginMax {
		delete(w.outcomes, w.seqs[0])
		w.seqs = w.seqs[1:]
	}
}

// outcome is what the dedup table remembers of an applied request: enough to
// answer a retry with the first result.
type outcome struct {
	index   uint64
	changed bool
	rej     *roles.Rejection // a refused shift
	err     storedErr        // a refused write
	rev     store.Revision   // a write's ModRevision
}

// Machine is the replicated state machine: the mesh shape, the resource store
// and the table of applied request IDs. Every replica applies the same entries in the same
// order and so holds the same Machine; checkers replay the log through their
// own Machine to know what every replica must hold.
type Machine struct {
	shape   roles.Shape
	store   *store.Store
	applied map[originKey]*window
	// shifted is the index of the last changing shift of each node. It is
	// replicated (and in the snapshot), so a restarted node, one that
	// installed a snapshot and a new leader know which nodes were shifted,
	// and each node can tell a shift it has seen from one it has not (see
	// Node.noteShifts).
	shifted map[roles.NodeID]uint64
	derived *derived   // cached from shape; nil when shape changed
	members *memberSet // cached from shape; nil when shape changed
	// encodedBytes is the capacity Encode starts with: its last size and
	// some, so a growing snapshot is not copied as it is built.
	encodedBytes int
	noDedup      bool // Planted.NoDedup
	// chain is the attested role history: a block for every shift that
	// changed the shape, proposed signed. unsigned counts the changing
	// shifts that were not (entries of logs older than payloadSigned):
	// each started the chain over from the shape it left (attest).
	chain    *attest.Chain
	unsigned uint64
	verified *attest.Verified // see Remember
}

// derived caches what checks ask of the shape after every entry.
type derived struct {
	digest roles.Digest
	voters []uint64     // raft IDs of the etcd holders, sorted
	basis  roles.Digest // the fence basis (fenceBasis)
}

// fenceBasis is what a policy shift's Fence names as the state it was
// decided on: the shape's digest and the index of the last shift that
// changed it. The digest alone is not enough: a shape that changes and
// changes back (an operator's promotion, then its demotion) has the
// digest it had, and a decision made before the two would pass, undoing
// the demotion past the damper (the hostile scenarios' b06 seeds 11, 212
// and 336).
func fenceBasis(digest roles.Digest, lastShift uint64) roles.Digest {
	b := make([]byte, 0, len(fenceBasisDomain)+len(digest)+8)
	b = append(append(b, fenceBasisDomain...), digest[:]...)
	return blake3.Sum256(binary.BigEndian.AppendUint64(b, lastShift))
}

const fenceBasisDomain = "revoada fence basis v1\x00"

// lastShift is the index of the last changing shift: shifted only grows.
func (m *Machine) lastShift() uint64 {
	last := uint64(0)
	for _, i := range m.shifted {
		last = max(last, i)
	}
	return last
}

func (m *Machine) setShape(s roles.Shape) {
	m.shape, m.derived, m.members = s, nil, nil
}

// memberSet is the shape's members, indexed; built once per shape.
func (m *Machine) memberSet() *memberSet {
	if m.members == nil {
		m.members = newMemberSet(m.shape)
	}
	return m.members
}

// isMember reports whether id is a member of the shape: Shape.Roles's ok.
func (m *Machine) isMember(id roles.NodeID) bool { return m.memberSet().has(id) }

func (m *Machine) derive() *derived {
	if m.derived == nil {
		d := &derived{digest: m.shape.Digest(), voters: raftIDs(m.shape.Voters())}
		d.basis = fenceBasis(d.digest, m.lastShift())
		m.derived = d
	}
	return m.derived
}

// NewMachine starts a machine from a bootstrap shape.
func NewMachine(shape roles.Shape) *Machine {
	return &Machine{shape: shape.Clone(), store: store.New(), applied: map[originKey]*window{}, shifted: map[roles.NodeID]uint64{},
		chain: attest.NewChain(shape, 0, 0, nil)}
}

// Remember makes the machine's role history check signatures against v
// and remember there those that verified (attest.Verified; nil: verify
// each in full), now and after every new start of its chain.
func (m *Machine) Remember(v *attest.Verified) {
	m.verified = v
	m.chain.Remember(v)
}

// Chain is the attested role history. Callers must only read it.
func (m *Machine) Chain() *attest.Chain { return m.chain }

// Unsigned is how many shape changes no leader signed (logs written before
// leaders signed their shifts): each started the role history over.
func (m *Machine) Unsigned() uint64 { return m.unsigned }

// Shifted is the index of each node's last changing shift. The map is a copy.
func (m *Machine) Shifted() map[roles.NodeID]uint64 { return maps.Clone(m.shifted) }

// Shape returns a copy of the current shape.
func (m *Machine) Shape() roles.Shape { return m.shape.Clone() }

// ShapeDigest is Shape().Digest(), without the copy: cached until the
// shape changes.
func (m *Machine) ShapeDigest() roles.Digest { return m.derive().digest }

// Store is the machine's resource store. Callers must only read it.
func (m *Machine) Store() *store.Store { return m.store }

// Event is the store event of a write the entry applied, or nil.
func (e Effect) Event() *store.Event { return e.event }

// Effect is what applying one entry did.
type Effect struct {
	req    *Request         // nil for entries carrying no request
	result *Result          // nil when no result is due (stale, stage, no-op)
	cc     *pb.ConfChangeV2 // to pass to raft's ApplyConfChange; nil if none
	event  *store.Event     // a store write's event
}

// Apply applies one committed entry. It panics on a payload this package did
// not write: entries only come from proposals made by Node.
func (m *Machine) Apply(e *pb.Entry) Effect {
	switch e.GetType() {
	case pb.EntryNormal:
		if len(e.Data) == 0 {
			return Effect{} // the empty entry a new leader appends
		}
		return m.applyPayload(e.GetIndex(), e.GetTerm(), e.Data, nil)
	case pb.EntryConfChangeV2:
		var cc pb.ConfChangeV2
		if err := proto.Unmarshal(e.Data, &cc); err != nil {
			panic(fmt.Sprintf("node: entry %d: conf change does not decode: %v", e.GetIndex(), err))
		}
		if len(cc.Context) == 0 {
			return Effect{cc: &cc} // raft's own leave-joint entry
		}
		return m.applyPayload(e.GetIndex(), e.GetTerm(), cc.Context, &cc)
	default:
		panic(fmt.Sprintf("node: entry %d has unexpected type %v", e.GetIndex(), e.GetType()))
	}
}

func (m *Machine) applyPayload(index, term uint64, data []byte, cc *pb.ConfChangeV2) Effect {
	kind, req, err := decodePayload(data)
	if err != nil {
		panic(fmt.Sprintf("node: entry %d: %v", index, err))
	}
	if kind == payloadStage {
		return m.applyStage(req, cc)
	}
	if prev, dup := m.lookup(req.ID); dup && !m.noDedup {
		r := prev.result(req.ID)
		r.Duplicate = true
		if req.Write != nil {
			r.Resource = store.Resource{Ref: writeRef(req.Write), ModRevision: prev.rev}
			if prev.err.code != 0 {
				r.Err = prev.err.error(writeRef(req.Write))
			}
		}
		return Effect{req: req, result: r}
	}
	if kind == payloadWrite {
		return m.applyWrite(index, req)
	}
	if kind == payloadWitness {
		return m.applyWitness(index, req)
	}
	if f := req.Fence; f != nil && (f.Term != term || f.Basis != m.derive().basis && f.Basis != m.derive().digest) {
		// Fenced: decided by another term's leader, or on a shape that has
		// moved since. Not remembered: a retry is fenced the same way. A
		// basis that is the shape's digest is a leader's of a build before
		// fenceBasis: judged as that build judged it, so that every build
		// replaying a log applies it alike.
		return Effect{req: req, result: &Result{ID: req.ID, Index: index, Err: ErrFenced}}
	}
	next, change, rej := m.shape.Plan(req.Shift)
	if rej != nil {
		m.remember(req.ID, outcome{index: index, rej: rej})
		return Effect{req: req, result: &Result{ID: req.ID, Index: index, Err: rej}}
	}
	if !sameChange(change, cc, next) {
		// The shape moved since the leader planned this entry; nothing is
		// applied or remembered, so the origin's retry is planned afresh.
		return Effect{req: req}
	}
	out := outcome{index: index, changed: !m.shape.Equal(next)}
	if out.changed {
		for _, c := range req.Shift {
			m.shifted[c.Node] = index
		}
		m.attest(index, term, req, next)
	}
	m.setShape(next)
	m.remember(req.ID, out)
	return Effect{req: req, result: out.result(req.ID), cc: cc}
}

// attest makes a changing shift a block of the chain. A shift no leader
// signed, or one whose proposal the chain refuses (a leader that signed
// for another term, say), is counted, and the role history starts over:
// a new genesis block of the shape it left, at index 0 — what a replica
// that restores a snapshot written before the role history (version 5 and
// older) starts from, so that replicas replaying such a log and replicas
// restoring such a snapshot hold the same chain. The simulator's chain
// check fails on any such count. (A leader signs no shift before it has
// applied an entry of its own term: see Node.propose.)
func (m *Machine) attest(index, term uint64, req *Request, next roles.Shape) {
	if req.proposal != nil {
		if _, err := m.chain.Append(index, term, *req.proposal); err == nil {
			return
		}
	}
	m.unsigned++
	m.chain = attest.NewChain(next, 0, 0, nil)
	m.chain.Remember(m.verified)
}

// applyWitness adds a voter's co-signature to the chain. One the chain
// refuses (no such block, a signer that was no voter at its index, a bad
// signature) is answered ErrInvalidRequest, and not remembered: a retry
// is refused the same way, as nothing about the block changes.
func (m *Machine) applyWitness(index uint64, req *Request) Effect {
	added, err := m.chain.AddWitness(req.Witness.Seq, req.Witness.Witness)
	if err != nil {
		return Effect{req: req, result: &Result{ID: req.ID, Index: index, Err: fmt.Errorf("%w: %w", ErrInvalidRequest, err)}}
	}
	out := outcome{index: index, changed: added}
	m.remember(req.ID, out)
	return Effect{req: req, result: out.result(req.ID)}
}

// applyWrite executes a resource write against the store.
func (m *Machine) applyWrite(index uint64, req *Request) Effect {
	res, ev, err := m.store.Exec(*req.Write)
	out := outcome{index: index, changed: err == nil, rev: res.ModRevision}
	if err != nil {
		out.err = encodeErr(err)
	}
	m.remember(req.ID, out)
	r := out.result(req.ID)
	r.Resource = res
	if err != nil {
		r.Err = err // the original, typed error (a *store.ConflictError, say)
		return Effect{req: req, result: r}
	}
	return Effect{req: req, result: r, event: &ev}
}

func writeRef(c *store.Command) store.Ref {
	if c.Op == store.OpApply {
		return c.Resource.Ref
	}
	return c.Ref
}

// applyStage admits a stage entry's learners unless one of them is a voter
// already (adding a voter as a learner would demote it in Raft alone).
func (m *Machine) applyStage(req *Request, cc *pb.ConfChangeV2) Effect {
	if cc == nil {
		panic("node: stage payload outside a conf change")
	}
	voters := m.shape.Voters()
	for _, ch := range cc.Changes {
		if ch.GetType() != pb.ConfChangeAddLearnerNode {
			return Effect{req: req}
		}
		if slices.ContainsFunc(voters, func(v roles.NodeID) bool { return v.RaftID() == ch.GetNodeId() }) {
			return Effect{req: req}
		}
	}
	return Effect{req: req, cc: cc}
}

// sameChange reports whether a conf change (nil for a normal entry) makes
// exactly the voter change the shift makes to the shape, and beside it
// removes only nodes the shift leaves outside the shape (raft learners of a
// node that left: see Node.goneLearners).
func sameChange(change roles.VoterChange, cc *pb.ConfChangeV2, next roles.Shape) bool {
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
	seen := 0
	for _, ch := range cc.Changes {
		t, ok := want[ch.GetNodeId()]
		switch {
		case ok && t == ch.GetType():
			seen++
		case ok || ch.GetType() != pb.ConfChangeRemoveNode || memberRaftID(next, ch.GetNodeId()):
			return false
		}
	}
	return seen == len(want)
}

// memberRaftID reports whether a member of s has raft ID id.
func memberRaftID(s roles.Shape, id uint64) bool {
	for _, node := range s.Nodes() {
		if node.RaftID() == id {
			return true
		}
	}
	return false
}

func (o outcome) result(id RequestID) *Result {
	r := &Result{ID: id, Index: o.index, Changed: o.changed}
	switch {
	case o.rej != nil:
		r.Err = o.rej
	case o.err.code != 0:
		r.Err = o.err.error(store.Ref{})
	}
	return r
}

func (m *Machine) lookup(id RequestID) (outcome, bool) {
	if win := m.applied[originKey{id.Origin, id.Incarnation}]; win != nil {
		o, ok := win.outcomes[id.Seq]
		return o, ok
	}
	return outcome{}, false
}

func (m *Machine) remember(id RequestID, o outcome) {
	key := originKey{id.Origin, id.Incarnation}
	win := m.applied[key]
	if win == nil {
		win = newWindow()
		m.applied[key] = win
		m.pruneIncarnations(id.Origin)
	}
	win.put(id.Seq, o)
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

// Snapshot encoding (version 5):
//
//	snapshot := version:u8 shape origins:u32 (origin:[32]u8 incarnation:u64 n:u32 record*)* shifted storeLen:u32 store
//	record := seq:u64 index:u64 changed:u8 code:u8 command:u16 detailLen:u16 detail
//	          errCode:u8 errDetailLen:u16 errDetail want:u64 current:u64 rev:u64
//
// store is store.Snapshot's bytes.
// Origins are sorted by (node, incarnation), records by seq: the bytes depend
// only on the content.

// Encode returns the machine's canonical snapshot bytes.
func (m *Machine) Encode() []byte {
	b := append(make([]byte, 0, m.encodedBytes), snapshotVersion)
	b = roles.AppendShape(b, m.shape)
	keys := slices.SortedFunc(maps.Keys(m.applied), func(a, b originKey) int {
		return cmp.Or(a.node.Compare(b.node), cmp.Compare(a.incarnation, b.incarnation))
	})
	b = binary.BigEndian.AppendUint32(b, uint32(len(keys)))
	for _, k := range keys {
		b = append(b, k.node[:]...)
		b = binary.BigEndian.AppendUint64(b, k.incarnation)
		win := m.applied[k]
		b = binary.BigEndian.AppendUint32(b, uint32(len(win.seqs)))
		for _, seq := range win.seqs {
			o := win.outcomes[seq]
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
			b = appendString16(b, detail)
			b = append(b, o.err.code)
			b = appendString16(b, o.err.detail)
			b = binary.BigEndian.AppendUint64(b, uint64(o.err.want))
			b = binary.BigEndian.AppendUint64(b, uint64(o.err.current))
			b = binary.BigEndian.AppendUint64(b, uint64(o.rev))
		}
	}
	ids := slices.SortedFunc(maps.Keys(m.shifted), roles.NodeID.Compare)
	b = binary.BigEndian.AppendUint32(b, uint32(len(ids)))
	for _, id := range ids {
		b = append(b, id[:]...)
		b = binary.BigEndian.AppendUint64(b, m.shifted[id])
	}
	at := len(b)
	b = m.store.AppendSnapshot(binary.BigEndian.AppendUint32(b, 0))
	binary.BigEndian.PutUint32(b[at:], uint32(len(b)-at-4))
	b = binary.BigEndian.AppendUint64(b, m.unsigned)
	b = m.chain.AppendTo(b)
	m.encodedBytes = len(b) + len(b)/8 // room to grow before the next
	return b
}

// snapshotVersion 6 ends with unsigned:u64 and the chain
// (attest.AppendChain); an older snapshot decodes with a chain whose
// genesis is its shape.
// Version 5 has a conflict's current revision in each dedup record
// (current:u64 after want), so that a retried write answered from the table
// gets the same *store.ConflictError; version 4 decodes with current 0.
// Version 4 has the shifted table after the dedup records:
// n:u32 (node:[32]u8 index:u64)*. Version 3 had clock:u64 before it, and a
// stamp of the wall-based clock in place of each index: it decodes, the
// clock ignored and each stamp read as index 0, a shift before any this
// node applies. Version 2 (without either) decodes with an empty table.
const (
	snapshotVersion   = 6
	snapshotVersionV6 = 6
	snapshotVersionV5 = 5
	snapshotVersionV3 = 3
	snapshotVersionV2 = 2
)

func appendString16(b []byte, s string) []byte {
	s = s[:min(len(s), 0xffff)]
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// ErrCorruptSnapshot is wrapped by every error of DecodeMachine; a store
// snapshot's error (store.ErrInvalid, store.ErrUnsupported) is wrapped too.
var ErrCorruptSnapshot = errors.New("node: corrupt snapshot")

// DecodeMachine restores a machine from snapshot bytes. It allocates
// nothing for a length or count the bytes do not hold (each record and
// entry takes its fixed fields), and refuses a dedup window of more than
// DedupPerOriginMax records, which no machine keeps, and a role history
// that does not end in the snapshot's shape.
//
// Errors: ErrCorruptSnapshot, naming the first field that did not decode.
func DecodeMachine(b []byte) (*Machine, error) {
	if len(b) < 1 || b[0] < snapshotVersionV2 || b[0] > snapshotVersion {
		return nil, fmt.Errorf("%w: header", ErrCorruptSnapshot)
	}
	shape, rest, err := roles.DecodeShape(b[1:])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorruptSnapshot, err)
	}
	d := decoder{b: rest}
	m := &Machine{shape: shape, store: store.New(), applied: map[originKey]*window{}, shifted: map[roles.NodeID]uint64{}}
	for n := d.u32(); n > 0 && d.err == nil; n-- {
		var k originKey
		copy(k.node[:], d.bytes(32))
		k.incarnation = d.u64()
		win := newWindow()
		r := d.u32()
		if r > DedupPerOriginMax && d.err == nil {
			d.err = fmt.Errorf("a dedup window of %d records, limit %d", r, DedupPerOriginMax)
		}
		for ; r > 0 && d.err == nil; r-- {
			seq := d.u64()
			o := outcome{index: d.u64(), changed: d.u8() == 1}
			code, cmdIdx := d.u8(), d.u16()
			detail := string(d.bytes(int(d.u16())))
			if code != 0 {
				o.rej = &roles.Rejection{Code: roles.RejectCode(code), Command: int(cmdIdx), Detail: detail}
			}
			o.err.code = d.u8()
			o.err.detail = string(d.bytes(int(d.u16())))
			o.err.want = store.Revision(d.u64())
			if b[0] >= snapshotVersionV5 {
				o.err.current = store.Revision(d.u64())
			}
			o.rev = store.Revision(d.u64())
			win.put(seq, o)
		}
		m.applied[k] = win
	}
	if b[0] == snapshotVersionV3 {
		d.u64() // the wall-based clock
	}
	if b[0] >= snapshotVersionV3 {
		for n := d.u32(); n > 0 && d.err == nil; n-- {
			var id roles.NodeID
			copy(id[:], d.bytes(32))
			m.shifted[id] = d.u64()
			if b[0] == snapshotVersionV3 {
				m.shifted[id] = 0
			}
		}
	}
	if st := d.bytes(int(d.u32())); d.err == nil {
		m.store, d.err = store.Restore(st)
	}
	m.chain = attest.NewChain(shape, 0, 0, nil)
	if b[0] >= snapshotVersionV6 {
		m.unsigned = d.u64()
		var blocks []attest.Block
		if d.err == nil {
			blocks, d.err = attest.DecodeChain(d.b)
			d.b = nil
		}
		if d.err == nil {
			m.chain, d.err = attest.Rebuild(blocks, nil)
		}
		if d.err == nil {
			d.err = chainMatches(m.chain, shape)
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorruptSnapshot, d.err)
	}
	return m, nil
}

// chainMatches checks a snapshot's chain against its shape: every change
// is a block, or starts the chain over from its shape (Machine.attest), so
// the chain ends in the shape. A chain that lost blocks (or holds another
// mesh's) would otherwise be taken, and the replica's chain would refuse,
// or misplace, every block after it.
func chainMatches(c *attest.Chain, shape roles.Shape) error {
	if c.Shape().Equal(shape) {
		return nil
	}
	return fmt.Errorf("the role history's %d blocks end in shape %s, the snapshot's is %s",
		c.Len(), c.Shape().Digest().String()[:12], shape.Digest().String()[:12])
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
		// Never allocate what the input claims: after an error the
		// fixed-size readers need at most 8 bytes, and nothing is kept.
		return make([]byte, min(n, 8))
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8() byte    { return d.bytes(1)[0] }
func (d *decoder) u16() uint16 { return binary.BigEndian.Uint16(d.bytes(2)) }
func (d *decoder) u32() uint32 { return binary.BigEndian.Uint32(d.bytes(4)) }
func (d *decoder) u64() uint64 { return binary.BigEndian.Uint64(d.bytes(8)) }
