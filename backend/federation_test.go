package backend_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"revoada.dev/revoada/backend"
	"revoada.dev/revoada/backend/storetest"
	"revoada.dev/revoada/core/store"
)

// A federation of one member is that member: it passes the suite.
func TestFederationOfOneConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) backend.Backend {
		f, err := backend.NewFederation(backend.RouteSpread, backend.Member{Name: "only", Backend: backend.NewMemory()})
		if err != nil {
			t.Fatal(err)
		}
		return f
	})
}

func blob(ns, name, payload string) store.Resource {
	return store.Resource{Ref: store.Ref{Kind: "Blob", Namespace: ns, Name: name}, Face: "pureraft", Format: store.Native, Payload: []byte(payload)}
}

func federation(t *testing.T, route backend.Route, members ...backend.Member) *backend.Federation {
	t.Helper()
	f, err := backend.NewFederation(route, members...)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestFederationRoutesByPrefix(t *testing.T) {
	prod, rest := backend.NewMemory(), backend.NewMemory()
	f := federation(t, backend.RouteFirst,
		backend.Member{Name: "prod", Prefixes: []string{"prod-"}, Backend: prod},
		backend.Member{Name: "rest", Backend: rest})
	ctx := t.Context()
	for _, r := range []store.Resource{blob("prod-eu", "a", "1"), blob("dev", "b", "2"), blob("prod-us", "c", "3")} {
		if _, err := f.Apply(ctx, r, store.Expect{}); err != nil {
			t.Fatal(err)
		}
	}
	if c := prod.Counts().Resources; c != 2 {
		t.Fatalf("prod holds %d resources, want the 2 of prod-*", c)
	}
	if c := rest.Counts().Resources; c != 1 {
		t.Fatalf("rest holds %d resources, want 1", c)
	}
	// A namespace routed to one member lists that member, at its revision.
	l, err := f.List(ctx, "Blob", "prod-eu", backend.ReadOptions{})
	if err != nil || len(l.Items) != 1 || l.Revision != 2 {
		t.Fatalf("list prod-eu: %v, %d items at %d; want 1 at prod's revision 2", err, len(l.Items), l.Revision)
	}
	// Every namespace: aggregated, in store.Compare order, no revision.
	l, err = f.List(ctx, "Blob", "", backend.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range l.Items {
		got = append(got, r.Ref.Namespace+"/"+r.Ref.Name)
	}
	if want := []string{"dev/b", "prod-eu/a", "prod-us/c"}; !slices.Equal(got, want) || l.Revision != 0 {
		t.Fatalf("aggregate list: %v at revision %d, want %v at 0", got, l.Revision, want)
	}
	if _, err := f.Get(ctx, store.Ref{Kind: "Blob", Namespace: "prod-us", Name: "c"}, backend.ReadOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Delete(ctx, store.Ref{Kind: "Blob", Namespace: "dev", Name: "b"}, store.Expect{}); err != nil {
		t.Fatal(err)
	}
	if c := f.Counts().Resources; c != 2 {
		t.Fatalf("counts: %d resources, want 2", c)
	}
}

func TestFederationRefusesWhatNoMemberServes(t *testing.T) {
	f := federation(t, backend.RouteFirst, backend.Member{Name: "prod", Prefixes: []string{"prod-"}, Backend: backend.NewMemory()})
	_, err := f.Apply(t.Context(), blob("dev", "a", "{}"), store.Expect{})
	if !errors.Is(err, backend.ErrNoRoute) || !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), `"dev"`) {
		t.Fatalf("apply to an unserved namespace: %v, want ErrNoRoute (invalid) naming it", err)
	}
	if _, err := f.List(t.Context(), "Blob", "dev", backend.ReadOptions{}); !errors.Is(err, backend.ErrNoRoute) {
		t.Fatalf("list of an unserved namespace: %v", err)
	}
}

func TestNewFederationRefusesBadMembers(t *testing.T) {
	m := backend.NewMemory()
	for name, members := range map[string][]backend.Member{
		"none":         nil,
		"no backend":   {{Name: "a"}},
		"no name":      {{Backend: m}},
		"comma name":   {{Name: "a,b", Backend: m}},
		"same name":    {{Name: "a", Backend: m}, {Name: "a", Backend: backend.NewMemory()}},
		"empty prefix": {{Name: "a", Prefixes: []string{""}, Backend: m}},
	} {
		if _, err := backend.NewFederation(backend.RouteFirst, members...); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := backend.NewFederation(backend.Route(9), backend.Member{Name: "a", Backend: m}); err == nil {
		t.Error("an unknown route: accepted")
	}
	if _, err := backend.ParseRoute("round-robin"); err == nil {
		t.Error("ParseRoute accepted round-robin, which it does not build")
	}
}

// A failing member fails the aggregate list, named; the list is never
// presented as whole without it.
func TestFederationListNamesTheFailingMember(t *testing.T) {
	broken := backend.NewAudit(backend.NewMemory(), &failingWriter{}, time.Now)
	f := federation(t, backend.RouteSpread,
		backend.Member{Name: "ok", Backend: backend.NewMemory()},
		backend.Member{Name: "audited", Backend: broken})
	_, err := f.List(t.Context(), "", "", backend.ReadOptions{})
	if !errors.Is(err, backend.ErrAudit) || !strings.Contains(err.Error(), "member audited") {
		t.Fatalf("list with a failing member: %v, want its audit error naming it", err)
	}
}

// Spread places each resource on exactly one member and the federation
// reads as one store would (rapid, against a single Memory).
func TestFederationSpreadActsAsOneStore(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		ctx := context.Background()
		n := rapid.IntRange(2, 4).Draw(rt, "members")
		var members []backend.Member
		var mems []*backend.Memory
		for i := range n {
			m := backend.NewMemory()
			mems = append(mems, m)
			members = append(members, backend.Member{Name: fmt.Sprintf("m%d", i), Backend: m})
		}
		f, err := backend.NewFederation(backend.RouteSpread, members...)
		if err != nil {
			rt.Fatal(err)
		}
		ref := backend.NewMemory()
		nsGen := rapid.SampledFrom([]string{"", "a", "b"})
		nameGen := rapid.SampledFrom([]string{"x", "y", "z", "w"})
		for range rapid.IntRange(1, 60).Draw(rt, "ops") {
			r := blob(nsGen.Draw(rt, "ns"), nameGen.Draw(rt, "name"), rapid.StringMatching(`[a-z]{0,4}`).Draw(rt, "payload"))
			if rapid.Bool().Draw(rt, "delete") {
				_, errF := f.Delete(ctx, r.Ref, store.Expect{})
				_, errR := ref.Delete(ctx, r.Ref, store.Expect{})
				if errors.Is(errF, store.ErrNotFound) != errors.Is(errR, store.ErrNotFound) {
					rt.Fatalf("delete %v: federation %v, one store %v", r.Ref, errF, errR)
				}
				continue
			}
			if _, err := f.Apply(ctx, r, store.Expect{}); err != nil {
				rt.Fatal(err)
			}
			if _, err := ref.Apply(ctx, r, store.Expect{}); err != nil {
				rt.Fatal(err)
			}
		}
		want, _ := ref.List(ctx, "", "", backend.ReadOptions{})
		got, err := f.List(ctx, "", "", backend.ReadOptions{})
		if err != nil {
			rt.Fatal(err)
		}
		if len(got.Items) != len(want.Items) {
			rt.Fatalf("federation lists %d items, one store %d", len(got.Items), len(want.Items))
		}
		for i := range want.Items {
			g, w := got.Items[i], want.Items[i]
			if g.Ref != w.Ref || string(g.Payload) != string(w.Payload) {
				rt.Fatalf("item %d: federation %v %q, one store %v %q", i, g.Ref, g.Payload, w.Ref, w.Payload)
			}
			held := 0
			for _, m := range mems {
				if _, err := m.Get(ctx, w.Ref, backend.ReadOptions{}); err == nil {
					held++
				}
			}
			if held != 1 {
				rt.Fatalf("%v is held by %d members, want 1", w.Ref, held)
			}
		}
	})
}

