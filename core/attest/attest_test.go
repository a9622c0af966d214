package attest_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"

	"revoada.dev/revoada/core/attest"
	"revoada.dev/revoada/core/roles"
)

// key is a deterministic test key.
func key(b byte) ed25519.PrivateKey {
	var seed [ed25519.SeedSize]byte
	seed[0] = b
	return ed25519.NewKeyFromSeed(seed[:])
}

func nodeID(k ed25519.PrivateKey) roles.NodeID {
	var id roles.NodeID
	copy(id[:], k.Public().(ed25519.PublicKey))
	return id
}

// mesh is three voters and a worker.
type mesh struct {
	voters [3]ed25519.PrivateKey
	worker ed25519.PrivateKey
}

func newMesh() mesh {
	return mesh{voters: [3]ed25519.PrivateKey{key(1), key(2), key(3)}, worker: key(4)}
}

func (m mesh) genesis(t testing.TB) roles.Shape {
	t.Helper()
	var members []roles.Member
	for _, k := range m.voters {
		members = append(members, roles.Member{Node: nodeID(k), Roles: roles.ControlPlane})
	}
	members = append(members, roles.Member{Node: nodeID(m.worker), Roles: roles.Worker})
	s, err := roles.NewShape(members)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func proposal(leader ed25519.PrivateKey, term uint64, time int64, sh roles.Shift) attest.Proposal {
	p := attest.Proposal{Leader: nodeID(leader), Term: term, Time: time, Shift: sh}
	p.Sign(leader)
	return p
}

// history is a chain of three blocks: genesis, the worker promoted, then
// voter 3 demoted; every block witnessed by every voter at its index.
func (m mesh) history(t testing.TB) *attest.Chain {
	t.Helper()
	c := attest.NewChain(m.genesis(t), 1, 1, nil)
	witnessAll := func(seq uint64) {
		_, h, _ := c.Block(seq)
		for _, k := range append(m.voters[:], m.worker) {
			if !contains(c.Voters(seq), nodeID(k)) {
				continue
			}
			if added, err := c.AddWitness(seq, attest.NewWitness(k, h)); err != nil || !added {
				t.Fatalf("witness %d of block %d: %v %v", k[0], seq, added, err)
			}
		}
	}
	witnessAll(0)
	promote := roles.Shift{{Kind: roles.Promote, Node: nodeID(m.worker), Reason: roles.ScalingUp}}
	if _, err := c.Append(7, 2, proposal(m.voters[0], 2, 1000, promote)); err != nil {
		t.Fatal(err)
	}
	witnessAll(1)
	demote := roles.Shift{{Kind: roles.Demote, Node: nodeID(m.voters[2]), Reason: roles.ScalingDown}}
	if _, err := c.Append(12, 3, proposal(m.voters[1], 3, 2000, demote)); err != nil {
		t.Fatal(err)
	}
	witnessAll(2)
	return c
}

func contains(ids []roles.NodeID, id roles.NodeID) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

func TestChainVerifies(t *testing.T) {
	m := newMesh()
	c := m.history(t)
	r, err := attest.Verify(c.Blocks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Blocks != 3 || r.Attested != 3 || len(r.Pending) != 0 || r.Head != c.Head() {
		t.Fatalf("report %+v, head %s", r, c.Head())
	}
	// The promoted worker witnesses its promotion; the demoted voter its
	// demotion not.
	if !contains(c.Voters(1), nodeID(m.worker)) || contains(c.Voters(2), nodeID(m.voters[2])) {
		t.Fatalf("voters of block 1 %v, of block 2 %v", c.Voters(1), c.Voters(2))
	}
	// The encoding round-trips, byte for byte.
	enc := attest.AppendChain(nil, c.Blocks())
	blocks, err := attest.DecodeChain(enc)
	if err != nil {
		t.Fatal(err)
	}
	if again := attest.AppendChain(nil, blocks); !bytes.Equal(again, enc) {
		t.Fatal("a decoded chain encodes to other bytes")
	}
	if r2, err := attest.Verify(blocks, nil); err != nil || r2.Head != r.Head {
		t.Fatalf("the decoded chain: %+v %v", r2, err)
	}
}

// TestVerifyNamesTheFirstBadBlock: each kind of tampering is named, with
// the block it is in, also by a Verified that holds every signature of the
// chain before it.
func TestVerifyNamesTheFirstBadBlock(t *testing.T) {
	m := newMesh()
	other := key(9)
	for _, c := range []struct {
		name   string
		tamper func(b []attest.Block) []attest.Block
		seq    uint64
		reason error
	}{
		{"a shift altered", func(b []attest.Block) []attest.Block {
			b[1].Proposal.Shift[0].Reason = roles.Operator
			return b
		}, 1, attest.ErrBadLeaderSignature},
		{"a block's term altered", func(b []attest.Block) []attest.Block { b[1].Term = 9; return b }, 1, attest.ErrTerm},
		{"a block re-signed by another leader, the link kept", func(b []attest.Block) []attest.Block {
			b[2].Proposal = proposal(other, 3, 2000, b[2].Proposal.Shift)
			return b
		}, 2, attest.ErrNotVoter},
		{"a prev altered", func(b []attest.Block) []attest.Block { b[2].Prev[0] ^= 1; return b }, 2, attest.ErrBrokenLink},
		{"the genesis shape altered", func(b []attest.Block) []attest.Block {
			b[0].Genesis.Apply(roles.Shift{{Kind: roles.Demote, Node: nodeID(m.voters[0]), Reason: roles.Operator}})
			return b
		}, 0, attest.ErrBadWitness},
		{"a block left out", func(b []attest.Block) []attest.Block { return append(b[:1], b[2]) }, 2, attest.ErrGap},
		{"a witness signature altered", func(b []attest.Block) []attest.Block {
			b[1].Witnesses[0].Sig[5] ^= 1
			return b
		}, 1, attest.ErrBadWitness},
		{"a witness that was no voter", func(b []attest.Block) []attest.Block {
			_, h := b[0], attest.BlockHash(b[0])
			b[0].Witnesses = append(b[0].Witnesses, attest.NewWitness(m.worker, h))
			sortWitnesses(b[0].Witnesses)
			return b
		}, 0, attest.ErrNotVoter},
		{"no genesis", func(b []attest.Block) []attest.Block { return b[1:] }, 0, attest.ErrNoGenesis},
	} {
		t.Run(c.name, func(t *testing.T) {
			blocks := c.tamper(m.history(t).Blocks())
			_, err := attest.Verify(blocks, nil)
			var be *attest.BlockError
			if !errors.As(err, &be) || !errors.Is(err, c.reason) || be.Seq != c.seq {
				t.Fatalf("Verify: %v, want %v at block %d", err, c.reason, c.seq)
			}
			// The same, with every signature of the chain before the
			// tampering remembered as verified (signing is deterministic:
			// history makes the same signatures each time).
			v := &attest.Verified{}
			if _, err := v.Verify(m.history(t).Blocks(), nil); err != nil {
				t.Fatal(err)
			}
			_, err = v.Verify(c.tamper(m.history(t).Blocks()), nil)
			if !errors.As(err, &be) || !errors.Is(err, c.reason) || be.Seq != c.seq {
				t.Fatalf("Verified.Verify: %v, want %v at block %d", err, c.reason, c.seq)
			}
		})
	}
}

func sortWitnesses(ws []attest.Witness) {
	for i := 1; i < len(ws); i++ {
		for j := i; j > 0 && ws[j].Signer.Compare(ws[j-1].Signer) < 0; j-- {
			ws[j], ws[j-1] = ws[j-1], ws[j]
		}
	}
}

// TestAppendRefuses: a chain takes no block Verify would refuse.
func TestAppendRefuses(t *testing.T) {
	m := newMesh()
	c := attest.NewChain(m.genesis(t), 1, 1, nil)
	promote := roles.Shift{{Kind: roles.Promote, Node: nodeID(m.worker), Reason: roles.ScalingUp}}
	for _, tc := range []struct {
		name        string
		index, term uint64
		p           attest.Proposal
		reason      error
	}{
		{"a worker proposing", 5, 2, proposal(m.worker, 2, 1, promote), attest.ErrNotVoter},
		{"a proposal of another term", 5, 2, proposal(m.voters[0], 1, 1, promote), attest.ErrTerm},
		{"an index not after the last", 1, 2, proposal(m.voters[0], 2, 1, promote), attest.ErrGap},
		{"a node the shape does not hold", 5, 2, proposal(m.voters[0], 2, 1,
			roles.Shift{{Kind: roles.Promote, Node: nodeID(key(42)), Reason: roles.ScalingUp}}), attest.ErrBadShift},
		{"a change that changes nothing", 5, 2, proposal(m.voters[0], 2, 1,
			roles.Shift{{Kind: roles.Promote, Node: nodeID(m.voters[1]), Reason: roles.ScalingUp}}), attest.ErrBadShift},
		{"a forged signature", 5, 2, func() attest.Proposal {
			p := proposal(m.voters[0], 2, 1, promote)
			p.Time++
			return p
		}(), attest.ErrBadLeaderSignature},
	} {
		if _, err := c.Append(tc.index, tc.term, tc.p); !errors.Is(err, tc.reason) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.reason)
		}
	}
	if c.Len() != 1 {
		t.Fatalf("refused blocks were appended: %d blocks", c.Len())
	}
	if _, err := c.Append(5, 2, proposal(m.voters[0], 2, 1, promote)); err != nil {
		t.Fatal(err)
	}
}

