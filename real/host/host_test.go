package host_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/backend/storetest"
	"revoada.dev/revoada/core/store"
	"revoada.dev/revoada/real/disk"
	"revoada.dev/revoada/real/host"
)

func start(t *testing.T, dir string) *host.Node {
	t.Helper()
	h, err := host.Start(host.Config{Dir: dir})
	if err != nil {
		t.Fatalf("start in %s: %v", dir, err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// configMap is a ConfigMap as the kubernetes face stores it (the node
// refuses anything else under that face), with value as its data.v.
func configMap(ns, name, value string) store.Resource {
	payload, err := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": name, "namespace": ns}, "data": map[string]string{"v": value}})
	if err != nil {
		panic(err)
	}
	return store.Resource{
		Ref:  store.Ref{Kind: "ConfigMap", Namespace: ns, Name: name},
		Face: "kubernetes", Format: store.JSON, Payload: payload,
	}
}

// benchConfigMap is the i-th write of a benchmark: one of a thousand
// ConfigMaps, about 256 bytes of JSON each. (The benchmarks wrote 256 NUL
// bytes as a ConfigMap until the Kubernetes face refused them.)
func benchConfigMap(i int) store.Resource {
	return configMap("ns", fmt.Sprint("cm-", i%1000), strings.Repeat("x", 150))
}

// TestDoorRunsTheFace: whatever client sends it, the node stores only what
// the resource's face would have made (issue 10, defect 3): a Pod whose name
// would inject lines into its unit, or a payload that is not the face's
// stored form, is refused and nothing is written.
func TestDoorRunsTheFace(t *testing.T) {
	b := start(t, t.TempDir()).Backend()
	for _, r := range []store.Resource{
		{Ref: store.Ref{Kind: "Pod", Namespace: "default", Name: "x\n[Service]\nExecStartPost=/bin/touch /tmp/pwned"}, Face: "baremetal", Format: store.JSON, Payload: []byte(`{}`)},
		{Ref: store.Ref{Kind: "ConfigMap", Namespace: "ns", Name: "a"}, Face: "kubernetes", Format: store.JSON, Payload: []byte(`not json`)},
		{Ref: store.Ref{Kind: "Deployment", Name: "web.service"}, Face: "systemd", Format: store.Unit, Payload: []byte("[Service]\nExecStart=/bin/true\n")},
	} {
		if _, err := b.Apply(t.Context(), r, store.Expect{}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("apply %q: %v, want ErrInvalid", r.Ref, err)
		}
	}
	for _, kind := range []string{"Pod", "ConfigMap", "Deployment"} {
		if l, err := b.List(t.Context(), kind, "", backend.ReadOptions{}); err != nil || len(l.Items) != 0 {
			t.Fatalf("stored %+v, %v", l, err)
		}
	}
}

// TestConformance runs the store contract against a single-node mesh; it
// skips Restore, which the node refuses (see TestRestoreRefused).
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) backend.Backend { return start(t, t.TempDir()).Backend() })
}

// TestRoundTrip drives the five verbs through the node on a fake clock.
func TestRoundTrip(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, t.TempDir())
		b := h.Backend()
		ctx := t.Context()
		w, err := b.Watch(ctx, "ConfigMap", 0)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		if ev := <-w.Events(); ev.Type != store.Bookmark || ev.Revision != 0 {
			t.Fatalf("an empty store's watch starts with %s@%d", ev.Type, ev.Revision)
		}
		a, err := b.Apply(ctx, configMap("ns", "a", `{"v":1}`), store.Expect{Set: true})
		if err != nil || a.ModRevision != 1 || a.Version != 1 {
			t.Fatalf("apply: %+v, %v", a, err)
		}
		got, err := b.Get(ctx, a.Ref, backend.ReadOptions{})
		if err != nil || string(got.Payload) != string(configMap("ns", "a", `{"v":1}`).Payload) || got.ModRevision != 1 {
			t.Fatalf("get: %+v, %v", got, err)
		}
		if _, err := b.Apply(ctx, configMap("ns", "a", "{}"), store.Expect{Set: true}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("create over an existing resource: %v, want ErrConflict", err)
		}
		if _, err := b.Apply(ctx, configMap("other", "b", "{}"), store.Expect{}); err != nil {
			t.Fatal(err)
		}
		l, err := b.List(ctx, "ConfigMap", "ns", backend.ReadOptions{Local: true})
		if err != nil || len(l.Items) != 1 || l.Items[0].Ref != a.Ref || l.Revision != 2 {
			t.Fatalf("list: %+v, %v", l, err)
		}
		gone, err := b.Delete(ctx, a.Ref, store.Expect{})
		if err != nil || gone.ModRevision != 3 {
			t.Fatalf("delete: %+v, %v", gone, err)
		}
		if _, err := b.Get(ctx, a.Ref, backend.ReadOptions{}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("get after delete: %v, want ErrNotFound", err)
		}
		var seen []string
		for range 3 {
			ev := <-w.Events()
			seen = append(seen, fmt.Sprintf("%s %s@%d", ev.Type, ev.Resource.Ref, ev.Revision))
		}
		want := []string{"ADDED ConfigMap/ns/a@1", "ADDED ConfigMap/other/b@2", "DELETED ConfigMap/ns/a@3"}
		if !slices.Equal(seen, want) {
			t.Fatalf("watch saw %q, want %q", seen, want)
		}
		if c := b.Counts(); c != (backend.Counts{Resources: 1, Subscribers: 1}) {
			t.Fatalf("counts %+v", c)
		}
	})
}

