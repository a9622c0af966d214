package backend

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"

	"revoada.dev/revoada/core/store"
)

// Federation is a Backend in front of member backends, each serving the
// namespaces that begin with one of its prefixes: the original system's
// FederatedFabric. Members are independent stores with revisions of their
// own; the federation never pretends they share one.
//
// Routing. A resource lives on one member, found from its reference alone:
//
//   - RouteFirst: the first member, in the order given, whose prefixes match
//     the namespace;
//   - RouteSpread: among the matching members, the one its reference hashes
//     to (rendezvous hashing: each gets an even share, and adding a member
//     moves only the resources that hash to it).
//
// A namespace no member matches is ErrNoRoute (store.ErrInvalid). The
// original also named a round-robin policy, a stub that always answered
// member 0: a resource placed by a rotating counter cannot be found again
// without asking every member, and two creates of one name race to two
// members. RouteSpread spreads the load as evenly and never loses a
// resource.
//
// What spans several members:
//
//   - List of a namespace RouteFirst routes to one member, or of any
//     namespace when there is one member, is that member's list. Otherwise
//     it aggregates the members that may hold items, in store.Compare order,
//     with Revision 0: there is no single revision to report. A member's
//     error fails the whole list, naming the member: a partial list is never
//     presented as whole.
//   - Watch with one member is that member's watch. Across several (a watch
//     has no namespace) it fans in their streams: from must be 0 (a resume
//     needs one revision, and members' revisions are not comparable:
//     store.ErrUnsupported otherwise). Each member's initial state arrives
//     in its order, then one Bookmark at revision 0 once every member's
//     initial state is through, then live events, each member's in its
//     revision order (a member's live events wait for that Bookmark, so
//     before it come only Added events). Members' later bookmarks are not forwarded. A member's
//     Reset is forwarded as the fan-in's last event (re-list); a member's
//     error ends the fan-in with that error, naming the member. The fan-in
//     holds at most WatchBufferMax undelivered live events
//     (ErrWatchOverflow).
//   - Snapshot across members is each member's snapshot, named, in order;
//     Restore and Compact across members answer store.ErrUnsupported.
type Federation struct {
	members []Member
	route   Route
	// fanInMax bounds a fan-in's undelivered live events: WatchBufferMax
	// (a test lowers it, so that no member's own bound is reached first).
	fanInMax int
}

// Member is one backend of a federation.
type Member struct {
	Name     string   // names it in errors and in the federation's Name
	Prefixes []string // the namespaces it serves begin with one of these; none: every namespace
	Backend  Backend
}

// Route is how a federation picks the member a resource lives on.
type Route uint8

// The routes.
const (
	RouteFirst  Route = iota + 1 // the first matching member
	RouteSpread                  // the matching member the reference hashes to
)

var routeNames = map[Route]string{RouteFirst: "first", RouteSpread: "spread"}

func (r Route) String() string {
	if s, ok := routeNames[r]; ok {
		return s
	}
	return fmt.Sprintf("route(%d)", uint8(r))
}

// ParseRoute parses a route name: first or spread.
func ParseRoute(s string) (Route, error) {
	for r, name := range routeNames {
		if name == s {
			return r, nil
		}
	}
	return 0, fmt.Errorf("backend: unknown federation route %q (first or spread)", s)
}

// ErrNoRoute: no member of a federation serves a namespace.
var ErrNoRoute = fmt.Errorf("backend: no federation member serves the namespace: %w", store.ErrInvalid)

// FederationMembersMax bounds a federation's members.
const FederationMembersMax = 64

var _ Backend = (*Federation)(nil)
var _ Compactor = (*Federation)(nil)

// NewFederation returns a federation of members routed by route. Errors:
// no member, too many, a member without a backend, two members of one name
// (or a name that is not one printable word), an empty prefix (leave
// Prefixes empty to serve every namespace), an unknown route.
func NewFederation(route Route, members ...Member) (*Federation, error) {
	if err := CheckFederation(route, members...); err != nil {
		return nil, err
	}
	for i, m := range members {
		if m.Backend == nil {
			return nil, fmt.Errorf("backend: federation: member %d (%q) has no backend", i, m.Name)
		}
	}
	return &Federation{members: slices.Clone(members), route: route, fanInMax: WatchBufferMax}, nil
}

