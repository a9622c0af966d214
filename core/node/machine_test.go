package node

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"revoada.dev/revoada/core/attest"
	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/core/store"
	"revoada.dev/revoada/internal/testalloc"
)

func nid(b byte) roles.NodeID {
	var n roles.NodeID
	n[0], n[31] = b, b
	return n
}

func bootShape(t testing.TB) roles.Shape {
	s, err := roles.NewShape([]roles.Member{
		{Node: nid(1), Roles: roles.ControlPlane}, {Node: nid(2), Roles: roles.ControlPlane},
		{Node: nid(3), Roles: roles.ControlPlane}, {Node: nid(4), Roles: roles.Worker},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func req(origin byte, seq uint64, sh ...roles.Command) *Request {
	return &Request{ID: RequestID{Origin: nid(origin), Incarnation: 1, Seq: seq}, Shift: sh}
}

func normal(index uint64, r *Request) *pb.Entry {
	return &pb.Entry{Index: new(index), Term: new(uint64(1)), Type: pb.EntryNormal.Enum(), Data: encodePayload(payloadShift, r)}
}

func confEntry(t *testing.T, index uint64, kind byte, r *Request, changes ...*pb.ConfChangeSingle) *pb.Entry {
	data, err := proto.Marshal(&pb.ConfChangeV2{Changes: changes, Context: encodePayload(kind, r)})
	if err != nil {
		t.Fatal(err)
	}
	return &pb.Entry{Index: new(index), Term: new(uint64(1)), Type: pb.EntryConfChangeV2.Enum(), Data: data}
}

func change(t pb.ConfChangeType, id roles.NodeID) *pb.ConfChangeSingle {
	return &pb.ConfChangeSingle{Type: t.Enum(), NodeId: new(id.RaftID())}
}

func TestMachineDedupAndStale(t *testing.T) {
	m := NewMachine(bootShape(t))
	promote := roles.Command{Kind: roles.Promote, Node: nid(4), Reason: roles.ScalingUp}
	r := req(9, 1, promote)

	// A voter change proposed as a normal entry is stale: no result, nothing remembered.
	if eff := m.Apply(normal(2, r)); eff.result != nil || eff.cc != nil {
		t.Fatalf("stale entry gave result %v cc %v", eff.result, eff.cc)
	}
	// The same request as the right conf change applies.
	eff := m.Apply(confEntry(t, 3, payloadShift, r, change(pb.ConfChangeAddNode, nid(4))))
	if eff.result == nil || eff.result.Err != nil || !eff.result.Changed || eff.cc == nil {
		t.Fatalf("promote: %+v", eff.result)
	}
	digest := m.Digest()
	// A retry of the same ID is answered from the table and changes nothing.
	dup := m.Apply(confEntry(t, 4, payloadShift, r, change(pb.ConfChangeAddNode, nid(4))))
	if dup.result == nil || dup.result.Index != 3 || dup.cc != nil || m.Digest() != digest {
		t.Fatalf("duplicate: result %+v cc %v", dup.result, dup.cc)
	}
	// A rejected request is remembered with its rejection.
	bad := req(9, 2, roles.Command{Kind: roles.Promote, Node: nid(7), Reason: roles.Operator})
	if eff := m.Apply(normal(5, bad)); !errors.Is(eff.result.Err, roles.ErrUnknownNode) {
		t.Fatalf("unknown node: %+v", eff.result)
	}
	if eff := m.Apply(normal(6, bad)); eff.result.Index != 5 {
		t.Fatalf("rejection not remembered: %+v", eff.result)
	}
}

func TestStageNeverDemotesAVoter(t *testing.T) {
	m := NewMachine(bootShape(t))
	r := req(9, 1, roles.Command{Kind: roles.Promote, Node: nid(1), Reason: roles.Operator})
	if eff := m.Apply(confEntry(t, 2, payloadStage, r, change(pb.ConfChangeAddLearnerNode, nid(1)))); eff.cc != nil {
		t.Fatal("a stage entry would make voter n1 a learner")
	}
	if eff := m.Apply(confEntry(t, 3, payloadStage, r, change(pb.ConfChangeAddLearnerNode, nid(4)))); eff.cc == nil {
		t.Fatal("staging worker n4 as a learner was refused")
	}
}

// TestSnapshotBytesAreCanonical: the same content gives the same bytes,
// whatever order it was written in, and decoding gives it back.
func TestSnapshotBytesAreCanonical(t *testing.T) {
	var reqs []*Request
	for o := byte(10); o < 14; o++ {
		for seq := uint64(1); seq <= 5; seq++ {
			reqs = append(reqs, req(o, seq, roles.Command{Kind: roles.Promote, Node: nid(1), Roles: roles.Scheduler, Reason: roles.Operator}))
		}
	}
	build := func(order []int) []byte {
		m := NewMachine(bootShape(t))
		for i, k := range order {
			m.Apply(normal(uint64(i+2), reqs[k]))
		}
		return m.Encode()
	}
	rng := rand.New(rand.NewPCG(1, 2))
	a := build(rng.Perm(len(reqs)))
	b := build(rng.Perm(len(reqs)))
	// Indexes differ between orders, so compare the decoded tables instead of
	// the bytes, then check the bytes of one are stable through a round trip.
	ma, err := DecodeMachine(a)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := DecodeMachine(b)
	if err != nil {
		t.Fatal(err)
	}
	if !ma.shape.Equal(mb.shape) || len(ma.applied) != len(mb.applied) {
		t.Fatal("orders disagree on content")
	}
	if !bytes.Equal(ma.Encode(), a) {
		t.Fatal("encode(decode(b)) != b")
	}
}

func TestDedupWindowIsBounded(t *testing.T) {
	m := NewMachine(bootShape(t))
	for seq := uint64(1); seq <= DedupPerOriginMax+10; seq++ {
		m.Apply(normal(seq+1, req(9, seq, roles.Command{Kind: roles.Restore, Node: nid(4), Reason: roles.Operator})))
	}
	for inc := uint64(2); inc <= IncarnationsMax+3; inc++ {
		r := req(9, 1, roles.Command{Kind: roles.Restore, Node: nid(4), Reason: roles.Operator})
		r.ID.Incarnation = inc
		m.Apply(normal(1000+inc, r))
	}
	total := 0
	for k, win := range m.applied {
		if len(win.outcomes) > DedupPerOriginMax || len(win.seqs) != len(win.outcomes) {
			t.Errorf("origin %v holds %d records, %d seqs", k, len(win.outcomes), len(win.seqs))
		}
		total++
	}
	if total > IncarnationsMax {
		t.Errorf("%d incarnations remembered, limit %d", total, IncarnationsMax)
	}
}

func TestSubmitRejectsBadShifts(t *testing.T) {
	n, err := New(DefaultConfig(nid(1), bootShape(t), rand.New(rand.NewPCG(1, 1))), Durable{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Submit(nil); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("empty shift: %v", err)
	}
	if _, err := New(DefaultConfig(nid(8), bootShape(t), rand.New(rand.NewPCG(1, 1))), Durable{}); err == nil {
		t.Fatal("a node outside the bootstrap shape started")
	}
}

func FuzzDecodeMachine(f *testing.F) {
	m := NewMachine(bootShape(f))
	m.Apply(normal(2, req(9, 1, roles.Command{Kind: roles.Restore, Node: nid(4), Reason: roles.Operator})))
	f.Add(m.Encode())
	f.Add([]byte{1})
	for _, b := range hugeMachineClaims(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		testalloc.Check(t, testalloc.FuzzMax, func() {
			m, err := DecodeMachine(b)
			if err != nil {
				if !errors.Is(err, ErrCorruptSnapshot) {
					t.Fatalf("untyped error: %v", err)
				}
				return
			}
			if _, err := DecodeMachine(m.Encode()); err != nil {
				t.Fatalf("re-encoding a decoded machine fails: %v", err)
			}
		})
	})
}

// fenced is a policy shift entry of term 3, decided in term fenceTerm on the
// basis.
func fenced(index, fenceTerm uint64, basis roles.Digest, r *Request) *pb.Entry {
	r.Fence = &Fence{Term: fenceTerm, Basis: basis}
	return &pb.Entry{Index: new(index), Term: new(uint64(3)), Type: pb.EntryNormal.Enum(), Data: encodePayload(payloadFenced, r)}
}

// Issue 9, symptom 10: a policy shift decided by another term's leader, or
// on a shape that moved since, is refused at apply; one that passes its
// fence is remembered as the node's last shift, which the snapshot keeps
// (symptom 4).
func TestPolicyShiftsAreFencedAndRemembered(t *testing.T) {
	m := NewMachine(bootShape(t))
	basis := m.derive().basis
	sched := roles.Command{Kind: roles.Demote, Node: nid(1), Roles: roles.Scheduler, Reason: roles.Rebalance}
	if eff := m.Apply(fenced(2, 2, basis, req(9, 1, sched))); !errors.Is(eff.result.Err, ErrFenced) {
		t.Fatalf("a shift decided in term 2 applied in term 3: %v", eff.result)
	}
	var other roles.Digest
	if eff := m.Apply(fenced(3, 3, other, req(9, 2, sched))); !errors.Is(eff.result.Err, ErrFenced) {
		t.Fatalf("a shift decided on another shape applied: %v", eff.result)
	}
	if eff := m.Apply(fenced(4, 3, basis, req(9, 3, sched))); eff.result.Err != nil || !eff.result.Changed {
		t.Fatalf("a shift passing its fence: %v", eff.result)
	}
	if shifted := m.Shifted(); shifted[nid(1)] != 4 || len(shifted) != 1 {
		t.Fatalf("shifted after the shift at index 4: %v", shifted)
	}
	back, err := DecodeMachine(m.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if s := back.Shifted(); s[nid(1)] != 4 || len(s) != 1 {
		t.Fatalf("shifted lost by the snapshot: %v", s)
	}
	// The fenced retry of a deposed leader, with the basis it saw then,
	// is refused now that the shape moved.
	if eff := m.Apply(fenced(5, 3, basis, req(9, 4, sched))); !errors.Is(eff.result.Err, ErrFenced) {
		t.Fatalf("a decision on a stale shape applied: %v", eff.result)
	}
	// A shape that changes and changes back has its old digest, not its
	// old basis: a decision made before the two is refused (the hostile
	// scenarios' b06: a policy promotion decided before an operator's
	// promotion and demotion undid the demotion).
	decided := m.derive().basis
	digest := m.derive().digest
	back1 := roles.Command{Kind: roles.Promote, Node: nid(1), Roles: roles.Scheduler, Reason: roles.Operator}
	if eff := m.Apply(normal(6, req(8, 1, back1))); eff.result == nil || !eff.result.Changed {
		t.Fatalf("the operator's promotion: %+v", eff.result)
	}
	back2 := roles.Command{Kind: roles.Demote, Node: nid(1), Roles: roles.Scheduler, Reason: roles.Operator}
	if eff := m.Apply(normal(7, req(8, 2, back2))); eff.result == nil || !eff.result.Changed {
		t.Fatalf("the operator's demotion: %+v", eff.result)
	}
	if m.derive().digest != digest {
		t.Fatal("the shape did not change back")
	}
	if eff := m.Apply(fenced(8, 3, decided, req(9, 5, sched))); !errors.Is(eff.result.Err, ErrFenced) {
		t.Fatalf("a decision made before the shape changed and changed back applied: %v", eff.result)
	}
}

// Issue 10: a snapshot claiming a huge length or count allocates nothing
// near it.
func TestDecodeMachineDoesNotTrustLengths(t *testing.T) {
	for _, b := range hugeMachineClaims(t) {
		var err error
		testalloc.Check(t, 1<<20, func() { _, err = DecodeMachine(b) })
		if !errors.Is(err, ErrCorruptSnapshot) {
			t.Fatalf("a %d-byte snapshot claiming 4 GiB: %v, want ErrCorruptSnapshot", len(b), err)
		}
	}
}

// hugeMachineClaims are snapshots whose store length, or whose one dedup
// window's record count, claims 4 GiB, and one whose chain claims 65,536
// blocks of 4 bytes each (their lengths, all 0).
func hugeMachineClaims(t testing.TB) [][]byte {
	fresh := NewMachine(bootShape(t))
	empty := fresh.Encode()
	chain := 8 + len(attest.AppendChain(nil, fresh.Chain().Blocks())) // unsigned, then the chain
	at := len(empty) - chain - len(store.New().Snapshot()) - 4        // the store's length
	if binary.BigEndian.Uint32(empty[at:]) != uint32(len(empty)-chain-at-4) {
		t.Fatal("the store's length is not where the test expects it")
	}
	storeLen := append(empty[:at:at], 0xff, 0xff, 0xff, 0xff, 'r', 'v', 's', 't') // and cut the store

	m := NewMachine(bootShape(t))
	m.Apply(normal(2, req(9, 1, roles.Command{Kind: roles.Restore, Node: nid(4), Reason: roles.Operator})))
	b := m.Encode()
	window := 1 + len(roles.AppendShape(nil, bootShape(t))) + 4 + 32 + 8 // version, shape, origins, origin, incarnation
	if binary.BigEndian.Uint32(b[window:]) != 1 {
		t.Fatal("the window's record count is not where the test expects it")
	}
	records := append([]byte(nil), b[:window]...)
	records = append(records, 0xff, 0xff, 0xff, 0xff)
	const blocks = 1 << 16
	chainCount := binary.BigEndian.AppendUint32(append(empty[:len(empty)-chain+8:len(empty)-chain+8], 1), blocks)
	chainCount = append(chainCount, make([]byte, 4*blocks)...)
	return [][]byte{storeLen, append(records, b[window+4:]...), chainCount}
}

// A retried write that failed its precondition is answered from the dedup
// table with the same *store.ConflictError, its current revision too, and
// so is one after a snapshot round trip.
func TestDedupKeepsTheConflict(t *testing.T) {
	m := NewMachine(bootShape(t))
	ref := store.Ref{Kind: "ConfigMap", Namespace: "ns", Name: "a"}
	write := func(seq uint64, exp store.Expect) *Request {
		return &Request{ID: RequestID{Origin: nid(9), Incarnation: 1, Seq: seq}, Write: &store.Command{Op: store.OpApply,
			Resource: store.Resource{Ref: ref, Face: "kubernetes", Format: store.JSON, Payload: []byte(`{}`)}, Expect: exp}}
	}
	entry := func(index uint64, r *Request) *pb.Entry {
		return &pb.Entry{Index: new(index), Term: new(uint64(1)), Type: pb.EntryNormal.Enum(), Data: encodePayload(payloadWrite, r)}
	}
	if eff := m.Apply(entry(2, write(1, store.Expect{}))); eff.result == nil || eff.result.Err != nil {
		t.Fatalf("create: %+v", eff.result)
	}
	stale := write(2, store.Expect{Set: true, Revision: 9})
	first := m.Apply(entry(3, stale)).result
	want := &store.ConflictError{Ref: ref, Want: 9, Current: 1}
	if !reflect.DeepEqual(first.Err, want) {
		t.Fatalf("first answer %#v, want %#v", first.Err, want)
	}
	back, err := DecodeMachine(m.Encode())
	if err != nil {
		t.Fatal(err)
	}
	for name, mm := range map[string]*Machine{"the machine": m, "its snapshot": back} {
		dup := mm.Apply(entry(4, stale)).result
		if !dup.Duplicate || !reflect.DeepEqual(dup.Err, want) {
			t.Fatalf("%s answered the retry with %#v (duplicate %v), want %#v", name, dup.Err, dup.Duplicate, want)
		}
	}
}

// TestIsMemberMatchesShape checks the machine's member index against the
// shape's own lookup, over shape changes, for members, strangers and a
// stranger that shares a member's raft ID.
func TestIsMemberMatchesShape(t *testing.T) {
	m := NewMachine(bootShape(t))
	twin := nid(2)
	twin[31] = 99 // nid(2)'s raft ID, another key
	probe := []roles.NodeID{nid(1), nid(2), nid(3), nid(4), nid(5), twin}
	check := func(step string) {
		t.Helper()
		for _, id := range probe {
			if _, want := m.shape.Roles(id); m.isMember(id) != want {
				t.Fatalf("%s: isMember(%s) = %v, want %v", step, id.Short(), !want, want)
			}
		}
	}
	check("boot")
	s, err := roles.NewShape([]roles.Member{{Node: nid(1), Roles: roles.ControlPlane}, {Node: nid(5), Roles: roles.Worker}})
	if err != nil {
		t.Fatal(err)
	}
	m.setShape(s)
	check("changed")
}

// TestBootstrapMachineIsDecoded checks that the machine a fresh node starts
// from (bootstrap's, not decoded) is the one its bootstrap snapshot decodes
// to: the same bytes, shape digest, chain head and events, at boot and
// after the same shift, writes, a delete and another snapshot round trip.
func TestBootstrapMachineIsDecoded(t *testing.T) {
	snap, built := bootstrap(bootShape(t))
	decoded, err := DecodeMachine(snap.GetData())
	if err != nil {
		t.Fatal(err)
	}
	same := func(step string) {
		t.Helper()
		if a, b := built.Encode(), decoded.Encode(); !bytes.Equal(a, b) {
			t.Fatalf("%s: built machine encodes to %d bytes, decoded to %d, not the same", step, len(a), len(b))
		}
		if built.ShapeDigest() != decoded.ShapeDigest() || built.Chain().Head() != decoded.Chain().Head() {
			t.Fatalf("%s: shape or chain head differ", step)
		}
	}
	same("boot")
	ref := store.Ref{Kind: "ConfigMap", Namespace: "ns", Name: "a"}
	write := func(index, seq uint64, c store.Command) *pb.Entry {
		r := &Request{ID: RequestID{Origin: nid(9), Incarnation: 1, Seq: seq}, Write: &c}
		return &pb.Entry{Index: new(index), Term: new(uint64(1)), Type: pb.EntryNormal.Enum(), Data: encodePayload(payloadWrite, r)}
	}
	apply := store.Command{Op: store.OpApply, Resource: store.Resource{Ref: ref, Face: "kubernetes", Format: store.JSON, Payload: []byte(`{}`)}}
	entries := []*pb.Entry{
		confEntry(t, 2, payloadShift, req(9, 1, roles.Command{Kind: roles.Promote, Node: nid(4), Reason: roles.ScalingUp}), change(pb.ConfChangeAddNode, nid(4))),
		write(3, 2, apply), write(4, 3, apply), write(5, 4, store.Command{Op: store.OpDelete, Ref: ref}),
	}
	for _, e := range entries {
		a, b := built.Apply(e), decoded.Apply(e)
		if !reflect.DeepEqual(a.result, b.result) || !reflect.DeepEqual(a.event, b.event) {
			t.Fatalf("entry %d: built machine's effect %+v %+v, decoded's %+v %+v", e.GetIndex(), a.result, a.event, b.result, b.event)
		}
		same(fmt.Sprintf("entry %d", e.GetIndex()))
	}
	evA, errA := built.Store().Events(1, "")
	evB, errB := decoded.Store().Events(1, "")
	if !reflect.DeepEqual(evA, evB) || (errA == nil) != (errB == nil) {
		t.Fatalf("events from 1: built %v (%v), decoded %v (%v)", evA, errA, evB, errB)
	}
}
