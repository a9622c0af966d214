package membership

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/internal/testalloc"
)

func drawKey(t *rapid.T) keyed {
	seed := rapid.SliceOfN(rapid.Byte(), ed25519.SeedSize, ed25519.SeedSize).Draw(t, "seed")
	key := ed25519.NewKeyFromSeed(seed)
	var id roles.NodeID
	copy(id[:], key.Public().(ed25519.PublicKey))
	return keyed{key, id}
}

func drawState(t *rapid.T, node roles.NodeID) State {
	str := func(name string) string {
		return string(rapid.SliceOfN(rapid.Byte(), 0, StringBytesMax).Draw(t, name))
	}
	u := func(name string) uint64 { return rapid.Uint64().Draw(t, name) }
	arr := func(name string) (a [32]byte) {
		copy(a[:], rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, name))
		return a
	}
	return State{
		Node: node, Incarnation: u("inc"), Version: u("ver"),
		GossipAddr: str("gossip"), RaftAddr: str("raft"), Roles: roles.Roles(rapid.Byte().Draw(t, "roles")),
		Capacity:        Capacity{u("cpu"), u("mem"), u("disk"), u("pods")},
		SoftwareVersion: str("sw"),
		StateRoot:       StateRoot{Index: u("index"), ShapeHash: arr("shape"), ManifestHash: arr("manifest"), ChainHead: arr("head")},
	}
}

// TestEncodingRoundTrip: decode(encode(s)) = s, the following bytes are
// returned untouched, every strict prefix is rejected, and the signature
// verifies.
func TestEncodingRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		k := drawKey(t)
		s, err := Sign(k.key, drawState(t, k.id))
		if err != nil {
			t.Fatal(err)
		}
		tail := rapid.SliceOfN(rapid.Byte(), 0, 8).Draw(t, "tail")
		b := AppendSignedState(nil, s)
		if len(b) > SignedStateBytesMax {
			t.Fatalf("%d bytes > SignedStateBytesMax %d", len(b), SignedStateBytesMax)
		}
		got, rest, err := DecodeSignedState(append(bytes.Clone(b), tail...))
		if err != nil || !got.equal(s) || !bytes.Equal(rest, tail) || !got.Verify() {
			t.Fatalf("round trip: %v, equal=%v rest=%x", err, got.equal(s), rest)
		}
		cut := rapid.IntRange(0, len(b)-1).Draw(t, "cut")
		if _, _, err := DecodeSignedState(b[:cut]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("prefix of %d/%d bytes decoded: %v", cut, len(b), err)
		}
	})
}

// TestEncodingCanonical: any bytes that decode re-encode to exactly the
// bytes consumed, so one value has one encoding.
func TestEncodingCanonical(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var b []byte
		if rapid.Bool().Draw(t, "from valid") {
			k := drawKey(t)
			s, _ := Sign(k.key, drawState(t, k.id))
			b = AppendSignedState(nil, s)
			for range rapid.IntRange(0, 8).Draw(t, "edits") {
				i := rapid.IntRange(0, len(b)-1).Draw(t, "at")
				b[i] = rapid.Byte().Draw(t, "byte")
			}
		} else {
			b = rapid.SliceOfN(rapid.Byte(), 0, 1200).Draw(t, "bytes")
		}
		s, rest, err := DecodeSignedState(b)
		if err != nil {
			return
		}
		if again := AppendSignedState(nil, s); !bytes.Equal(again, b[:len(b)-len(rest)]) {
			t.Fatalf("decoded bytes re-encode differently")
		}
	})
}

// TestBitFlipsNeverAccepted: flipping bits in an encoded SignedState gives
// either bytes that do not decode, or a state whose signature does not
// verify (counted Forged, never in the view), or, if it verifies, the
// original state itself.
func TestBitFlipsNeverAccepted(t *testing.T) {
	self := newKey(99)
	rapid.Check(t, func(t *rapid.T) {
		k := drawKey(t)
		st := drawState(t, k.id)
		orig, _ := Sign(k.key, st)
		b := AppendSignedState(nil, orig)
		for range rapid.IntRange(1, 4).Draw(t, "flips") {
			bit := rapid.IntRange(0, 8*len(b)-1).Draw(t, "bit")
			b[bit/8] ^= 1 << (bit % 8)
		}
		got, _, err := DecodeSignedState(b)
		if err != nil {
			return
		}
		verifies := got.Verify()
		if verifies && !got.equal(orig) {
			t.Fatalf("an altered state verifies: %+v", got.State)
		}
		m := newMember(t, self, nil)
		m.Step(Message{From: k.id, To: self.id, Kind: PushPullFinal, States: []SignedState{got}})
		c := m.Counters()
		inView := m.Health(got.State.Node) != Unknown
		if verifies != (c.Accepted == 1) || verifies == (c.Forged == 1) || inView != verifies {
			t.Fatalf("verifies=%v but counters %+v, in view %v", verifies, c, inView)
		}
	})
}

func FuzzDecodeSignedState(f *testing.F) {
	k := newKey(7)
	s, _ := Sign(k.key, State{Node: k.id, Incarnation: 3, Version: 4, GossipAddr: "10.0.0.1:7946", SoftwareVersion: "v1"})
	f.Add(AppendSignedState(nil, s))
	f.Add([]byte{})
	f.Add([]byte{stateEncodingVersion, 0xff})
	for _, b := range truncatedStates() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		testalloc.Check(t, testalloc.FuzzMax, func() {
			s, rest, err := DecodeSignedState(b)
			if err != nil {
				return
			}
			if again := AppendSignedState(nil, s); !bytes.Equal(again, b[:len(b)-len(rest)]) {
				t.Fatal("not canonical")
			}
			_ = s.Verify()
		})
	})
}

// equal reports whether two signed states are the same bytes.
func (s SignedState) equal(o SignedState) bool {
	return s.State == o.State && bytes.Equal(s.Sig, o.Sig)
}

// TestProofs: Sign and a verification attach a proof of exactly what
// verified; Verify honours it only for an equal State and signature, so an
// altered copy is checked in full; a decoded state carries none.
func TestProofs(t *testing.T) {
	k := newKey(5)
	s, err := Sign(k.key, State{Node: k.id, Incarnation: 2, GossipAddr: "10.0.0.5:7946"})
	if err != nil || !s.provenBy(s.proof) {
		t.Fatalf("a signed state without its proof: %v", err)
	}
	decoded, _, err := DecodeSignedState(AppendSignedState(nil, s))
	if err != nil || decoded.proof != nil || !decoded.Verify() || decoded.proven().proof == nil {
		t.Fatalf("decoded: %v, proof %v", err, decoded.proof)
	}
	altered := s
	altered.State.Version++
	flipped := s
	flipped.Sig = slices.Clone(s.Sig)
	flipped.Sig[0] ^= 1
	if altered.Verify() || flipped.Verify() {
		t.Fatal("a proof vouched for an altered state or signature")
	}
	// The fast path is taken: a proof made (in this package only) for a
	// bogus signature is believed, which no outside caller can arrange.
	bogus := SignedState{State: s.State, Sig: make([]byte, len(s.Sig))}
	if bogus.Verify() || !bogus.proven().Verify() {
		t.Fatal("a proof was not what Verify went by")
	}
}