// CheckFederation checks what NewFederation checks but the backends, so
// that a caller can refuse bad members before it opens their backends.
func CheckFederation(route Route, members ...Member) error {
	if _, ok := routeNames[route]; !ok {
		return fmt.Errorf("backend: federation: unknown route %d", route)
	}
	if len(members) == 0 || len(members) > FederationMembersMax {
		return fmt.Errorf("backend: federation: %d members, want 1 to %d", len(members), FederationMembersMax)
	}
	seen := map[string]bool{}
	for i, m := range members {
		switch {
		case m.Name == "" || strings.ContainsAny(m.Name, " ,()\t\n\x00"):
			return fmt.Errorf("backend: federation: member %d: name %q is not one word", i, m.Name)
		case seen[m.Name]:
			return fmt.Errorf("backend: federation: two members named %q", m.Name)
		case slices.Contains(m.Prefixes, ""):
			return fmt.Errorf("backend: federation: member %q: an empty prefix (give none to serve every namespace)", m.Name)
		}
		seen[m.Name] = true
	}
	return nil
}

// Name is "federation(NAME,...)".
func (f *Federation) Name() string {
	names := make([]string, len(f.members))
	for i, m := range f.members {
		names[i] = m.Name
	}
	return "federation(" + strings.Join(names, ",") + ")"
}

// serves says whether m serves namespace ns.
func (m Member) serves(ns string) bool {
	if len(m.Prefixes) == 0 {
		return true
	}
	for _, p := range m.Prefixes {
		if strings.HasPrefix(ns, p) {
			return true
		}
	}
	return false
}

// matching lists the members serving ns, in order.
func (f *Federation) matching(ns string) []int {
	var out []int
	for i, m := range f.members {
		if m.serves(ns) {
			out = append(out, i)
		}
	}
	return out
}

// owner is the member ref lives on.
func (f *Federation) owner(ref store.Ref) (int, error) {
	cands := f.matching(ref.Namespace)
	if len(cands) == 0 {
		return 0, fmt.Errorf("%w: %q", ErrNoRoute, ref.Namespace)
	}
	if f.route == RouteFirst || len(cands) == 1 {
		return cands[0], nil
	}
	best, bestScore := -1, uint64(0)
	for _, i := range cands {
		if s := spreadScore(f.members[i].Name, ref); best < 0 || s > bestScore {
			best, bestScore = i, s
		}
	}
	return best, nil
}

// spreadScore is the rendezvous hash of a member and a reference, the same
// in every process: FNV-1a of each (length-prefixed fields), combined by
// splitmix64's finalizer. FNV-1a alone is no rendezvous hash: its scores
// for two members keep one order for every reference.
func spreadScore(member string, ref store.Ref) uint64 {
	return mix64(fieldsHash(member) ^ mix64(fieldsHash(ref.Kind, ref.Namespace, ref.Name)))
}

