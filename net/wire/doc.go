// Package wire is revoada's wire format: the canonical, versioned encoding
// of every node.Message and the frame that carries it on a stream.
//
// It is pure (no goroutines, clock, operating system or randomness), so the
// simulator runs every delivered message through the same bytes production
// sends. Functions are safe for concurrent use; they keep no state.
//
// # Messages
//
// AppendMessage and DecodeMessage encode a node.Message (version 1;
// integers big-endian):
//
//	message := version:u8 kind:u8 hops:u8 from:[32]u8 to:[32]u8 body
//	body    := length:u32 raft protobuf        (node.MsgRaft)
//	         | node.AppendRequest's encoding   (node.MsgForward)
//	         | node.AppendResult's encoding    (node.MsgResult)
//	         | membership.AppendMessage's      (node.MsgGossip)
//	         | index:u64 roles.AppendShape's [chainLen:u32 attest.AppendChain's] (node.MsgShape)
//	         | node.AppendContent's encoding   (node.MsgContent)
//
// Each part is encoded by its own package's canonical encoder, with that
// encoder's limits and checks. A raft message is marshalled with
// proto.MarshalOptions{Deterministic: true}, as etcd's rafthttp sends it in
// protobuf; before it is unmarshalled its top-level fields are scanned, so a
// message with more than RaftEntriesMax entries, or with the Responses that
// only raft's local storage messages carry, is refused before anything is
// allocated for it. DecodeMessage also refuses a raft or gossip message
// whose sender or receiver is not the envelope's (the envelope's From is
// what a transport authenticates) — but for the raft messages a follower
// passes on to its leader unchanged (MsgProp, MsgReadIndex,
// MsgTransferLeader), whose From is the node that first sent them — a raft
// message type that never leaves a node (raft.IsLocalMsg), and Hops over
// node.ForwardHopsMax.
//
// The encoding is canonical for what AppendMessage writes: decoding its
// bytes and encoding again gives the same bytes. The raft part is protobuf,
// which admits several encodings of one message, so DecodeMessage accepts
// some bytes AppendMessage would not write; decoding those and encoding
// again gives AppendMessage's form.
//
// # Frames
//
// On a stream every unit is a frame, with a checksum of its own as
// dragonboat's frames have on TCP (internal/transport/tcp.go):
//
//	frame := "RV" version:u8 kind:u8 length:u32 crc:u32 payload
//
// crc is the CRC-32C (Castagnoli) of the header's first eight bytes and the
// payload, so a flipped kind or length byte is caught as well as a flipped
// payload byte. version is ProtocolVersion: a peer speaking another version
// is refused at its first frame (ErrVersion). The kinds:
//
//	FrameHello     Hello: the mesh and the sender's node ID, the first
//	               frame each way; the node ID is checked against the TLS key
//	FrameMsg       one message's encoding, at most FrameBytesMax
//	FrameSnapChunk a piece, at most SnapChunkBytes, of a message too large
//	               for one frame (a raft MsgSnap carrying the machine)
//	FrameSnapEnd   total:u64, the bytes of the chunks before it (at most
//	               SnapBytesMax): the message is complete; decode it
//	FramePing      nothing: keeps an idle connection alive
//
// ReadFrame reads from a stream, DecodeFrame from bytes. Each checks the
// length against the caller's limit and the kind's before it reads the
// payload; ReadFrame allocates a long payload in steps as its bytes arrive,
// so a peer that claims 4 MiB and sends nothing holds little.
//
// # Limits
//
// Named after §1.3 of the production-node research:
//
//	FrameBytesMax  4 MiB: raft's MsgBytesMax (1 MiB, node.MsgBytesMax) plus one
//	               entry past it (raft sends a single entry over the limit
//	               alone) of up to a resource payload (store.PayloadBytesMax,
//	               1 MiB) and its envelope, with room; dragonboat sends 2 MiB
//	               chunks plus a 128 KiB buffer
//	SnapChunkBytes 2 MiB, dragonboat's SnapshotChunkSize
//	SnapBytesMax   store.SnapshotBytesMax + 1 MiB: the machine's snapshot
//	               and its dedup records; etcd caps its envelope at 64 MiB
//	RaftEntriesMax node.MsgBytesMax/4: an entry takes at least 4 bytes
//	               (term and index), so raft never sends more within
//	               MsgBytesMax; it bounds what a hostile message of small
//	               entries makes the decoder allocate
//
// # Errors
//
// Every failure wraps one of the class sentinels, tested with errors.Is:
// ErrMagic, ErrVersion, ErrKind, ErrOversized, ErrTruncated, ErrChecksum,
// ErrTrailing, ErrField. A part that does not decode is ErrField and also
// wraps the part's own error (store.ErrInvalid, roles.ErrCorrupt,
// membership.ErrCorrupt, node.ErrCorruptMessage or protobuf's). No input
// makes a decoder panic. ReadFrame returns io.EOF untouched when the stream
// ends cleanly between frames, and a reader's own error wrapped.
package wire
