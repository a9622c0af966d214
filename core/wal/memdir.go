package wal

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"slices"
)

// MemDir is a Dir in memory with the crash semantics of a disk: an Append is
// volatile until the file's Sync; Crash keeps what was synced and, of the
// appends since, a prefix cut at a sector boundary — possibly none of them,
// possibly all, possibly one torn in the middle — with zeros or nothing
// after the cut. Truncate, Rename and Remove take effect durably at once.
// The simulator's disk is a MemDir with faults on top (sim/disk.go). Not
// safe for concurrent use.
type MemDir struct {
	files map[string]*memFile
}

type memFile struct {
	data   []byte
	synced int // data[:synced] is durable
}

// NewMemDir returns an empty MemDir.
func NewMemDir() *MemDir { return &MemDir{files: map[string]*memFile{}} }

// Open returns the named file, creating it empty.
func (d *MemDir) Open(name string) (File, error) {
	f, ok := d.files[name]
	if !ok {
		f = &memFile{}
		d.files[name] = f
	}
	return f, nil
}

// Rename replaces to with from.
func (d *MemDir) Rename(from, to string) error {
	f, ok := d.files[from]
	if !ok {
		return fmt.Errorf("wal: rename %s: no such file", from)
	}
	d.files[to] = f
	delete(d.files, from)
	return nil
}

// Remove deletes name, if it exists.
func (d *MemDir) Remove(name string) error {
	delete(d.files, name)
	return nil
}

// Crash loses every file's unsynced appends, keeping a prefix of them cut
// at a sector boundary drawn from r (MemDir). It reports the bytes kept
// beyond what was synced, over all files.
func (d *MemDir) Crash(r *rand.Rand) (kept int) {
	for _, name := range slices.Sorted(maps.Keys(d.files)) {
		kept += d.files[name].crash(r)
	}
	return kept
}

// crash cuts the unsynced tail at a random sector boundary after the synced
// prefix (or keeps it all); with even odds the cut sectors read as zeros up
// to the old end, as if the file's length reached the disk but not its data.
func (f *memFile) crash(r *rand.Rand) int {
	if f.synced == len(f.data) {
		return 0
	}
	var cuts []int
	for c := (f.synced/SectorBytes + 1) * SectorBytes; c < len(f.data); c += SectorBytes {
		cuts = append(cuts, c)
	}
	cuts = append([]int{f.synced}, append(cuts, len(f.data))...)
	cut := cuts[r.IntN(len(cuts))]
	if cut < len(f.data) && r.IntN(2) == 0 {
		clear(f.data[cut:])
	} else {
		f.data = f.data[:cut]
	}
	kept := cut - f.synced
	f.synced = len(f.data)
	return kept
}

// Flip XORs the byte at off of the named file with mask (non-zero), as bit
// rot would, on disk and in what reads see.
func (d *MemDir) Flip(name string, off int64, mask byte) error {
	f, ok := d.files[name]
	switch {
	case !ok:
		return fmt.Errorf("wal: flip %s: no such file", name)
	case off < 0 || off >= int64(len(f.data)):
		return fmt.Errorf("wal: flip %s: offset %d outside its %d bytes", name, off, len(f.data))
	case mask == 0:
		return errors.New("wal: flip: a zero mask changes nothing")
	}
	f.data[off] ^= mask
	return nil
}

// Synced is how many bytes of the named file are durable (0 for none).
func (d *MemDir) Synced(name string) int64 {
	if f, ok := d.files[name]; ok {
		return int64(f.synced)
	}
	return 0
}

// Bytes is how many bytes the named file holds, synced or not.
func (d *MemDir) Bytes(name string) int64 {
	if f, ok := d.files[name]; ok {
		return int64(len(f.data))
	}
	return 0
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("wal: negative offset")
	}
	if off >= int64(len(f.data)) {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	n := copy(p, f.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Append(p []byte) error {
	f.data = append(f.data, p...)
	return nil
}

func (f *memFile) Truncate(size int64) error {
	if size < 0 || size > int64(len(f.data)) {
		return fmt.Errorf("wal: truncate to %d of %d bytes", size, len(f.data))
	}
	f.data = f.data[:size]
	f.synced = min(f.synced, int(size))
	return nil
}

func (f *memFile) Sync() error {
	f.synced = len(f.data)
	return nil
}

func (f *memFile) Size() int64 { return int64(len(f.data)) }