func fieldsHash(fields ...string) uint64 {
	h := fnv.New64a()
	var n [4]byte
	for _, s := range fields {
		binary.BigEndian.PutUint32(n[:], uint32(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	return h.Sum64()
}

// mix64 is splitmix64's finalizer.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// memberErr names the member an error came from.
func (f *Federation) memberErr(i int, err error) error {
	if err == nil || len(f.members) == 1 {
		return err
	}
	return fmt.Errorf("backend: federation member %s: %w", f.members[i].Name, err)
}

// Apply applies on the member ref lives on.
func (f *Federation) Apply(ctx context.Context, r store.Resource, exp store.Expect) (store.Resource, error) {
	i, err := f.owner(r.Ref)
	if err != nil {
		return store.Resource{}, err
	}
	got, err := f.members[i].Backend.Apply(ctx, r, exp)
	return got, f.memberErr(i, err)
}

// Get reads from the member ref lives on.
func (f *Federation) Get(ctx context.Context, ref store.Ref, opt ReadOptions) (store.Resource, error) {
	i, err := f.owner(ref)
	if err != nil {
		return store.Resource{}, err
	}
	got, err := f.members[i].Backend.Get(ctx, ref, opt)
	return got, f.memberErr(i, err)
}

// Delete deletes on the member ref lives on.
func (f *Federation) Delete(ctx context.Context, ref store.Ref, exp store.Expect) (store.Resource, error) {
	i, err := f.owner(ref)
	if err != nil {
		return store.Resource{}, err
	}
	got, err := f.members[i].Backend.Delete(ctx, ref, exp)
	return got, f.memberErr(i, err)
}

// listed is the members a list of namespace ns asks.
func (f *Federation) listed(ns string) []int {
	if ns == "" {
		all := make([]int, len(f.members))
		for i := range all {
			all[i] = i
		}
		return all
	}
	cands := f.matching(ns)
	if f.route == RouteFirst && len(cands) > 1 {
		return cands[:1]
	}
	return cands
}

// List lists one member, or aggregates several; see the type's doc.
func (f *Federation) List(ctx context.Context, kind, namespace string, opt ReadOptions) (List, error) {
	asked := f.listed(namespace)
	if len(asked) == 0 {
		return List{}, fmt.Errorf("%w: %q", ErrNoRoute, namespace)
	}
	if len(asked) == 1 {
		l, err := f.members[asked[0]].Backend.List(ctx, kind, namespace, opt)
		return l, f.memberErr(asked[0], err)
	}
	var out List
	for _, i := range asked {
		l, err := f.members[i].Backend.List(ctx, kind, namespace, opt)
		if err != nil {
			return List{}, f.memberErr(i, err)
		}
		out.Items = append(out.Items, l.Items...)
		out.Behind = max(out.Behind, l.Behind)
	}
	slices.SortStableFunc(out.Items, func(a, b store.Resource) int { return store.Compare(a.Ref, b.Ref) })
	return out, nil
}

// Watch is the member's watch, or a fan-in of every member's; see the
// type's doc.
func (f *Federation) Watch(ctx context.Context, kind string, from store.Revision) (Watch, error) {
	if len(f.members) == 1 {
		return f.members[0].Backend.Watch(ctx, kind, from)
	}
	if from != 0 {
		return nil, fmt.Errorf("backend: federation: a watch across %d members starts from revision 0, not %d: members' revisions are not comparable: %w",
			len(f.members), from, store.ErrUnsupported)
	}
	return startFanIn(ctx, f, kind)
}

// Snapshot is the member's snapshot, or every member's, named, in order.
func (f *Federation) Snapshot(ctx context.Context) ([]byte, error) {
	if len(f.members) == 1 {
		return f.members[0].Backend.Snapshot(ctx)
	}
	out := []byte(federationSnapshotMagic)
	for i, m := range f.members {
		snap, err := m.Backend.Snapshot(ctx)
		if err != nil {
			return nil, f.memberErr(i, err)
		}
		out = binary.AppendUvarint(out, uint64(len(m.Name)))
		out = append(out, m.Name...)
		out = binary.AppendUvarint(out, uint64(len(snap)))
		out = append(out, snap...)
	}
	return out, nil
}

// federationSnapshotMagic opens a snapshot across members.
const federationSnapshotMagic = "revoada-federation-v1\n"

// Restore restores the member; across members it answers
// store.ErrUnsupported (members cannot be restored all or nothing), and a
// snapshot that is not one of a federation store.ErrInvalid.
func (f *Federation) Restore(ctx context.Context, snap []byte) error {
	if len(f.members) == 1 {
		return f.members[0].Backend.Restore(ctx, snap)
	}
	if !bytes.HasPrefix(snap, []byte(federationSnapshotMagic)) {
		return fmt.Errorf("backend: federation: not a federation's snapshot: %w", store.ErrInvalid)
	}
	return fmt.Errorf("backend: federation: restoring %d members at once: %w", len(f.members), store.ErrUnsupported)
}

// Compact compacts the member if it can; across members it answers
// store.ErrUnsupported.
func (f *Federation) Compact(ctx context.Context, rev store.Revision) error {
	if len(f.members) == 1 {
		if c, ok := f.members[0].Backend.(Compactor); ok {
			return c.Compact(ctx, rev)
		}
	}
	return fmt.Errorf("backend: federation: compact: %w", store.ErrUnsupported)
}

// Counts sums the members'.
func (f *Federation) Counts() Counts {
	var c Counts
	for _, m := range f.members {
		mc := m.Backend.Counts()
		c.Resources += mc.Resources
		c.Subscribers += mc.Subscribers
	}
	return c
}

// fanIn merges the watches of every member of a federation.
type fanIn struct {
	out    chan store.Event
	stop   chan struct{}  // closed by Close
	done   chan struct{}  // closed once the fan-in has stopped
	ended  chan struct{}  // closed once err is set, before out is closed
	closed chan struct{}  // guards stop
	fwd    sync.WaitGroup // the members' forwarders
	err    error          // why it ended; read after ended
}

// fanInEvent is one member's event, or the end of its stream.
type fanInEvent struct {
	member int
	ev     store.Event
	end    bool
}

// queued is an event waiting for the consumer.
type queued struct {
	ev   store.Event
	live bool // counts towards WatchBufferMax
}

func startFanIn(ctx context.Context, f *Federation, kind string) (*fanIn, error) {
	ws := make([]Watch, 0, len(f.members))
	for i, m := range f.members {
		w, err := m.Backend.Watch(ctx, kind, 0)
		if err != nil {
			for _, w := range ws {
				w.Close()
			}
			return nil, f.memberErr(i, err)
		}
		ws = append(ws, w)
	}
	fi := &fanIn{out: make(chan store.Event), stop: make(chan struct{}), done: make(chan struct{}), ended: make(chan struct{}), closed: make(chan struct{}, 1)}
	in := make(chan fanInEvent)
	for i, w := range ws {
		fi.fwd.Add(1)
		go func() {
			defer fi.fwd.Done()
			for ev := range w.Events() {
				select {
				case in <- fanInEvent{member: i, ev: ev}:
				case <-fi.stop:
					return
				}
			}
			select {
			case in <- fanInEvent{member: i, end: true}:
			case <-fi.stop:
			}
		}()
	}
	go fi.run(ctx, f, ws, in)
	return fi, nil
}

func (fi *fanIn) run(ctx context.Context, f *Federation, ws []Watch, in chan fanInEvent) {
	initial := make([]bool, len(ws)) // the member's initial state is through
	pending := len(ws)
	var queue []queued
	var held []queued // members' live events before every initial state is through
	live := 0
	draining := false // a Reset is queued: deliver, then end
	finish := func(err error) {
		fi.err = err
		fi.signalStop()
		for _, w := range ws {
			w.Close()
		}
		fi.fwd.Wait()
		close(fi.ended) // before out: a consumer seeing out closed reads err
		close(fi.out)
		close(fi.done)
	}
	for {
		var send chan store.Event
		var head store.Event
		if len(queue) > 0 {
			send, head = fi.out, queue[0].ev
		} else if draining {
			finish(nil)
			return
		}
		recv := in
		if draining {
			recv = nil
		}
		select {
		case send <- head:
			if queue[0].live {
				live--
			}
			queue = queue[1:]
		case e := <-recv:
			switch {
			case e.end:
				if err := ws[e.member].Err(); err != nil {
					finish(f.memberErr(e.member, err))
				} else {
					finish(fmt.Errorf("backend: federation member %s: its watch ended", f.members[e.member].Name))
				}
				return
			case e.ev.Type == store.Reset:
				queue = append(queue, queued{ev: e.ev})
				draining = true
			case e.ev.Type == store.Bookmark:
				if !initial[e.member] {
					initial[e.member] = true
					if pending--; pending == 0 {
						queue = append(queue, queued{ev: store.Event{Type: store.Bookmark}})
						queue = append(queue, held...)
						held = nil
					}
				}
			default:
				isLive := initial[e.member]
				if isLive && live >= f.fanInMax {
					finish(ErrWatchOverflow)
					return
				}
				switch {
				case isLive && pending > 0:
					live++
					held = append(held, queued{ev: e.ev, live: true})
				case isLive:
					live++
					queue = append(queue, queued{ev: e.ev, live: true})
				default:
					queue = append(queue, queued{ev: e.ev})
				}
			}
		case <-fi.stop:
			finish(nil)
			return
		case <-ctx.Done():
			finish(ctx.Err())
			return
		}
	}
}

// signalStop closes stop once.
func (fi *fanIn) signalStop() {
	select {
	case fi.closed <- struct{}{}:
		close(fi.stop)
	default:
	}
}

func (fi *fanIn) Events() <-chan store.Event { return fi.out }

// Close ends the fan-in and its members' watches, and waits for them.
func (fi *fanIn) Close() {
	fi.signalStop()
	<-fi.done
}

// Err says why the fan-in ended, once Events is closed.
func (fi *fanIn) Err() error {
	select {
	case <-fi.ended:
		return fi.err
	default:
		return nil
	}
}
