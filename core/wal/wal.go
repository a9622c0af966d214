package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"revoada.dev/revoada/core/node"
)

// File is an append-only file. ReadAt reads as io.ReaderAt does; Append
// writes at the end, and does not keep p; Truncate cuts the file to size; Sync makes every
// write so far durable.
type File interface {
	ReadAt(p []byte, off int64) (int, error)
	Append(p []byte) error
	Truncate(size int64) error
	Sync() error
	Size() int64
}

// Dir holds a log's files. Open returns the named file, creating an empty
// one if there is none; Rename replaces to with from atomically and durably;
// Remove deletes a file, and is not an error for one that does not exist.
type Dir interface {
	Open(name string) (File, error)
	Rename(from, to string) error
	Remove(name string) error
}

// The files of a log.
const (
	Name = "wal"      // the log
	Next = "wal.next" // a checkpoint being written
)

// Limits and tuning.
const (
	// SectorBytes is the unit a crash tears writes at.
	SectorBytes = 512
	// RecordBytesMax bounds a record's payload; a longer one is refused by
	// Save and is corruption when read.
	RecordBytesMax = 64 << 20
	// CheckpointBytesMin and CheckpointGrowth decide when a Sync rewrites
	// the log as a checkpoint (package doc).
	CheckpointBytesMin = 1 << 20
	CheckpointGrowth   = 4
)

// frameKeepBytes is the largest frame buffer a Log keeps between records.
const frameKeepBytes = 256 << 10

const (
	headerBytes = 12
	frameBytes  = 9 // length, kind, crc
	commitBytes = frameBytes + 16

	kindPersist    = 1
	kindCommit     = 2
	kindCheckpoint = 3
)

var magic = [8]byte{'R', 'V', 'W', 'A', 'L', 0, 0, 1}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt is matched by every *CorruptError.
var ErrCorrupt = errors.New("wal: corrupt log")

