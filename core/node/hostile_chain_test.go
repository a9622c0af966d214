package node

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"

	"revoada.dev/revoada/core/attest"
	"revoada.dev/revoada/core/roles"
)

// keyed is a mesh of three voters and a worker, each with a key (its
// NodeID the public key), for entries signed and witnessed as Node makes
// them.
type keyed struct {
	keys  [4]ed25519.PrivateKey // three voters, then the worker
	shape roles.Shape
}

func newKeyed(t testing.TB) keyed {
	var k keyed
	var members []roles.Member
	for i := range k.keys {
		var seed [ed25519.SeedSize]byte
		seed[0] = byte(i + 1)
		k.keys[i] = ed25519.NewKeyFromSeed(seed[:])
		held := roles.ControlPlane
		if i == 3 {
			held = roles.Worker
		}
		members = append(members, roles.Member{Node: k.id(i), Roles: held})
	}
	var err error
	if k.shape, err = roles.NewShape(members); err != nil {
		t.Fatal(err)
	}
	return k
}

func (k keyed) id(i int) roles.NodeID {
	var id roles.NodeID
	copy(id[:], k.keys[i].Public().(ed25519.PublicKey))
	return id
}

// signed is the conf change entry at index (term 1) of a shift proposed
// by leader, signed for term.
func (k keyed) signed(t *testing.T, index uint64, leader int, term uint64, cmd roles.Command, cc pb.ConfChangeType) *pb.Entry {
	r := req(9, index, cmd)
	r.proposal = &attest.Proposal{Leader: k.id(leader), Term: term, Time: int64(index), Shift: r.Shift}
	r.proposal.Sign(k.keys[leader])
	return confEntry(t, index, payloadSigned, r, change(cc, cmd.Node))
}

// witness is the entry at index of a witness request for block seq.
func witness(index, seq uint64, w attest.Witness) *pb.Entry {
	r := &Request{ID: RequestID{Origin: nid(9), Incarnation: 1, Seq: index}, Witness: &Witness{Seq: seq, Witness: w}}
	return &pb.Entry{Index: new(index), Term: new(uint64(1)), Type: pb.EntryNormal.Enum(), Data: encodePayload(payloadWitness, r)}
}

// history is a machine's chain of three blocks: genesis, the worker
// promoted (by voter 0), voter 2 demoted (by voter 1); nobody witnessed.
func (k keyed) history(t *testing.T) (*Machine, []*pb.Entry) {
	m := NewMachine(k.shape)
	entries := []*pb.Entry{
		k.signed(t, 2, 0, 1, roles.Command{Kind: roles.Promote, Node: k.id(3), Reason: roles.ScalingUp}, pb.ConfChangeAddNode),
		k.signed(t, 3, 1, 1, roles.Command{Kind: roles.Demote, Node: k.id(2), Reason: roles.ScalingDown}, pb.ConfChangeRemoveNode),
	}
	for _, e := range entries {
		if eff := m.Apply(e); eff.result == nil || eff.result.Err != nil || !eff.result.Changed {
			t.Fatalf("entry %d: %+v", e.GetIndex(), eff.result)
		}
	}
	if m.Chain().Len() != 3 || m.Unsigned() != 0 {
		t.Fatalf("%d blocks, %d unsigned", m.Chain().Len(), m.Unsigned())
	}
	return m, entries
}

