// Package transport is the contract every revoada transport honours: what
// carries node.Messages between the nodes of a mesh. real/tcp is the
// production transport; memtransport is the in-memory one for tests of
// hosts; transporttest is the conformance suite both pass
// (transporttest.Run, in the manner of testing/fstest).
//
// # The contract
//
// A Transport belongs to one node (its ID, the local ID below) and delivers
// what peers send that node to the Handler it was made with.
//
//   - Send never blocks on the network and may drop. A message it refuses
//     is returned as an error wrapping one of ErrUnknownPeer, ErrQueueFull,
//     ErrUnreachable, ErrClosed, ErrOversized or ErrMisaddressed, and
//     counted in Stats.Dropped under the matching DropReason. A message it
//     accepts may still be lost (a connection that breaks); the transport
//     then tells the handler Report{Peer, Unreachable}, as etcd's rafthttp
//     calls raft's ReportUnreachable (peer.go). Raft and the node's request
//     retries recover what is lost; nothing is ever retransmitted by the
//     transport, so delivery is at most once.
//   - Messages to one peer are delivered in the order Send accepted them,
//     each at most once, with gaps where some were lost. A raft MsgSnap
//     travels its own lane (etcd sends it on the pipeline, dragonboat on
//     its snapshot lane) and may overtake or fall behind the messages
//     around it; every MsgSnap Send accepts ends in exactly one Report,
//     SnapshotDone once the peer's handler has received it whole, or
//     SnapshotFailed, as raft's ReportSnapshot wants (unless the transport
//     is closed first). A MsgSnap Send refuses is not reported: the error
//     is the report.
//   - Nothing is delivered from a peer that has not proved it holds the
//     private key of the NodeID it claims, and nothing corrupted or
//     misrouted: a delivered message has To equal to the local ID and From
//     equal to the authenticated peer.
//   - Memory is bounded: each peer's queue holds at most PeerQueueMax
//     messages and PeerQueueBytesMax bytes of encoding (a MsgSnap is bounded
//     apart, by SnapsInFlightMax per peer and SnapsInFlightNodeMax per node);
//     every message is at most wire.SnapBytesMax encoded, and only a raft
//     MsgSnap may exceed wire.FrameBytesMax.
//   - Close ends every goroutine the transport started and returns only
//     after they have ended; no Handler call begins after Close returns.
//
// The peers a transport may send to are those set with SetPeer and not
// removed since; a message from a peer the local node has not set is still
// delivered (raft learns of a new member from its first message), provided
// it is authenticated.
//
// # Concurrency
//
// Every method is safe for concurrent use. Handler calls come from the
// transport's goroutines, concurrently for different peers but one at a
// time, in order, for the messages of one peer's stream (a MsgSnap, on its
// own lane, may come concurrently with its peer's stream). A handler must not
// block for long: a slow Receive holds back its peer's stream, and the
// sender's queue then fills and drops. A host keeps its own bounded inbox
// (etcd's recvBufSize is 4096) and drops when it is full.
//
// Send takes ownership of nothing: it encodes m before it returns (wire's
// canonical encoding, so every transport sends the bytes production
// sends), and a receiver's message is its own, decoded from those bytes.
//
// # Parts
//
// Beside the contract, the package holds what every transport does the
// same way, so that they share one reading of it: the checks of Send and
// of a received message (CheckFrom, CheckInbound, BytesMax, IsSnapshot),
// the counters behind Stats, a peer's bounded Queue, the peer table
// (Peers) and the reporter of overflowing queues (Overflows).
package transport

import (
	"errors"
	"fmt"

	"revoada.dev/revoada/core/node"
	"revoada.dev/revoada/core/roles"
)

// Limits; the anchors are §1.3 of the production-node research.
const (
	// PeerQueueMax bounds the messages queued for one peer (etcd's
	// streamBufSize is 4096, stream.go).
	PeerQueueMax = 4096
	// PeerQueueBytesMax bounds the encoded bytes queued for one peer
	// (dragonboat bounds its send queue in bytes too).
	PeerQueueBytesMax = 64 << 20
	// SnapsInFlightMax bounds the MsgSnaps on their way to one peer.
	SnapsInFlightMax = 1
	// SnapsInFlightNodeMax bounds the MsgSnaps on their way from one node,
	// to all its peers together.
	SnapsInFlightNodeMax = 4
)

// Transport carries one node's messages to its peers and delivers theirs to
// the Handler it was made with. See the package doc for the contract.
type Transport interface {
	// Send hands m to m.To's queue and returns without waiting for the
	// network. m.From must be the local node and m.To a peer set with
	// SetPeer. Errors: ErrUnknownPeer, ErrQueueFull, ErrUnreachable,
	// ErrClosed, ErrOversized, ErrMisaddressed, each counted.
	Send(m node.Message) error
	// SetPeer tells the transport where peer id listens. Setting another
	// address for a known peer replaces it as RemovePeer then SetPeer do.
	SetPeer(id roles.NodeID, addr string)
	// RemovePeer forgets peer id: its queued messages are dropped (counted
	// as DropRemoved) and its connections closed; Send to it then answers
	// ErrUnknownPeer. Messages already on the wire may still arrive.
	RemovePeer(id roles.NodeID)
	// Stats returns the counters so far.
	Stats() Stats
	// Close stops the transport: it closes every connection and listener,
	// drops what is queued (DropClosed), and returns once every goroutine
	// it started has ended. Later calls return nil; Send answers ErrClosed.
	Close() error
}

