package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/core/store"
)

func (s suite) revisionsMonotonic(t *testing.T) {
	b := s.newBackend(t)
	var last store.Revision
	for i, ev := range writeMix(t, b, 30) {
		if ev.Revision <= last {
			t.Fatalf("write %d got revision %d after %d", i, ev.Revision, last)
		}
		last = ev.Revision
	}
	if l := list(t, b, "", ""); l.Revision < last {
		t.Fatalf("list served at %d, before the last write %d", l.Revision, last)
	}
}

func (s suite) createUpdateGet(t *testing.T) {
	b := s.newBackend(t)
	in := resource(ref("ns", "a"), `{"v":1}`)
	created := apply(t, b, in, store.Expect{})
	if created.CreateRevision == 0 || created.ModRevision != created.CreateRevision || created.Version != 1 {
		t.Fatalf("created %+v: want CreateRevision == ModRevision > 0, Version 1", created)
	}
	if created.Ref != in.Ref || created.Face != in.Face || created.Format != in.Format || string(created.Payload) != `{"v":1}` {
		t.Fatalf("created %+v from %+v", created, in)
	}
	if got := get(t, b, in.Ref); !sameResource(got, created) {
		t.Fatalf("get %+v, applied %+v", got, created)
	}
	in.Payload = []byte(`{"v":2}`)
	updated := apply(t, b, in, store.Expect{})
	if updated.CreateRevision != created.CreateRevision || updated.ModRevision <= created.ModRevision || updated.Version != 2 {
		t.Fatalf("updated %+v after %+v", updated, created)
	}
	same := apply(t, b, in, store.Expect{})
	if same.ModRevision <= updated.ModRevision || same.Version != 3 {
		t.Fatalf("an identical apply must still write: %+v after %+v", same, updated)
	}
	for _, opt := range []backend.ReadOptions{{}, {Local: true}} {
		got, err := b.Get(t.Context(), in.Ref, opt)
		if err != nil || !sameResource(got, same) {
			t.Fatalf("get %+v: %+v, %v; applied %+v", opt, got, err, same)
		}
	}
}

// wantConflict checks err is a *store.ConflictError with want and current.
func wantConflict(t *testing.T, err error, want, current store.Revision) {
	t.Helper()
	var ce *store.ConflictError
	if !errors.Is(err, store.ErrConflict) || !errors.As(err, &ce) {
		t.Fatalf("got %v, want a *store.ConflictError", err)
	}
	if ce.Want != want || ce.Current != current {
		t.Fatalf("conflict %+v: want Want %d, Current %d", ce, want, current)
	}
}

func (s suite) compareAndSwap(t *testing.T) {
	b := s.newBackend(t)
	r := resource(ref("ns", "a"), `{"v":1}`)
	first := apply(t, b, r, store.Expect{})
	r.Payload = []byte(`{"v":2}`)
	second := apply(t, b, r, store.Expect{Set: true, Revision: first.ModRevision})
	r.Payload = []byte(`{"v":3}`)
	_, err := b.Apply(t.Context(), r, store.Expect{Set: true, Revision: first.ModRevision})
	wantConflict(t, err, first.ModRevision, second.ModRevision)
	if got := get(t, b, r.Ref); !sameResource(got, second) {
		t.Fatalf("a failed swap changed the resource: %+v", got)
	}
	_, err = b.Apply(t.Context(), resource(ref("ns", "absent"), "{}"), store.Expect{Set: true, Revision: second.ModRevision})
	wantConflict(t, err, second.ModRevision, 0)
}

func (s suite) mustNotExist(t *testing.T) {
	b := s.newBackend(t)
	r := resource(ref("", "a"), "{}")
	created := apply(t, b, r, store.Expect{Set: true})
	_, err := b.Apply(t.Context(), r, store.Expect{Set: true})
	wantConflict(t, err, 0, created.ModRevision)
}