// TestForgedWitnessesAreRefused: a witness entry the chain must not take
// is answered ErrInvalidRequest, the chain unchanged, the same on every
// replica; a genuine one, relayed by any origin, is taken once.
func TestForgedWitnessesAreRefused(t *testing.T) {
	k := newKeyed(t)
	m, log := k.history(t)
	hash := func(seq uint64) attest.Hash { _, h, _ := m.Chain().Block(seq); return h }
	forged := attest.NewWitness(k.keys[0], hash(1))
	forged.Signer = k.id(1) // voter 1 named, voter 0's signature
	stranger := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	for _, c := range []struct {
		name   string
		seq    uint64
		w      attest.Witness
		reason error
	}{
		{"another voter's name on a signature", 1, forged, attest.ErrBadWitness},
		{"a block the chain does not hold", 99, attest.NewWitness(k.keys[0], hash(1)), attest.ErrGap},
		{"a witness of block 0 replayed for block 1", 1, attest.NewWitness(k.keys[0], hash(0)), attest.ErrBadWitness},
		{"a node outside the shape", 1, attest.NewWitness(stranger, hash(1)), attest.ErrNotVoter},
		{"the worker, of a block before its promotion", 0, attest.NewWitness(k.keys[3], hash(0)), attest.ErrNotVoter},
		{"the voter demoted, of its demotion", 2, attest.NewWitness(k.keys[2], hash(2)), attest.ErrNotVoter},
	} {
		t.Run(c.name, func(t *testing.T) {
			index := uint64(10 + len(log))
			e := witness(index, c.seq, c.w)
			log = append(log, e)
			before := m.Encode()
			eff := m.Apply(e)
			if eff.result == nil || !errors.Is(eff.result.Err, ErrInvalidRequest) || !errors.Is(eff.result.Err, c.reason) {
				t.Fatalf("%+v, want ErrInvalidRequest and %v", eff.result, c.reason)
			}
			if !bytes.Equal(m.Encode(), before) {
				t.Fatal("a refused witness changed the machine")
			}
		})
	}
	// The promoted worker witnesses its promotion; relayed twice (by
	// another origin, at another index), it counts once.
	good := attest.NewWitness(k.keys[3], hash(1))
	for i := range 2 {
		e := witness(uint64(100+i), 1, good)
		log = append(log, e)
		if eff := m.Apply(e); eff.result.Err != nil || eff.result.Changed != (i == 0) {
			t.Fatalf("genuine witness, %d: %+v", i, eff.result)
		}
	}
	// Every replica applying the log holds the same bytes.
	replica := NewMachine(k.shape)
	for _, e := range log {
		replica.Apply(e)
	}
	if !bytes.Equal(replica.Encode(), m.Encode()) {
		t.Fatal("two replicas of one log disagree")
	}
}

// TestForgedProposalsAreCounted: a signed shift whose proposal the chain
// refuses (a forged signature, another term's, a leader that is no voter)
// is applied to the shape — the log decided it — and counted unsigned;
// the role history starts over from the shape it left, never a panic.
func TestForgedProposalsAreCounted(t *testing.T) {
	k := newKeyed(t)
	promote := roles.Command{Kind: roles.Promote, Node: k.id(3), Reason: roles.ScalingUp}
	for _, c := range []struct {
		name  string
		entry func(t *testing.T) *pb.Entry
	}{
		{"signed for another term", func(t *testing.T) *pb.Entry { return k.signed(t, 2, 0, 7, promote, pb.ConfChangeAddNode) }},
		{"a worker as leader", func(t *testing.T) *pb.Entry { return k.signed(t, 2, 3, 1, promote, pb.ConfChangeAddNode) }},
		{"a forged signature", func(t *testing.T) *pb.Entry {
			r := req(9, 2, promote)
			r.proposal = &attest.Proposal{Leader: k.id(0), Term: 1, Shift: r.Shift}
			r.proposal.Sign(k.keys[1])
			return confEntry(t, 2, payloadSigned, r, change(pb.ConfChangeAddNode, k.id(3)))
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := NewMachine(k.shape)
			eff := m.Apply(c.entry(t))
			if eff.result == nil || eff.result.Err != nil || !eff.result.Changed {
				t.Fatalf("%+v", eff.result)
			}
			if m.Chain().Len() != 1 || m.Unsigned() != 1 || !m.Chain().Shape().Equal(m.Shape()) {
				t.Fatalf("%d blocks, %d unsigned; want a genesis block of the shape and 1", m.Chain().Len(), m.Unsigned())
			}
		})
	}
}

