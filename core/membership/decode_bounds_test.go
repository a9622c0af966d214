package membership

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"revoada.dev/revoada/internal/testalloc"
)

// truncatedStates are a signed state with the longest strings, cut short
// just after each string's length byte claims its 255 bytes (issue 10).
func truncatedStates() [][]byte {
	k := newKey(7)
	long := strings.Repeat("x", StringBytesMax)
	s, err := Sign(k.key, State{Node: k.id, GossipAddr: long, RaftAddr: long, SoftwareVersion: long})
	if err != nil {
		panic(err)
	}
	b := AppendSignedState(nil, s)
	const gossip = 1 + 32 + 8 + 8 // version, node, incarnation, version
	const raft = gossip + 1 + StringBytesMax
	const software = raft + 1 + StringBytesMax + 1 + 4*8 // roles, capacity
	return [][]byte{b[:gossip+1], b[:raft+1], b[:software+1]}
}

// Issue 10: a state cut short after a length claims its bytes is refused
// as corrupt, and reading it allocates nothing for what it claims.
func TestDecodeSignedStateDoesNotTrustLengths(t *testing.T) {
	for _, b := range truncatedStates() {
		var err error
		// At most the strings present and the signature.
		testalloc.Check(t, 1<<10, func() { _, _, err = DecodeSignedState(b) })
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("a state cut at %d bytes: %v, want ErrCorrupt", len(b), err)
		}
	}
}

// Decoding over a message reuses its memory but keeps nothing else of it:
// the result is what a fresh decode gives, and no state keeps the proof
// the old one carried.
func TestDecodeMessageIntoReplacesAll(t *testing.T) {
	a, b := newKey(1), newKey(2)
	sa, err := Sign(a.key, State{Node: a.id, GossipAddr: "a:7946", SoftwareVersion: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	sb, err := Sign(b.key, State{Node: b.id, GossipAddr: "b:7946", RaftAddr: "b:2380"})
	if err != nil {
		t.Fatal(err)
	}
	big := Message{From: a.id, To: b.id, Kind: PushPullReply, Seq: 9, Target: a.id, Uptime: 3, Incarnation: 4,
		Digest: []Stamp{sa.State.Stamp(), sb.State.Stamp()}, States: []SignedState{sa, sb},
		Suspects: []Suspicion{{b.id, 1}}}
	small := Message{From: b.id, To: a.id, Kind: Gossip, States: []SignedState{sb}}
	var into Message
	for _, m := range []Message{big, small, big, {From: a.id, To: b.id, Kind: Ping, Seq: 1}, small} {
		enc := AppendMessage(nil, m)
		want, _, err := DecodeMessage(enc)
		if err != nil {
			t.Fatal(err)
		}
		into.States = append(into.States[:0:0], big.States...)[:0] // room holding proven states
		if _, err := DecodeMessageInto(&into, enc); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(AppendMessage(nil, into), enc) {
			t.Fatalf("%s decoded over another: re-encodes differently", m.Kind)
		}
		for i, s := range into.States {
			if s.proof != nil || s.State != want.States[i].State {
				t.Fatalf("%s state %d: proof %v, state equal %t", m.Kind, i, s.proof, s.State == want.States[i].State)
			}
		}
	}
}
