package store_test

import (
	"bytes"
	"errors"
	"testing"

	"revoada.dev/revoada/core/store"
	"revoada.dev/revoada/internal/testalloc"
)

// seedStores are stores in a few interesting states: empty, written,
// deleted from, compacted.
func seedStores(t testing.TB) []*store.Store {
	empty := store.New()
	written := store.New()
	mustApply(t, written, res(cm("ns", "a"), `{"a":1}`), store.Expect{})
	mustApply(t, written, res(store.Ref{Kind: "Job", Name: "j"}, "job {}"), store.Expect{})
	mustApply(t, written, res(cm("ns", "a"), `{"a":2}`), store.Expect{Set: true, Revision: 1})
	deleted := store.New()
	mustApply(t, deleted, res(cm("", "gone"), ""), store.Expect{})
	mustApply(t, deleted, res(cm("", "kept"), "k"), store.Expect{})
	if _, _, err := deleted.Delete(cm("", "gone"), store.Expect{}); err != nil {
		t.Fatal(err)
	}
	compacted := store.New()
	for _, p := range []string{"1", "2", "3", "4"} {
		mustApply(t, compacted, res(cm("", "c"+p), p), store.Expect{})
	}
	compacted.Compact(3)
	return []*store.Store{empty, written, deleted, compacted}
}

// failed reports whether a decoder failed, and fails t on an error that
// is neither ErrInvalid nor ErrUnsupported.
func failed(t *testing.T, err error) bool {
	if err != nil && !errors.Is(err, store.ErrInvalid) && !errors.Is(err, store.ErrUnsupported) {
		t.Fatalf("untyped error: %v", err)
	}
	return err != nil
}

func FuzzRestore(f *testing.F) {
	for _, s := range seedStores(f) {
		f.Add(s.Snapshot())
	}
	f.Add([]byte("rvst"))
	for _, b := range hugeSnapshots(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		testalloc.Check(t, testalloc.FuzzMax, func() {
			for _, in := range [][]byte{b, store.Reseal(b)} {
				s, err := store.Restore(in)
				if failed(t, err) {
					continue
				}
				if !bytes.Equal(s.Snapshot(), in) {
					t.Fatalf("accepted snapshot re-encodes differently:\n in %x\nout %x", in, s.Snapshot())
				}
				exercise(t, s)
			}
		})
	})
}

// exercise drives a restored store a little; it must behave, not panic.
func exercise(t *testing.T, s *store.Store) {
	if _, err := s.Events(s.Compacted(), ""); err != nil {
		t.Fatalf("events from the compaction point: %v", err)
	}
	rs, _ := s.List("", "")
	for _, r := range rs {
		if _, _, err := s.Delete(r.Ref, store.Expect{Set: true, Revision: r.ModRevision}); err != nil {
			t.Fatalf("delete %s: %v", r.Ref, err)
		}
	}
	if s.Len() != 0 {
		t.Fatalf("%d resources after deleting all", s.Len())
	}
}

func FuzzDecodeCommand(f *testing.F) {
	f.Add(store.AppendCommand(nil, store.Command{Op: store.OpApply, Resource: res(cm("ns", "a"), `{}`)}))
	f.Add(store.AppendCommand(nil, store.Command{Op: store.OpApply, Resource: res(cm("", "a"), ""), Expect: store.Expect{Set: true, Revision: 4}}))
	f.Add(store.AppendCommand(nil, store.Command{Op: store.OpDelete, Ref: cm("ns", "a"), Expect: store.Expect{Set: true}}))
	f.Add([]byte{1, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	for _, b := range hugeCommands() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		testalloc.Check(t, testalloc.FuzzMax, func() {
			c, rest, err := store.DecodeCommand(b)
			if failed(t, err) {
				return
			}
			if enc := store.AppendCommand(nil, c); !bytes.Equal(enc, b[:len(b)-len(rest)]) {
				t.Fatalf("accepted command re-encodes differently:\n in %x\nout %x", b[:len(b)-len(rest)], enc)
			}
			_, _, _ = store.New().Exec(c) // any outcome but a panic
		})
	})
}

func FuzzDecodeResource(f *testing.F) {
	f.Add(store.AppendResource(nil, res(cm("ns", "a"), `{"a":1}`)))
	for _, b := range hugeEnvelopes() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		testalloc.Check(t, testalloc.FuzzMax, func() {
			r, rest, err := store.DecodeResource(b)
			if failed(t, err) {
				return
			}
			if enc := store.AppendResource(nil, r); !bytes.Equal(enc, b[:len(b)-len(rest)]) {
				t.Fatalf("accepted envelope re-encodes differently")
			}
		})
	})
}
