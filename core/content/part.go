package content

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"

	"lukechampine.com/blake3/bao"
)

// Want asks for the part of blob Digest from Offset, at most Length bytes
// (Length ≤ PartMax; 0 means PartMax).
type Want struct {
	Digest Digest
	Offset uint64
	Length uint32
}

// length is the most bytes w asks for.
func (w Want) length() uint64 {
	if w.Length == 0 {
		return PartMax
	}
	return uint64(w.Length)
}

// span is how many bytes of a blob of size bytes w covers (Offset < size).
func (w Want) span(size uint64) uint64 { return min(w.length(), size-w.Offset) }

// Part answers a Want. Size is the blob's whole size. For a blob of at most
// PartMax bytes, Data is the whole blob, checked by Sum. For a larger one,
// Data is the Bao slice (group 4, 16 KiB) of [Offset, Offset+Length) with
// its proof against Digest; at Offset 0 it is followed by the slice of the
// blob's last byte, which proves Size.
type Part struct {
	Digest Digest
	Size   uint64
	Offset uint64
	Data   []byte
}

// Verify checks p as the answer to w and returns the blob data it carries
// for w (a new slice for large blobs; a sub-slice of p.Data for small ones).
// It refuses with ErrCorrupt a part for another digest or offset, data or a
// proof not matching w.Digest; with ErrTooLarge a size over BlobMax or Data
// over PartDataMax; with ErrMalformed a want over PartMax, an offset past the
// end or a truncated or overlong slice. At Offset 0 a verified part proves
// its Size; at other offsets Size must already be known to the caller.
func (p Part) Verify(w Want) ([]byte, error) {
	if err := p.check(w); err != nil {
		return nil, err
	}
	if p.Size <= PartMax {
		if p.Size != uint64(len(p.Data)) {
			return nil, fmt.Errorf("%w: part of %s claims size %d but carries %d bytes", ErrCorrupt, w.Digest.Short(), p.Size, len(p.Data))
		}
		if Sum(p.Data) != w.Digest {
			return nil, fmt.Errorf("%w: blob %s hashes to %s", ErrCorrupt, w.Digest.Short(), Sum(p.Data).Short())
		}
		if p.Size == 0 {
			return p.Data, nil
		}
		return p.Data[p.Offset : p.Offset+w.span(p.Size)], nil
	}
	r := bytes.NewReader(p.Data)
	n := w.span(p.Size)
	out, err := p.verifySlice(r, p.Offset, n, true)
	if err != nil {
		return nil, err
	}
	if p.Offset == 0 {
		if _, err := p.verifySlice(r, p.Size-1, 1, false); err != nil {
			return nil, fmt.Errorf("size proof: %w", err)
		}
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%w: part of %s at offset %d has %d bytes after its slices", ErrMalformed, w.Digest.Short(), p.Offset, r.Len())
	}
	return out, nil
}

// check refuses a part that cannot answer w before any hashing.
func (p Part) check(w Want) error {
	switch {
	case p.Digest != w.Digest:
		return fmt.Errorf("%w: part of %s answers a want of %s", ErrCorrupt, p.Digest.Short(), w.Digest.Short())
	case p.Offset != w.Offset:
		return fmt.Errorf("%w: part of %s at offset %d answers a want at offset %d", ErrCorrupt, w.Digest.Short(), p.Offset, w.Offset)
	case w.Length > PartMax:
		return fmt.Errorf("%w: want of %s asks %d bytes, the limit is %d", ErrMalformed, w.Digest.Short(), w.Length, PartMax)
	case p.Size > BlobMax:
		return fmt.Errorf("%w: part of %s claims size %d, the limit is %d", ErrTooLarge, w.Digest.Short(), p.Size, BlobMax)
	case len(p.Data) > PartDataMax:
		return fmt.Errorf("%w: part of %s carries %d bytes, the limit is %d", ErrTooLarge, w.Digest.Short(), len(p.Data), PartDataMax)
	case p.Offset >= p.Size && !(p.Offset == 0 && p.Size == 0):
		return fmt.Errorf("%w: part of %s at offset %d is past its claimed size %d", ErrMalformed, w.Digest.Short(), p.Offset, p.Size)
	}
	return nil
}

