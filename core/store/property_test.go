package store_test

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"revoada.dev/revoada/core/store"
)

// model is the dumb reference: a map of resources and the list of every
// event ever written (event i at revision i+1), with a compaction point.
type model struct {
	res       map[store.Ref]store.Resource
	events    []store.Event
	compacted store.Revision
}

func (m *model) rev() store.Revision { return store.Revision(len(m.events)) }

// write records a successful write in the model, as the contract says.
func (m *model) write(t store.EventType, r store.Resource) (store.Resource, store.Event) {
	rev := m.rev() + 1
	r.ModRevision = rev
	switch t {
	case store.Added:
		r.CreateRevision, r.Version = rev, 1
		m.res[r.Ref] = r
	case store.Modified:
		cur := m.res[r.Ref]
		r.CreateRevision, r.Version = cur.CreateRevision, cur.Version+1
		m.res[r.Ref] = r
	case store.Deleted:
		delete(m.res, r.Ref)
	}
	ev := store.Event{Type: t, Revision: rev, Resource: r}
	m.events = append(m.events, ev)
	if held := rev + 1 - m.compacted; held > store.HistoryMax {
		m.compacted = rev + 1 - store.HistoryMax
	}
	return r, ev
}

// expect answers the precondition error the model predicts, or nil.
func (m *model) expect(ref store.Ref, exp store.Expect) error {
	cur, ok := m.res[ref]
	if exp.Set && (ok && cur.ModRevision != exp.Revision || !ok && exp.Revision != 0) {
		return store.ErrConflict
	}
	return nil
}

var (
	kinds      = []string{"ConfigMap", "Job"}
	namespaces = []string{"", "a", "b"}
	names      = []string{"x", "y", "z"}
)

func allRefs() []store.Ref {
	var refs []store.Ref
	for _, k := range kinds {
		for _, ns := range namespaces {
			for _, n := range names {
				refs = append(refs, store.Ref{Kind: k, Namespace: ns, Name: n})
			}
		}
	}
	return refs
}

type machine struct {
	s    *store.Store
	m    *model
	refs []store.Ref
}

func (h *machine) drawExpect(t *rapid.T, ref store.Ref) store.Expect {
	cur := h.m.res[ref]
	switch rapid.IntRange(0, 3).Draw(t, "expect") {
	case 1:
		return store.Expect{Set: true}
	case 2:
		return store.Expect{Set: true, Revision: cur.ModRevision}
	case 3:
		return store.Expect{Set: true, Revision: store.Revision(rapid.Uint64Range(1, uint64(h.m.rev())+1).Draw(t, "rev"))}
	}
	return store.Expect{}
}

func (h *machine) apply(t *rapid.T) {
	ref := rapid.SampledFrom(h.refs).Draw(t, "ref")
	in := store.Resource{
		Ref:     ref,
		Face:    rapid.SampledFrom([]string{"kubernetes", "nomad"}).Draw(t, "face"),
		Format:  rapid.SampledFrom([]store.Format{store.JSON, store.YAML, store.Native}).Draw(t, "format"),
		Payload: rapid.SliceOfN(rapid.Byte(), 0, 8).Draw(t, "payload"),
		Version: 99, CreateRevision: 99, ModRevision: 99, // ignored by Apply
	}
	exp := h.drawExpect(t, ref)
	got, ev, err := h.s.Apply(in, exp)
	if want := h.m.expect(ref, exp); want != nil {
		assertErr(t, err, want)
		return
	}
	typ := store.Modified
	if _, ok := h.m.res[ref]; !ok {
		typ = store.Added
	}
	in.Payload = slices.Clip(in.Payload)
	wantR, wantEv := h.m.write(typ, in)
	assertWrite(t, got, ev, err, wantR, wantEv)
}

func (h *machine) delete(t *rapid.T) {
	ref := rapid.SampledFrom(h.refs).Draw(t, "ref")
	exp := h.drawExpect(t, ref)
	got, ev, err := h.s.Delete(ref, exp)
	cur, ok := h.m.res[ref]
	switch {
	case !ok:
		assertErr(t, err, store.ErrNotFound)
	case h.m.expect(ref, exp) != nil:
		assertErr(t, err, store.ErrConflict)
	default:
		wantR, wantEv := h.m.write(store.Deleted, cur)
		assertWrite(t, got, ev, err, wantR, wantEv)
	}
}

func (h *machine) invalid(t *rapid.T) {
	r := store.Resource{
		Ref:    rapid.SampledFrom([]store.Ref{{Kind: "K"}, {Kind: "K", Name: "a/b"}, {Name: "x"}, {Kind: "K", Name: "x\x00"}}).Draw(t, "bad ref"),
		Face:   "kubernetes",
		Format: store.JSON,
	}
	_, _, err := h.s.Apply(r, store.Expect{})
	assertErr(t, err, store.ErrInvalid)
}

