package attest_test

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"testing"

	"revoada.dev/revoada/core/attest"
	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/internal/testalloc"
)

// TestDecodeChainDoesNotTrustItsCount: a chain encoding claiming many
// blocks, each of an empty length, allocates nothing for them: no block
// encodes in fewer than a few dozen bytes, and each decoded Block is
// hundreds, so a count checked against 4 bytes a block let 256 KiB of
// input allocate 16 MiB (a 1 GiB chain file, or a server's answer, 60 GiB).
func TestDecodeChainDoesNotTrustItsCount(t *testing.T) {
	const n = 1 << 16
	in := binary.BigEndian.AppendUint32([]byte{1}, n)
	in = append(in, make([]byte, 4*n)...)
	var err error
	testalloc.Check(t, 1<<20, func() { _, err = attest.DecodeChain(in) })
	if !errors.Is(err, attest.ErrCorrupt) {
		t.Fatalf("%d empty blocks: %v, want ErrCorrupt", n, err)
	}
}

// voterKeys are n deterministic keys, distinct from the mesh's.
func voterKeys(n int) []ed25519.PrivateKey {
	keys := make([]ed25519.PrivateKey, n)
	for i := range keys {
		var seed [ed25519.SeedSize]byte
		binary.BigEndian.PutUint32(seed[:], uint32(i)+1000)
		keys[i] = ed25519.NewKeyFromSeed(seed[:])
	}
	return keys
}

// TestEveryChainEncodes: what a Chain holds, Verify accepts, and its
// encoding decodes back to it, witnesses and shifts at their limits.
// A block of a shape of more voters than WitnessesMax (1,024) took all
// their witnesses, and a shift of more than roles.ShiftCommandsMax commands
// was appended: the chain then encoded to bytes DecodeChain refuses, so a
// replica's snapshot did not restore.
func TestEveryChainEncodes(t *testing.T) {
	t.Run("witnesses", func(t *testing.T) {
		// The largest shape, every member a voter, one of them with a key;
		// the others' witnesses are made up, which Rebuild does not check.
		real := key(7)
		members := []roles.Member{{Node: nodeID(real), Roles: roles.ControlPlane}}
		for i := range roles.ShapeMembersMax - 1 {
			var id roles.NodeID
			binary.BigEndian.PutUint32(id[:], uint32(i))
			members = append(members, roles.Member{Node: id, Roles: roles.ControlPlane})
		}
		shape, err := roles.NewShape(members)
		if err != nil {
			t.Fatal(err)
		}
		genesis := attest.Block{Index: 1, Term: 1, Genesis: shape}
		for _, m := range shape.Members() {
			if m.Node != nodeID(real) {
				genesis.Witnesses = append(genesis.Witnesses, attest.Witness{Signer: m.Node})
			}
		}
		c, err := attest.Rebuild([]attest.Block{genesis}, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, h, _ := c.Block(0)
		if added, err := c.AddWitness(0, attest.NewWitness(real, h)); added || err == nil {
			t.Errorf("witness %d of a block: added %v, %v; want refused", len(genesis.Witnesses)+1, added, err)
		}
		blocks, err := attest.DecodeChain(attest.AppendChain(nil, c.Blocks()))
		if err != nil {
			t.Fatalf("a block of %d witnesses does not decode: %v", len(genesis.Witnesses), err)
		}
		if again, err := attest.Rebuild(blocks, nil); err != nil || again.Head() != c.Head() || len(blocks[0].Witnesses) != len(genesis.Witnesses) {
			t.Fatalf("decoded: %v", err)
		}
	})
	t.Run("commands", func(t *testing.T) {
		m := newMesh()
		c := attest.NewChain(m.genesis(t), 1, 1, nil)
		var sh roles.Shift
		for _, k := range voterKeys(roles.ShiftCommandsMax + 1) {
			sh = append(sh, roles.Command{Kind: roles.Join, Node: nodeID(k), Reason: roles.Operator})
		}
		if _, err := c.Append(5, 2, proposal(m.voters[0], 2, 1, sh)); !errors.Is(err, attest.ErrBadShift) {
			t.Errorf("a shift of %d commands: %v, want ErrBadShift", len(sh), err)
		}
		c = attest.NewChain(m.genesis(t), 1, 1, nil)
		if _, err := c.Append(5, 2, proposal(m.voters[0], 2, 1, sh[:roles.ShiftCommandsMax])); err != nil {
			t.Fatal(err)
		}
		roundTrip(t, c)
	})
}

// roundTrip checks that c verifies and that its encoding decodes to it.
func roundTrip(t *testing.T, c *attest.Chain) {
	t.Helper()
	r, err := attest.Verify(c.Blocks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := attest.DecodeChain(attest.AppendChain(nil, c.Blocks()))
	if err != nil {
		t.Fatalf("a chain of %d blocks does not decode: %v", r.Blocks, err)
	}
	if r2, err := attest.Verify(blocks, nil); err != nil || r2.Head != r.Head || r2.Attested != r.Attested {
		t.Fatalf("decoded: %+v %v, want %+v", r2, err, r)
	}
}
