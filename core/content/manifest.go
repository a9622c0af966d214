package content

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
)

// Entry is one resource of a store state: its key, the store revision that
// last wrote it, and the digest and size of its blob.
type Entry struct {
	Key      string
	Revision uint64
	Digest   Digest
	Size     uint64
}

// Manifest lists the resources of a store state at Revision: what a state
// root's manifest digest names (Sum of Append). Entries are sorted by Key,
// keys unique and at most KeyMax bytes; NewManifest establishes that.
type Manifest struct {
	Revision uint64
	Entries  []Entry
}

// KeyMax is the longest key a Manifest encodes (a 2-byte length).
const KeyMax = 1<<16 - 1

const entryBytesMin = 2 + 8 + 32 + 8

// NewManifest sorts entries by key and refuses duplicate or overlong keys.
// It sorts entries in place.
func NewManifest(revision uint64, entries []Entry) (Manifest, error) {
	slices.SortFunc(entries, func(a, b Entry) int { return strings.Compare(a.Key, b.Key) })
	m := Manifest{Revision: revision, Entries: entries}
	return m, m.check()
}

func (m Manifest) check() error {
	for i, e := range m.Entries {
		if len(e.Key) > KeyMax {
			return fmt.Errorf("%w: manifest entry %d: key of %d bytes, the limit is %d", ErrTooLarge, i, len(e.Key), KeyMax)
		}
		if e.Size > BlobMax {
			return fmt.Errorf("%w: manifest entry %q: size %d, the limit is %d", ErrTooLarge, e.Key, e.Size, BlobMax)
		}
		if i > 0 && m.Entries[i-1].Key >= e.Key {
			return fmt.Errorf("%w: manifest entry %d: key %q after %q (keys must be sorted and unique)", ErrMalformed, i, e.Key, m.Entries[i-1].Key)
		}
	}
	return nil
}

// Append appends the canonical, versioned encoding of m to b: a version
// byte, the revision, the entry count, then each entry (key length, key,
// revision, digest, size), fixed-width big-endian. It panics on a key over
// KeyMax (NewManifest refuses those).
func (m Manifest) Append(b []byte) []byte {
	b = append(b, manifestVersion)
	b = binary.BigEndian.AppendUint64(b, m.Revision)
	b = binary.BigEndian.AppendUint32(b, uint32(len(m.Entries)))
	for _, e := range m.Entries {
		if len(e.Key) > KeyMax {
			panic(fmt.Sprintf("content: manifest key of %d bytes", len(e.Key)))
		}
		b = binary.BigEndian.AppendUint16(b, uint16(len(e.Key)))
		b = append(b, e.Key...)
		b = binary.BigEndian.AppendUint64(b, e.Revision)
		b = append(b, e.Digest[:]...)
		b = binary.BigEndian.AppendUint64(b, e.Size)
	}
	return b
}

// Digest is the digest of m's encoding: what a state root names.
func (m Manifest) Digest() Digest { return Sum(m.Append(nil)) }

// DecodeManifest decodes the whole of b. It refuses an unknown version,
// truncation, trailing bytes, a count larger than the bytes present (before
// allocating for it), unsorted or duplicate keys and sizes over BlobMax.
func DecodeManifest(b []byte) (Manifest, error) {
	const head = 1 + 8 + 4
	if len(b) < head {
		return Manifest{}, fmt.Errorf("%w: manifest of %d bytes, header needs %d", ErrMalformed, len(b), head)
	}
	if b[0] != manifestVersion {
		return Manifest{}, fmt.Errorf("%w: manifest version %d, know %d", ErrMalformed, b[0], manifestVersion)
	}
	m := Manifest{Revision: binary.BigEndian.Uint64(b[1:])}
	n := binary.BigEndian.Uint32(b[9:])
	rest := b[head:]
	if uint64(n) > uint64(len(rest))/entryBytesMin {
		return Manifest{}, fmt.Errorf("%w: manifest claims %d entries, %d bytes hold at most %d", ErrMalformed, n, len(rest), len(rest)/entryBytesMin)
	}
	m.Entries = make([]Entry, 0, n)
	for i := range n {
		if len(rest) < entryBytesMin {
			return Manifest{}, fmt.Errorf("%w: manifest entry %d truncated", ErrMalformed, i)
		}
		k := int(binary.BigEndian.Uint16(rest))
		if len(rest) < entryBytesMin+k {
			return Manifest{}, fmt.Errorf("%w: manifest entry %d: key of %d bytes truncated", ErrMalformed, i, k)
		}
		e := Entry{Key: string(rest[2 : 2+k])}
		rest = rest[2+k:]
		e.Revision = binary.BigEndian.Uint64(rest)
		copy(e.Digest[:], rest[8:40])
		e.Size = binary.BigEndian.Uint64(rest[40:])
		rest = rest[48:]
		m.Entries = append(m.Entries, e)
	}
	if len(rest) != 0 {
		return Manifest{}, fmt.Errorf("%w: manifest has %d bytes after its %d entries", ErrMalformed, len(rest), n)
	}
	if err := m.check(); err != nil {
		return Manifest{}, err
	}
	return m, nil
}

// Diff returns the entries of m that old lacks or holds at another digest:
// what a worker holding old must fetch to hold m. Both must be sorted by key
// (as NewManifest and DecodeManifest make them); the result is in key order.
func (m Manifest) Diff(old Manifest) []Entry {
	var out []Entry
	j := 0
	for _, e := range m.Entries {
		for j < len(old.Entries) && old.Entries[j].Key < e.Key {
			j++
		}
		if j < len(old.Entries) && old.Entries[j].Key == e.Key && old.Entries[j].Digest == e.Digest {
			continue
		}
		out = append(out, e)
	}
	return out
}
