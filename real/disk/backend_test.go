package disk_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/backend/storetest"
	"revoada.dev/revoada/core/store"
	"revoada.dev/revoada/real/disk"
)

func openBackend(t testing.TB, path string) *disk.Backend {
	t.Helper()
	b, err := disk.OpenBackend(path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestBackendConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) backend.Backend {
		return openBackend(t, filepath.Join(t.TempDir(), "store.db"))
	})
}

func configMap(ns, name, payload string) store.Resource {
	return store.Resource{
		Ref:  store.Ref{Kind: "ConfigMap", Namespace: ns, Name: name},
		Face: "kubernetes", Format: store.JSON, Payload: []byte(payload),
	}
}

// TestBackendReopen writes, compacts and deletes, closes, reopens, and
// expects the same bytes: resources, revision and history.
func TestBackendReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	b := openBackend(t, path)
	for i := range 30 {
		if _, err := b.Apply(t.Context(), configMap(fmt.Sprint("ns", i%3), fmt.Sprint("cm", i%7), fmt.Sprintf(`{"i":%d}`, i)), store.Expect{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Delete(t.Context(), store.Ref{Kind: "ConfigMap", Namespace: "ns0", Name: "cm0"}, store.Expect{}); err != nil {
		t.Fatal(err)
	}
	if err := b.Compact(t.Context(), 10); err != nil {
		t.Fatal(err)
	}
	before, _ := b.Snapshot(t.Context())
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(t.Context(), store.Ref{Kind: "ConfigMap", Namespace: "ns1", Name: "cm1"}, backend.ReadOptions{}); !errors.Is(err, disk.ErrClosed) {
		t.Fatalf("get after close: %v, want ErrClosed", err)
	}
	again := openBackend(t, path)
	after, _ := again.Snapshot(t.Context())
	if !slices.Equal(before, after) {
		t.Fatal("reopened store snapshots to different bytes")
	}
	if _, err := again.Watch(t.Context(), "", 9); !errors.Is(err, store.ErrCompacted) {
		t.Fatalf("watch below the compaction after reopen: %v", err)
	}
	r, err := again.Apply(t.Context(), configMap("ns", "new", "{}"), store.Expect{})
	if err != nil || r.ModRevision != 32 {
		t.Fatalf("apply after reopen: revision %d, %v; want 32", r.ModRevision, err)
	}
}

// TestBackendHistoryBounded fills the history to store.HistoryMax (a
// restore, one transaction), writes five more and expects the file's
// history to stay bounded, oldest first, across a reopen.
func TestBackendHistoryBounded(t *testing.T) {
	full := store.New()
	for i := range store.HistoryMax {
		if _, _, err := full.Apply(configMap("ns", fmt.Sprint(i%3), "{}"), store.Expect{}); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "store.db")
	b := openBackend(t, path)
	if err := b.Restore(t.Context(), full.Snapshot()); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := b.Apply(t.Context(), configMap("ns", "x", "{}"), store.Expect{}); err != nil {
			t.Fatal(err)
		}
	}
	b.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var first []byte
	db.View(func(tx *bolt.Tx) error {
		h := tx.Bucket([]byte("history"))
		n, first = h.Stats().KeyN, bytes.Clone(must(h.Cursor().First()))
		return nil
	})
	db.Close()
	if n != store.HistoryMax || binary.BigEndian.Uint64(first) != 6 {
		t.Fatalf("history holds %d events from revision %d, want %d from 6", n, binary.BigEndian.Uint64(first), store.HistoryMax)
	}
	again := openBackend(t, path)
	if _, err := again.Watch(t.Context(), "", 5); !errors.Is(err, store.ErrCompacted) {
		t.Fatalf("watch from 5: %v, want ErrCompacted", err)
	}
	w, err := again.Watch(t.Context(), "", 6)
	if err != nil {
		t.Fatalf("watch from the oldest kept revision: %v", err)
	}
	w.Close()
}

func must(k, _ []byte) []byte { return k }

func TestOpenCorrupt(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	b := openBackend(t, good)
	if _, err := b.Apply(t.Context(), configMap("ns", "a", "{}"), store.Expect{}); err != nil {
		t.Fatal(err)
	}
	b.Close()
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]func(path string){
		"garbage":   func(p string) { os.WriteFile(p, []byte(strings.Repeat("not a database ", 1000)), 0o600) },
		"truncated": func(p string) { os.WriteFile(p, data[:len(data)/3], 0o600) },
		"zeroed meta pages": func(p string) {
			bad := slices.Clone(data)
			clear(bad[:2*4096])
			os.WriteFile(p, bad, 0o600)
		},
		"bad envelope": func(p string) {
			os.WriteFile(p, data, 0o600)
			poke(t, p, "resources", []byte("ns\x00a\x00ConfigMap"), []byte{1, 2, 3})
		},
		"history gap": func(p string) {
			os.WriteFile(p, data, 0o600)
			poke(t, p, "history", []byte{0, 0, 0, 0, 0, 0, 0, 9}, []byte{1})
		},
		"foreign bbolt file": func(p string) {
			db, _ := bolt.Open(p, 0o600, nil)
			db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("theirs")); return err })
			db.Close()
		},
		"raft storage file": func(p string) {
			s, err := disk.OpenStorage(p)
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
		},
	}
	for name, damage := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "store.db")
			damage(path)
			b, err := disk.OpenBackend(path)
			if err == nil {
				b.Close()
				t.Fatal("opened a damaged file")
			}
			t.Log(err)
			if !errors.Is(err, disk.ErrCorrupt) || !strings.Contains(err.Error(), path) {
				t.Fatalf("got %v; want ErrCorrupt naming %s", err, path)
			}
		})
	}
}

// poke writes key=value into bucket of the bbolt file at path.
func poke(t *testing.T, path, bucket string, key, value []byte) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte(bucket)).Put(key, value) }); err != nil {
		t.Fatal(err)
	}
}

// TestOpenLocked expects a second open of a file in use to fail, not hang.
func TestOpenLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	openBackend(t, path)
	if b, err := disk.OpenBackend(path); !errors.Is(err, disk.ErrLocked) {
		if b != nil {
			b.Close()
		}
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
}

// BenchmarkBoltApply measures fsync'd applies: each is one bbolt
// transaction, committed to stable storage before Apply returns.
func BenchmarkBoltApply(b *testing.B) {
	be := openBackend(b, filepath.Join(b.TempDir(), "store.db"))
	refs := make([]store.Ref, 1000)
	for i := range refs {
		refs[i] = store.Ref{Kind: "ConfigMap", Namespace: fmt.Sprintf("ns-%d", i%10), Name: fmt.Sprintf("cm-%d", i)}
	}
	payload := make([]byte, 256)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r := store.Resource{Ref: refs[i%len(refs)], Face: "kubernetes", Format: store.JSON, Payload: payload}
		if _, err := be.Apply(b.Context(), r, store.Expect{}); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}
