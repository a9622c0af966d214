package membership

import (
	"crypto/ed25519"
	"encoding/binary"
	"fmt"

	"revoada.dev/revoada/core/roles"
)

// Message encoding (version 1). Integers are big-endian.
//
//	message   := version:u8 kind:u8 from:[32]u8 to:[32]u8 target:[32]u8
//	             seq:u64 uptime:u64 incarnation:u64
//	             digests:u32 stamp* states:u32 signed* suspects:u32 suspicion*
//	stamp     := node:[32]u8 incarnation:u64 version:u64
//	suspicion := node:[32]u8 incarnation:u64
//
// signed is AppendSignedState's encoding. Every field has one encoding, so
// DecodeMessage accepts exactly the bytes AppendMessage produces, and an
// empty list decodes as nil.
const (
	messageEncodingVersion = 1
	messageFixedBytes      = 1 + 1 + 3*32 + 3*8 + 3*4
	stampBytes             = 32 + 8 + 8
	suspicionBytes         = 32 + 8
	signedStateBytesMin    = stateFixedBytes + ed25519.SignatureSize
	// MessageListMax bounds each list of a Message (its digest, states
	// and suspicions): none speaks of more nodes than a shape can hold.
	MessageListMax = roles.ShapeMembersMax
)

// AppendMessage appends the canonical encoding of m to b. It panics on a
// state that AppendSignedState refuses (none comes from a Membership).
func AppendMessage(b []byte, m Message) []byte {
	b = append(b, messageEncodingVersion, byte(m.Kind))
	b = append(b, m.From[:]...)
	b = append(b, m.To[:]...)
	b = append(b, m.Target[:]...)
	b = binary.BigEndian.AppendUint64(b, m.Seq)
	b = binary.BigEndian.AppendUint64(b, m.Uptime)
	b = binary.BigEndian.AppendUint64(b, m.Incarnation)
	b = binary.BigEndian.AppendUint32(b, uint32(len(m.Digest)))
	for _, s := range m.Digest {
		b = append(b, s.Node[:]...)
		b = binary.BigEndian.AppendUint64(b, s.Incarnation)
		b = binary.BigEndian.AppendUint64(b, s.Version)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(m.States)))
	for _, s := range m.States {
		b = AppendSignedState(b, s)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(m.Suspects)))
	for _, s := range m.Suspects {
		b = append(b, s.Node[:]...)
		b = binary.BigEndian.AppendUint64(b, s.Incarnation)
	}
	return b
}

// DecodeMessage decodes one message from the front of b and returns the
// bytes that follow it. It checks the structure, the kind and the list
// limits; every list's count is checked against MessageListMax and the
// bytes present before anything is allocated for it. Signatures are not
// checked here: the Membership verifies every state it merges.
//
// Errors: ErrCorrupt, naming the first field that did not decode.
func DecodeMessage(b []byte) (Message, []byte, error) {
	var m Message
	rest, err := DecodeMessageInto(&m, b)
	if err != nil {
		return Message{}, nil, err
	}
	return m, rest, nil
}

// DecodeMessageInto is DecodeMessage writing over *into, a message its
// owner is done with: the decoded lists reuse its lists' arrays, each
// state its signature's, and a string equal to the one it replaces is
// kept, so decoding into a message recycled from the same traffic
// allocates little. Every field of *into is replaced: nothing from the
// old message but that memory survives, and no state keeps a proof (see
// SignedState). An empty list decodes as nil, or as an empty list when
// *into had room for one. On error *into holds no decoded message.
//
// Errors: as DecodeMessage's.
func DecodeMessageInto(into *Message, b []byte) ([]byte, error) {
	m := Message{Digest: into.Digest[:0], States: into.States[:0], Suspects: into.Suspects[:0]}
	*into = Message{}
	if len(b) < messageFixedBytes {
		return nil, fmt.Errorf("%w: message of %d bytes, at least %d", ErrCorrupt, len(b), messageFixedBytes)
	}
	d := decoder{b: b}
	if v := d.byte(); v != messageEncodingVersion {
		return nil, fmt.Errorf("%w: message version %d (this build reads %d)", ErrCorrupt, v, messageEncodingVersion)
	}
	if m.Kind = MsgKind(d.byte()); m.Kind < Ping || m.Kind > Gossip {
		return nil, fmt.Errorf("%w: message kind %d", ErrCorrupt, m.Kind)
	}
	d.bytes(m.From[:])
	d.bytes(m.To[:])
	d.bytes(m.Target[:])
	m.Seq, m.Uptime, m.Incarnation = d.uint64(), d.uint64(), d.uint64()
	var err error
	if m.Digest, err = listRoom(&d, "digest", stampBytes, m.Digest); err != nil {
		return nil, err
	}
	for i := range m.Digest {
		decodeStamp(&d, &m.Digest[i])
	}
	if m.States, err = listRoom(&d, "states", signedStateBytesMin, m.States); err != nil {
		return nil, err
	}
	for i := range m.States {
		if d.b, err = decodeSignedOver(&m.States[i], d.b); err != nil {
			return nil, fmt.Errorf("states %d: %w", i, err) // err wraps ErrCorrupt
		}
	}
	if m.Suspects, err = listRoom(&d, "suspects", suspicionBytes, m.Suspects); err != nil {
		return nil, err
	}
	for i := range m.Suspects {
		decodeSuspicion(&d, &m.Suspects[i])
	}
	*into = m
	return d.b, nil
}

// listRoom reads a list's u32 count and returns out's array (grown if
// short) cut to that many elements, for the caller to decode over, each of
// at least minBytes. It refuses a count over MessageListMax or over what
// the bytes left can hold before allocating. (The elements are decoded by
// the caller, not through a function value here: a decoder passed to one
// would escape to the heap.)
func listRoom[T any](d *decoder, what string, minBytes int, out []T) ([]T, error) {
	n := int(binary.BigEndian.Uint32(d.take(4)))
	switch {
	case d.short:
		return nil, fmt.Errorf("%w: message truncated before its %s", ErrCorrupt, what)
	case n > MessageListMax || n > len(d.b)/minBytes:
		return nil, fmt.Errorf("%w: %d %s in %d bytes (at most %d)", ErrCorrupt, n, what, len(d.b), MessageListMax)
	case n == 0:
		return out[:0], nil
	}
	if cap(out) < n {
		out = append(out[:cap(out)], make([]T, n-cap(out))...)
	}
	return out[:n], nil
}

// The element readers. The list's count was checked against the bytes
// left, so a fixed-size element never reads past the end.

func decodeStamp(d *decoder, s *Stamp) {
	d.bytes(s.Node[:])
	s.Incarnation, s.Version = d.uint64(), d.uint64()
}

func decodeSuspicion(d *decoder, s *Suspicion) {
	d.bytes(s.Node[:])
	s.Incarnation = d.uint64()
}
