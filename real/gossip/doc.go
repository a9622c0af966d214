// Package gossip is revoada's real-world membership: hashicorp/memberlist
// (v0.7.0: SWIM with Lifeguard) carrying each node's signed
// membership.State, and reporting the view as the pure core does, as
// membership.Members and a stream of membership.Changes. It is the adapter
// of the design card's layer A (core/membership stays the protocol the
// simulator runs; memberlist cannot run there).
//
// # Identity
//
// A node's memberlist name is its NodeID in hex (64 digits), and its
// memberlist meta is its encoded SignedState (membership.AppendSignedState),
// signed by its key. Every alive message memberlist takes passes
// AliveDelegate first: the name must be the hex of the key the state is
// signed for, the signature must verify, and the state must not be older
// than the one held (nor differ from it under the same stamp); anything
// else is refused, counted by reason (Counters) and logged once per node
// per refusalLogInterval. A join whose other side lists a node failing
// those checks is refused whole (MergeDelegate). memberlist's own packets
// are not authenticated: a forger can make noise (suspicions, dead
// messages) but cannot put words in a node's state.
//
// # The meta limit
//
// memberlist's meta holds at most 512 bytes (MetaBytesMax). A signed state
// is 253 bytes plus its three strings, so the strings may take 259 bytes
// together: New and UpdateSelf refuse a larger state with ErrStateTooLarge.
// (A typical state, two IP:PORT addresses and a version, is about 300.)
//
// # Meshes
//
// Config.Mesh becomes memberlist's label, "revoada/mesh/NAME", on every
// packet and stream; a node drops what carries another, so meshes on one
// network never merge. It is separation, not secrecy: the label travels in
// clear.
//
// # Health
//
// memberlist's states map to membership.Health: alive is Healthy; suspect
// is Suspect only when this node's own probe failed (memberlist says so in
// its log, which this package reads; a suspicion gossiped by others is not
// visible through memberlist's API, so such a member stays Healthy here
// until memberlist declares it dead); dead is Dead. A graceful leave is a
// signed leave intent (intent.go) followed by memberlist's Leave; the
// others then report the node Forgotten (departed), not Dead. Members
// leaves departed nodes out.
package gossip
