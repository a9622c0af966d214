package disk_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"

	"revoada.dev/revoada/core/node"
	"revoada.dev/revoada/real/disk"
)

func openStorage(t testing.TB, path string) *disk.Storage {
	t.Helper()
	s, err := disk.OpenStorage(path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func entries(term uint64, from, to uint64) []*pb.Entry {
	var out []*pb.Entry
	for i := from; i <= to; i++ {
		out = append(out, &pb.Entry{Term: new(term), Index: new(i), Data: fmt.Appendf(nil, "t%d i%d", term, i)})
	}
	return out
}

func snapshot(index, term uint64) *pb.Snapshot {
	return &pb.Snapshot{
		Data:     fmt.Appendf(nil, "snap %d", index),
		Metadata: &pb.SnapshotMetadata{Index: new(index), Term: new(term), ConfState: &pb.ConfState{Voters: []uint64{1}}},
	}
}

func hardState(term, vote, commit uint64) *pb.HardState {
	return &pb.HardState{Term: new(term), Vote: new(vote), Commit: new(commit)}
}

// describe renders a Durable for comparison and failure messages.
func describe(d node.Durable) string {
	var b strings.Builder
	if d.Snapshot != nil {
		fmt.Fprintf(&b, "snap i%d t%d %q; ", d.Snapshot.GetMetadata().GetIndex(), d.Snapshot.GetMetadata().GetTerm(), d.Snapshot.GetData())
	}
	if d.HardState != nil {
		fmt.Fprintf(&b, "hs t%d v%d c%d; ", d.HardState.GetTerm(), d.HardState.GetVote(), d.HardState.GetCommit())
	}
	for _, e := range d.Entries {
		fmt.Fprintf(&b, "%d/%d ", e.GetIndex(), e.GetTerm())
	}
	return b.String()
}

func load(t testing.TB, s *disk.Storage) node.Durable {
	t.Helper()
	d, err := s.Load()
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return d
}

func wantDurable(t *testing.T, s *disk.Storage, want string) {
	t.Helper()
	if got := describe(load(t, s)); got != want {
		t.Fatalf("durable\n got %s\nwant %s", got, want)
	}
}

func save(t *testing.T, s *disk.Storage, p node.Persist) {
	t.Helper()
	if err := s.Save(p); err != nil {
		t.Fatal(err)
	}
}

func sync(t *testing.T, s *disk.Storage) {
	t.Helper()
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
}

// TestStorageSemantics walks the cases of sim/disk.go one by one.
func TestStorageSemantics(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raft.db")
	s := openStorage(t, path)
	wantDurable(t, s, "")

	save(t, s, node.Persist{Snapshot: snapshot(1, 1), Entries: entries(1, 2, 5), HardState: hardState(1, 1, 3)})
	wantDurable(t, s, "") // saved, not synced
	sync(t, s)
	wantDurable(t, s, `snap i1 t1 "snap 1"; hs t1 v1 c3; 2/1 3/1 4/1 5/1 `)

	save(t, s, node.Persist{Entries: entries(2, 4, 6)}) // truncates 4 and 5
	sync(t, s)
	wantDurable(t, s, `snap i1 t1 "snap 1"; hs t1 v1 c3; 2/1 3/1 4/2 5/2 6/2 `)

	save(t, s, node.Persist{Compact: snapshot(4, 2)}) // drops up to 4
	save(t, s, node.Persist{Compact: snapshot(3, 1)}) // older than the stored one: ignored
	sync(t, s)
	wantDurable(t, s, `snap i4 t2 "snap 4"; hs t1 v1 c3; 5/2 6/2 `)

	save(t, s, node.Persist{Snapshot: snapshot(9, 3), HardState: hardState(3, 2, 9)}) // replaces the log
	sync(t, s)
	wantDurable(t, s, `snap i9 t3 "snap 9"; hs t3 v2 c9; `)

	save(t, s, node.Persist{Entries: entries(3, 10, 11)})
	sync(t, s)
	save(t, s, node.Persist{Entries: entries(4, 12, 12)}) // lost: never synced
	s.Close()
	s = openStorage(t, path)
	wantDurable(t, s, `snap i9 t3 "snap 9"; hs t3 v2 c9; 10/3 11/3 `)
}

// TestStorageMatchesSimDisk drives the bbolt storage and node.MemStorage
// (the reference semantics, which the simulator's disk uses) with
// the same random raft-like persists, syncs and crashes (close and reopen
// without a sync), and compares what each says is durable.
func TestStorageMatchesSimDisk(t *testing.T) {
	dir := t.TempDir()
	runs := 0
	rapid.Check(t, func(rt *rapid.T) {
		runs++
		path := filepath.Join(dir, fmt.Sprintf("raft-%d.db", runs))
		s, err := disk.OpenStorage(path)
		if err != nil {
			rt.Fatal(err)
		}
		defer func() { s.Close() }()
		m := &node.MemStorage{}
		g := &raftGen{}
		boot := func() { // a node with nothing durable boots afresh
			p := g.boot()
			m.Save(p)
			if err := s.Save(p); err != nil {
				rt.Fatal(err)
			}
		}
		boot()
		for step := range rapid.IntRange(1, 30).Draw(rt, "steps") {
			switch rapid.IntRange(0, 9).Draw(rt, fmt.Sprint("op", step)) {
			case 0:
				m.Crash()
				s.Close()
				if s, err = disk.OpenStorage(path); err != nil {
					rt.Fatal(err)
				}
				if durable(m).Snapshot == nil {
					boot()
				} else {
					g.reset(durable(m))
				}
			case 1, 2, 3:
				m.Sync()
				if err := s.Sync(); err != nil {
					rt.Fatal(err)
				}
			default:
				p := g.persist(rt, step)
				m.Save(p)
				if err := s.Save(p); err != nil {
					rt.Fatal(err)
				}
			}
			d, err := s.Load()
			if err != nil {
				rt.Fatal(err)
			}
			if got, want := describe(d), describe(durable(m)); got != want {
				rt.Fatalf("after step %d:\n got %s\nwant %s", step, got, want)
			}
		}
	})
}

// raftGen makes persists shaped like a raft node's: appends that may
// overwrite a suffix, hard states, received snapshots ahead of the log and
// local compactions.
type raftGen struct {
	first, last, term uint64 // the log as last persisted: (first-1 is the snapshot)
}

func (g *raftGen) boot() node.Persist {
	*g = raftGen{first: 2, last: 1, term: 1}
	return node.Persist{Snapshot: snapshot(1, 1)}
}

// reset continues from what survived a crash.
func (g *raftGen) reset(d node.Durable) {
	g.first = d.Snapshot.GetMetadata().GetIndex() + 1
	g.last = g.first - 1
	if n := len(d.Entries); n > 0 {
		g.last = d.Entries[n-1].GetIndex()
	}
}

func (g *raftGen) persist(rt *rapid.T, step int) node.Persist {
	var p node.Persist
	label := fmt.Sprint("persist", step)
	switch rapid.IntRange(0, 6).Draw(rt, label) {
	case 0: // a snapshot from the leader, beyond the log
		g.term++
		idx := g.last + uint64(rapid.IntRange(1, 5).Draw(rt, label+"ahead"))
		p.Snapshot = snapshot(idx, g.term)
		g.first, g.last = idx+1, idx
	case 1: // a local compaction within the log
		if g.last >= g.first {
			idx := g.first + uint64(rapid.IntRange(0, int(g.last-g.first)).Draw(rt, label+"at"))
			p.Compact = snapshot(idx, g.term)
			g.first = idx + 1
		}
	case 2: // a compaction no newer than the stored snapshot: ignored
		p.Compact = snapshot(uint64(rapid.IntRange(1, int(g.first-1)).Draw(rt, label+"stale")), g.term)
	default: // an append, possibly overwriting a suffix
		from := g.first + uint64(rapid.IntRange(0, int(g.last+1-g.first)).Draw(rt, label+"from"))
		if from <= g.last {
			g.term++
		}
		to := from + uint64(rapid.IntRange(0, 4).Draw(rt, label+"n"))
		p.Entries = entries(g.term, from, to)
		g.last = to
	}
	if rapid.Bool().Draw(rt, label+"hs") {
		p.HardState = hardState(g.term, 1, g.first-1)
	}
	return p
}

func TestStorageIncarnation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raft.db")
	s := openStorage(t, path)
	for want := uint64(1); want <= 3; want++ {
		got, err := s.NextIncarnation()
		if err != nil || got != want {
			t.Fatalf("incarnation %d, %v; want %d", got, err, want)
		}
	}
	s.Close()
	s = openStorage(t, path)
	if got, err := s.NextIncarnation(); err != nil || got != 4 {
		t.Fatalf("after reopen: incarnation %d, %v; want 4", got, err)
	}
}

func TestStorageCorrupt(t *testing.T) {
	cases := map[string]func(*bolt.Tx) error{
		"entry gap": func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("entries")).Delete([]byte{0, 0, 0, 0, 0, 0, 0, 3})
		},
		"bad entry": func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("entries")).Put([]byte{0, 0, 0, 0, 0, 0, 0, 4}, []byte{0xff, 0xff})
		},
		"entry at the wrong key": func(tx *bolt.Tx) error {
			b, _ := proto.Marshal(entries(1, 9, 9)[0])
			return tx.Bucket([]byte("entries")).Put([]byte{0, 0, 0, 0, 0, 0, 0, 4}, b)
		},
		"bad hard state": func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("raft")).Put([]byte("hardstate"), []byte{0xff})
		},
	}
	for name, damage := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "raft.db")
			s := openStorage(t, path)
			save(t, s, node.Persist{Snapshot: snapshot(1, 1), Entries: entries(1, 2, 5), HardState: hardState(1, 1, 3)})
			sync(t, s)
			s.Close()
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Update(damage); err != nil {
				t.Fatal(err)
			}
			db.Close()
			if s, err := disk.OpenStorage(path); !errors.Is(err, disk.ErrCorrupt) || !strings.Contains(err.Error(), path) {
				if s != nil {
					s.Close()
				}
				t.Fatalf("got %v; want ErrCorrupt naming %s", err, path)
			}
		})
	}
}

