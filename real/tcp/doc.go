// Package tcp is revoada's production transport.Transport: node.Messages
// over TCP with mutual TLS 1.3, each node authenticated by its ed25519
// node key. It passes transporttest.Run on loopback. The design follows
// §1 of the production-node research: etcd's rafthttp for queues, drops
// and reports, dragonboat for framing and snapshot chunks, libp2p's TLS
// spec for identity without a CA.
//
// # Identity
//
// A node presents a self-signed certificate of its own key (Certificate:
// ed25519, with the URI SAN spiffe://revoada/node/<hex id> for tools). TLS
// is 1.3 only, so the CertificateVerify message proves each side holds its
// key; nothing else about a certificate (issuer, dates, names) is trusted
// or checked. The dialer pins the listener's key to the NodeID it dialled
// (a VerifyConnection callback). The listener requires a client
// certificate of an ed25519 key, then reads the dialer's Hello frame
// (net/wire), whose node must be that key and whose mesh digest must be
// its own, and answers with its own Hello, which the dialer checks the
// same way. Session tickets are off: every connection proves its key.
//
// # Connections
//
// One message connection per ordered pair of nodes, and messages flow only
// from dialer to listener: node A's messages to B go on the connection A
// dialled, B's to A on the one B dialled. Blackholing one connection is
// therefore an exact one-way partition (the fault proxy of research §6).
// The listener writes only its Hello and answers to Pings on it.
//
// Sending: Send encodes the message (wire.AppendMsgFrame) and pushes the
// frame on the peer's bounded queue (transport.Queue: PeerQueueMax
// messages, PeerQueueBytesMax bytes); a full queue refuses it
// (ErrQueueFull) and the peer is reported Unreachable. One goroutine per
// peer dials when there is something to send, then writes the queue in
// batches through a 64 KiB buffer, and a Ping every PingInterval. A
// failed dial drops what was queued (DropUnreachable),
// reports the peer Unreachable and backs off, BackoffMin doubling per
// failure up to BackoffMax, jittered into [d/2, d) by a random stream
// seeded from the two node IDs; during the backoff Send refuses the peer's
// messages with ErrUnreachable, as etcd drops a message it has no
// connection for. A failed write reports the peer Unreachable, loses the
// batch in flight (some of it may have arrived: at most once) and redials
// for what is still queued; after a stream that broke before its first
// Ping it backs off first, as after a failed dial, so a listener that
// hangs up after the handshake does not make it redial in a tight loop.
//
// Receiving: each inbound connection gets a goroutine; its first frame
// after the Hellos says what it is. A message stream is read frame by frame
// (wire.ReadFrame, FrameBytesMax), decoded, checked (to this node, from
// the authenticated peer) and handed to Handler.Receive on that goroutine,
// so one peer's messages are delivered in order, and a slow handler pushes
// back through TCP to the sender's queue. A newer stream from the same
// peer (it redialled) replaces the older: the older is closed and its
// reader ended before the newer delivers anything, so a reconnect never
// reorders. A silence of PingInterval+IOTimeout ends a stream on either
// side: the listener answers each Ping, and the dialer's reader expects
// one within that time, so a hung peer is found even when nothing is sent.
//
// # Snapshots
//
// A raft MsgSnap goes on a connection of its own per transfer, in
// SnapChunk frames of wire.SnapChunkBytes and a SnapEnd with the total,
// from a goroutine of its own: at most transport.SnapsInFlightMax per peer
// and SnapsInFlightNodeMax per node are sent at once (more are refused,
// ErrQueueFull), and SnapsInFlightNodeMax received (more are closed,
// RefuseBusy). The receiver
// reassembles it (at most wire.SnapBytesMax), decodes it, delivers it, and
// answers with a SnapEnd of the same total; the sender then reports
// SnapshotDone, and otherwise SnapshotFailed. The sender waits for that
// answer IOTimeout per chunk. Memory: a snapshot is held encoded by its
// sender and reassembled whole by its receiver (appending, so up to twice
// its size while it grows), as etcd holds the whole envelope.
//
// # Deadlines
//
// Every read and write has one: a dial, its TLS handshake and the Hellos
// within DialTimeout (1 s, etcd's); the listener's handshake and Hello
// within IOTimeout (5 s, etcd's read/write timeout); each frame read
// within PingInterval+IOTimeout on a stream (PingInterval 5/3 s, etcd's
// heartbeat) and IOTimeout in a snapshot; writes within IOTimeout per
// buffer (64 KiB) or frame, whichever is longer. A read deadline covers a
// frame's header and payload together.
//
// # Bad input
//
// Whatever a peer sends that is not the protocol (bytes that are not TLS,
// a handshake without a certificate or with another kind of key, a Hello
// naming a node other than the key or another mesh, another protocol
// version, a frame with a bad magic, an oversized, truncated or corrupt
// frame, a message to another node or from one other than the peer,
// silence past the deadline, too many connections or snapshots) closes the
// connection, is counted in Stats.Refused by transport.RefuseReason, and is
// logged (log/slog, level Warn) at most once per peer and LogInterval (a
// minute), with the count held back since; the peer is its node ID once
// authenticated, else its IP address. The transport keeps serving. At most
// ConnsInMax inbound connections are open at once.
//
// # Concurrency and Close
//
// Every method is safe for concurrent use. Close cancels one context from
// which every connection's and peer's derives (a cancelled connection is
// closed at the socket, not through TLS's close_notify, which would wait
// for a write in progress), closes the listener and waits for every
// goroutine it started, including a Handler call in progress.
package tcp