// Handler receives what a transport delivers. See the package doc for the
// goroutines its methods are called from.
type Handler interface {
	// Receive is one message from an authenticated peer, addressed to this
	// node. The message is the handler's own.
	Receive(m node.Message)
	// Report tells the node about a peer: raft's ReportUnreachable and
	// ReportSnapshot.
	Report(r Report)
}

// Report is news about a peer for the node.
type Report struct {
	Peer roles.NodeID
	Kind ReportKind
}

// ReportKind says what a Report tells.
type ReportKind uint8

// The report kinds.
const (
	// Unreachable: a message to the peer was lost (a dial or a write
	// failed, or its queue was full): raft's ReportUnreachable.
	Unreachable ReportKind = iota + 1
	// SnapshotDone: a MsgSnap reached the peer's handler whole.
	SnapshotDone
	// SnapshotFailed: a MsgSnap Send accepted did not reach the peer.
	SnapshotFailed
)

func (k ReportKind) String() string {
	switch k {
	case Unreachable:
		return "unreachable"
	case SnapshotDone:
		return "snapshot-done"
	case SnapshotFailed:
		return "snapshot-failed"
	}
	return fmt.Sprintf("report-kind(%d)", uint8(k))
}

func (r Report) String() string { return r.Kind.String() + " " + r.Peer.Short() }

// The errors Send returns, tested with errors.Is.
var (
	ErrUnknownPeer  = errors.New("transport: unknown peer")
	ErrQueueFull    = errors.New("transport: peer queue full")
	ErrUnreachable  = errors.New("transport: peer unreachable")
	ErrClosed       = errors.New("transport: closed")
	ErrOversized    = errors.New("transport: message oversized")
	ErrMisaddressed = errors.New("transport: message not from this node")
)

// DropReason says why a message was not delivered, on the sending side.
type DropReason uint8

// The drop reasons. Each error of Send has its own; DropRemoved and
// DropClosed count what was queued when its peer was removed or the
// transport closed, DropUnreachable also what was lost with a connection.
const (
	DropUnknownPeer DropReason = iota
	DropQueueFull
	DropUnreachable
	DropClosed
	DropOversized
	DropMisaddressed
	DropRemoved
	dropReasons
)

var dropNames = [dropReasons]string{"unknown-peer", "queue-full", "unreachable", "closed", "oversized", "misaddressed", "removed"}

func (r DropReason) String() string {
	if r < dropReasons {
		return dropNames[r]
	}
	return fmt.Sprintf("drop-reason(%d)", uint8(r))
}

// Err is the error Send returns for a message dropped for r.
func (r DropReason) Err() error {
	switch r {
	case DropUnknownPeer, DropRemoved:
		return ErrUnknownPeer
	case DropQueueFull:
		return ErrQueueFull
	case DropUnreachable:
		return ErrUnreachable
	case DropClosed:
		return ErrClosed
	case DropOversized:
		return ErrOversized
	case DropMisaddressed:
		return ErrMisaddressed
	}
	panic(fmt.Sprintf("transport: no error for %s", r))
}

// RefuseReason says why a transport refused what a peer sent it: it closes
// the connection (or drops the message, for a transport without one).
type RefuseReason uint8

// The refuse reasons.
const (
	RefuseNotTLS    RefuseReason = iota // bytes that are not a TLS handshake (garbage on the port)
	RefuseHandshake                     // a TLS handshake that failed: no certificate, not TLS 1.3, ...
	RefuseIdentity                      // a key that is not the node ID claimed (certificate or Hello)
	RefuseMesh                          // a Hello naming another mesh
	RefuseVersion                       // another protocol version (wire.ErrVersion)
	RefuseMagic                         // a frame without the magic (wire.ErrMagic)
	RefuseOversized                     // a frame or snapshot over its limit (wire.ErrOversized)
	RefuseTruncated                     // a stream that ended inside a frame (wire.ErrTruncated)
	RefuseChecksum                      // a frame whose CRC does not match (wire.ErrChecksum)
	RefuseCorrupt                       // a frame or message that does not decode, or out of place
	RefuseMisrouted                     // a message not to this node, or not from the peer
	RefuseTimeout                       // a read or write past its deadline
	RefuseBusy                          // over a bound on connections or snapshots in flight
	refuseReasons
)

var refuseNames = [refuseReasons]string{"not-tls", "handshake", "identity", "mesh", "version", "magic",
	"oversized", "truncated", "checksum", "corrupt", "misrouted", "timeout", "busy"}

func (r RefuseReason) String() string {
	if r < refuseReasons {
		return refuseNames[r]
	}
	return fmt.Sprintf("refuse-reason(%d)", uint8(r))
}

// Stats counts what a transport did since it was made.
type Stats struct {
	Sent     uint64 // messages handed to a peer's connection whole
	Received uint64 // messages given to Handler.Receive
	Reports  uint64 // calls of Handler.Report
	Dropped  [dropReasons]uint64
	Refused  [refuseReasons]uint64
}

// DroppedTotal is the sum of Dropped.
func (s Stats) DroppedTotal() uint64 {
	var n uint64
	for _, d := range s.Dropped {
		n += d
	}
	return n
}

// RefusedTotal is the sum of Refused.
func (s Stats) RefusedTotal() uint64 {
	var n uint64
	for _, d := range s.Refused {
		n += d
	}
	return n
}