// verifySlice reads one Bao slice of [off, off+n) from r and returns its
// verified bytes (if keep).
func (p Part) verifySlice(r *bytes.Reader, off, n uint64, keep bool) ([]byte, error) {
	var hdr [8]byte
	if _, err := r.ReadAt(hdr[:], r.Size()-int64(r.Len())); err != nil {
		return nil, fmt.Errorf("%w: part of %s at offset %d: slice header truncated", ErrMalformed, p.Digest.Short(), off)
	}
	if got := binary.LittleEndian.Uint64(hdr[:]); got != p.Size {
		return nil, fmt.Errorf("%w: part of %s at offset %d: slice header says size %d, the part %d", ErrCorrupt, p.Digest.Short(), off, got, p.Size)
	}
	var out bytes.Buffer
	var dst io.Writer = io.Discard
	if keep {
		out.Grow(int(n))
		dst = &out
	}
	ok, err := bao.DecodeSlice(dst, r, baoGroup, off, n, p.Digest)
	if err != nil {
		return nil, fmt.Errorf("%w: part of %s at offset %d: slice truncated: %v", ErrMalformed, p.Digest.Short(), off, err)
	}
	if !ok {
		return nil, fmt.Errorf("%w: part of %s at offset %d does not match its digest", ErrCorrupt, p.Digest.Short(), off)
	}
	if keep && uint64(out.Len()) != n {
		panic(fmt.Sprintf("content: verified slice of %s at %d gave %d bytes, want %d", p.Digest.Short(), off, out.Len(), n))
	}
	return out.Bytes(), nil
}

// Wire encodings: a version byte, then fixed-width big-endian fields.
const (
	wantVersion     = 1
	partVersion     = 1
	manifestVersion = 1

	wantBytes       = 1 + 32 + 8 + 4
	partHeaderBytes = 1 + 32 + 8 + 8 + 4
)

// AppendWant appends the canonical encoding of w to b.
func AppendWant(b []byte, w Want) []byte {
	b = append(b, wantVersion)
	b = append(b, w.Digest[:]...)
	b = binary.BigEndian.AppendUint64(b, w.Offset)
	return binary.BigEndian.AppendUint32(b, w.Length)
}

// DecodeWant decodes a Want from the front of b and returns the rest of b.
// It refuses an unknown version, truncation and a Length over PartMax.
func DecodeWant(b []byte) (Want, []byte, error) {
	if len(b) < wantBytes {
		return Want{}, b, fmt.Errorf("%w: want of %d bytes, want %d", ErrMalformed, len(b), wantBytes)
	}
	if b[0] != wantVersion {
		return Want{}, b, fmt.Errorf("%w: want version %d, know %d", ErrMalformed, b[0], wantVersion)
	}
	var w Want
	copy(w.Digest[:], b[1:33])
	w.Offset = binary.BigEndian.Uint64(b[33:])
	w.Length = binary.BigEndian.Uint32(b[41:])
	if w.Length > PartMax {
		return Want{}, b, fmt.Errorf("%w: want of %s asks %d bytes, the limit is %d", ErrMalformed, w.Digest.Short(), w.Length, PartMax)
	}
	return w, b[wantBytes:], nil
}

// AppendPart appends the canonical encoding of p to b.
func AppendPart(b []byte, p Part) []byte {
	b = append(b, partVersion)
	b = append(b, p.Digest[:]...)
	b = binary.BigEndian.AppendUint64(b, p.Size)
	b = binary.BigEndian.AppendUint64(b, p.Offset)
	b = binary.BigEndian.AppendUint32(b, uint32(len(p.Data)))
	return append(b, p.Data...)
}

// DecodePart decodes a Part from the front of b and returns the rest of b.
// Data is a copy. It refuses an unknown version, truncation, a size over
// BlobMax and Data longer than PartDataMax (what no honest part carries).
func DecodePart(b []byte) (Part, []byte, error) {
	if len(b) < partHeaderBytes {
		return Part{}, b, fmt.Errorf("%w: part header of %d bytes, want %d", ErrMalformed, len(b), partHeaderBytes)
	}
	if b[0] != partVersion {
		return Part{}, b, fmt.Errorf("%w: part version %d, know %d", ErrMalformed, b[0], partVersion)
	}
	var p Part
	copy(p.Digest[:], b[1:33])
	p.Size = binary.BigEndian.Uint64(b[33:])
	p.Offset = binary.BigEndian.Uint64(b[41:])
	n := binary.BigEndian.Uint32(b[49:])
	switch {
	case p.Size > BlobMax:
		return Part{}, b, fmt.Errorf("%w: part of %s claims size %d, the limit is %d", ErrTooLarge, p.Digest.Short(), p.Size, BlobMax)
	case n > PartDataMax:
		return Part{}, b, fmt.Errorf("%w: part of %s claims %d data bytes, the limit is %d", ErrTooLarge, p.Digest.Short(), n, PartDataMax)
	case uint64(len(b)-partHeaderBytes) < uint64(n):
		return Part{}, b, fmt.Errorf("%w: part of %s claims %d data bytes, %d present", ErrMalformed, p.Digest.Short(), n, len(b)-partHeaderBytes)
	}
	p.Data = bytes.Clone(b[partHeaderBytes : partHeaderBytes+int(n)])
	if p.Data == nil {
		p.Data = []byte{}
	}
	return p, b[partHeaderBytes+int(n):], nil
}
