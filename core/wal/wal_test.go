package wal_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"

	"revoada.dev/revoada/core/node"
	"revoada.dev/revoada/core/wal"
)

// persistGen draws a Persist whose entries continue the log at next.
func persistGen(t *rapid.T, next *uint64, term *uint64) node.Persist {
	var p node.Persist
	switch rapid.IntRange(0, 9).Draw(t, "shape") {
	case 0: // a snapshot from the leader
		idx := *next + uint64(rapid.IntRange(0, 5).Draw(t, "ahead"))
		p.Snapshot = &pb.Snapshot{Data: snapData(t),
			Metadata: &pb.SnapshotMetadata{Index: new(idx), Term: new(*term), ConfState: &pb.ConfState{Voters: []uint64{1, 2, 3}}}}
		*next = idx + 1
	case 1: // a local snapshot
		if *next > 1 {
			idx := uint64(rapid.Uint64Range(1, *next-1).Draw(t, "compact"))
			p.Compact = &pb.Snapshot{Data: snapData(t), Metadata: &pb.SnapshotMetadata{Index: new(idx), Term: new(*term)}}
		}
	}
	if rapid.Bool().Draw(t, "rewind") && *next > 2 {
		*next -= uint64(rapid.IntRange(1, 2).Draw(t, "back")) // a new leader overwrites the tail
	}
	for range rapid.IntRange(0, 4).Draw(t, "entries") {
		p.Entries = append(p.Entries, &pb.Entry{Index: new(*next), Term: new(*term),
			Data: rapid.SliceOfN(rapid.Byte(), 0, 700).Draw(t, "data")})
		*next++
	}
	if rapid.Bool().Draw(t, "hardstate") {
		*term += uint64(rapid.IntRange(0, 1).Draw(t, "termstep"))
		p.HardState = &pb.HardState{Term: new(*term), Vote: new(rapid.Uint64Range(0, 3).Draw(t, "vote")), Commit: new(*next - 1)}
	}
	return p
}

// snapData draws a snapshot's state: small, or past the size at which the
// log writes it straight from the message (a splice).
func snapData(t *rapid.T) []byte {
	if rapid.Bool().Draw(t, "bigsnap") {
		return bytes.Repeat([]byte{rapid.Byte().Draw(t, "snapbyte")}, rapid.IntRange(4000, 9000).Draw(t, "snaplen"))
	}
	return rapid.SliceOfN(rapid.Byte(), 0, 64).Draw(t, "snapdata")
}

func sameDurable(t interface {
	Helper()
	Fatalf(string, ...any)
}, what string, got, want node.Durable) {
	t.Helper()
	if !proto.Equal(got.Snapshot, want.Snapshot) || !proto.Equal(got.HardState, want.HardState) || len(got.Entries) != len(want.Entries) {
		t.Fatalf("%s: got snapshot %v hard state %v %d entries, want %v %v %d", what, got.Snapshot.GetMetadata(), got.HardState, len(got.Entries), want.Snapshot.GetMetadata(), want.HardState, len(want.Entries))
	}
	for i := range got.Entries {
		if !proto.Equal(got.Entries[i], want.Entries[i]) {
			t.Fatalf("%s: entry %d: got %v, want %v", what, i, got.Entries[i], want.Entries[i])
		}
	}
}

// TestMatchesMemStorage: under any sequence of saves, syncs and crashes (a
// crash tears the unsynced appends at a random sector boundary), the log
// reopened after a crash holds exactly what node.MemStorage says survives.
func TestMatchesMemStorage(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		dir := wal.NewMemDir()
		r := rand.New(rand.NewPCG(rapid.Uint64().Draw(t, "seed"), 0))
		l, err := wal.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		var ref node.MemStorage
		next, term := uint64(1), uint64(1)
		for step := range rapid.IntRange(1, 60).Draw(t, "steps") {
			switch rapid.IntRange(0, 5).Draw(t, "op") {
			case 0, 1, 2:
				p := persistGen(t, &next, &term)
				if err := l.Save(p); err != nil {
					t.Fatal(err)
				}
				ref.Save(p)
			case 3, 4:
				if err := l.Sync(); err != nil {
					t.Fatal(err)
				}
				ref.Sync()
			case 5:
				dir.Crash(r)
				ref.Crash()
				if l, err = wal.Open(dir); err != nil {
					t.Fatalf("step %d: reopen after a crash: %v", step, err)
				}
				got, _ := l.Load()
				want, _ := ref.Load()
				sameDurable(t, fmt.Sprintf("step %d", step), got, want)
				if d, _ := ref.Load(); d.HardState != nil {
					next = max(d.HardState.GetCommit()+1, 1)
				}
			}
		}
	})
}

