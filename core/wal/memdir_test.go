package wal_test

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"

	"pgregory.net/rapid"

	"revoada.dev/revoada/core/wal"
)

// flatFile is the dumb reference for a MemDir file: one slice, crashed by
// the rule MemDir's doc states, drawing from the same stream in the same
// order.
type flatFile struct {
	data   []byte
	synced int
}

func (f *flatFile) crash(r *rand.Rand) int {
	if f.synced == len(f.data) {
		return 0
	}
	cuts := []int{f.synced}
	for c := (f.synced/wal.SectorBytes + 1) * wal.SectorBytes; c < len(f.data); c += wal.SectorBytes {
		cuts = append(cuts, c)
	}
	cuts = append(cuts, len(f.data))
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

// TestMemDirAgainstFlatFile drives a MemDir file and the flat reference with
// the same appends (some spanning many blocks), truncations, syncs, crashes
// and flips, and compares every read.
func TestMemDirAgainstFlatFile(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		dir := wal.NewMemDir()
		f, _ := dir.Open("f")
		var ref flatFile
		seed := rapid.Uint64().Draw(t, "seed")
		r1, r2 := rand.New(rand.NewPCG(seed, 0)), rand.New(rand.NewPCG(seed, 0))
		for range rapid.IntRange(1, 40).Draw(t, "steps") {
			switch rapid.IntRange(0, 6).Draw(t, "op") {
			case 0, 1:
				n := rapid.SampledFrom([]int{0, 1, 100, 511, 4096, 65535, 65536, 70000, 200000}).Draw(t, "len")
				p := bytes.Repeat([]byte{byte(rapid.IntRange(1, 255).Draw(t, "byte"))}, n)
				if err := f.Append(p); err != nil {
					t.Fatal(err)
				}
				ref.data = append(ref.data, p...)
			case 2:
				size := rapid.IntRange(0, len(ref.data)).Draw(t, "size")
				if err := f.Truncate(int64(size)); err != nil {
					t.Fatal(err)
				}
				ref.data, ref.synced = ref.data[:size], min(ref.synced, size)
			case 3:
				if err := f.Sync(); err != nil {
					t.Fatal(err)
				}
				ref.synced = len(ref.data)
			case 4:
				if got, want := dir.Crash(r1), ref.crash(r2); got != want {
					t.Fatalf("crash kept %d bytes, want %d", got, want)
				}
			case 5:
				if len(ref.data) > 0 {
					off := rapid.IntRange(0, len(ref.data)-1).Draw(t, "off")
					if err := dir.Flip("f", int64(off), 0x40); err != nil {
						t.Fatal(err)
					}
					ref.data[off] ^= 0x40
				}
			case 6:
				// Other files come and go, their blocks reused by f's
				// appends: f must never read their bytes, nor they f's.
				scratch(t, dir)
			}
			if f.Size() != int64(len(ref.data)) || dir.Synced("f") != int64(ref.synced) {
				t.Fatalf("size %d synced %d, want %d %d", f.Size(), dir.Synced("f"), len(ref.data), ref.synced)
			}
			off := rapid.IntRange(0, len(ref.data)).Draw(t, "readoff")
			p := make([]byte, rapid.IntRange(0, 140000).Draw(t, "readlen"))
			n, err := f.ReadAt(p, int64(off))
			want := min(len(p), len(ref.data)-off)
			if n != want || !bytes.Equal(p[:n], ref.data[off:off+n]) || (n < len(p)) != (err == io.EOF) {
				t.Fatalf("ReadAt(%d bytes at %d) = %d, %v; want %d bytes", len(p), off, n, err, want)
			}
		}
	})
}

// scratch writes two more files in dir and drops them, one renamed over the
// other and the survivor removed, so their blocks go back to the dir.
func scratch(t *rapid.T, dir *wal.MemDir) {
	for _, name := range []string{"g", "h"} {
		g, _ := dir.Open(name)
		n := rapid.SampledFrom([]int{1, 65536, 200000}).Draw(t, "scratch")
		if err := g.Append(bytes.Repeat([]byte{0xee}, n)); err != nil {
			t.Fatal(err)
		}
		if err := g.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	g, _ := dir.Open("g")
	if err := dir.Rename("g", "h"); err != nil {
		t.Fatal(err)
	}
	if err := dir.Remove("h"); err != nil {
		t.Fatal(err)
	}
	if g.Size() != 0 {
		t.Fatalf("a removed file's handle reads %d bytes", g.Size())
	}
}