func nextEvent(t *testing.T, w backend.Watch) store.Event {
	t.Helper()
	select {
	case ev, ok := <-w.Events():
		if !ok {
			t.Fatalf("watch ended: %v", w.Err())
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event in 10 s")
	}
	return store.Event{}
}

func TestFederationWatchFansIn(t *testing.T) {
	a, b := backend.NewMemory(), backend.NewMemory()
	f := federation(t, backend.RouteFirst,
		backend.Member{Name: "a", Prefixes: []string{"a"}, Backend: a},
		backend.Member{Name: "b", Prefixes: []string{"b"}, Backend: b})
	ctx := t.Context()
	for _, r := range []store.Resource{blob("a", "1", ""), blob("b", "2", ""), blob("b", "3", "")} {
		if _, err := f.Apply(ctx, r, store.Expect{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.Watch(ctx, "Blob", 1); !errors.Is(err, store.ErrUnsupported) {
		t.Fatalf("watch across members from revision 1: %v, want unsupported", err)
	}
	w, err := f.Watch(ctx, "Blob", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	seen := map[string]bool{}
	for range 3 {
		ev := nextEvent(t, w)
		if ev.Type != store.Added {
			t.Fatalf("initial state: %v, want Added", ev.Type)
		}
		seen[ev.Resource.Ref.Name] = true
	}
	if ev := nextEvent(t, w); ev.Type != store.Bookmark || ev.Revision != 0 || len(seen) != 3 {
		t.Fatalf("after the initial state: %v at %d (seen %v), want one Bookmark at 0", ev.Type, ev.Revision, seen)
	}
	if _, err := f.Apply(ctx, blob("a", "4", ""), store.Expect{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Delete(ctx, store.Ref{Kind: "Blob", Namespace: "b", Name: "2"}, store.Expect{}); err != nil {
		t.Fatal(err)
	}
	got := map[string]store.EventType{}
	for range 2 {
		ev := nextEvent(t, w)
		got[ev.Resource.Ref.Name] = ev.Type
	}
	if got["4"] != store.Added || got["2"] != store.Deleted {
		t.Fatalf("live events: %v", got)
	}
	// A member's restore: the fan-in forwards its Reset as its last event.
	snap, err := a.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Restore(ctx, snap); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, w); ev.Type != store.Reset {
		t.Fatalf("after a member's restore: %v, want Reset", ev.Type)
	}
	if _, ok := <-w.Events(); ok || w.Err() != nil {
		t.Fatalf("after the Reset the fan-in must end with no error, got %v", w.Err())
	}
	if c := f.Counts().Subscribers; c != 0 {
		t.Fatalf("%d member watches still live after the fan-in ended", c)
	}
}

func TestFederationWatchOverflows(t *testing.T) {
	f := federation(t, backend.RouteSpread,
		backend.Member{Name: "a", Backend: backend.NewMemory()},
		backend.Member{Name: "b", Backend: backend.NewMemory()})
	// A bound far below the members' own, so that only the fan-in's can be
	// reached.
	const bound = 8
	f.SetFanInMax(bound)
	ctx := t.Context()
	w, err := f.Watch(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if ev := nextEvent(t, w); ev.Type != store.Bookmark {
		t.Fatalf("first event of an empty federation: %v, want Bookmark", ev.Type)
	}
	const writes = 4 * bound
	for i := range writes {
		if _, err := f.Apply(ctx, blob("n", fmt.Sprint(i), ""), store.Expect{}); err != nil {
			t.Fatal(err)
		}
	}
	// Not receiving: the fan-in takes every event its members forward and
	// must give up once bound of them wait.
	for guard := time.Now().Add(10 * time.Second); w.Err() == nil; runtime.Gosched() {
		if time.Now().After(guard) {
			t.Fatalf("%d events wait undelivered and the fan-in has not given up", writes)
		}
	}
	n := 0
	for range w.Events() {
		n++
	}
	if w.Err() != backend.ErrWatchOverflow || n > bound {
		t.Fatalf("a consumer %d events behind: delivered %d then %v, want at most %d then the fan-in's ErrWatchOverflow",
			writes, n, w.Err(), bound)
	}
}

func TestFederationWatchCloseLeavesNothing(t *testing.T) {
	f := federation(t, backend.RouteSpread,
		backend.Member{Name: "a", Backend: backend.NewMemory()},
		backend.Member{Name: "b", Backend: backend.NewMemory()})
	before := runtime.NumGoroutine()
	w, err := f.Watch(t.Context(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if _, ok := <-w.Events(); ok {
		t.Fatal("events after Close")
	}
	// Close waited for every goroutine of the fan-in to finish its work;
	// the last may still be returning.
	left := runtime.NumGoroutine() - before
	for i := 0; left > 0 && i < 1000; i++ {
		runtime.Gosched()
		left = runtime.NumGoroutine() - before
	}
	if left > 0 {
		t.Fatalf("watch then Close left %d goroutines", left)
	}
	if c := f.Counts().Subscribers; c != 0 {
		t.Fatalf("%d member watches live after Close", c)
	}
}

func TestFederationSnapshotIsDeterministic(t *testing.T) {
	mk := func() *backend.Federation {
		f := federation(t, backend.RouteSpread,
			backend.Member{Name: "a", Backend: backend.NewMemory()},
			backend.Member{Name: "b", Backend: backend.NewMemory()})
		for i := range 20 {
			if _, err := f.Apply(t.Context(), blob("n", fmt.Sprint(i), "p"), store.Expect{}); err != nil {
				t.Fatal(err)
			}
		}
		return f
	}
	s1, err := mk().Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := mk().Snapshot(t.Context())
	if string(s1) != string(s2) {
		t.Fatal("equal writes gave different snapshots")
	}
	if err := mk().Restore(t.Context(), s1); !errors.Is(err, store.ErrUnsupported) {
		t.Fatalf("restore across members: %v, want unsupported", err)
	}
	if err := mk().Restore(t.Context(), []byte("junk")); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("restore of junk: %v, want invalid", err)
	}
}

// Spread gives each matching member an even share: 3,000 resources over
// three members, each within a tenth of its third.
func TestFederationSpreadIsEven(t *testing.T) {
	var mems []*backend.Memory
	var members []backend.Member
	for i := range 3 {
		m := backend.NewMemory()
		mems = append(mems, m)
		members = append(members, backend.Member{Name: string(rune('a' + i)), Backend: m})
	}
	f := federation(t, backend.RouteSpread, members...)
	const n = 3000
	for i := range n {
		if _, err := f.Apply(t.Context(), blob(fmt.Sprintf("ns-%d", i%7), fmt.Sprintf("r-%d", i), ""), store.Expect{}); err != nil {
			t.Fatal(err)
		}
	}
	for i, m := range mems {
		if c := m.Counts().Resources; c < n/3*9/10 || c > n/3*11/10 {
			t.Errorf("member %d holds %d of %d resources, want about %d", i, c, n, n/3)
		}
	}
}

// Err says why the fan-in ended as soon as its Events channel is closed: a
// consumer that ranges over Events and then asks Err learns of the
// context's end, never nil. The fan-in once closed Events a moment before
// it let Err answer: a narrow window, which -race widens enough to fail
// within a few hundred rounds.
func TestFederationWatchErrOnceEventsClose(t *testing.T) {
	f := federation(t, backend.RouteSpread,
		backend.Member{Name: "a", Backend: backend.NewMemory()},
		backend.Member{Name: "b", Backend: backend.NewMemory()})
	for i := range 300 {
		ctx, cancel := context.WithCancel(t.Context())
		w, err := f.Watch(ctx, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		if ev := nextEvent(t, w); ev.Type != store.Bookmark {
			t.Fatalf("first event of an empty federation: %v, want Bookmark", ev.Type)
		}
		cancel()
		for range w.Events() {
		}
		if err := w.Err(); !errors.Is(err, context.Canceled) {
			t.Fatalf("round %d: Events closed after the context ended, Err %v, want context.Canceled", i, err)
		}
		w.Close()
	}
}

// gated is a member whose watches hold their events back until release is
// closed: a member slow to send its initial state.
type gated struct {
	backend.Backend
	release chan struct{}
}

func (g gated) Watch(ctx context.Context, kind string, from store.Revision) (backend.Watch, error) {
	w, err := g.Backend.Watch(ctx, kind, from)
	if err != nil {
		return nil, err
	}
	gw := &gatedWatch{inner: w, out: make(chan store.Event), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(gw.done)
		defer close(gw.out)
		select {
		case <-g.release:
		case <-gw.stop:
			return
		}
		for ev := range w.Events() {
			select {
			case gw.out <- ev:
			case <-gw.stop:
				return
			}
		}
	}()
	return gw, nil
}

type gatedWatch struct {
	inner     backend.Watch
	out       chan store.Event
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func (w *gatedWatch) Events() <-chan store.Event { return w.out }
func (w *gatedWatch) Err() error                 { return w.inner.Err() }
func (w *gatedWatch) Close() {
	w.closeOnce.Do(func() { close(w.stop) })
	w.inner.Close()
	<-w.done
}

// Before the fan-in's Bookmark come only initial states (Added events): a
// member whose initial state is through early holds its live events back
// until every member's is, as the package doc's watch from 0 promises.
func TestFederationWatchInitialStateIsAddedOnly(t *testing.T) {
	for round := range 30 {
		a, b := backend.NewMemory(), backend.NewMemory()
		release := make(chan struct{})
		f := federation(t, backend.RouteFirst,
			backend.Member{Name: "a", Prefixes: []string{"a"}, Backend: a},
			backend.Member{Name: "b", Prefixes: []string{"b"}, Backend: gated{Backend: b, release: release}})
		ctx := t.Context()
		for _, r := range []store.Resource{blob("a", "x", ""), blob("b", "y", "")} {
			if _, err := f.Apply(ctx, r, store.Expect{}); err != nil {
				t.Fatal(err)
			}
		}
		w, err := f.Watch(ctx, "Blob", 0)
		if err != nil {
			t.Fatal(err)
		}
		if ev := nextEvent(t, w); ev.Type != store.Added || ev.Resource.Ref.Name != "x" {
			t.Fatalf("first event: %v %v, want a's Added x", ev.Type, ev.Resource.Ref)
		}
		// a's initial state is through; b's not yet.
		if _, err := f.Delete(ctx, store.Ref{Kind: "Blob", Namespace: "a", Name: "x"}, store.Expect{}); err != nil {
			t.Fatal(err)
		}
		close(release)
		var before []string
		for {
			ev := nextEvent(t, w)
			if ev.Type == store.Bookmark {
				break
			}
			before = append(before, fmt.Sprint(ev.Type, " ", ev.Resource.Ref.Name))
		}
		if !slices.Equal(before, []string{fmt.Sprint(store.Added, " y")}) {
			t.Fatalf("round %d: between a's initial state and the fan-in's Bookmark: %v, want b's initial state only (Added y)", round, before)
		}
		if ev := nextEvent(t, w); ev.Type != store.Deleted || ev.Resource.Ref.Name != "x" {
			t.Fatalf("after the Bookmark: %v %v, want a's live Deleted x", ev.Type, ev.Resource.Ref)
		}
		w.Close()
	}
}
