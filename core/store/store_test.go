package store_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"revoada.dev/revoada/core/store"
)

func cm(ns, name string) store.Ref { return store.Ref{Kind: "ConfigMap", Namespace: ns, Name: name} }

func res(ref store.Ref, payload string) store.Resource {
	return store.Resource{Ref: ref, Face: "kubernetes", Format: store.JSON, Payload: []byte(payload)}
}

func mustApply(t testing.TB, s *store.Store, r store.Resource, exp store.Expect) store.Resource {
	t.Helper()
	got, _, err := s.Apply(r, exp)
	if err != nil {
		t.Fatalf("apply %s: %v", r.Ref, err)
	}
	return got
}

func TestApplyCreatesThenModifies(t *testing.T) {
	s := store.New()
	created, ev, err := s.Apply(res(cm("ns", "a"), `{"v":1}`), store.Expect{})
	if err != nil || ev.Type != store.Added || created.CreateRevision != 1 || created.ModRevision != 1 || created.Version != 1 {
		t.Fatalf("create: %+v %+v %v", created, ev, err)
	}
	updated, ev, err := s.Apply(res(cm("ns", "a"), `{"v":1}`), store.Expect{Set: true, Revision: 1})
	if err != nil || ev.Type != store.Modified || updated.CreateRevision != 1 || updated.ModRevision != 2 || updated.Version != 2 {
		t.Fatalf("identical update must still write: %+v %+v %v", updated, ev, err)
	}
	if got, err := s.Get(cm("ns", "a")); err != nil || got.ModRevision != 2 || string(got.Payload) != `{"v":1}` {
		t.Fatalf("get: %+v %v", got, err)
	}
	if s.Revision() != 2 || s.Len() != 1 {
		t.Fatalf("revision %d len %d", s.Revision(), s.Len())
	}
}

func TestApplyCopiesPayload(t *testing.T) {
	s := store.New()
	p := []byte("original")
	mustApply(t, s, store.Resource{Ref: cm("", "a"), Face: "pureraft", Format: store.Native, Payload: p}, store.Expect{})
	copy(p, "mutated!")
	if got, _ := s.Get(cm("", "a")); string(got.Payload) != "original" {
		t.Fatalf("store aliases the caller's payload: %q", got.Payload)
	}
}

func TestDeleteEventCarriesLastState(t *testing.T) {
	s := store.New()
	mustApply(t, s, res(cm("ns", "a"), "1"), store.Expect{})
	mustApply(t, s, res(cm("ns", "b"), "2"), store.Expect{})
	last := mustApply(t, s, res(cm("ns", "a"), "3"), store.Expect{})
	got, ev, err := s.Delete(cm("ns", "a"), store.Expect{Set: true, Revision: last.ModRevision})
	if err != nil {
		t.Fatal(err)
	}
	want := last
	want.ModRevision = 4
	if ev.Type != store.Deleted || ev.Revision != 4 || !equal(ev.Resource, want) || !equal(got, want) {
		t.Fatalf("delete: got %+v event %+v, want %+v", got, ev, want)
	}
	if _, err := s.Get(cm("ns", "a")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
}

func TestInvalidInputLeavesStoreUnchanged(t *testing.T) {
	good := res(cm("ns", "a"), "{}")
	cases := map[string]struct {
		mutate func(*store.Resource)
		field  string
	}{
		"empty name":     {func(r *store.Resource) { r.Ref.Name = "" }, "name"},
		"empty kind":     {func(r *store.Resource) { r.Ref.Kind = "" }, "kind"},
		"slash":          {func(r *store.Resource) { r.Ref.Name = "a/b" }, "name"},
		"NUL":            {func(r *store.Resource) { r.Ref.Namespace = "n\x00s" }, "namespace"},
		"control":        {func(r *store.Resource) { r.Ref.Name = "a\tb" }, "name"},
		"bidi override":  {func(r *store.Resource) { r.Ref.Name = "txt.\u202eexe" }, "name"},
		"zero width":     {func(r *store.Resource) { r.Ref.Kind = "Po\u200bd" }, "kind"},
		"not UTF-8":      {func(r *store.Resource) { r.Ref.Name = "\xff" }, "name"},
		"oversize name":  {func(r *store.Resource) { r.Ref.Name = strings.Repeat("n", store.NameBytesMax+1) }, "name"},
		"empty face":     {func(r *store.Resource) { r.Face = "" }, "face"},
		"zero format":    {func(r *store.Resource) { r.Format = 0 }, "format"},
		"unknown format": {func(r *store.Resource) { r.Format = 99 }, "format"},
		"oversize bytes": {func(r *store.Resource) { r.Payload = make([]byte, store.PayloadBytesMax+1) }, "payload"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			s := store.New()
			mustApply(t, s, good, store.Expect{})
			before := s.Snapshot()
			r := good
			c.mutate(&r)
			_, _, err := s.Apply(r, store.Expect{})
			var inv *store.InvalidError
			if !errors.Is(err, store.ErrInvalid) || !errors.As(err, &inv) || inv.Field != c.field {
				t.Fatalf("got %v, want an InvalidError on %s", err, c.field)
			}
			if !bytes.Equal(s.Snapshot(), before) {
				t.Fatal("a rejected apply changed the store")
			}
		})
	}
	s := store.New()
	if _, err := s.Get(cm("ns", "a/b")); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("get of a bad ref: %v", err)
	}
	if _, _, err := s.Delete(cm("", ""), store.Expect{}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("delete of a bad ref: %v", err)
	}
}

