package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"

	"revoada.dev/revoada/core/node"
	"revoada.dev/revoada/core/roles"
)

// FrameKind says what a frame carries; see the package doc.
type FrameKind uint8

// The frame kinds.
const (
	FrameHello FrameKind = iota + 1
	FrameMsg
	FrameSnapChunk
	FrameSnapEnd
	FramePing
)

var frameKindNames = [...]string{"", "hello", "msg", "snap-chunk", "snap-end", "ping"}

func (k FrameKind) String() string {
	if k > 0 && int(k) < len(frameKindNames) {
		return frameKindNames[k]
	}
	return fmt.Sprintf("frame-kind(%d)", uint8(k))
}

// Frame limits and sizes; see the package doc.
const (
	// ProtocolVersion is the version byte of every frame.
	ProtocolVersion = 1
	// FrameHeaderBytes is the header before a frame's payload.
	FrameHeaderBytes = 2 + 1 + 1 + 4 + 4
	// FrameBytesMax bounds the payload of any frame.
	FrameBytesMax = 4 << 20
	// SnapChunkBytes bounds the payload of a snapshot chunk.
	SnapChunkBytes = 2 << 20
	// HelloBytes is the payload of a Hello frame.
	HelloBytes = 32 + 32
	// snapEndBytes is the payload of a SnapEnd frame: the total.
	snapEndBytes = 8
	// readStepBytes is the most ReadFrame allocates ahead of the bytes it
	// has read: a long payload grows in doublings from it.
	readStepBytes = 64 << 10
)

const magic = "RV"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// payloadBounds is each kind's payload length, least and most.
var payloadBounds = [...]struct{ least, most int }{
	FrameHello:     {HelloBytes, HelloBytes},
	FrameMsg:       {MessageHeaderBytes, FrameBytesMax},
	FrameSnapChunk: {1, SnapChunkBytes},
	FrameSnapEnd:   {snapEndBytes, snapEndBytes},
	FramePing:      {0, 0},
}

// Frame is one frame: its kind and its payload.
type Frame struct {
	Kind    FrameKind
	Payload []byte
}

// Hello is the payload of the first frame each side sends: the mesh it
// belongs to and its node ID, which the receiver checks against the key the
// peer's TLS certificate proved.
type Hello struct {
	Mesh roles.Digest // names the mesh: a peer of another mesh is refused
	Node roles.NodeID
}

// AppendHello appends h's payload encoding (mesh:[32]u8 node:[32]u8) to dst.
func AppendHello(dst []byte, h Hello) []byte {
	return append(append(dst, h.Mesh[:]...), h.Node[:]...)
}

// DecodeHello decodes a Hello frame's payload.
// Errors: ErrTruncated, ErrTrailing.
func DecodeHello(p []byte) (Hello, error) {
	if err := exactly(p, HelloBytes, "hello"); err != nil {
		return Hello{}, err
	}
	var h Hello
	copy(h.Mesh[:], p[:32])
	copy(h.Node[:], p[32:])
	return h, nil
}

// AppendSnapEnd appends a SnapEnd frame's payload: the total bytes of the
// chunks it ends.
func AppendSnapEnd(dst []byte, total int) []byte {
	return binary.BigEndian.AppendUint64(dst, uint64(total))
}

// DecodeSnapEnd decodes a SnapEnd frame's payload.
// Errors: ErrTruncated, ErrTrailing, ErrOversized (a total over SnapBytesMax).
func DecodeSnapEnd(p []byte) (int, error) {
	if err := exactly(p, snapEndBytes, "snap-end"); err != nil {
		return 0, err
	}
	total := binary.BigEndian.Uint64(p)
	if total > SnapBytesMax {
		return 0, fmt.Errorf("%w: a snapshot of %d bytes, limit %d", ErrOversized, total, SnapBytesMax)
	}
	return int(total), nil
}

func exactly(p []byte, n int, what string) error {
	switch {
	case len(p) < n:
		return fmt.Errorf("%w: %s payload of %d bytes, want %d", ErrTruncated, what, len(p), n)
	case len(p) > n:
		return fmt.Errorf("%w: %s payload of %d bytes, want %d", ErrTrailing, what, len(p), n)
	}
	return nil
}

// AppendFrame appends a frame of the given kind and payload to dst.
// Errors: ErrKind; ErrOversized or ErrField for a payload longer or shorter
// than the kind allows (a message over FrameBytesMax goes in snapshot
// chunks). On error dst is returned unchanged.
func AppendFrame(dst []byte, kind FrameKind, payload []byte) ([]byte, error) {
	if err := checkLength(kind, len(payload), FrameBytesMax); err != nil {
		return dst, err
	}
	start := len(dst)
	dst = append(dst, make([]byte, FrameHeaderBytes)...)
	return seal(append(dst, payload...), start, kind), nil
}

// AppendMsgFrame appends a FrameMsg carrying m's encoding to dst, encoding
// m in place. Errors: ErrOversized when the encoding is over FrameBytesMax
// (send it with AppendMessage in snapshot chunks); dst is then returned
// unchanged.
func AppendMsgFrame(dst []byte, m node.Message) ([]byte, error) {
	start := len(dst)
	dst = AppendMessage(append(dst, make([]byte, FrameHeaderBytes)...), m)
	if n := len(dst) - start - FrameHeaderBytes; n > FrameBytesMax {
		return dst[:start], fmt.Errorf("%w: a %s message of %d bytes, frame limit %d", ErrOversized, m.Kind, n, FrameBytesMax)
	}
	return seal(dst, start, FrameMsg), nil
}