// TestRestartKeepsState closes a node and starts another from the same
// directory: same ID, same resources and revisions, and writes go on.
func TestRestartKeepsState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		h := start(t, dir)
		id := h.ID()
		var last store.Resource
		for i := range 5 {
			r, err := h.Backend().Apply(t.Context(), configMap("ns", fmt.Sprint("r", i%3), fmt.Sprint(i)), store.Expect{})
			if err != nil {
				t.Fatal(err)
			}
			last = r
		}
		before, _ := h.Backend().Snapshot(t.Context())
		if err := h.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := h.Backend().Get(t.Context(), last.Ref, backend.ReadOptions{}); !errors.Is(err, host.ErrClosed) {
			t.Fatalf("get on a closed node: %v, want ErrClosed", err)
		}

		again := start(t, dir)
		if again.ID() != id {
			t.Fatalf("restarted as %s, was %s", again.ID().Short(), id.Short())
		}
		got, err := again.Backend().Get(t.Context(), last.Ref, backend.ReadOptions{})
		if err != nil || got.ModRevision != last.ModRevision || got.Version != last.Version || string(got.Payload) != string(last.Payload) {
			t.Fatalf("after restart: %+v, %v; want %+v", got, err, last)
		}
		if after, _ := again.Backend().Snapshot(t.Context()); !slices.Equal(after, before) {
			t.Fatal("the restarted store snapshots to different bytes")
		}
		next, err := again.Backend().Apply(t.Context(), configMap("ns", "new", "{}"), store.Expect{})
		if err != nil || next.ModRevision != last.ModRevision+1 {
			t.Fatalf("write after restart: revision %d, %v; want %d", next.ModRevision, err, last.ModRevision+1)
		}
		if fi, err := os.Stat(filepath.Join(dir, host.KeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("node key: %v, %v; want mode 0600", fi.Mode(), err)
		}
	})
}

// TestTicksKeepTheNodeLeading lets fake time pass: the loop ticks on the
// wall clock, and a lone voter stays the leader and keeps serving.
func TestTicksKeepTheNodeLeading(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, t.TempDir())
		time.Sleep(10*time.Second + time.Millisecond) // fake time: 100 ticks
		synctest.Wait()
		if st := h.Stats(); st.Ticks != 100 || st.Unsent != 0 {
			t.Fatalf("stats after 10s: %+v; want 100 ticks and nothing unsent", st)
		}
		if _, err := h.Backend().Apply(t.Context(), configMap("ns", "a", "{}"), store.Expect{}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestClockRate: a node told to run its clock four times fast ticks four
// times as often, and back at rate 1 as before; a rate that is not a
// positive factor is refused.
func TestClockRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, t.TempDir())
		if err := h.SetClockRate(t.Context(), 4); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second + time.Millisecond) // fake time: 40 ticks at 25 ms
		synctest.Wait()
		if err := h.SetClockRate(t.Context(), 1); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second) // 10 more
		synctest.Wait()
		if st := h.Stats(); st.Ticks != 50 {
			t.Fatalf("%d ticks in a second at 4× and one at 1×, want 50", st.Ticks)
		}
		for _, r := range []float64{0, -1} {
			if err := h.SetClockRate(t.Context(), r); err == nil {
				t.Errorf("rate %v taken", r)
			}
		}
	})
}

// TestConcurrentWriters: many goroutines write at once; every write gets
// its own revision, with no gap.
func TestConcurrentWriters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := start(t, t.TempDir()).Backend()
		const writers, writes = 8, 20
		revs := make(chan store.Revision, writers*writes)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for i := range writes {
					r, err := b.Apply(t.Context(), configMap(fmt.Sprint("w", w), fmt.Sprint(i), "{}"), store.Expect{})
					if err != nil {
						t.Error(err)
						return
					}
					revs <- r.ModRevision
				}
			})
		}
		wg.Wait()
		close(revs)
		var got []store.Revision
		for r := range revs {
			got = append(got, r)
		}
		slices.Sort(got)
		for i, r := range got {
			if r != store.Revision(i+1) {
				t.Fatalf("revisions %v: want 1..%d", got, writers*writes)
			}
		}
	})
}

