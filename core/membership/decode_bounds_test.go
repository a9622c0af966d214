package membership

import (
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