// CorruptError says where a log is corrupt and how.
type CorruptError struct {
	File   string
	Offset int64
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("wal: %s is corrupt at offset %d: %s", e.File, e.Offset, e.Reason)
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// ErrFailed wraps the error of a failed write or sync, returned by every
// later Save and Sync.
var ErrFailed = errors.New("wal: an earlier write or sync failed")

// Recovery is what Open found.
type Recovery struct {
	Records    int   // records replayed, commits included
	Commits    int   // commit records replayed
	Dropped    int   // records that verified but no commit covered
	TornBytes  int64 // bytes cut from the end of the file (dropped records and the torn tail)
	Checkpoint bool  // the file starts with a checkpoint
	Created    bool  // there was no log: a new one was written
}

// Log is a node.Storage on a Dir. It is not safe for concurrent use.
type Log struct {
	dir        Dir
	f          File
	mem        node.MemStorage
	size       int64  // bytes in f
	chain      uint32 // crc of the last record written
	seq        uint64 // the last commit's sequence number
	dirty      bool   // records since the last commit
	checkpoint int64  // size of the file the last checkpoint made (the header if none)
	err        error  // sticky: a write or sync failed
	rec        Recovery
	buf        []byte   // the frame buffer (frame, seal)
	splices    []splice // the frame's splices (appendPersist); cleared after each record
}

var _ node.Storage = (*Log)(nil)

// Open replays the log in dir, creating it if absent, and cuts a torn tail
// (package doc). A corrupt log is refused with a *CorruptError; a failure
// to read or write the dir is returned as it is, wrapped.
func Open(dir Dir) (*Log, error) {
	if err := dir.Remove(Next); err != nil {
		return nil, fmt.Errorf("wal: remove %s: %w", Next, err)
	}
	f, err := dir.Open(Name)
	if err != nil {
		return nil, fmt.Errorf("wal: open %s: %w", Name, err)
	}
	l := &Log{dir: dir, f: f}
	data := make([]byte, f.Size())
	if n, err := f.ReadAt(data, 0); n < len(data) {
		return nil, fmt.Errorf("wal: read %s: %w", Name, err)
	}
	if allZero(data[:min(len(data), headerBytes)]) {
		// No log, or a crash before its header was synced.
		return l, l.create()
	}
	if err := l.replay(data); err != nil {
		return nil, err
	}
	return l, nil
}

// create starts an empty log in l.f.
func (l *Log) create() error {
	l.rec.Created = true
	if err := l.f.Truncate(0); err != nil {
		return fmt.Errorf("wal: truncate %s: %w", Name, err)
	}
	l.size = 0
	if err := l.writeHeader(); err != nil {
		return err
	}
	l.checkpoint = headerBytes
	return l.Sync()
}

// writeHeader starts a file: the header, which begins the checksum chain.
func (l *Log) writeHeader() error {
	l.chain = crc32.Checksum(magic[:], castagnoli)
	return l.write(binary.LittleEndian.AppendUint32(magic[:], l.chain))
}

// replay reads data, a whole log file, into l.mem, and truncates it after
// the last commit.
func (l *Log) replay(data []byte) error {
	bad := func(off int, format string, args ...any) error {
		return &CorruptError{File: Name, Offset: int64(off), Reason: fmt.Sprintf(format, args...)}
	}
	if len(data) < headerBytes || [8]byte(data[:8]) != magic {
		if len(data) >= 8 && string(data[:5]) == string(magic[:5]) {
			return bad(0, "format version %d, this build reads %d", data[7], magic[7])
		}
		return bad(0, "not a revoada write-ahead log")
	}
	chain := crc32.Checksum(magic[:], castagnoli)
	if binary.LittleEndian.Uint32(data[8:]) != chain {
		return bad(8, "header checksum mismatch")
	}
	off, committed, committedChain := headerBytes, headerBytes, chain
	var seq uint64
	pending := 0 // records since the last commit
	for off < len(data) {
		r, why := parse(data, off, chain)
		if why != "" {
			// A tear cuts or zeroes bytes but never changes them: a commit
			// header with another length is rot.
			tearable := r.kind != kindCommit || r.end-off-frameBytes == 16
			if tearable && torn(data, off, r.end) && !commitAfter(data, off) {
				break
			}
			return bad(off, "%s", why)
		}
		switch r.kind {
		case kindPersist, kindCheckpoint:
			if r.kind == kindCheckpoint && off != headerBytes {
				return bad(off, "a checkpoint record after the start of the file")
			}
			p, err := decodePersist(r.payload)
			if err != nil {
				return bad(off, "%s record: %v", kindName(r.kind), err)
			}
			if err := l.mem.Save(p); err != nil {
				return bad(off, "%s record: %v", kindName(r.kind), err)
			}
			l.rec.Checkpoint = l.rec.Checkpoint || r.kind == kindCheckpoint
			pending++
		case kindCommit:
			s, at := binary.LittleEndian.Uint64(r.payload), binary.LittleEndian.Uint64(r.payload[8:])
			if at != uint64(off) {
				return bad(off, "commit record says it is at offset %d", at)
			}
			if l.rec.Commits > 0 && s != seq+1 {
				return bad(off, "commit %d follows commit %d", s, seq)
			}
			seq = s
			if err := l.mem.Sync(); err != nil {
				return bad(off, "commit: %v", err)
			}
			l.rec.Commits++
			committed, committedChain, pending = r.end, r.crc, 0
		}
		l.rec.Records++
		chain, off = r.crc, r.end
	}
	l.mem.Crash() // what no commit covers was never synced
	l.rec.Dropped = pending
	l.rec.TornBytes = int64(len(data) - committed)
	l.size, l.chain, l.seq = int64(committed), committedChain, seq
	l.checkpoint = int64(len(data))
	if l.rec.Checkpoint {
		l.checkpoint = int64(committed)
	}
	if l.rec.TornBytes > 0 {
		if err := l.f.Truncate(int64(committed)); err != nil {
			return fmt.Errorf("wal: truncate %s: %w", Name, err)
		}
		if err := l.f.Sync(); err != nil {
			return fmt.Errorf("wal: sync %s: %w", Name, err)
		}
	}
	return nil
}

func kindName(k byte) string {
	switch k {
	case kindPersist:
		return "persist"
	case kindCommit:
		return "commit"
	case kindCheckpoint:
		return "checkpoint"
	}
	return fmt.Sprintf("kind %d", k)
}

// record is one parsed record.
type record struct {
	kind    byte
	payload []byte
	crc     uint32
	end     int // offset after the record; -1 if the frame is too short to say
}

// parse reads the record at off; why says what is wrong with it, if
// anything. r.end is set whenever the length could be read.
func parse(data []byte, off int, prev uint32) (r record, why string) {
	r.end = -1
	if len(data)-off < 5 {
		return r, "a record header cut short by the end of the file"
	}
	n := int64(binary.LittleEndian.Uint32(data[off:]))
	r.kind = data[off+4]
	r.end = off + frameBytes + int(n)
	switch {
	case n > RecordBytesMax:
		return r, fmt.Sprintf("record length %d exceeds %d", n, RecordBytesMax)
	case r.kind == kindCommit && n != 16:
		return r, fmt.Sprintf("commit record of %d bytes, want 16", n)
	case r.kind != kindPersist && r.kind != kindCommit && r.kind != kindCheckpoint:
		return r, fmt.Sprintf("unknown record kind %d", r.kind)
	case n == 0:
		return r, kindName(r.kind) + " record with no payload"
	case r.end > len(data):
		return r, fmt.Sprintf("a %d-byte record cut short by the end of the file", n)
	}
	r.payload = data[off+5 : r.end-4]
	r.crc = checksum(prev, data[off:r.end-4], nil)
	if got := binary.LittleEndian.Uint32(data[r.end-4:]); got != r.crc {
		return r, fmt.Sprintf("%s record checksum %08x, want %08x", kindName(r.kind), got, r.crc)
	}
	return r, ""
}

// checksum chains frame (length, kind, payload, with sp spliced in) to the
// previous record: the CRC-32C with its top bit set, so that a record's
// last byte on disk is never zero (see torn).
func checksum(prev uint32, frame []byte, sp []splice) uint32 {
	var p [4]byte
	binary.LittleEndian.PutUint32(p[:], prev)
	c, at := crc32.Checksum(p[:], castagnoli), 0
	for _, s := range sp {
		c = crc32.Update(crc32.Update(c, castagnoli, frame[at:s.at]), castagnoli, s.data)
		at = s.at
	}
	return crc32.Update(c, castagnoli, frame[at:]) | 1<<31
}

// torn reports whether the record at off, claiming to end at end (-1:
// unknown), was cut by a crash: its header or its claimed end reaches past
// the last nonzero byte of the file (a crash leaves zeros or nothing after
// what reached the disk). A complete record ends in a nonzero byte, so rot
// inside one never looks torn, except a flip that zeroes exactly the last
// byte of the file.
func torn(data []byte, off, end int) bool {
	z := len(data)
	for z > off && data[z-1] == 0 {
		z--
	}
	return off+5 > z || end < 0 || end > z
}

// commitAfter reports whether a commit record that names its own offset
// starts after off.
func commitAfter(data []byte, off int) bool {
	for p := off + 1; p+commitBytes <= len(data); p++ {
		if binary.LittleEndian.Uint32(data[p:]) == 16 && data[p+4] == kindCommit &&
			binary.LittleEndian.Uint64(data[p+13:]) == uint64(p) {
			return true
		}
	}
	return false
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// Recovery says what Open found.
func (l *Log) Recovery() Recovery { return l.rec }

// Save appends p and applies it to the in-memory image.
func (l *Log) Save(p node.Persist) error {
	if l.err != nil {
		return l.err
	}
	if p.Empty() {
		return nil
	}
	b, sp, err := appendPersist(l.frame(kindPersist), p, l.splices[:0], spliceBytesMin)
	if err != nil {
		return fmt.Errorf("wal: save: %w", err)
	}
	if n := len(b) - 5 + splicedBytes(sp); n > RecordBytesMax {
		return fmt.Errorf("wal: save: a %d-byte record exceeds %d", n, RecordBytesMax)
	}
	if err := l.writeRecord(b, sp); err != nil {
		return err
	}
	l.dirty = true
	return l.mem.Save(p)
}

// Sync appends a commit record, if anything was saved since the last, and
// syncs the file; it may then checkpoint (package doc).
func (l *Log) Sync() error {
	if err := l.commit(); err != nil {
		return err
	}
	if l.size > CheckpointBytesMin && l.size > CheckpointGrowth*l.checkpoint {
		return l.rewrite()
	}
	return nil
}

// commit appends a commit record if anything was saved since the last one,
// and syncs the file.
func (l *Log) commit() error {
	if l.err != nil {
		return l.err
	}
	if l.dirty {
		var c [16]byte
		binary.LittleEndian.PutUint64(c[:], l.seq+1)
		binary.LittleEndian.PutUint64(c[8:], uint64(l.size))
		if err := l.write(l.seal(append(l.frame(kindCommit), c[:]...), nil)); err != nil {
			return err
		}
		l.seq++
		l.dirty = false
	}
	if err := l.f.Sync(); err != nil {
		return l.fail(fmt.Errorf("wal: sync %s: %w", Name, err))
	}
	if err := l.mem.Sync(); err != nil {
		return l.fail(err)
	}
	return nil
}

// rewrite writes the durable state as a checkpoint into Next and renames it
// over the log.
func (l *Log) rewrite() error {
	d, err := l.mem.Load()
	if err != nil {
		return l.fail(err)
	}
	b, sp, err := appendPersist(l.frame(kindCheckpoint), node.Persist{Snapshot: d.Snapshot, Entries: d.Entries, HardState: d.HardState}, l.splices[:0], spliceBytesMin)
	if n := len(b) - 5 + splicedBytes(sp); err == nil && n > RecordBytesMax {
		err = fmt.Errorf("a %d-byte record exceeds %d", n, RecordBytesMax)
	}
	if err != nil {
		return l.fail(fmt.Errorf("wal: checkpoint: %w", err))
	}
	f, err := l.dir.Open(Next)
	if err != nil {
		return l.fail(fmt.Errorf("wal: open %s: %w", Next, err))
	}
	old := l.f
	l.f, l.size = f, 0
	if err := f.Truncate(0); err != nil {
		return l.fail(fmt.Errorf("wal: truncate %s: %w", Next, err))
	}
	if err := l.writeHeader(); err != nil {
		return err
	}
	if err := l.writeRecord(b, sp); err != nil {
		return err
	}
	l.dirty = true
	if err := l.commit(); err != nil {
		return err
	}
	if err := l.dir.Rename(Next, Name); err != nil {
		l.f = old
		return l.fail(fmt.Errorf("wal: rename %s: %w", Next, err))
	}
	l.checkpoint = l.size
	return nil
}

// frame begins a record of kind in l's frame buffer: the payload is
// appended to what it returns, and seal finishes the record. The buffer is
// reused from record to record (Append copies what it is given), so a
// record is encoded once, straight into its frame.
func (l *Log) frame(kind byte) []byte {
	return append(l.buf[:0], 0, 0, 0, 0, kind)
}

// seal fills in the length of b, a record begun by frame with its payload
// appended and sp spliced in, chains it to the last record written, and
// advances the chain. It keeps b's array for the next frame unless it is
// over frameKeepBytes (a checkpoint's): a node would otherwise hold its
// largest record twice.
func (l *Log) seal(b []byte, sp []splice) []byte {
	binary.LittleEndian.PutUint32(b, uint32(len(b)-5+splicedBytes(sp)))
	l.chain = checksum(l.chain, b, sp)
	b = binary.LittleEndian.AppendUint32(b, l.chain)
	if cap(b) <= frameKeepBytes {
		l.buf = b
	}
	return b
}

// writeRecord seals b, a record begun by frame with its payload appended and
// sp spliced in, and writes it piece by piece: the file holds the same
// bytes as for one write of the whole record.
func (l *Log) writeRecord(b []byte, sp []splice) error {
	b = l.seal(b, sp)
	defer clear(sp) // hold no snapshot past its record
	l.splices = sp[:0]
	at := 0
	for _, s := range sp {
		if err := l.write(b[at:s.at]); err != nil {
			return err
		}
		if err := l.write(s.data); err != nil {
			return err
		}
		at = s.at
	}
	return l.write(b[at:])
}

func (l *Log) write(b []byte) error {
	if err := l.f.Append(b); err != nil {
		return l.fail(fmt.Errorf("wal: write %s: %w", Name, err))
	}
	l.size += int64(len(b))
	return nil
}

// fail makes err sticky: it is returned now, and ErrFailed wrapping it by
// every later Save and Sync.
func (l *Log) fail(err error) error {
	l.err = fmt.Errorf("%w: %w", ErrFailed, err)
	return err
}

// Load returns what is durable: what Open replayed and every Sync since.
func (l *Log) Load() (node.Durable, error) { return l.mem.Load() }
