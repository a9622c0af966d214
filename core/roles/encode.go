package roles

import (
	"encoding/binary"
	"errors"
	"fmt"

	"lukechampine.com/blake3"
)

// Encoding. All integers are big-endian.
//
//	shift := 1:u8 count:u16 command*     // no command has an Addr
//	       | 2:u8 count:u16 command2*    // some command has one
//	command := kind:u8 node:[32]u8 roles:u8 reason:u8
//	command2 := command addrLen:u8 addr
//	shape := 1:u8 count:u32 (node:[32]u8 roles:u8)*   // members in NodeID order
//
// The encodings are canonical: equal values encode to equal bytes, so a
// Digest of the encoding identifies the value (a version-2 shift in which no
// command has an Addr does not decode).

const (
	encodingVersion = 1
	addrVersion     = 2 // a shift whose commands carry addresses
	commandBytes    = 1 + 32 + 1 + 1
	memberBytes     = 32 + 1
	// ShiftCommandsMax bounds the commands in one shift.
	ShiftCommandsMax = 64
	// ShapeMembersMax bounds the nodes of a shape: far above the 5,000
	// nodes Kubernetes supports in one cluster, and 2 MiB encoded.
	ShapeMembersMax = 1 << 16
)

// ErrCorrupt is returned for bytes that do not decode.
var ErrCorrupt = errors.New("roles: corrupt encoding")

// Digest is a BLAKE3-256 hash.
type Digest [32]byte

func (d Digest) String() string { return fmt.Sprintf("%x", d[:]) }

// AppendShift appends the canonical encoding of sh to b. An Addr longer
// than AddrBytesMax is cut there (Plan refuses such a command).
func AppendShift(b []byte, sh Shift) []byte {
	version := byte(encodingVersion)
	if sh.hasAddr() {
		version = addrVersion
	}
	b = append(b, version)
	b = binary.BigEndian.AppendUint16(b, uint16(len(sh)))
	for _, c := range sh {
		b = append(b, byte(c.Kind))
		b = append(b, c.Node[:]...)
		b = append(b, byte(c.Roles), byte(c.Reason))
		if version == addrVersion {
			addr := c.Addr[:min(len(c.Addr), AddrBytesMax)]
			b = append(append(b, byte(len(addr))), addr...)
		}
	}
	return b
}

func (sh Shift) hasAddr() bool {
	for _, c := range sh {
		if c.Addr != "" {
			return true
		}
	}
	return false
}

// DecodeShift decodes a shift and returns the bytes that follow it. It
// checks the command count against ShiftCommandsMax and the bytes present
// before allocating for it.
func DecodeShift(b []byte) (Shift, []byte, error) {
	if len(b) < 3 || b[0] != encodingVersion && b[0] != addrVersion {
		return nil, nil, fmt.Errorf("%w: shift header", ErrCorrupt)
	}
	version := b[0]
	n := int(binary.BigEndian.Uint16(b[1:3]))
	b = b[3:]
	if n > ShiftCommandsMax || len(b) < n*commandBytes {
		return nil, nil, fmt.Errorf("%w: shift of %d commands in %d bytes", ErrCorrupt, n, len(b))
	}
	sh := make(Shift, n)
	for i := range sh {
		c := &sh[i]
		if len(b) < commandBytes {
			return nil, nil, fmt.Errorf("%w: command %d of %d truncated", ErrCorrupt, i, n)
		}
		c.Kind = Kind(b[0])
		copy(c.Node[:], b[1:33])
		c.Roles, c.Reason = Roles(b[33]), Reason(b[34])
		b = b[commandBytes:]
		if version != addrVersion {
			continue
		}
		if len(b) < 1 || len(b) < 1+int(b[0]) {
			return nil, nil, fmt.Errorf("%w: command %d's address truncated", ErrCorrupt, i)
		}
		c.Addr, b = string(b[1:1+int(b[0])]), b[1+int(b[0]):]
	}
	if version == addrVersion && !sh.hasAddr() {
		return nil, nil, fmt.Errorf("%w: a version-2 shift with no address", ErrCorrupt)
	}
	return sh, b, nil
}

// AppendShape appends the canonical encoding of s to b.
func AppendShape(b []byte, s Shape) []byte {
	b = append(b, encodingVersion)
	b = binary.BigEndian.AppendUint32(b, uint32(len(s.members)))
	for _, m := range s.Members() {
		b = append(b, m.Node[:]...)
		b = append(b, byte(m.Roles))
	}
	return b
}

// DecodeShape decodes and validates a shape and returns the bytes that
// follow. It checks the member count against ShapeMembersMax and the bytes
// present before allocating for it.
func DecodeShape(b []byte) (Shape, []byte, error) {
	if len(b) < 5 || b[0] != encodingVersion {
		return Shape{}, nil, fmt.Errorf("%w: shape header", ErrCorrupt)
	}
	n := int(binary.BigEndian.Uint32(b[1:5]))
	b = b[5:]
	if n > ShapeMembersMax || n > len(b)/memberBytes {
		return Shape{}, nil, fmt.Errorf("%w: shape of %d members in %d bytes (at most %d members)", ErrCorrupt, n, len(b), ShapeMembersMax)
	}
	members := make([]Member, n)
	for i := range members {
		copy(members[i].Node[:], b[:32])
		members[i].Roles = Roles(b[32])
		b = b[memberBytes:]
		if i > 0 && members[i-1].Node.Compare(members[i].Node) >= 0 {
			return Shape{}, nil, fmt.Errorf("%w: shape members out of NodeID order at %d", ErrCorrupt, i)
		}
	}
	s, err := NewShape(members)
	if err != nil {
		return Shape{}, nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return s, b, nil
}

// Digest is the BLAKE3 hash of the shape's canonical encoding.
func (s Shape) Digest() Digest { return blake3.Sum256(AppendShape(nil, s)) }