func (s suite) delete(t *testing.T) {
	b := s.newBackend(t)
	a := apply(t, b, resource(ref("ns", "a"), `{"a":1}`), store.Expect{})
	gone := del(t, b, a.Ref, store.Expect{})
	want := a
	want.ModRevision = gone.ModRevision
	if gone.ModRevision <= a.ModRevision || !sameResource(gone, want) {
		t.Fatalf("delete returned %+v; want the last state %+v at a new revision", gone, a)
	}
	if _, err := b.Get(t.Context(), a.Ref, backend.ReadOptions{}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	c := apply(t, b, resource(ref("ns", "c"), "{}"), store.Expect{})
	updated := apply(t, b, resource(ref("ns", "c"), "{}"), store.Expect{})
	_, err := b.Delete(t.Context(), c.Ref, store.Expect{Set: true, Revision: c.ModRevision})
	wantConflict(t, err, c.ModRevision, updated.ModRevision)
	get(t, b, c.Ref)
	del(t, b, c.Ref, store.Expect{Set: true, Revision: updated.ModRevision})
	if _, err := b.Delete(t.Context(), c.Ref, store.Expect{}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

func (s suite) notFound(t *testing.T) {
	b := s.newBackend(t)
	apply(t, b, resource(ref("ns", "a"), "{}"), store.Expect{})
	for _, r := range []store.Ref{ref("ns", "b"), ref("other", "a"), {Kind: other, Namespace: "ns", Name: "a"}} {
		if _, err := b.Get(t.Context(), r, backend.ReadOptions{}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("get %s: %v, want ErrNotFound", r, err)
		}
		if _, err := b.Delete(t.Context(), r, store.Expect{}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("delete %s: %v, want ErrNotFound", r, err)
		}
	}
}

func (s suite) invalidInput(t *testing.T) {
	b := s.newBackend(t)
	apply(t, b, resource(ref("ns", "a"), "{}"), store.Expect{})
	before, counts := snapshot(t, b), b.Counts()
	bad := map[string]store.Resource{
		"empty name":       resource(ref("ns", ""), "{}"),
		"empty kind":       resource(store.Ref{Namespace: "ns", Name: "a"}, "{}"),
		"slash in name":    resource(ref("ns", "a/b"), "{}"),
		"slash in ns":      resource(ref("n/s", "a"), "{}"),
		"NUL in name":      resource(ref("ns", "a\x00"), "{}"),
		"oversize payload": resource(ref("ns", "big"), strings.Repeat("x", store.PayloadBytesMax+1)),
		"oversize name":    resource(ref("ns", strings.Repeat("n", store.NameBytesMax+1)), "{}"),
	}
	for name, r := range bad {
		if _, err := b.Apply(t.Context(), r, store.Expect{}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: apply got %v, want ErrInvalid", name, err)
		}
	}
	if _, err := b.Delete(t.Context(), ref("ns", "a/b"), store.Expect{}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("delete of a bad ref: got %v, want ErrInvalid", err)
	}
	if !slices.Equal(snapshot(t, b), before) || b.Counts() != counts {
		t.Fatal("rejected input changed the store")
	}
}

func (s suite) list(t *testing.T) {
	b := s.newBackend(t)
	for _, r := range []store.Ref{ref("b", "x"), ref("a", "y"), ref("", "z"), ref("a", "x"), {Kind: other, Namespace: "a", Name: "w"}} {
		apply(t, b, resource(r, `{}`), store.Expect{})
	}
	last := apply(t, b, resource(ref("b", "a"), `{}`), store.Expect{})
	cases := []struct {
		ns   string
		want []store.Ref
	}{
		{"", []store.Ref{ref("", "z"), ref("a", "x"), ref("a", "y"), ref("b", "a"), ref("b", "x")}},
		{"a", []store.Ref{ref("a", "x"), ref("a", "y")}},
		{"none", nil},
	}
	for _, c := range cases {
		l := list(t, b, kind, c.ns)
		var got []store.Ref
		for _, r := range l.Items {
			got = append(got, r.Ref)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("list %q: got %v, want %v", c.ns, got, c.want)
		}
		if l.Revision < last.ModRevision {
			t.Errorf("list %q served at %d, before the last write %d", c.ns, l.Revision, last.ModRevision)
		}
	}
	for _, r := range list(t, b, kind, "").Items {
		if !sameResource(r, get(t, b, r.Ref)) {
			t.Errorf("list and get disagree on %s", r.Ref)
		}
	}
}

func (s suite) snapshotDeterministic(t *testing.T) {
	one, two := s.newBackend(t), s.newBackend(t)
	writeMix(t, one, 40)
	writeMix(t, two, 40)
	a, b := snapshot(t, one), snapshot(t, two)
	if !slices.Equal(a, b) {
		t.Fatalf("equal writes, different snapshots (%d and %d bytes)", len(a), len(b))
	}
	if again := snapshot(t, one); !slices.Equal(again, a) {
		t.Fatal("two snapshots of one state differ")
	}
}

func (s suite) restore(t *testing.T) {
	b := s.newBackend(t)
	writeMix(t, b, 12)
	snap, want := snapshot(t, b), list(t, b, "", "")
	writeMix(t, b, 9)
	apply(t, b, resource(ref("ns", "later"), "{}"), store.Expect{})
	w := watch(t, b, "", 0)
	initial := nextN(t, w, len(list(t, b, "", "").Items)+1)
	if last := initial[len(initial)-1]; last.Type != store.Bookmark {
		t.Fatalf("initial state ends with %s, want a bookmark", last.Type)
	}
	if err := b.Restore(t.Context(), snap); errors.Is(err, store.ErrUnsupported) {
		t.Skipf("%s cannot restore: %v", b.Name(), err)
	} else if err != nil {
		t.Fatalf("restore: %v", err)
	}
	rest := drain(t, w)
	if len(rest) != 1 || rest[0].Type != store.Reset || rest[0].Revision != want.Revision {
		t.Fatalf("after restore the watch got %s; want one RESET@%d and the end", showEvents(rest), want.Revision)
	}
	if err := w.Err(); err != nil {
		t.Fatalf("a watch ended by restore has Err %v, want nil", err)
	}
	got := list(t, b, "", "")
	if got.Revision != want.Revision || !slices.EqualFunc(got.Items, want.Items, sameResource) {
		t.Fatalf("restored state at %d with %d items; snapshot had %d items at %d", got.Revision, len(got.Items), len(want.Items), want.Revision)
	}
	if _, err := b.Get(t.Context(), ref("ns", "later"), backend.ReadOptions{}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a resource written after the snapshot survived restore: %v", err)
	}
	if !slices.Equal(snapshot(t, b), snap) {
		t.Fatal("the restored state snapshots to different bytes")
	}
	fresh := s.newBackend(t)
	if err := fresh.Restore(t.Context(), snap); err != nil || !slices.Equal(snapshot(t, fresh), snap) {
		t.Fatalf("restore into a fresh backend: %v", err)
	}
	after := apply(t, b, resource(ref("ns", "after"), "{}"), store.Expect{})
	if after.ModRevision <= want.Revision {
		t.Fatalf("write after restore at %d, not after the restored revision %d", after.ModRevision, want.Revision)
	}
}

func (s suite) restoreInvalid(t *testing.T) {
	b := s.newBackend(t)
	writeMix(t, b, 5)
	before := snapshot(t, b)
	for name, snap := range map[string][]byte{
		"empty":     nil,
		"garbage":   []byte("not a snapshot"),
		"truncated": before[:len(before)/2],
	} {
		if err := b.Restore(t.Context(), snap); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: restore got %v, want ErrInvalid", name, err)
		}
	}
	if !slices.Equal(snapshot(t, b), before) {
		t.Fatal("a rejected restore changed the store")
	}
}

func (s suite) counts(t *testing.T) {
	b := s.newBackend(t)
	if c := b.Counts(); c != (backend.Counts{}) {
		t.Fatalf("a new backend counts %+v", c)
	}
	for i := range 3 {
		apply(t, b, resource(ref("ns", fmt.Sprint(i)), "{}"), store.Expect{})
	}
	del(t, b, ref("ns", "1"), store.Expect{})
	w1, w2 := watch(t, b, kind, 0), watch(t, b, "", 0)
	if c := b.Counts(); c != (backend.Counts{Resources: 2, Subscribers: 2}) {
		t.Fatalf("counts %+v, want 2 resources and 2 subscribers", c)
	}
	w1.Close()
	if c := b.Counts(); c.Subscribers != 1 {
		t.Fatalf("after one Close: %d subscribers, want 1", c.Subscribers)
	}
	w2.Close()
	if c := b.Counts(); c != (backend.Counts{Resources: 2}) {
		t.Fatalf("after both Close: %+v", c)
	}
}