// TestDecodeMachineChecksItsChain: a snapshot's chain section is checked
// like the rest: corrupt, it is refused; a chain that does not end in the
// snapshot's shape is refused too — taken, the replica's chain would
// refuse or misplace every next block.
func TestDecodeMachineChecksItsChain(t *testing.T) {
	k := newKeyed(t)
	m, _ := k.history(t)
	snap := m.Encode()
	blocks := m.Chain().Blocks()
	chainAt := len(snap) - len(attest.AppendChain(nil, blocks))
	if binary.BigEndian.Uint64(snap[chainAt-8:]) != 0 {
		t.Fatal("unsigned is not where the test expects it")
	}
	withChain := func(blocks []attest.Block) []byte {
		return attest.AppendChain(bytes.Clone(snap[:chainAt]), blocks)
	}
	for _, c := range []struct {
		name string
		snap []byte
	}{
		{"a block's prev altered", func() []byte {
			b := m.Chain().Blocks()
			b[2].Prev[0] ^= 1
			return withChain(b)
		}()},
		{"the chain cut", snap[:len(snap)-1]},
		{"the last block left out", withChain(blocks[:2])},
		{"only the genesis block", withChain(blocks[:1])},
	} {
		if _, err := DecodeMachine(c.snap); !errors.Is(err, ErrCorruptSnapshot) {
			t.Errorf("%s: %v, want ErrCorruptSnapshot", c.name, err)
		}
	}
	// A shape change counted unsigned starts the chain over, it does not
	// leave it lagging: a chain that lags is refused whatever the count says.
	lagging := withChain(blocks[:2])
	binary.BigEndian.PutUint64(lagging[chainAt-8:], 1)
	if _, err := DecodeMachine(lagging); !errors.Is(err, ErrCorruptSnapshot) {
		t.Errorf("a chain lagging, an unsigned change counted: %v, want ErrCorruptSnapshot", err)
	}
}

// TestUnsignedChangeStartsOver: a log written before leaders signed their
// shifts (a fenced shift, unsigned) starts the role history over from the
// shape it left, the same chain a replica restoring a snapshot written
// before the role history (version 5) holds; signed changes after it are
// blocks of it, alike on both.
func TestUnsignedChangeStartsOver(t *testing.T) {
	k := newKeyed(t)
	replayed := NewMachine(k.shape)
	legacy := roles.Command{Kind: roles.Promote, Node: k.id(3), Reason: roles.ScalingUp}
	replayed.Apply(confEntry(t, 2, payloadFenced, req(9, 2, legacy), change(pb.ConfChangeAddNode, k.id(3))))
	// The same state as an old snapshot: the version-5 bytes decode with a
	// genesis block of the snapshot's shape.
	v6 := replayed.Encode()
	v5 := slices.Clone(v6[:len(v6)-8-len(attest.AppendChain(nil, replayed.Chain().Blocks()))])
	v5[0] = snapshotVersionV5
	restored, err := DecodeMachine(v5)
	if err != nil {
		t.Fatal(err)
	}
	demote := k.signed(t, 3, 0, 1, roles.Command{Kind: roles.Demote, Node: k.id(2), Reason: roles.ScalingDown}, pb.ConfChangeRemoveNode)
	for _, m := range []*Machine{replayed, restored} {
		if eff := m.Apply(demote); eff.result == nil || eff.result.Err != nil {
			t.Fatalf("the signed demotion: %+v", eff.result)
		}
	}
	if replayed.Chain().Head() != restored.Chain().Head() {
		t.Fatalf("a replica that replayed the log and one that restored an old snapshot hold other role histories: %s, %s",
			replayed.Chain().Head().Short(), restored.Chain().Head().Short())
	}
	r, err := attest.Verify(replayed.Chain().Blocks(), nil)
	if err != nil || r.Blocks != 2 || !replayed.Chain().Shape().Equal(replayed.Shape()) {
		t.Fatalf("report %+v, %v", r, err)
	}
}

