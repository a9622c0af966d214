package content

import (
	"bytes"
	"fmt"
	"slices"

	"lukechampine.com/blake3/bao"
)

// Store is a content-addressed blob store in memory. Blobs larger than
// PartMax keep their Bao outboard tree (64 bytes per 16 KiB) so parts can
// be served with proofs. Not safe for concurrent use.
type Store struct {
	blobs map[Digest]*blob
	bytes uint64
}

type blob struct {
	data     []byte
	outboard []byte // Bao outboard encoding (group baoGroup); nil for blobs ≤ PartMax
}

// NewStore returns an empty Store.
func NewStore() *Store { return &Store{blobs: map[Digest]*blob{}} }

// Put stores a copy of b and returns its digest. It is idempotent; a blob
// over BlobMax is refused with ErrTooLarge.
func (s *Store) Put(b []byte) (Digest, error) {
	if len(b) > BlobMax {
		return Digest{}, fmt.Errorf("%w: blob of %d bytes, the limit is %d", ErrTooLarge, len(b), BlobMax)
	}
	d, bl := encode(b)
	s.add(d, bl)
	return d, nil
}

// putChecked stores b only if it hashes to want: what a Fetcher puts.
func (s *Store) putChecked(b []byte, want Digest) error {
	if len(b) > BlobMax {
		return fmt.Errorf("%w: blob %s of %d bytes, the limit is %d", ErrTooLarge, want.Short(), len(b), BlobMax)
	}
	d, bl := encode(b)
	if d != want {
		return fmt.Errorf("%w: blob %s assembled to %s", ErrCorrupt, want.Short(), d.Short())
	}
	s.add(d, bl)
	return nil
}

// encode hashes b (building the outboard tree of a large blob in the same
// pass) into a blob holding a copy of b.
func encode(b []byte) (Digest, *blob) {
	bl := &blob{data: bytes.Clone(b)}
	if bl.data == nil {
		bl.data = []byte{}
	}
	if len(b) <= PartMax {
		return Sum(b), bl
	}
	var root [32]byte
	bl.outboard, root = bao.EncodeBuf(bl.data, baoGroup, true)
	return root, bl
}

func (s *Store) add(d Digest, bl *blob) {
	if _, ok := s.blobs[d]; ok {
		return
	}
	s.blobs[d] = bl
	s.bytes += uint64(len(bl.data))
}

// Has reports whether the store holds d.
func (s *Store) Has(d Digest) bool { _, ok := s.blobs[d]; return ok }

// Get returns the blob d; the caller must not modify it.
func (s *Store) Get(d Digest) ([]byte, bool) {
	bl, ok := s.blobs[d]
	if !ok {
		return nil, false
	}
	return bl.data, true
}

// Len is the number of blobs held.
func (s *Store) Len() int { return len(s.blobs) }

// Bytes is the number of data bytes held (outboard trees not counted).
func (s *Store) Bytes() uint64 { return s.bytes }

// Part answers w from what the store holds: false if the blob is not held,
// w.Offset is past its end (an empty blob answers offset 0) or w.Length is
// over PartMax; the peer then tells the asker it lacks the blob. For a blob
// of at most PartMax bytes, Data is the stored blob itself: the caller must
// not modify it.
func (s *Store) Part(w Want) (Part, bool) {
	bl, ok := s.blobs[w.Digest]
	if !ok || w.Length > PartMax {
		return Part{}, false
	}
	size := uint64(len(bl.data))
	if w.Offset >= size && !(w.Offset == 0 && size == 0) {
		return Part{}, false
	}
	p := Part{Digest: w.Digest, Size: size, Offset: w.Offset}
	if size <= PartMax {
		p.Data = bl.data
		return p, true
	}
	n := w.span(size)
	capacity := int(n) + 2*PartMax/1024*64 + sliceProofMax // a misaligned range spans two groups
	if w.Offset == 0 {
		capacity += PartMax + sliceProofMax
	}
	var buf bytes.Buffer
	buf.Grow(capacity)
	s.slice(&buf, bl, w.Offset, n)
	if w.Offset == 0 {
		s.slice(&buf, bl, size-1, 1) // the size proof
	}
	p.Data = buf.Bytes()
	return p, true
}

// slice appends the Bao slice of [off, off+n) of a large blob.
func (s *Store) slice(buf *bytes.Buffer, bl *blob, off, n uint64) {
	first := off / PartMax * PartMax // the outboard form reads only the groups in the slice
	err := bao.ExtractSlice(buf, bytes.NewReader(bl.data[first:]), bytes.NewReader(bl.outboard), baoGroup, off, n)
	if err != nil {
		panic(fmt.Sprintf("content: slicing [%d,+%d) of a %d-byte blob: %v", off, n, len(bl.data), err))
	}
}

// Collect drops every blob keep refuses and returns how many it dropped.
// keep is called once per blob, in digest order; the caller decides
// reachability and retention.
func (s *Store) Collect(keep func(Digest) bool) int {
	ds := make([]Digest, 0, len(s.blobs))
	for d := range s.blobs {
		ds = append(ds, d)
	}
	slices.SortFunc(ds, func(a, b Digest) int { return bytes.Compare(a[:], b[:]) })
	dropped := 0
	for _, d := range ds {
		if !keep(d) {
			s.bytes -= uint64(len(s.blobs[d].data))
			delete(s.blobs, d)
			dropped++
		}
	}
	return dropped
}