func (h *machine) compact(t *rapid.T) {
	rev := store.Revision(rapid.Uint64Range(0, uint64(h.m.rev())+2).Draw(t, "compact"))
	h.s.Compact(rev)
	h.m.compacted = max(h.m.compacted, min(rev, h.m.rev()+1))
}

func (h *machine) events(t *rapid.T) {
	from := store.Revision(rapid.Uint64Range(0, uint64(h.m.rev())+2).Draw(t, "from"))
	kind := rapid.SampledFrom(append([]string{""}, kinds...)).Draw(t, "kind")
	got, err := h.s.Events(from, kind)
	if from != 0 && from < h.m.compacted {
		assertErr(t, err, store.ErrCompacted)
		return
	}
	var want []store.Event
	for _, ev := range h.m.events {
		if from != 0 && ev.Revision >= from && (kind == "" || ev.Resource.Ref.Kind == kind) {
			want = append(want, ev)
		}
	}
	if err != nil || len(got) != len(want) {
		t.Fatalf("Events(%d, %q): %d events, %v; want %d", from, kind, len(got), err, len(want))
	}
	for i := range want {
		if got[i].Type != want[i].Type || got[i].Revision != want[i].Revision || !equal(got[i].Resource, want[i].Resource) {
			t.Fatalf("Events(%d, %q)[%d] = %+v, want %+v", from, kind, i, got[i], want[i])
		}
	}
}

// restore swaps the store for its restored snapshot: the round trip must be
// byte-identical, and the run goes on against the restored store.
func (h *machine) restore(t *rapid.T) {
	b := h.s.Snapshot()
	r, err := store.Restore(b)
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if !bytes.Equal(r.Snapshot(), b) {
		t.Fatal("Restore(Snapshot()) re-snapshots to different bytes")
	}
	h.s = r
}

// check compares every observable of the store with the model.
func (h *machine) check(t *rapid.T) {
	if h.s.Revision() != h.m.rev() || h.s.Len() != len(h.m.res) || h.s.Compacted() != h.m.compacted {
		t.Fatalf("revision %d len %d compacted %d; model %d %d %d",
			h.s.Revision(), h.s.Len(), h.s.Compacted(), h.m.rev(), len(h.m.res), h.m.compacted)
	}
	for _, ref := range h.refs {
		got, err := h.s.Get(ref)
		want, ok := h.m.res[ref]
		if ok != (err == nil) || ok && !equal(got, want) || !ok && !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get(%s) = %+v, %v; model %+v, %v", ref, got, err, want, ok)
		}
	}
	for _, kind := range append([]string{""}, kinds...) {
		for _, ns := range namespaces {
			h.checkList(t, kind, ns)
		}
	}
}

func (h *machine) checkList(t *rapid.T, kind, ns string) {
	var want []store.Resource
	for _, r := range h.m.res {
		if (kind == "" || r.Ref.Kind == kind) && (ns == "" || r.Ref.Namespace == ns) {
			want = append(want, r)
		}
	}
	slices.SortFunc(want, func(a, b store.Resource) int { return store.Compare(a.Ref, b.Ref) })
	got, rev := h.s.List(kind, ns)
	if rev != h.m.rev() || !slices.EqualFunc(got, want, equal) {
		t.Fatalf("List(%q, %q) = %v at %d; model %v at %d", kind, ns, got, rev, want, h.m.rev())
	}
}

func TestStoreAgainstModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		h := &machine{s: store.New(), m: &model{res: map[store.Ref]store.Resource{}, compacted: 1}, refs: allRefs()}
		t.Repeat(map[string]func(*rapid.T){
			"apply":   h.apply,
			"delete":  h.delete,
			"invalid": h.invalid,
			"compact": h.compact,
			"events":  h.events,
			"restore": h.restore,
			"":        h.check,
		})
	})
}

// TestSnapshotIgnoresMapOrder builds the same content many times; map
// iteration order differs between runs, the bytes must not.
func TestSnapshotIgnoresMapOrder(t *testing.T) {
	build := func() []byte {
		s := store.New()
		for _, ref := range allRefs() {
			mustApply(t, s, res(ref, ref.String()), store.Expect{})
		}
		return s.Snapshot()
	}
	want := build()
	for range 20 {
		if !bytes.Equal(build(), want) {
			t.Fatal("equal content, different snapshot bytes")
		}
	}
}

func assertErr(t *rapid.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got %v, want %v", err, want)
	}
}

func assertWrite(t *rapid.T, got store.Resource, ev store.Event, err error, want store.Resource, wantEv store.Event) {
	t.Helper()
	if err != nil || !equal(got, want) || ev.Type != wantEv.Type || ev.Revision != wantEv.Revision || !equal(ev.Resource, wantEv.Resource) {
		t.Fatalf("write: %+v %+v %v; model %+v %+v", got, ev, err, want, wantEv)
	}
}