func TestPayloadAtLimitIsAccepted(t *testing.T) {
	s := store.New()
	r := res(cm("", "big"), "")
	r.Payload = make([]byte, store.PayloadBytesMax)
	mustApply(t, s, r, store.Expect{})
}

func TestConflictNamesCurrentRevision(t *testing.T) {
	s := store.New()
	a := mustApply(t, s, res(cm("", "a"), "1"), store.Expect{})
	mustApply(t, s, res(cm("", "a"), "2"), store.Expect{})
	cases := map[string]struct {
		do   func() error
		want store.ConflictError
	}{
		"stale apply": {func() error {
			_, _, err := s.Apply(res(cm("", "a"), "3"), store.Expect{Set: true, Revision: a.ModRevision})
			return err
		}, store.ConflictError{Ref: cm("", "a"), Want: 1, Current: 2}},
		"must not exist": {func() error {
			_, _, err := s.Apply(res(cm("", "a"), "3"), store.Expect{Set: true})
			return err
		}, store.ConflictError{Ref: cm("", "a"), Want: 0, Current: 2}},
		"expect on absent": {func() error {
			_, _, err := s.Apply(res(cm("", "b"), "3"), store.Expect{Set: true, Revision: 2})
			return err
		}, store.ConflictError{Ref: cm("", "b"), Want: 2, Current: 0}},
		"stale delete": {func() error {
			_, _, err := s.Delete(cm("", "a"), store.Expect{Set: true, Revision: 1})
			return err
		}, store.ConflictError{Ref: cm("", "a"), Want: 1, Current: 2}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			err := c.do()
			var ce *store.ConflictError
			if !errors.Is(err, store.ErrConflict) || !errors.As(err, &ce) || *ce != c.want {
				t.Fatalf("got %v, want %+v", err, c.want)
			}
			if s.Revision() != 2 {
				t.Fatalf("a failed precondition wrote: revision %d", s.Revision())
			}
		})
	}
}

func TestNotFound(t *testing.T) {
	s := store.New()
	if _, err := s.Get(cm("", "a")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("get: %v", err)
	}
	if _, _, err := s.Delete(cm("", "a"), store.Expect{Set: true, Revision: 3}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("delete: %v", err)
	}
	if s.Revision() != 0 {
		t.Errorf("revision %d", s.Revision())
	}
}

func TestUnsupported(t *testing.T) {
	s := store.New()
	if _, _, err := s.Exec(store.Command{Op: 9}); !errors.Is(err, store.ErrUnsupported) {
		t.Errorf("exec op 9: %v", err)
	}
	cmd := store.AppendCommand(nil, store.Command{Op: store.OpDelete, Ref: cm("", "a")})
	cmd[0] = 2
	if _, _, err := store.DecodeCommand(cmd); !errors.Is(err, store.ErrUnsupported) {
		t.Errorf("command version 2: %v", err)
	}
	cmd[0], cmd[1] = 1, 9
	if _, _, err := store.DecodeCommand(cmd); !errors.Is(err, store.ErrUnsupported) {
		t.Errorf("op 9: %v", err)
	}
}