// TestStorageSavesBounded expects a storage that is never asked to sync to
// sync by itself once SavesPendingMax persists are queued.
func TestStorageSavesBounded(t *testing.T) {
	s := openStorage(t, filepath.Join(t.TempDir(), "raft.db"))
	save(t, s, node.Persist{Snapshot: snapshot(1, 1)})
	for i := range disk.SavesPendingMax - 1 {
		save(t, s, node.Persist{HardState: hardState(1, 1, uint64(i))})
	}
	if d := load(t, s); d.Snapshot == nil || d.HardState.GetCommit() != disk.SavesPendingMax-2 {
		t.Fatalf("after %d saves: %s", disk.SavesPendingMax, describe(d))
	}
}

func durable(m *node.MemStorage) node.Durable {
	d, _ := m.Load()
	return d
}

// ObserveSyncs hears each Sync that committed something, with its
// duration, and no Sync that had nothing to write.
func TestStorageObserveSyncs(t *testing.T) {
	s := openStorage(t, filepath.Join(t.TempDir(), "raft.db"))
	var took []time.Duration
	s.ObserveSyncs(func(d time.Duration) { took = append(took, d) })
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if len(took) != 0 {
		t.Fatalf("an empty Sync was observed: %v", took)
	}
	for i := range uint64(2) {
		if err := s.Save(node.Persist{Entries: entries(1, i+1, i+1)}); err != nil {
			t.Fatal(err)
		}
		if err := s.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if len(took) != 2 || took[0] <= 0 || took[1] <= 0 {
		t.Fatalf("two Syncs observed as %v", took)
	}
}