// TestPending: a block below the threshold is reported, not refused; a
// witness twice counts once.
func TestPending(t *testing.T) {
	m := newMesh()
	c := attest.NewChain(m.genesis(t), 1, 1, nil)
	_, h, _ := c.Block(0)
	for range 2 {
		added, err := c.AddWitness(0, attest.NewWitness(m.voters[0], h))
		if err != nil {
			t.Fatal(err)
		}
		_ = added
	}
	if c.Attested(0) {
		t.Fatal("one witness of three voters attests")
	}
	r, err := attest.Verify(c.Blocks(), nil)
	if err != nil || len(r.Pending) != 1 || r.Attested != 0 {
		t.Fatalf("report %+v %v", r, err)
	}
	if _, err := c.AddWitness(0, attest.NewWitness(m.voters[1], h)); err != nil || !c.Attested(0) {
		t.Fatalf("two of three: attested %v, %v", c.Attested(0), err)
	}
	// A threshold of all voters.
	all := func(n int) int { return n }
	if r, err := attest.Verify(c.Blocks(), all); err != nil || len(r.Pending) != 1 {
		t.Fatalf("all-voters threshold: %+v %v", r, err)
	}
}

func TestDecodeRefuses(t *testing.T) {
	m := newMesh()
	enc := attest.AppendChain(nil, m.history(t).Blocks())
	for _, c := range []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, attest.ErrCorrupt},
		{"an unknown chain version", append([]byte{9}, enc[1:]...), attest.ErrUnknownVersion},
		{"an unknown block version", func() []byte {
			b := bytes.Clone(enc)
			b[1+4+4] = 7
			return b
		}(), attest.ErrUnknownVersion},
		{"truncated", enc[:len(enc)-1], attest.ErrCorrupt},
		{"a byte after the end", append(bytes.Clone(enc), 0), attest.ErrCorrupt},
		{"a huge count", []byte{1, 0xff, 0xff, 0xff, 0xff}, attest.ErrCorrupt},
	} {
		if _, err := attest.DecodeChain(c.in); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

// FuzzDecodeChain: no input panics, and what decodes re-encodes to itself.
func FuzzDecodeChain(f *testing.F) {
	f.Add(attest.AppendChain(nil, newMesh().history(f).Blocks()))
	f.Add([]byte{1, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		blocks, err := attest.DecodeChain(in)
		if err != nil {
			return
		}
		if out := attest.AppendChain(nil, blocks); !bytes.Equal(out, in) {
			t.Fatalf("decoded and encoded: %x, want %x", out, in)
		}
		attest.Verify(blocks, nil) // must not panic
	})
}

// TestAppendToMatchesAppendChain: the chain's cached encoding is the
// bytes AppendChain makes of its blocks after every mutation (an append, a
// witness for the last block or an older one, a refused
// witness), whether or not it was read in between, and after a Rebuild.
func TestAppendToMatchesAppendChain(t *testing.T) {
	m := newMesh()
	c := attest.NewChain(m.genesis(t), 1, 1, nil)
	check := func(step string) {
		t.Helper()
		want := attest.AppendChain([]byte("prefix"), c.Blocks())
		got := c.AppendTo([]byte("prefix"))
		if !bytes.Equal(got, want) {
			t.Fatalf("after %s: AppendTo is %d bytes, AppendChain %d, and they differ", step, len(got), len(want))
		}
		clear(got) // the bytes returned are the caller's
		if again := c.AppendTo([]byte("prefix")); !bytes.Equal(again, want) {
			t.Fatalf("after %s: a second AppendTo differs", step)
		}
	}
	witness := func(seq uint64, k ed25519.PrivateKey, read bool) {
		t.Helper()
		if added, err := c.AddWitness(seq, attest.NewWitness(k, c.Hash(seq))); err != nil || !added {
			t.Fatalf("witness %d of block %d: %v %v", k[0], seq, added, err)
		}
		if read {
			check("a witness of block " + string(rune('0'+seq)))
		}
	}
	check("genesis")
	promote := roles.Shift{{Kind: roles.Promote, Node: nodeID(m.worker), Reason: roles.ScalingUp}}
	if _, err := c.Append(7, 2, proposal(m.voters[0], 2, 1000, promote)); err != nil {
		t.Fatal(err)
	}
	check("an append")
	witness(1, m.voters[1], true)
	witness(0, m.voters[2], true) // an older block than the last cached
	witness(1, m.worker, false)   // unread, then an append
	demote := roles.Shift{{Kind: roles.Demote, Node: nodeID(m.voters[2]), Reason: roles.ScalingDown}}
	if _, err := c.Append(12, 3, proposal(m.voters[1], 3, 2000, demote)); err != nil {
		t.Fatal(err)
	}
	check("a second append")
	witness(2, m.voters[0], true)
	witness(0, m.voters[0], true)
	witness(1, m.voters[0], true) // sorts before voter 1's: inserted mid-list
	if added, _ := c.AddWitness(1, attest.NewWitness(m.voters[0], c.Hash(1))); added {
		t.Fatal("a witness added twice")
	}
	if _, err := c.AddWitness(2, attest.NewWitness(m.voters[2], c.Hash(2))); err == nil {
		t.Fatal("a demoted voter witnessed its demotion")
	}
	check("refused witnesses")
	repromote := roles.Shift{{Kind: roles.Promote, Node: nodeID(m.voters[2]), Reason: roles.Operator}}
	if _, err := c.Append(20, 3, proposal(m.voters[0], 3, 3000, repromote)); err != nil {
		t.Fatal(err)
	}
	check("a third append")
	witness(3, m.voters[2], true)
	witness(2, m.worker, true)
	witness(3, m.voters[1], true)
	r, err := attest.Rebuild(c.Blocks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.AppendTo(nil), attest.AppendChain(nil, c.Blocks())) {
		t.Fatal("a rebuilt chain's AppendTo differs")
	}
	c = r
	witness(1, m.voters[2], true)
}