// build writes a log of n synced batches plus an unsynced tail.
func build(t testing.TB, n int) (*wal.MemDir, node.Durable) {
	t.Helper()
	dir := wal.NewMemDir()
	l, err := wal.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range uint64(n) {
		e := &pb.Entry{Index: new(i + 1), Term: new(uint64(1)), Data: fmt.Appendf(nil, "entry %d %0200d", i, i)}
		if err := l.Save(node.Persist{Entries: []*pb.Entry{e}, HardState: &pb.HardState{Term: new(uint64(1)), Vote: new(uint64(2)), Commit: new(i)}}); err != nil {
			t.Fatal(err)
		}
		if err := l.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	want, _ := l.Load()
	e := &pb.Entry{Index: new(uint64(n + 1)), Term: new(uint64(2)), Data: make([]byte, 2000)}
	if err := l.Save(node.Persist{Entries: []*pb.Entry{e}, HardState: &pb.HardState{Term: new(uint64(2)), Vote: new(uint64(3))}}); err != nil {
		t.Fatal(err)
	}
	return dir, want
}

// TestCorruptByteRefused: flipping any single byte of a synced log makes
// Open refuse it with a CorruptError; the state is never served.
func TestCorruptByteRefused(t *testing.T) {
	dir, _ := build(t, 8)
	dir.Crash(rand.New(rand.NewPCG(1, 1))) // settle the unsynced tail
	if _, err := wal.Open(dir); err != nil {
		t.Fatal(err)
	}
	size := dir.Synced(wal.Name)
	for off := range size {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			if err := dir.Flip(wal.Name, off, mask); err != nil {
				t.Fatal(err)
			}
			l, err := wal.Open(dir)
			var ce *wal.CorruptError
			if !errors.As(err, &ce) || !errors.Is(err, wal.ErrCorrupt) {
				d := node.Durable{}
				if l != nil {
					d, _ = l.Load()
				}
				t.Fatalf("byte %d of %d xor %#x: Open = %v (served %d entries), want a CorruptError", off, size, mask, err, len(d.Entries))
			}
			if dir.Bytes(wal.Name) != size {
				t.Fatalf("byte %d: a refused log was changed: %d bytes, was %d", off, dir.Bytes(wal.Name), size)
			}
			if err := dir.Flip(wal.Name, off, mask); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := wal.Open(dir); err != nil {
		t.Fatalf("the restored log: %v", err)
	}
}

// TestTornTailEveryCut: a crash that keeps any prefix of the unsynced
// write, followed by zeros or by nothing, is repaired to the synced state.
func TestTornTailEveryCut(t *testing.T) {
	for cut := 0; ; cut++ {
		dir, want := build(t, 3)
		synced, total := dir.Synced(wal.Name), dir.Bytes(wal.Name)
		if synced+int64(cut) > total {
			break
		}
		for _, zeros := range []bool{false, true} {
			d := cloneCut(t, dir, synced+int64(cut), zeros)
			l, err := wal.Open(d)
			if err != nil {
				t.Fatalf("cut after %d unsynced bytes (zeros %v): %v", cut, zeros, err)
			}
			got, _ := l.Load()
			sameDurable(t, fmt.Sprintf("cut %d", cut), got, want)
			if rec := l.Recovery(); rec.TornBytes != d0(zeros, total, synced+int64(cut))-synced {
				t.Fatalf("cut %d: torn bytes %d", cut, rec.TornBytes)
			}
			if d.Bytes(wal.Name) != synced {
				t.Fatalf("cut %d: the log holds %d bytes after repair, want %d", cut, d.Bytes(wal.Name), synced)
			}
		}
	}
}

func d0(zeros bool, total, cut int64) int64 {
	if zeros {
		return total
	}
	return cut
}

// cloneCut is dir's log with its bytes from cut on zeroed (zeros) or gone.
func cloneCut(t *testing.T, dir *wal.MemDir, cut int64, zeros bool) *wal.MemDir {
	t.Helper()
	f, _ := dir.Open(wal.Name)
	data := make([]byte, f.Size())
	f.ReadAt(data, 0)
	if zeros {
		clear(data[cut:])
	} else {
		data = data[:cut]
	}
	out := wal.NewMemDir()
	g, _ := out.Open(wal.Name)
	g.Append(data)
	g.Sync()
	return out
}

// TestCheckpoint: a log that grows past CheckpointBytesMin is rewritten as
// a checkpoint, and reopens to the same state.
func TestCheckpoint(t *testing.T) {
	dir := wal.NewMemDir()
	l, _ := wal.Open(dir)
	data := make([]byte, 4096)
	for i := range uint64(600) {
		e := &pb.Entry{Index: new(i + 1), Term: new(uint64(1)), Data: data}
		p := node.Persist{Entries: []*pb.Entry{e}, HardState: &pb.HardState{Term: new(uint64(1)), Commit: new(i + 1)}}
		if i > 10 && i%50 == 0 {
			p.Compact = &pb.Snapshot{Data: bytes.Repeat([]byte("state"), 2000), Metadata: &pb.SnapshotMetadata{Index: new(i - 5), Term: new(uint64(1))}}
		}
		if err := l.Save(p); err != nil {
			t.Fatal(err)
		}
		if err := l.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if dir.Bytes(wal.Name) > 2*wal.CheckpointBytesMin {
		t.Fatalf("the log is %d bytes: never checkpointed", dir.Bytes(wal.Name))
	}
	want, _ := l.Load()
	l2, err := wal.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !l2.Recovery().Checkpoint {
		t.Fatal("the reopened log does not start with a checkpoint")
	}
	got, _ := l2.Load()
	sameDurable(t, "after checkpoint", got, want)
}

// failing is a MemDir whose appends fail once armed.
type failing struct {
	*wal.MemDir
	fail bool
}

type failingFile struct {
	wal.File
	d *failing
}

func (d *failing) Open(name string) (wal.File, error) {
	f, err := d.MemDir.Open(name)
	return failingFile{f, d}, err
}

func (f failingFile) Append(p []byte) error {
	if f.d.fail {
		return errors.New("no space")
	}
	return f.File.Append(p)
}

// TestFailureIsSticky: after a failed write every Save and Sync fails, and
// a reopened log holds the last synced state.
func TestFailureIsSticky(t *testing.T) {
	d := &failing{MemDir: wal.NewMemDir()}
	l, _ := wal.Open(d)
	hs := func(term uint64) node.Persist { return node.Persist{HardState: &pb.HardState{Term: new(term)}} }
	l.Save(hs(1))
	l.Sync()
	d.fail = true
	if err := l.Save(hs(2)); err == nil {
		t.Fatal("a failed append was not reported")
	}
	d.fail = false
	if err := l.Save(hs(3)); !errors.Is(err, wal.ErrFailed) {
		t.Fatalf("Save after a failure = %v, want ErrFailed", err)
	}
	if err := l.Sync(); !errors.Is(err, wal.ErrFailed) {
		t.Fatalf("Sync after a failure = %v, want ErrFailed", err)
	}
	d.MemDir.Crash(rand.New(rand.NewPCG(2, 2)))
	l2, err := wal.Open(d)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := l2.Load()
	if got.HardState.GetTerm() != 1 {
		t.Fatalf("term %d after reopen, want 1", got.HardState.GetTerm())
	}
}

// FuzzOpen: any bytes as a log open without a panic, as a state or as a
// CorruptError.
func FuzzOpen(f *testing.F) {
	dir, _ := build(f, 2)
	fl, _ := dir.Open(wal.Name)
	seed := make([]byte, fl.Size())
	fl.ReadAt(seed, 0)
	f.Add(seed)
	f.Add([]byte("RVWAL\x00\x00\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d := wal.NewMemDir()
		g, _ := d.Open(wal.Name)
		g.Append(data)
		g.Sync()
		l, err := wal.Open(d)
		if err != nil {
			if !errors.Is(err, wal.ErrCorrupt) {
				t.Fatalf("Open = %v, want a state or ErrCorrupt", err)
			}
			return
		}
		if _, err := l.Load(); err != nil {
			t.Fatal(err)
		}
	})
}

// BenchmarkOpen reopens a log of a few thousand 500-byte entries, each
// saved and synced as a follower would, and reports its size and the rate
// Open reads and replays it at:
//
//	go test ./core/wal/ -run '^$' -bench Open -cpu 1
func BenchmarkOpen(b *testing.B) {
	dir := wal.NewMemDir()
	l, err := wal.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 500)
	for i := uint64(1); i <= 6000; i++ {
		e := &pb.Entry{Index: new(i), Term: new(uint64(1)), Data: data}
		if err := l.Save(node.Persist{Entries: []*pb.Entry{e}, HardState: &pb.HardState{Term: new(uint64(1)), Commit: new(i)}}); err != nil {
			b.Fatal(err)
		}
		if err := l.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	size := dir.Bytes(wal.Name)
	b.SetBytes(size)
	b.ReportMetric(float64(size)/(1<<20), "MB")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := wal.Open(dir); err != nil {
			b.Fatal(err)
		}
	}
}
