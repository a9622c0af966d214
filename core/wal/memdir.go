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
//
// The blocks of what a truncation, a crash, Remove or Rename drops are
// kept (up to freeBlocksMax) for the next appends of any file in the dir: a
// log that checkpoints drops its whole old file and grows a new one, and
// fresh blocks cost their allocation, their zeroing and the page faults of
// memory the runtime had handed back.
type MemDir struct {
	files map[string]*memFile
	free  [][]byte // dropped blocks, reused by Append; their bytes are stale
}

// freeBlocksMax bounds the dropped blocks a MemDir keeps (4 MB).
const freeBlocksMax = 64

// memFile keeps its bytes in blocks of memBlockBytes, every one allocated
// whole: an append copies into the room left in the last block and never
// moves what was written before, where one growing slice copied the whole
// file each time it outgrew its array (a quarter of a chaos run's CPU).
type memFile struct {
	dir    *MemDir  // takes the blocks the file drops
	blocks [][]byte // byte off is blocks[off/memBlockBytes][off%memBlockBytes]
	size   int
	synced int // the first synced bytes are durable
}

// memBlockBytes is the size of a memFile's blocks.
const memBlockBytes = 64 << 10

// NewMemDir returns an empty MemDir.
func NewMemDir() *MemDir { return &MemDir{files: map[string]*memFile{}} }

// Open returns the named file, creating it empty.
func (d *MemDir) Open(name string) (File, error) {
	f, ok := d.files[name]
	if !ok {
		f = &memFile{dir: d}
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
	if old, ok := d.files[to]; ok && old != f {
		old.drop()
	}
	d.files[to] = f
	delete(d.files, from)
	return nil
}

// Remove deletes name, if it exists.
func (d *MemDir) Remove(name string) error {
	if f, ok := d.files[name]; ok {
		f.drop()
	}
	delete(d.files, name)
	return nil
}

// drop empties a file leaving the dir, and gives its blocks to the dir. A
// handle still open on it reads an empty file, never the bytes of the file
// its blocks go to.
func (f *memFile) drop() {
	f.cut(0)
	f.synced = 0
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
	if f.synced == f.size {
		return 0
	}
	var cuts []int
	for c := (f.synced/SectorBytes + 1) * SectorBytes; c < f.size; c += SectorBytes {
		cuts = append(cuts, c)
	}
	cuts = append([]int{f.synced}, append(cuts, f.size)...)
	cut := cuts[r.IntN(len(cuts))]
	if cut < f.size && r.IntN(2) == 0 {
		f.zero(cut)
	} else {
		f.cut(cut)
	}
	kept := cut - f.synced
	f.synced = f.size
	return kept
}

// zero overwrites the bytes from off to the end with zeros.
func (f *memFile) zero(off int) {
	for off < f.size {
		b := f.blocks[off/memBlockBytes][off%memBlockBytes:]
		n := min(len(b), f.size-off)
		clear(b[:n])
		off += n
	}
}

// cut shortens the file to size bytes, dropping the blocks past it. The
// last block's bytes past size stay until appends overwrite them: no read
// reaches them before.
func (f *memFile) cut(size int) {
	n := (size + memBlockBytes - 1) / memBlockBytes
	for _, b := range f.blocks[n:] {
		if len(f.dir.free) < freeBlocksMax {
			f.dir.free = append(f.dir.free, b)
		}
	}
	clear(f.blocks[n:])
	f.blocks = f.blocks[:n]
	f.size = size
}

// block returns a block for an append: a dropped one if the dir holds any.
func (d *MemDir) block() []byte {
	if n := len(d.free); n > 0 {
		b := d.free[n-1]
		d.free[n-1] = nil
		d.free = d.free[:n-1]
		return b
	}
	return make([]byte, memBlockBytes)
}

// Flip XORs the byte at off of the named file with mask (non-zero), as bit
// rot would, on disk and in what reads see.
func (d *MemDir) Flip(name string, off int64, mask byte) error {
	f, ok := d.files[name]
	switch {
	case !ok:
		return fmt.Errorf("wal: flip %s: no such file", name)
	case off < 0 || off >= int64(f.size):
		return fmt.Errorf("wal: flip %s: offset %d outside its %d bytes", name, off, f.size)
	case mask == 0:
		return errors.New("wal: flip: a zero mask changes nothing")
	}
	f.blocks[off/memBlockBytes][off%memBlockBytes] ^= mask
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
		return int64(f.size)
	}
	return 0
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("wal: negative offset")
	}
	if off >= int64(f.size) {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	n := 0
	for o := int(off); n < len(p) && o < f.size; {
		b := f.blocks[o/memBlockBytes][o%memBlockBytes:]
		k := copy(p[n:], b[:min(len(b), f.size-o)])
		n += k
		o += k
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Append(p []byte) error {
	for len(p) > 0 {
		i := f.size / memBlockBytes
		if i == len(f.blocks) {
			f.blocks = append(f.blocks, f.dir.block())
		}
		n := copy(f.blocks[i][f.size%memBlockBytes:], p)
		p = p[n:]
		f.size += n
	}
	return nil
}

func (f *memFile) Truncate(size int64) error {
	if size < 0 || size > int64(f.size) {
		return fmt.Errorf("wal: truncate to %d of %d bytes", size, f.size)
	}
	f.cut(int(size))
	f.synced = min(f.synced, int(size))
	return nil
}

func (f *memFile) Sync() error {
	f.synced = f.size
	return nil
}

func (f *memFile) Size() int64 { return int64(f.size) }