func TestEventsAndCompaction(t *testing.T) {
	s := store.New()
	if evs, err := s.Events(1, ""); err != nil || len(evs) != 0 {
		t.Fatalf("empty store: %v %v", evs, err)
	}
	for i := range 5 {
		mustApply(t, s, res(cm("", fmt.Sprint(i)), "x"), store.Expect{})
	}
	if evs, _ := s.Events(0, ""); len(evs) != 0 {
		t.Fatalf("from 0 is 'from now': %v", evs)
	}
	s.Compact(3)
	if s.Compacted() != 3 {
		t.Fatalf("compacted %d", s.Compacted())
	}
	_, err := s.Events(2, "")
	if !errors.Is(err, store.ErrCompacted) || !strings.Contains(err.Error(), "oldest revision held is 3") {
		t.Fatalf("events from 2: %v", err)
	}
	if evs, err := s.Events(3, ""); err != nil || len(evs) != 3 || evs[0].Revision != 3 {
		t.Fatalf("events from 3: %v %v", evs, err)
	}
	s.Compact(100)
	if s.Compacted() != 6 {
		t.Fatalf("compact beyond the revision: compacted %d, want 6", s.Compacted())
	}
	if evs, err := s.Events(6, ""); err != nil || len(evs) != 0 {
		t.Fatalf("events from next: %v %v", evs, err)
	}
}

func TestHistoryIsBounded(t *testing.T) {
	s := store.New()
	for i := range store.HistoryMax + 5 {
		mustApply(t, s, res(cm("", fmt.Sprint(i%7)), "x"), store.Expect{})
	}
	if s.Compacted() != 6 {
		t.Fatalf("compacted %d, want 6", s.Compacted())
	}
	evs, err := s.Events(6, "")
	if err != nil || len(evs) != store.HistoryMax {
		t.Fatalf("%d events, %v", len(evs), err)
	}
	if _, err := s.Events(5, ""); !errors.Is(err, store.ErrCompacted) {
		t.Fatalf("events from 5: %v", err)
	}
	restored, err := store.Restore(s.Snapshot())
	if err != nil || !bytes.Equal(restored.Snapshot(), s.Snapshot()) {
		t.Fatalf("restore of a full history: %v", err)
	}
}

func TestListOrderAndFilters(t *testing.T) {
	s := store.New()
	for _, ref := range []store.Ref{cm("b", "x"), cm("a", "y"), cm("a", "x"), {Kind: "Secret", Namespace: "a", Name: "x"}, cm("", "z")} {
		mustApply(t, s, res(ref, "{}"), store.Expect{})
	}
	names := func(rs []store.Resource) string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Ref.String())
		}
		return strings.Join(out, " ")
	}
	cases := []struct{ kind, ns, want string }{
		{"ConfigMap", "", "ConfigMap/z ConfigMap/a/x ConfigMap/a/y ConfigMap/b/x"},
		{"ConfigMap", "a", "ConfigMap/a/x ConfigMap/a/y"},
		{"", "a", "ConfigMap/a/x Secret/a/x ConfigMap/a/y"},
		{"Pod", "", ""},
	}
	for _, c := range cases {
		got, rev := s.List(c.kind, c.ns)
		if names(got) != c.want || rev != 5 {
			t.Errorf("List(%q, %q) = %q at %d, want %q at 5", c.kind, c.ns, names(got), rev, c.want)
		}
	}
}

func TestCommandRoundTrip(t *testing.T) {
	cmds := []store.Command{
		{Op: store.OpApply, Resource: res(cm("ns", "a"), `{"a":1}`), Expect: store.Expect{Set: true, Revision: 7}},
		{Op: store.OpApply, Resource: res(cm("", "b"), "")},
		{Op: store.OpDelete, Ref: cm("ns", "a"), Expect: store.Expect{Set: true}},
	}
	var b []byte
	for _, c := range cmds {
		b = store.AppendCommand(b, c)
	}
	for i, want := range cmds {
		got, rest, err := store.DecodeCommand(b)
		if err != nil || got.Op != want.Op || got.Ref != want.Ref || got.Expect != want.Expect || !equal(got.Resource, want.Resource) {
			t.Fatalf("command %d: got %+v, %v; want %+v", i, got, err, want)
		}
		b = rest
	}
	if len(b) != 0 {
		t.Fatalf("%d bytes left", len(b))
	}
	s := store.New()
	for _, c := range cmds {
		if _, _, err := s.Exec(c); err != nil && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
	}
}

// TestEnvelopeMatchesDoc pins the envelope byte by byte as the package doc
// documents it.
func TestEnvelopeMatchesDoc(t *testing.T) {
	r := store.Resource{Ref: store.Ref{Kind: "K", Namespace: "", Name: "nm"}, Face: "f", Format: store.YAML,
		Payload: []byte("xy"), CreateRevision: 2, ModRevision: 3, Version: 2}
	want := []byte{1, 0, 1, 'K', 0, 0, 0, 2, 'n', 'm', 0, 1, 'f', byte(store.YAML)}
	want = binary.BigEndian.AppendUint64(want, 2)
	want = binary.BigEndian.AppendUint64(want, 3)
	want = binary.BigEndian.AppendUint64(want, 2)
	want = append(want, 0, 0, 0, 2, 'x', 'y')
	if got := store.AppendResource(nil, r); !bytes.Equal(got, want) {
		t.Fatalf("envelope\n got %x\nwant %x", got, want)
	}
	got, rest, err := store.DecodeResource(append(want, 0xEE))
	if err != nil || !equal(got, r) || !bytes.Equal(rest, []byte{0xEE}) {
		t.Fatalf("decode: %+v %x %v", got, rest, err)
	}
	if _, _, err := store.DecodeResource(want[:len(want)-1]); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("truncated envelope: %v", err)
	}
}

