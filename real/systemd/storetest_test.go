package systemd_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/backend/storetest"
	"revoada.dev/revoada/core/face"
	"revoada.dev/revoada/core/store"
	"revoada.dev/revoada/real/systemd"
	"revoada.dev/revoada/real/systemd/systemdtest"
)

// TestConformance runs the store contract's suite against a real manager.
// The suite's fixtures are pureraft blobs of kinds Blob and Note in
// namespaces, which have no place in systemd (the backend refuses them with
// store.ErrUnsupported, see TestRefusesNonUnits); asUnits carries each one
// as a unit instead, one to one: a Blob is a target and a Note a slice
// (kinds the backend loads but does not start), named
// <namespace>_<name>.<type> with every byte but a letter or digit written
// :xx, its payload hex in an [X-Storetest] section. A ref the store
// refuses is passed through untouched, so the backend's own validation
// answers the suite's bad input. Every write of the suite is a unit file
// written, a daemon-reload of the manager and its LoadState read back.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) backend.Backend {
		m := systemdtest.Start(t)
		b := open(t, m)
		return asUnits{b}
	})
}

func open(t *testing.T, m *systemdtest.Manager) *systemd.Backend {
	t.Helper()
	b, err := systemd.Open(t.Context(), systemd.Config{UnitDir: m.UnitDir, Conn: m.Conn})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// asUnits is the suite's fixtures carried as units (see TestConformance).
type asUnits struct{ b *systemd.Backend }

var unitTypeOf = map[string]string{"Blob": "target", "Note": "slice"}

func fixtureKind(k string) string {
	for fixture, unit := range unitTypeOf {
		if unit == k {
			return fixture
		}
	}
	return k
}

func escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, ":%02x", c)
		}
	}
	return b.String()
}

func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == ':' && i+2 < len(s) {
			v, _ := hex.DecodeString(s[i+1 : i+3])
			b.Write(v)
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func toUnitRef(r store.Ref) store.Ref {
	typ, ok := unitTypeOf[r.Kind]
	if !ok || r.Validate() != nil {
		return r // the backend answers it itself
	}
	return store.Ref{Kind: typ, Name: escape(r.Namespace) + "_" + escape(r.Name) + "." + typ}
}

func fromUnitRef(r store.Ref) store.Ref {
	base, _, ok := strings.Cut(r.Name, ".")
	ns, name, ok2 := strings.Cut(base, "_")
	if !ok || !ok2 {
		return r
	}
	return store.Ref{Kind: fixtureKind(r.Kind), Namespace: unescape(ns), Name: unescape(name)}
}

const payloadKey = "Payload="

func toUnit(r store.Resource) store.Resource {
	u := toUnitRef(r.Ref)
	if u == r.Ref {
		return r
	}
	text := "[Unit]\nDescription=storetest fixture\n\n[X-Storetest]\n" + payloadKey + hex.EncodeToString(r.Payload) + "\n"
	return store.Resource{Ref: u, Face: face.Systemd, Format: store.Unit, Payload: []byte(text),
		CreateRevision: r.CreateRevision, ModRevision: r.ModRevision, Version: r.Version}
}

func fromUnit(r store.Resource) store.Resource {
	if r.Ref.Kind == "" {
		return r
	}
	_, h, _ := strings.Cut(string(r.Payload), payloadKey)
	p, _ := hex.DecodeString(strings.TrimSuffix(h, "\n"))
	if len(p) == 0 {
		p = nil
	}
	return store.Resource{Ref: fromUnitRef(r.Ref), Face: face.PureRaft, Format: store.Native, Payload: p,
		CreateRevision: r.CreateRevision, ModRevision: r.ModRevision, Version: r.Version}
}

func (a asUnits) Name() string { return a.b.Name() }

func (a asUnits) Apply(ctx context.Context, r store.Resource, exp store.Expect) (store.Resource, error) {
	got, err := a.b.Apply(ctx, toUnit(r), exp)
	return fromUnit(got), err
}

func (a asUnits) Get(ctx context.Context, ref store.Ref, opt backend.ReadOptions) (store.Resource, error) {
	got, err := a.b.Get(ctx, toUnitRef(ref), opt)
	return fromUnit(got), err
}

func kindFilter(k string) string {
	if t, ok := unitTypeOf[k]; ok {
		return t
	}
	return k
}

func (a asUnits) List(ctx context.Context, kind, namespace string, opt backend.ReadOptions) (backend.List, error) {
	l, err := a.b.List(ctx, kindFilter(kind), "", opt)
	if err != nil {
		return l, err
	}
	var items []store.Resource
	for _, r := range l.Items {
		if r := fromUnit(r); namespace == "" || r.Ref.Namespace == namespace {
			items = append(items, r)
		}
	}
	// Units list in name order, which is (namespace, name) order but for
	// the escapes; the suite's names need none that reorder.
	l.Items = items
	return l, nil
}

func (a asUnits) Delete(ctx context.Context, ref store.Ref, exp store.Expect) (store.Resource, error) {
	got, err := a.b.Delete(ctx, toUnitRef(ref), exp)
	return fromUnit(got), err
}

func (a asUnits) Watch(ctx context.Context, kind string, from store.Revision) (backend.Watch, error) {
	w, err := a.b.Watch(ctx, kindFilter(kind), from)
	if err != nil {
		return nil, err
	}
	out := &unitWatch{in: w, events: make(chan store.Event), done: make(chan struct{})}
	go out.run()
	return out, nil
}

func (a asUnits) Snapshot(ctx context.Context) ([]byte, error)   { return a.b.Snapshot(ctx) }
func (a asUnits) Restore(ctx context.Context, snap []byte) error { return a.b.Restore(ctx, snap) }
func (a asUnits) Compact(ctx context.Context, rev store.Revision) error {
	return a.b.Compact(ctx, rev)
}
func (a asUnits) Counts() backend.Counts { return a.b.Counts() }

// unitWatch translates a watch's events, holding none: it receives the
// next only once the consumer took the last, so the backend's own
// overflow applies.
type unitWatch struct {
	in     backend.Watch
	events chan store.Event
	done   chan struct{}
	once   sync.Once
}

func (w *unitWatch) run() {
	defer close(w.events)
	for ev := range w.in.Events() {
		ev.Resource = fromUnit(ev.Resource)
		select {
		case w.events <- ev:
		case <-w.done:
			return
		}
	}
}

func (w *unitWatch) Events() <-chan store.Event { return w.events }
func (w *unitWatch) Close() {
	w.once.Do(func() { close(w.done) })
	w.in.Close()
}
func (w *unitWatch) Err() error { return w.in.Err() }