// TestStrangerNoticeTakenOnItsChain (issue 12's B4): a node that knows
// none of the nodes telling it of a newer shape takes their notice only
// when the notice's role history leads back to its own shape, every block
// signed by a leader that was a voter and co-signed by a majority of the
// voters at its index; a notice whose chain falls short of that changes
// nothing.
func TestStrangerNoticeTakenOnItsChain(t *testing.T) {
	k := newKeyed(t)
	m, _ := k.history(t)
	index := uint64(4)
	for seq, signers := range map[uint64][]int{1: {0, 1, 3}, 2: {0, 3}} {
		_, h, _ := m.Chain().Block(seq)
		for _, s := range signers {
			index++
			if eff := m.Apply(witness(index, seq, attest.NewWitness(k.keys[s], h))); eff.result == nil || eff.result.Err != nil {
				t.Fatalf("witness %d of block %d: %+v", s, seq, eff.result)
			}
		}
	}
	attested := m.Chain().Blocks()
	stranger := roles.NodeID{0xee}
	notice := func(blocks []attest.Block, shape roles.Shape) Message {
		return Message{Kind: MsgShape, From: stranger, To: k.id(2), Shape: &ShapeNotice{Index: index, Shape: shape, Chain: blocks}}
	}
	unwitnessed := slices.Clone(attested)
	unwitnessed[2].Witnesses = unwitnessed[2].Witnesses[:1]
	forged := slices.Clone(attested)
	forged[2].Proposal.Time++
	older := k.shape.Clone()
	for _, c := range []struct {
		name  string
		msg   Message
		taken bool
	}{
		{"its chain attested and ending in its shape", notice(attested[1:], m.Shape()), true},
		{"the whole chain, genesis too", notice(attested, m.Shape()), true},
		{"a block short of its witnesses", notice(unwitnessed[1:], m.Shape()), false},
		{"a block altered", notice(forged[1:], m.Shape()), false},
		{"a chain that does not reach back to the node's", notice(attested[2:], m.Shape()), false},
		{"a shape the chain does not end in", notice(attested[1:], older), false},
		{"no chain", notice(nil, m.Shape()), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			n, err := New(DefaultConfig(k.id(2), k.shape, rand.New(rand.NewPCG(1, 2))), Durable{})
			if err != nil {
				t.Fatal(err)
			}
			n.StepStranger(c.msg)
			if got := n.View().Equal(m.Shape()); got != c.taken {
				t.Fatalf("taken %v, want %v", got, c.taken)
			}
		})
	}
}

// TestStrangerNoticeIndexIsTheChains: a stranger's notice is taken at the
// raft index of its last attested block, not at the index it claims; an
// inflated claim cannot make the node refuse a real member's newer notice.
func TestStrangerNoticeIndexIsTheChains(t *testing.T) {
	k := newKeyed(t)
	m, _ := k.history(t)
	index := uint64(4)
	for seq, signers := range map[uint64][]int{1: {0, 1, 3}, 2: {0, 3}} {
		for _, s := range signers {
			index++
			m.Apply(witness(index, seq, attest.NewWitness(k.keys[s], m.Chain().Hash(seq))))
		}
	}
	n, err := New(DefaultConfig(k.id(2), k.shape, rand.New(rand.NewPCG(1, 2))), Durable{})
	if err != nil {
		t.Fatal(err)
	}
	n.StepStranger(Message{Kind: MsgShape, From: roles.NodeID{0xee}, Shape: &ShapeNotice{Index: ^uint64(0), Shape: m.Shape(), Chain: m.Chain().Blocks()[1:]}})
	last, _, _ := m.Chain().Block(2)
	if n.seen.index != last.Index || !n.View().Equal(m.Shape()) {
		t.Fatalf("taken at index %d, want the last block's %d", n.seen.index, last.Index)
	}
	newer := m.Shape()
	newer.Apply(roles.Shift{{Kind: roles.Demote, Node: k.id(3), Reason: roles.Operator}})
	n.stepShape(k.id(0), &ShapeNotice{Index: last.Index + 5, Shape: newer})
	if !n.View().Equal(newer) {
		t.Fatal("a member's newer notice refused after a stranger's")
	}
}