// seal writes the header of the frame at dst[start:], whose payload follows
// the header's room.
func seal(dst []byte, start int, kind FrameKind) []byte {
	h := dst[start : start+FrameHeaderBytes]
	copy(h, magic)
	h[2], h[3] = ProtocolVersion, byte(kind)
	binary.BigEndian.PutUint32(h[4:8], uint32(len(dst)-start-FrameHeaderBytes))
	binary.BigEndian.PutUint32(h[8:12], checksum(h, dst[start+FrameHeaderBytes:]))
	return dst
}

func checksum(header, payload []byte) uint32 {
	return crc32.Update(crc32.Update(0, castagnoli, header[:8]), castagnoli, payload)
}

// checkLength checks a payload length against kind's bounds and max.
func checkLength(kind FrameKind, n, max int) error {
	if kind == 0 || int(kind) >= len(payloadBounds) {
		return fmt.Errorf("%w: frame kind %d", ErrKind, kind)
	}
	b := payloadBounds[kind]
	switch {
	case n > b.most || n > max:
		return fmt.Errorf("%w: %s payload of %d bytes, limit %d", ErrOversized, kind, n, min(b.most, max))
	case n < b.least:
		return fmt.Errorf("%w: %s payload of %d bytes, at least %d", ErrField, kind, n, b.least)
	}
	return nil
}

// parseHeader checks a frame header and returns its kind and length.
func parseHeader(h []byte, max int) (FrameKind, int, error) {
	switch {
	case string(h[:2]) != magic:
		return 0, 0, fmt.Errorf("%w: %q", ErrMagic, h[:2])
	case h[2] != ProtocolVersion:
		return 0, 0, fmt.Errorf("%w: protocol version %d, this build speaks %d", ErrVersion, h[2], ProtocolVersion)
	}
	kind := FrameKind(h[3])
	n := binary.BigEndian.Uint32(h[4:8])
	if err := checkLength(kind, int(min(n, FrameBytesMax+1)), max); err != nil {
		return 0, 0, err
	}
	return kind, int(n), nil
}

func verify(h, payload []byte, kind FrameKind) error {
	if got, want := checksum(h, payload), binary.BigEndian.Uint32(h[8:12]); got != want {
		return fmt.Errorf("%w: %s frame of %d bytes: crc %08x, header says %08x", ErrChecksum, kind, len(payload), got, want)
	}
	return nil
}

// DecodeFrame decodes the frame at the front of b, whose payload may be at
// most max bytes (and at most its kind's limit), and returns the bytes
// after it. The payload aliases b.
//
// Errors: ErrTruncated (b ends inside the frame), ErrMagic, ErrVersion,
// ErrKind, ErrOversized, ErrField (a payload shorter than its kind's),
// ErrChecksum.
func DecodeFrame(b []byte, max int) (Frame, []byte, error) {
	if len(b) < FrameHeaderBytes {
		return Frame{}, nil, fmt.Errorf("%w: %d bytes, a frame header takes %d", ErrTruncated, len(b), FrameHeaderBytes)
	}
	kind, n, err := parseHeader(b, max)
	if err != nil {
		return Frame{}, nil, err
	}
	if len(b)-FrameHeaderBytes < n {
		return Frame{}, nil, fmt.Errorf("%w: %s payload of %d bytes, %d present", ErrTruncated, kind, n, len(b)-FrameHeaderBytes)
	}
	p := b[FrameHeaderBytes : FrameHeaderBytes+n : FrameHeaderBytes+n]
	if err := verify(b, p, kind); err != nil {
		return Frame{}, nil, err
	}
	return Frame{Kind: kind, Payload: p}, b[FrameHeaderBytes+n:], nil
}

// ReadFrame reads one frame from r, whose payload may be at most max bytes
// (and at most its kind's limit). The payload is the frame's own.
//
// Errors: io.EOF, untouched, when r ends before the frame's first byte;
// ErrTruncated (wrapping io.ErrUnexpectedEOF) when it ends inside the
// frame; ErrMagic, ErrVersion, ErrKind, ErrOversized, ErrField, ErrChecksum
// as DecodeFrame; r's own errors, wrapped.
func ReadFrame(r io.Reader, max int) (Frame, error) {
	var h [FrameHeaderBytes]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if err == io.EOF {
			return Frame{}, io.EOF
		}
		return Frame{}, readErr(err, "frame header")
	}
	kind, n, err := parseHeader(h[:], max)
	if err != nil {
		return Frame{}, err
	}
	p, err := readPayload(r, n)
	if err != nil {
		return Frame{}, readErr(err, kind.String()+" payload")
	}
	if err := verify(h[:], p, kind); err != nil {
		return Frame{}, err
	}
	return Frame{Kind: kind, Payload: p}, nil
}

// readPayload reads n bytes, allocating at most readStepBytes ahead of
// what has arrived.
func readPayload(r io.Reader, n int) ([]byte, error) {
	p := make([]byte, min(n, readStepBytes))
	read := 0
	for {
		k, err := io.ReadFull(r, p[read:])
		if read += k; err != nil {
			return nil, err
		}
		if read == n {
			return p, nil
		}
		p = slices.Grow(p, min(n-read, len(p)))
		p = p[:len(p)+min(n-read, len(p))]
	}
}

func readErr(err error, what string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: the stream ended in a %s: %w", ErrTruncated, what, io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("wire: reading a %s: %w", what, err)
}