// TestCallerGivesUp: a caller whose context ends stops waiting; the node
// goes on.
func TestCallerGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, t.TempDir())
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := h.Backend().Apply(ctx, configMap("ns", "a", "{}"), store.Expect{}); !errors.Is(err, context.Canceled) {
			t.Fatalf("apply with a cancelled context: %v", err)
		}
		if _, err := h.Backend().Get(t.Context(), configMap("ns", "a", "").Ref, backend.ReadOptions{}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("get: %v, want ErrNotFound", err)
		}
	})
}

// TestRestoreRefused: restore through the log is not built, and the node
// says so without changing anything.
// TestRestoreThroughLog: a restore replaces the store through the log and
// survives a restart; junk is refused before it enters the log.
func TestRestoreThroughLog(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		h := start(t, dir)
		b := h.Backend()
		if _, err := b.Apply(t.Context(), configMap("ns", "a", "{}"), store.Expect{}); err != nil {
			t.Fatal(err)
		}
		snap, _ := b.Snapshot(t.Context())
		if _, err := b.Apply(t.Context(), configMap("ns", "b", "{}"), store.Expect{}); err != nil {
			t.Fatal(err)
		}
		if err := b.Restore(t.Context(), []byte("junk")); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("restore of junk: %v, want ErrInvalid", err)
		}
		if err := b.Restore(t.Context(), snap); err != nil {
			t.Fatalf("restore: %v", err)
		}
		if after, _ := b.Snapshot(t.Context()); !slices.Equal(after, snap) {
			t.Fatal("the store is not the snapshot it was restored from")
		}
		h.Close()
	})
	synctest.Test(t, func(t *testing.T) {
		b := start(t, dir).Backend()
		if after, _ := b.Snapshot(t.Context()); b.Counts().Resources != 1 || len(after) == 0 {
			t.Fatalf("after a restart: %d resources", b.Counts().Resources)
		}
	})
}

func TestKeyReadableByOthersRefused(t *testing.T) {
	dir := t.TempDir()
	h := start(t, dir)
	h.Close()
	key := filepath.Join(dir, host.KeyFile)
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	if h, err := host.Start(host.Config{Dir: dir}); err == nil {
		h.Close()
		t.Fatal("started with a world-readable key")
	}
}

func TestSecondStartOnOneDirRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) { // bbolt waits for the lock in fake time
		dir := t.TempDir()
		start(t, dir)
		if h, err := host.Start(host.Config{Dir: dir}); !errors.Is(err, disk.ErrLocked) {
			if h != nil {
				h.Close()
			}
			t.Fatalf("second start on one directory: %v, want disk.ErrLocked", err)
		}
	})
}

// BenchmarkHostApply measures a write through the single-node log: each is
// persisted (fsync'd) before it commits, then applied.
func BenchmarkHostApply(b *testing.B) {
	h, err := host.Start(host.Config{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := h.Backend().Apply(b.Context(), benchConfigMap(i), store.Expect{}); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// TestStatsCountProposals: a node of one counts itself leader once, and
// counts its writes as etcd counts proposals: committed and applied move
// with the log, and only a write that ends without the log's answer (its
// caller gave up) fails; one the store refuses was answered by the log.
func TestStatsCountProposals(t *testing.T) {
	h := start(t, t.TempDir())
	b := h.Backend()
	if _, err := b.Apply(t.Context(), configMap("ns", "a", "1"), store.Expect{}); err != nil {
		t.Fatal(err)
	}
	s := h.Stats()
	if !s.HasLeader || s.LeaderChanges != 1 || s.Committed == 0 || s.Applied < s.Committed || s.ProposalsFailed != 0 || s.ProposalsPending != 0 {
		t.Fatalf("after a write: %+v", s)
	}
	if _, err := b.Apply(t.Context(), configMap("ns", "a", "2"), store.Expect{Set: true, Revision: 99}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a stale write: %v, want a conflict", err)
	}
	if got := h.Stats(); got.ProposalsFailed != 0 || got.Applied <= s.Applied {
		t.Fatalf("after a write the store refused: %+v", got)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := b.Apply(ctx, configMap("ns", "a", "3"), store.Expect{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("a write given up: %v", err)
	}
	if got := h.Stats(); got.ProposalsFailed != 1 || got.ProposalsPending != 0 {
		t.Fatalf("after a write given up: %+v", got)
	}
}