func TestRestoreRejects(t *testing.T) {
	s := store.New()
	mustApply(t, s, res(cm("", "a"), "1"), store.Expect{})
	mustApply(t, s, res(cm("", "b"), "2"), store.Expect{})
	good := s.Snapshot()
	flip := func(i int) []byte { b := bytes.Clone(good); b[i] ^= 0x40; return b }
	cases := map[string]struct {
		b    []byte
		want error
	}{
		"empty":           {nil, store.ErrInvalid},
		"truncated":       {good[:len(good)-1], store.ErrInvalid},
		"bad checksum":    {flip(len(good) - 10), store.ErrInvalid},
		"bad magic":       {flip(0), store.ErrInvalid},
		"version 2":       {store.Reseal(append(append([]byte("rvst"), 2), good[5:]...)), store.ErrUnsupported},
		"trailing bytes":  {store.Reseal(append(bytes.Clone(good), 0, 0, 0, 0)), store.ErrInvalid},
		"revision behind": {store.Reseal(flipRevision(good, 1)), store.ErrInvalid},
	}
	for name, c := range cases {
		if _, err := store.Restore(c.b); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", name, err, c.want)
		}
	}
}

// flipRevision sets a snapshot's revision field to rev.
func flipRevision(b []byte, rev uint64) []byte {
	b = bytes.Clone(b)
	binary.BigEndian.PutUint64(b[5:13], rev)
	return b
}

func equal(a, b store.Resource) bool {
	return a.Ref == b.Ref && a.Face == b.Face && a.Format == b.Format && bytes.Equal(a.Payload, b.Payload) &&
		a.CreateRevision == b.CreateRevision && a.ModRevision == b.ModRevision && a.Version == b.Version
}

func BenchmarkApply(b *testing.B) {
	s := store.New()
	refs := benchRefs(1000)
	payload := bytes.Repeat([]byte("x"), 256)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r := store.Resource{Ref: refs[i%len(refs)], Face: "kubernetes", Format: store.JSON, Payload: payload}
		if _, _, err := s.Apply(r, store.Expect{}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkGet(b *testing.B) {
	s := store.New()
	refs := benchRefs(1000)
	for _, ref := range refs {
		mustApply(b, s, store.Resource{Ref: ref, Face: "kubernetes", Format: store.JSON, Payload: []byte("{}")}, store.Expect{})
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.Get(refs[i%len(refs)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func benchRefs(n int) []store.Ref {
	refs := make([]store.Ref, n)
	for i := range refs {
		refs[i] = store.Ref{Kind: "ConfigMap", Namespace: fmt.Sprintf("ns-%d", i%10), Name: fmt.Sprintf("cm-%d", i)}
	}
	return refs
}

func TestRestoreCommand(t *testing.T) {
	src := store.New()
	for i := range 3 {
		if _, _, err := src.Apply(store.Resource{Ref: store.Ref{Kind: "K", Name: fmt.Sprint("n", i)}, Face: "pureraft", Format: store.Native, Payload: []byte{byte(i)}}, store.Expect{}); err != nil {
			t.Fatal(err)
		}
	}
	c := store.Command{Op: store.OpRestore, Snapshot: src.Snapshot()}
	got, rest, err := store.DecodeCommand(store.AppendCommand(nil, c))
	if err != nil || len(rest) != 0 || !bytes.Equal(got.Snapshot, c.Snapshot) {
		t.Fatalf("round trip: %v", err)
	}
	dst := store.New()
	_, ev, err := dst.Exec(got)
	if err != nil || ev.Type != store.Reset || ev.Revision != 3 || dst.Len() != 3 || !bytes.Equal(dst.Snapshot(), src.Snapshot()) {
		t.Fatalf("restore: %v %+v len %d", err, ev, dst.Len())
	}
	before := dst.Snapshot()
	if _, _, err := dst.Exec(store.Command{Op: store.OpRestore, Snapshot: []byte("garbage")}); err == nil || !bytes.Equal(dst.Snapshot(), before) {
		t.Fatalf("a bad snapshot was accepted or changed the store: %v", err)
	}
}
