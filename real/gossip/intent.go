package gossip

import (
	"crypto/ed25519"
	"encoding/binary"
	"time"

	"github.com/hashicorp/memberlist"

	"revoada.dev/revoada/core/membership"
	"revoada.dev/revoada/core/roles"
)

// A leave intent is a node's signed word that it leaves the mesh at or
// after its state of a stamp. memberlist announces a leave as a dead
// message from the node itself, which its API does not tell apart from a
// failure; the node therefore sends this first (as Serf sends its leave
// intent before memberlist's leave), and the others, when memberlist then
// reports the node gone, see it departed rather than Dead. An intent of an
// older stamp than the state held (a previous life) is ignored.
//
//	intent := kind:u8 version:u8 node:[32]u8 incarnation:u64 version:u64 sig:[64]u8
//
// The signature covers intentDomain || node || incarnation || version.
const (
	intentKind    = 'L'
	intentVersion = 1
	intentBytes   = 2 + 32 + 8 + 8 + ed25519.SignatureSize
	intentDomain  = "revoada/gossip/leave/v1\x00"
)

func intentSigned(st membership.Stamp) []byte {
	b := append([]byte(intentDomain), st.Node[:]...)
	b = binary.BigEndian.AppendUint64(b, st.Incarnation)
	return binary.BigEndian.AppendUint64(b, st.Version)
}

// appendIntent appends key's leave intent at stamp st to b.
func appendIntent(b []byte, key ed25519.PrivateKey, st membership.Stamp) []byte {
	b = append(b, intentKind, intentVersion)
	b = append(b, st.Node[:]...)
	b = binary.BigEndian.AppendUint64(b, st.Incarnation)
	b = binary.BigEndian.AppendUint64(b, st.Version)
	return append(b, ed25519.Sign(key, intentSigned(st))...)
}

// decodeIntent returns the stamp of a well-formed intent whose signature
// verifies against its node.
func decodeIntent(b []byte) (membership.Stamp, bool) {
	if len(b) != intentBytes || b[0] != intentKind || b[1] != intentVersion {
		return membership.Stamp{}, false
	}
	var st membership.Stamp
	copy(st.Node[:], b[2:34])
	st.Incarnation = binary.BigEndian.Uint64(b[34:42])
	st.Version = binary.BigEndian.Uint64(b[42:50])
	if !ed25519.Verify(ed25519.PublicKey(st.Node[:]), intentSigned(st), b[50:]) {
		return membership.Stamp{}, false
	}
	return st, true
}

// takeIntent takes a leave intent from the network. One that arrives after
// memberlist reported its node failed (the two travel apart) turns the
// Dead member into a departed one.
func (g *Gossip) takeIntent(b []byte) {
	st, ok := decodeIntent(b)
	g.mu.Lock()
	defer g.mu.Unlock()
	if !ok {
		g.counters.BadIntents++
		return
	}
	p := g.peers[roles.NodeID(st.Node)]
	if p == nil || p.departed || st.Compare(p.signed.State.Stamp()) < 0 || st.Compare(p.leaveStamp) <= 0 && p.leaveStamp != (membership.Stamp{}) {
		return
	}
	p.leaveStamp = st
	g.counters.Leaves++
	if p.health == membership.Dead {
		g.depart(p, time.Now())
	}
}

// intentBroadcast is a leave intent in memberlist's broadcast queue; done
// is closed when the queue is finished with it (sent its retransmit limit
// of times).
type intentBroadcast struct {
	msg  []byte
	done chan struct{}
}

var _ memberlist.Broadcast = (*intentBroadcast)(nil)

func (b *intentBroadcast) Invalidates(memberlist.Broadcast) bool { return false }
func (b *intentBroadcast) Message() []byte                       { return b.msg }
func (b *intentBroadcast) Finished()                             { close(b.done) }
