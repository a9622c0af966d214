package node

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"

	"revoada.dev/revoada/core/content"
	"revoada.dev/revoada/core/cover"
	"revoada.dev/revoada/core/membership"
	"revoada.dev/revoada/core/roles"
	"revoada.dev/revoada/core/store"
)

// Content sync (layer C of the design): how workers, which apply no log,
// come to hold the resource store's state, verified, from their peers.
//
// A raft member publishes a state root in its gossiped state (signed with
// its node key, as all of it is) every RootTicks while its applied index
// moves, and whenever its shape changes: the index, the shape's digest, the
// digest of a manifest of the store (content.Manifest: every resource's key,
// revision and blob digest) and the head of the role history. It holds the
// manifest and every resource (store.AppendResource's bytes) as blobs in a
// content.Store, and keeps the blobs its last RootsKept roots reach.
//
// A worker takes the root of highest index among those gossiped by the
// voters of its view that also gossip a voter's roles (a demoted voter's
// state says so as soon as it knows; until it is a raft member a voter
// gossips no manifest, so a root a worker takes is always one a member
// published whole) — a root from any other node, or one whose signature
// does not verify (membership counts those Forged and drops them), is never
// taken — fetches its manifest and then the resources it lacks
// (content.Fetcher: parts checked against their digest on arrival, bounded
// requests in flight, retried elsewhere on a timeout, a refusal or a bad
// part), checks that each resource decodes to the entry naming it, and only
// then installs the root: the state it serves local reads from, and the
// manifest it gossips as its own, so that it serves that state's blobs to
// the workers behind it. A blob is asked of the nodes that gossip the
// manifest being fetched: other workers first, then the voters, each
// worker starting at another place among them, so the voters (and the
// leader among them) serve a small share as more workers hold the state.
//
// A worker's gossiped root keeps its view's index and shape digest (the
// shape it answers from: leaders resend shape notices by them); its
// manifest digest and chain head are those of the root it installed.

// Content sync limits and defaults.
const (
	RootTicksDefault  = 10 // ticks between two roots a member publishes, while its state moves
	RootsKept         = 4  // a member keeps the blobs of its last RootsKept roots
	ContentItemsMax   = 64 // wants, parts or refusals in one content message
	collectSlack      = 64 // blobs a store may hold beyond twice its live ones before a collection
	FetchInFlightMax  = 32 // blob parts a worker asks for at once
	FetchTimeoutTicks = 20 // ticks before a worker asks another peer for a part unanswered
	NearTicks         = 2  // peers whose answers take as long, within this, are as near (sources)
	StallRoots        = 5  // retarget waits (root periods, or longer on slow links) a worker waits for any part of its target before it gives it up
	DistrustRoots     = 10 // root periods a voter whose root was given up is not taken from
	// AnswerBytesMax bounds the blob data of the parts answering one
	// content message: more than a fetcher's wants in flight draw
	// (content.FetcherConfig.InFlightMax parts of at most
	// content.PartDataMax), far less than ContentItemsMax of them.
	AnswerBytesMax = 1 << 20
	// ServeBytesPerTick bounds the blob data a node sends one peer in a
	// tick (40 MiB/s at the default 100 ms tick): a peer sending message
	// after message of wants draws no more. An honest fetcher has at most
	// content.FetcherConfig.InFlightMax parts in flight over all its peers.
	ServeBytesPerTick = 4 << 20
)

// ContentMessage asks for blob parts, answers with them, or says which
// blobs the sender does not hold. Receivers never write to it (it is
// shared, like gossip).
type ContentMessage struct {
	Wants []content.Want
	Parts []content.Part
	Lacks []content.Digest
}

// SyncStatus is what a node's content sync has done, for drivers and
// checkers.
type SyncStatus struct {
	// Published is the last root this node gossiped as a raft member
	// (zero if it never did).
	Published membership.StateRoot
	// Synced is the root a worker installed and serves local reads from;
	// Revision its store revision.
	Synced   membership.StateRoot
	Revision store.Revision
	// Latest is the highest index of a root the node has seen a voter
	// publish; Pending the blobs it still fetches.
	Latest  uint64
	Pending int
	// ServedBytes counts the blob bytes this node sent in parts;
	// RefusedRoots the roots it gave up: a manifest or a resource that
	// does not decode or match its entry, or no part of it for StallRoots
	// root periods.
	ServedBytes  uint64
	RefusedRoots uint64
	Fetch        content.FetchStats
	Blobs        int
}

type syncing struct {
	blobs *content.Store
	fetch *content.Fetcher

	// A raft member's publishing.
	rootAt    uint64 // n.ticks at the last root published
	published membership.StateRoot
	resources map[store.Ref]resourceBlob // the store's resources as blobs, by revision
	last      lastManifest               // what manifestOf made last
	kept      []content.Manifest         // the manifests of the last RootsKept roots
	keptRoots []content.Digest

	// A worker's syncing.
	target                    membership.StateRoot // the root being fetched (zero: none)
	wanted                    []content.Digest     // what the fetcher was asked for, for it
	wantedSet                 map[content.Digest]bool
	targetMan                 *content.Manifest       // its manifest, once held and decoded
	targetFrom                roles.NodeID            // the voter that published it
	progressBytes, progressAt uint64                  // the fetcher's bytes received, and when they last grew
	distrust                  map[roles.NodeID]uint64 // voters whose roots are not taken until a tick
	asked                     map[roles.NodeID]uint64 // peer -> the tick of its oldest wants unanswered
	rtt8                      map[roles.NodeID]uint64 // peer -> eight times its answers' moving average, in ticks
	voters                    []roles.NodeID          // viewVoters' list, of the view votersOf names
	votersOf                  viewKey
	roots                     []voterRoot // voterRoots' list, valid for states rootsGen and view rootsOf
	rootsGen                  uint64
	rootsOf                   viewKey
	rootsValid                bool
	synced                    membership.StateRoot
	syncedMan                 content.Manifest
	syncedRes                 []store.Resource // in store.Compare order
	latest                    uint64
	served                    uint64
	servedTo                  map[roles.NodeID]uint64 // blob bytes sent each peer in tick servedAt
	servedAt                  uint64
	refusedCnt                uint64
}

type resourceBlob struct {
	rev    store.Revision
	key    string // entryKey
	digest content.Digest
	size   uint64
}

func (n *Node) rootTicks() uint64 {
	if n.cfg.RootTicks > 0 {
		return uint64(n.cfg.RootTicks)
	}
	return RootTicksDefault
}

func newSyncing() *syncing {
	st := content.NewStore()
	return &syncing{blobs: st, fetch: content.NewFetcher(content.FetcherConfig{InFlightMax: FetchInFlightMax, TimeoutTicks: FetchTimeoutTicks}, st), resources: map[store.Ref]resourceBlob{}, wantedSet: map[content.Digest]bool{}, distrust: map[roles.NodeID]uint64{},
		asked: map[roles.NodeID]uint64{}, rtt8: map[roles.NodeID]uint64{}}
}

// SyncStatus reports the node's content sync (zero without gossip).
func (n *Node) SyncStatus() SyncStatus {
	s := n.sync
	if s == nil {
		return SyncStatus{}
	}
	return SyncStatus{Published: s.published, Synced: s.synced, Revision: store.Revision(s.syncedMan.Revision), Latest: s.latest,
		Pending: s.fetch.Pending(), ServedBytes: s.served, RefusedRoots: s.refusedCnt, Fetch: s.fetch.Stats(), Blobs: s.blobs.Len()}
}

// LatestRoot is the index of the newest root the voters a worker trusts
// gossip (what a local read's Behind counts to; 0 on a member).
func (n *Node) LatestRoot() uint64 {
	if n.sync == nil {
		return 0
	}
	return n.sync.latest
}

// Roots returns the last root the node published as a raft member and
// the root it installed as a worker (zero: none), without SyncStatus's
// copies.
func (n *Node) Roots() (published, synced membership.StateRoot) {
	if n.sync == nil {
		return
	}
	return n.sync.published, n.sync.synced
}

// tickContent publishes a member's root when it is due, and moves a
// worker's fetch on.
func (n *Node) tickContent() {
	if n.sync == nil || !n.heal.joined || !n.InShape() {
		return
	}
	if n.status.Member {
		if n.applied != n.sync.published.Index && n.ticks-n.sync.rootAt >= n.rootTicks() {
			n.publishRoot(0)
		}
		return
	}
	if n.self().roles.Has(roles.Etcd) {
		return // a voter on its way into raft: the log brings it the state
	}
	n.sync.fetch.Tick()
	n.chooseRoot()
	n.sendWants()
}

// publishRoot gossips the root of the member's applied state, and its
// roles r if they are not 0.
func (n *Node) publishRoot(r roles.Roles) {
	s, st := n.sync, n.machine.Store()
	s.rootAt = n.ticks
	m, md, err := s.manifestOf(st)
	if err != nil {
		// A store too large for one manifest blob: the root names no
		// manifest (workers take none, and keep serving the last one they
		// installed) rather than the member failing at every root.
		md = content.Digest{}
	}
	root := membership.StateRoot{Index: n.applied, ShapeHash: n.machine.derive().digest, ManifestHash: md, ChainHead: n.machine.Chain().Head()}
	if md != (content.Digest{}) && (len(s.keptRoots) == 0 || s.keptRoots[len(s.keptRoots)-1] != md) {
		s.kept, s.keptRoots = append(s.kept, m), append(s.keptRoots, md)
		if len(s.kept) > RootsKept {
			s.kept, s.keptRoots = slices.Delete(s.kept, 0, 1), slices.Delete(s.keptRoots, 0, 1)
		}
		n.collect(s.keptRoots, s.kept, len(m.Entries))
	}
	s.published = root
	n.heal.shape = root.ShapeHash
	_ = n.heal.gossip.UpdateSelf(func(st *membership.State) {
		if r != 0 {
			st.Roles = r
		}
		st.StateRoot = root
	})
	n.drainGossip()
}

// manifestOf holds the resources of a member's store state as blobs, and
// returns the manifest of that state and its digest. A manifest over
// content.BlobMax (a store of some 150,000 resources) is refused with
// content.ErrTooLarge: the resources' blobs are held, the manifest's is not.
//
// It follows the store from the last manifest it made on: the entries of
// the resources written since (Store.Events) are made again, the others
// kept. It lists the store whole instead, as the first time, when it
// cannot: another store (the machine was restored), a snapshot restored
// into it, history compacted past the last manifest, or a blob of that
// manifest no longer held. Either way the manifest, and the blobs held,
// are those of the store's List.
func (s *syncing) manifestOf(st *store.Store) (content.Manifest, content.Digest, error) {
	rev := st.Revision()
	m := content.Manifest{Revision: uint64(rev)}
	entries, ok := s.followed(st, rev)
	if !ok {
		items, _ := st.List("", "")
		entries = s.listed(items)
	}
	m.Entries = entries
	s.last = lastManifest{store: st, restores: st.Restores(), rev: rev, entries: entries}
	md, err := s.blobs.Put(m.Append(nil))
	if err != nil {
		s.last = lastManifest{}
		return content.Manifest{}, content.Digest{}, fmt.Errorf("the manifest of %d resources: %w", len(entries), err)
	}
	return m, md, nil
}

// lastManifest is what manifestOf made last, to follow the store from.
type lastManifest struct {
	store    *store.Store // nil: none
	restores uint64       // the store's Restores then
	rev      store.Revision
	entries  []content.Entry // shared with the manifest: read only
}

// listed makes the entries of items, the store's List, reusing the blob of
// each resource whose revision is unchanged and still held.
func (s *syncing) listed(items []store.Resource) []content.Entry {
	entries := make([]content.Entry, 0, len(items))
	next := make(map[store.Ref]resourceBlob, len(items))
	for _, r := range items {
		b, ok := s.resources[r.Ref]
		if !ok || b.rev != r.ModRevision || !s.blobs.Has(b.digest) {
			b = s.resourceBlob(r)
		}
		next[r.Ref] = b
		entries = append(entries, b.entry())
	}
	s.resources = next
	return entries
}

// followed makes the entries of the store at rev from the last manifest's
// and the writes since, and reports whether it could (see manifestOf).
func (s *syncing) followed(st *store.Store, rev store.Revision) ([]content.Entry, bool) {
	last := s.last
	if last.store != st || last.restores != st.Restores() || rev < last.rev {
		return nil, false
	}
	for _, e := range last.entries {
		if !s.blobs.Has(e.Digest) {
			return nil, false
		}
	}
	evs, err := st.Events(last.rev+1, "")
	if err != nil {
		return nil, false
	}
	// The last write of each resource written, in manifest (key) order.
	lastOf := make(map[store.Ref]int, len(evs))
	for i, ev := range evs {
		if ev.Type != store.Added && ev.Type != store.Modified && ev.Type != store.Deleted {
			return nil, false
		}
		lastOf[ev.Resource.Ref] = i
	}
	type write struct {
		key string
		ev  *store.Event
	}
	writes := make([]write, 0, len(lastOf))
	for ref, i := range lastOf {
		writes = append(writes, write{entryKey(ref), &evs[i]})
	}
	slices.SortFunc(writes, func(a, b write) int { return cmp.Compare(a.key, b.key) })
	entries := make([]content.Entry, 0, len(last.entries)+len(writes))
	old := last.entries
	for _, w := range writes {
		for len(old) > 0 && old[0].Key < w.key {
			entries, old = append(entries, old[0]), old[1:]
		}
		if len(old) > 0 && old[0].Key == w.key {
			old = old[1:]
		}
		r := w.ev.Resource
		if w.ev.Type == store.Deleted {
			delete(s.resources, r.Ref)
			continue
		}
		b := s.resourceBlob(r)
		s.resources[r.Ref] = b
		entries = append(entries, b.entry())
	}
	return append(entries, old...), true
}

// resourceBlob holds r as a blob.
func (s *syncing) resourceBlob(r store.Resource) resourceBlob {
	data := store.AppendResource(nil, r)
	d, err := s.blobs.Put(data)
	if err != nil {
		panic(fmt.Sprintf("node: resource %s as a blob: %v", r.Ref, err))
	}
	return resourceBlob{rev: r.ModRevision, key: entryKey(r.Ref), digest: d, size: uint64(len(data))}
}

func (b resourceBlob) entry() content.Entry {
	return content.Entry{Key: b.key, Revision: uint64(b.rev), Digest: b.digest, Size: b.size}
}

// collect drops every blob the given manifests do not reach, once the
// store holds more than twice the live entries' blobs (and a few): each
// collection then frees at least as much as it costs to find.
func (n *Node) collect(roots []content.Digest, ms []content.Manifest, live int) {
	if n.sync.blobs.Len() <= 2*live+collectSlack {
		return
	}
	keep := make(map[content.Digest]bool)
	for _, d := range roots {
		keep[d] = true
	}
	for _, m := range ms {
		for _, e := range m.Entries {
			keep[e.Digest] = true
		}
	}
	n.sync.blobs.Collect(func(d content.Digest) bool { return keep[d] })
}

// entryKey is a resource's manifest key: its ref's parts in store.Compare
// order, NUL-separated (no ref part holds a NUL), so that manifest order
// (bytewise by key) is List's.
func entryKey(ref store.Ref) string {
	return ref.Namespace + "\x00" + ref.Name + "\x00" + ref.Kind
}

// chooseRoot takes the newest root the voters of the worker's view gossip,
// from a voter it does not distrust, and starts fetching it if the worker
// does not hold it yet and fetches no other, or its target made no progress
// for a root period (followTarget); a publisher whose roots made no
// progress for StallRoots periods is distrusted for DistrustRoots, its
// target given up. A newer root from the same publisher carries the stall
// on: a voter that boasts a newer root every period and serves none of
// them (a poisoned one, explore-55) would otherwise hold the worker for
// ever, each boast resetting the wait, while an honest voter's roots go
// untaken.
func (n *Node) chooseRoot() {
	s := n.sync
	var best membership.StateRoot
	var from roles.NodeID
	for _, r := range n.voterRoots() {
		if r.root.Index > best.Index && s.distrust[r.id] <= n.ticks {
			best, from = r.root, r.id
		}
	}
	// The newest root the voters trusted now gossip, not the highest ever
	// seen: a root a voter boasted (far ahead of the log) and the worker gave
	// up would otherwise count in every local read's Behind for good.
	s.latest = max(best.Index, s.synced.Index)
	switch {
	case best.ManifestHash == (content.Digest{}) || best.Index <= s.synced.Index:
		return
	case best.ManifestHash == s.synced.ManifestHash:
		s.synced = best // the same state at a later index
		n.publishSynced()
		return
	case s.target.ManifestHash != (content.Digest{}) && !n.followTarget(best.Index > s.target.Index):
		return
	}
	stalledSince, stalled := s.progressAt, false
	if s.target.ManifestHash != (content.Digest{}) {
		n.cover.Sometimes(cover.SyncRetargeted)
		stalled = s.targetFrom == from // followTarget gave it up: no part for a root period
	}
	n.dropTarget()
	s.target, s.targetFrom = best, from
	s.progressBytes, s.progressAt = s.fetch.Stats().Received(), n.ticks
	if stalled {
		s.progressAt = stalledSince
	}
	n.progressSync(false)
}

// viewVoters is view().Voters(), kept until the view changes: a worker
// looks for roots every tick, and the list costs a pass over the shape.
func (n *Node) viewVoters() []roles.NodeID {
	s := n.sync
	key := viewKey{index: n.seen.index}
	if n.seen.index <= n.applied {
		key = viewKey{digest: n.machine.derive().digest}
	}
	if s.voters == nil || key != s.votersOf {
		s.voters, s.votersOf = n.view().Voters(), key
	}
	return s.voters
}

// voterRoots are the roots the voters of the worker's view gossip, each
// with a manifest, from a state that gossips a voter's roles, other than
// the worker's own, in viewVoters order: what chooseRoot picks from. They
// are asked of membership again only when its states or the view changed
// (statesGen), not every tick.
func (n *Node) voterRoots() []voterRoot {
	s := n.sync
	voters := n.viewVoters()
	gen, known := n.statesGen()
	if known && s.rootsValid && s.rootsGen == gen && s.rootsOf == s.votersOf {
		return s.roots
	}
	s.roots = s.roots[:0]
	for _, v := range voters {
		st, ok := n.heal.gossip.State(v)
		if ok && st.Roles.Has(roles.Etcd) && st.StateRoot.ManifestHash != (content.Digest{}) && v != n.cfg.ID {
			s.roots = append(s.roots, voterRoot{id: v, root: st.StateRoot})
		}
	}
	s.rootsValid, s.rootsGen, s.rootsOf = known, gen, s.votersOf
	return s.roots
}

// voterRoot is a root a voter gossips.
type voterRoot struct {
	id   roles.NodeID
	root membership.StateRoot
}

// viewKey names a view: the index of the notice it came from, or the
// digest of the applied shape.
type viewKey struct {
	index  uint64
	digest roles.Digest
}

// followTarget moves the target's fetch on, and reports whether to give it
// up for the newer root a voter published (newer): only once no part of it
// arrived for a wait (see linkTicks) and no want is awaited. A fetch taking
// longer than the roots come (slow links, a large manifest) still ends: a
// worker that gave up its target for every newer root installed none while
// the writes went on. A target no part of which arrives for StallRoots
// waits (counted across its publisher's newer roots: see chooseRoot) is
// given up and its publisher distrusted.
func (n *Node) followTarget(newer bool) bool {
	s := n.sync
	if n.ticks%n.rootTicks() != 0 {
		n.progressSync(false)
		return false
	}
	if got := s.fetch.Stats().Received(); got != s.progressBytes {
		s.progressBytes, s.progressAt = got, n.ticks
	}
	link, measured := n.linkTicks()
	wait := max(n.rootTicks(), link)
	since := n.ticks - s.progressAt
	if since >= StallRoots*wait {
		n.cover.Sometimes(cover.SyncStalled)
		n.distrustTarget()
		return false
	}
	if newer && since >= wait && !s.awaited(link, measured) {
		return true
	}
	n.progressSync(true) // now and then, ask the nodes that hold it now
	return false
}

// linkTicks is how long an answer to a want of the target takes: twice the
// round trip measured to the nearest of its sources (0, and not measured,
// before any answered). The nearest: the fetcher asks them first. Not
// every peer ever measured: a worker whose voters are near and whose
// fellow workers far (or one peer slow for a while, then asked no more)
// waited as long as for the far ones.
//
// A worker waits for any part of its target before it takes a newer root
// for a root period, or linkTicks if that is longer; for StallRoots of
// those waits before it gives the target up and distrusts its publisher.
// Over links whose round trip exceeds the root period, a worker that gave
// its target up after one period dropped the wants in flight (their parts,
// once they came, were unasked for), and so never received a part of
// anything (worker-sync-very-slow-links).
func (n *Node) linkTicks() (ticks uint64, measured bool) {
	s := n.sync
	for _, id := range n.sources(s.target.ManifestHash, false) {
		if t, ok := s.answerTicks(id); ok && (!measured || t < ticks) {
			ticks, measured = t, true
		}
	}
	return ticks, measured
}

// answerTicks is twice the round trip measured to peer id, in ticks rounded
// up, and whether one was measured.
func (s *syncing) answerTicks(id roles.NodeID) (uint64, bool) {
	r8, ok := s.rtt8[id]
	return 2 * ((r8 + 7) / 8), ok
}

// awaited reports whether a want in flight may still be answered: asked
// within twice the round trip measured to its peer; for a peer never
// measured, within link (linkTicks), or FetchTimeoutTicks when no source
// was measured. A worker gives no target up for a newer root while it
// waits so: a want asked again after a loss, or of a slower peer, would
// otherwise be dropped just before its answer came
// (worker-sync-very-slow-lossy-links), and a worker whose wants' answers
// each came a tick after its retargets never installed a root
// (worker-sync-very-slow-links seed 573). A live but slow peer so holds a
// worker on a target longer than before, rather than its wants being
// cancelled: capping the wait at two waits failed the lossy built-in (1 of
// 100 seeds) and tripled its retargets.
func (s *syncing) awaited(link uint64, measured bool) bool {
	if !measured {
		link = FetchTimeoutTicks
	}
	return s.fetch.Awaiting(func(to roles.NodeID) uint64 {
		if t, ok := s.answerTicks(to); ok {
			return t
		}
		return link
	})
}

// distrustTarget gives the target up and distrusts its publisher for a
// while: a voter whose root no peer serves (it lied, or it holds the only
// copy behind a partition), or whose content does not decode.
func (n *Node) distrustTarget() {
	s := n.sync
	s.distrust[s.targetFrom] = n.ticks + DistrustRoots*n.rootTicks()
	maps.DeleteFunc(s.distrust, func(_ roles.NodeID, until uint64) bool { return until <= n.ticks })
	s.refusedCnt++
	n.dropTarget()
	n.collect([]content.Digest{s.synced.ManifestHash}, []content.Manifest{s.syncedMan}, 0)
}

// sources are the nodes that may hold manifest md's blobs, nearest first
// (the peers' answers timed, in steps of NearTicks), and among the as near:
// those that gossip it, the workers first, then the voters, the root's
// publisher last; then the other voters that publish roots (a member keeps
// the blobs of its last RootsKept roots, so one that has moved on to a
// newer root still serves most of a worker's target). Each list is rotated
// by where this node's ID falls, so that workers fetching at once ask
// different peers first. For the manifest itself (manifest) the voters that
// moved on come after every node that gossips it however near they are:
// they seldom hold it, and each refusal cost a round trip (two of them, 2s,
// over 400–700ms links: worker-sync-very-slow-lossy-links seed 113).
func (n *Node) sources(md content.Digest, manifest bool) []roles.NodeID {
	var workers, voters, kept []roles.NodeID
	view := n.view()
	for _, m := range n.heal.gossip.Members() {
		id := m.State.Node
		if id == n.cfg.ID || m.Health != membership.Healthy {
			continue
		}
		r, in := view.Roles(id)
		switch {
		case !in:
		case r.Has(roles.Etcd) && m.State.StateRoot.ManifestHash == md:
			voters = append(voters, id)
		case r.Has(roles.Etcd) && m.State.Roles.Has(roles.Etcd) && m.State.StateRoot.ManifestHash != (content.Digest{}):
			kept = append(kept, id)
		case !r.Has(roles.Etcd) && m.State.StateRoot.ManifestHash == md:
			workers = append(workers, id)
		}
	}
	rotate := func(ids []roles.NodeID) []roles.NodeID {
		if len(ids) > 1 {
			k := int(binary.BigEndian.Uint32(n.cfg.ID[:4]) % uint32(len(ids)))
			ids = append(ids[k:], ids[:k]...)
		}
		return ids
	}
	holders := slices.Concat(rotate(workers), rotate(voters))
	if i := slices.Index(holders, n.sync.targetFrom); i >= 0 && len(holders) > 1 {
		// The root's publisher last: the freshest root is most often the
		// leader's, the busiest node.
		holders = append(slices.Delete(holders, i, i+1), n.sync.targetFrom)
	}
	// Nearest first; among the as near, in the order above, the voters
	// that moved on after every node that gossips the manifest: they hold
	// the resources it shares with their own roots, seldom the manifest
	// itself (over slow links, asking them first for it cost a root period
	// of refusals, and a worker gave every target up so:
	// worker-sync-slow-links seed 118).
	nearest := func(ids []roles.NodeID) []roles.NodeID {
		slices.SortStableFunc(ids, func(a, b roles.NodeID) int { return cmp.Compare(n.sync.distance(a), n.sync.distance(b)) })
		return ids
	}
	if manifest {
		return append(nearest(holders), nearest(rotate(kept))...)
	}
	return nearest(append(holders, rotate(kept)...))
}

// progressSync moves the target's fetch a step: decode its manifest once
// held, want the resources the worker lacks, and install the root once
// every one is held and checked. refresh asks again for what is still
// missing, of the nodes that gossip the manifest now.
func (n *Node) progressSync(refresh bool) {
	s := n.sync
	if s.target.ManifestHash == (content.Digest{}) {
		return
	}
	if s.targetMan == nil {
		data, ok := s.blobs.Get(s.target.ManifestHash)
		if !ok {
			n.want(s.target.ManifestHash, 0, n.sources(s.target.ManifestHash, true))
			return
		}
		m, err := content.DecodeManifest(data)
		if err != nil {
			n.distrustTarget()
			return
		}
		s.targetMan = &m
		refresh = true
	}
	if s.fetch.Fetching() > 0 && !refresh { // a worker's blobs come from its fetcher alone: Pending, without its O(N) per message
		return
	}
	var src []roles.NodeID
	missing := false
	for _, e := range s.targetMan.Entries {
		if !s.blobs.Has(e.Digest) {
			if src == nil {
				src = n.sources(s.target.ManifestHash, false)
			}
			n.want(e.Digest, e.Size, src)
			missing = true
		}
	}
	if missing && !n.cfg.Planted.EarlyInstall {
		return
	}
	had := make(map[content.Digest]int, len(s.syncedRes)) // resources decoded for the last root
	for i, e := range s.syncedMan.Entries {
		had[e.Digest] = i
	}
	installed := content.Manifest{Revision: s.targetMan.Revision, Entries: s.targetMan.Entries}
	res := make([]store.Resource, 0, len(s.targetMan.Entries))
	for _, e := range s.targetMan.Entries {
		if i, ok := had[e.Digest]; ok && s.syncedMan.Entries[i].Key == e.Key && s.syncedMan.Entries[i].Revision == e.Revision {
			res = append(res, s.syncedRes[i])
			continue
		}
		data, held := s.blobs.Get(e.Digest)
		if !held { // only with the EarlyInstall plant: install what is held
			installed.Entries = slices.DeleteFunc(slices.Clone(installed.Entries), func(x content.Entry) bool { return !s.blobs.Has(x.Digest) })
			continue
		}
		r, rest, err := store.DecodeResource(data)
		if err != nil || len(rest) > 0 || entryKey(r.Ref) != e.Key || uint64(r.ModRevision) != e.Revision {
			n.distrustTarget()
			return
		}
		res = append(res, r)
	}
	s.synced, s.syncedMan, s.syncedRes = s.target, installed, res // syncedRes[i] is syncedMan.Entries[i]'s
	n.dropTarget()
	n.collect([]content.Digest{s.synced.ManifestHash}, []content.Manifest{s.syncedMan}, len(res))
	n.publishSynced()
}

// want asks the fetcher for d (again: with the sources of now).
func (n *Node) want(d content.Digest, size uint64, src []roles.NodeID) {
	s := n.sync
	if !s.wantedSet[d] {
		s.wantedSet[d] = true
		s.wanted = append(s.wanted, d)
	}
	s.fetch.Fetch(d, size, src)
}

// dropTarget stops fetching the target.
func (n *Node) dropTarget() {
	s := n.sync
	for _, d := range s.wanted {
		s.fetch.Cancel(d)
	}
	s.wanted = s.wanted[:0]
	clear(s.wantedSet)
	s.target, s.targetMan = membership.StateRoot{}, nil
}

// publishSynced gossips the manifest a worker installed, so that others
// fetch its blobs from it.
func (n *Node) publishSynced() {
	s := n.sync
	_ = n.heal.gossip.UpdateSelf(func(st *membership.State) {
		st.StateRoot.ManifestHash, st.StateRoot.ChainHead = s.synced.ManifestHash, s.synced.ChainHead
	})
	n.drainGossip()
}

// sendWants sends what the fetcher asks for, one message per peer.
func (n *Node) sendWants() {
	reqs := n.sync.fetch.Requests()
	for len(reqs) > 0 {
		to := reqs[0].To
		var wants []content.Want
		reqs = slices.DeleteFunc(reqs, func(r content.Request) bool {
			if r.To != to || len(wants) == ContentItemsMax {
				return false
			}
			wants = append(wants, r.Want)
			return true
		})
		n.send(to, Message{Kind: MsgContent, Content: &ContentMessage{Wants: wants}})
		if _, waiting := n.sync.asked[to]; !waiting {
			n.sync.asked[to] = n.ticks
		}
	}
}

// heard times a peer's answer to the oldest wants it has not answered. A
// sample is at most FetchTimeoutTicks: longer, the wants it times were
// lost (and asked elsewhere), not slow, and a later want's answer ends it.
func (s *syncing) heard(from roles.NodeID, now uint64) {
	at, ok := s.asked[from]
	if !ok {
		return
	}
	delete(s.asked, from)
	sample := min(now-at, FetchTimeoutTicks)
	if r8, ok := s.rtt8[from]; ok {
		s.rtt8[from] = r8 - r8/8 + sample // eight times a moving average of weight 1/8
	} else {
		s.rtt8[from] = 8 * sample // the first answer is the average (RFC 6298's first SRTT)
	}
}

// distance is how near a peer answers, in steps of NearTicks (0 for one
// never asked: it is tried as if near, and measured).
func (s *syncing) distance(id roles.NodeID) uint64 { return s.rtt8[id] / 8 / NearTicks }

// stepContent answers a peer's wants from the blobs held, and takes the
// parts and refusals a peer sent.
func (n *Node) stepContent(from roles.NodeID, m *ContentMessage) {
	s := n.sync
	if s == nil || !n.heal.joined || !n.InShape() || !n.inView(from) {
		return
	}
	if len(m.Wants) > 0 {
		answer := s.answer(from, n.ticks, m.Wants)
		if len(answer.Parts) > 0 || len(answer.Lacks) > 0 {
			n.send(from, Message{Kind: MsgContent, Content: &answer})
		}
	}
	if n.status.Member || (len(m.Parts) == 0 && len(m.Lacks) == 0) {
		return
	}
	s.heard(from, n.ticks)
	for _, p := range m.Parts {
		err := s.fetch.Receive(from, p) // a bad part is counted in the fetcher's stats
		if errors.Is(err, content.ErrCorrupt) || errors.Is(err, content.ErrMalformed) || errors.Is(err, content.ErrTooLarge) {
			n.cover.Sometimes(cover.PartRefused)
		}
	}
	for _, d := range m.Lacks {
		s.fetch.Lacks(from, d)
	}
	n.progressSync(false)
	n.sendWants()
}

// answer answers the wants a peer sent at tick now, within what is left
// of ServeBytesPerTick for that peer in that tick.
func (s *syncing) answer(from roles.NodeID, now uint64, wants []content.Want) ContentMessage {
	if s.servedAt != now || s.servedTo == nil {
		s.servedTo, s.servedAt = map[roles.NodeID]uint64{}, now
	}
	answer, served := answerWants(s.blobs, wants, min(AnswerBytesMax, ServeBytesPerTick-s.servedTo[from]))
	s.servedTo[from] += served
	s.served += served
	return answer
}

// answerWants answers a peer's wants from blobs: a part for each distinct
// want held, the digest of each distinct blob not held. A want is answered
// once per message however often it is repeated, one at an offset no
// fetcher asks (not a part's start) is not answered, and the parts stop at
// limit bytes of data (the wants left are not answered: the asker's
// timeout sends them elsewhere), so that a small message of wants cannot
// draw more than that from a node. It returns the blob bytes sent.
func answerWants(blobs *content.Store, wants []content.Want, limit uint64) (ContentMessage, uint64) {
	var answer ContentMessage
	var served uint64
	seen := make(map[content.Want]bool, min(len(wants), ContentItemsMax))
	lacked := make(map[content.Digest]bool)
	for _, w := range wants[:min(len(wants), ContentItemsMax)] {
		if seen[w] || w.Offset%content.PartMax != 0 {
			continue
		}
		seen[w] = true
		p, ok := blobs.Part(w)
		switch {
		case !ok && !lacked[w.Digest]:
			lacked[w.Digest] = true
			answer.Lacks = append(answer.Lacks, w.Digest)
		case ok && served+uint64(len(p.Data)) <= limit:
			answer.Parts = append(answer.Parts, p)
			served += uint64(len(p.Data))
		}
	}
	return answer, served
}

// syncedRead serves a worker's local read from the root it installed: the
// store state the voters committed at that root's index, never newer, with
// how many entries it is behind the newest root the worker has seen.
func (n *Node) syncedRead(req Request) Result {
	s := n.sync
	n.cover.Sometimes(cover.SyncedRead)
	r := Result{ID: req.ID, Index: s.synced.Index, Revision: store.Revision(s.syncedMan.Revision), Behind: s.latest - min(s.latest, s.synced.Index)}
	switch req.Read.Op {
	case ReadGet:
		ref := req.Read.Ref
		if err := ref.Validate(); err != nil {
			r.Err = err
			return r
		}
		i, ok := slices.BinarySearchFunc(s.syncedRes, ref, func(x store.Resource, ref store.Ref) int { return store.Compare(x.Ref, ref) })
		if !ok {
			r.Err = fmt.Errorf("%w: %s", store.ErrNotFound, ref)
			return r
		}
		r.Resource = s.syncedRes[i]
	case ReadList:
		for _, x := range s.syncedRes {
			if (req.Read.Kind == "" || x.Ref.Kind == req.Read.Kind) && (req.Read.Namespace == "" || x.Ref.Namespace == req.Read.Namespace) {
				r.Items = append(r.Items, x)
			}
		}
	}
	return r
}

// servesSynced reports whether the node serves local reads from an
// installed root: a worker (no raft member) that has installed one.
func (n *Node) servesSynced() bool {
	return n.sync != nil && !n.status.Member && n.sync.synced.ManifestHash != (content.Digest{})
}

// AppendContent appends m's canonical encoding to b:
//
//	content := wants:u16 content.AppendWant's*  parts:u16 content.AppendPart's*  lacks:u16 digest:[32]u8*
//
// with at most ContentItemsMax of each. It panics past that (a node never
// sends more).
func AppendContent(b []byte, m ContentMessage) []byte {
	if len(m.Wants) > ContentItemsMax || len(m.Parts) > ContentItemsMax || len(m.Lacks) > ContentItemsMax {
		panic(fmt.Sprintf("node: a content message of %d wants, %d parts and %d refusals", len(m.Wants), len(m.Parts), len(m.Lacks)))
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(m.Wants)))
	for _, w := range m.Wants {
		b = content.AppendWant(b, w)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(m.Parts)))
	for _, p := range m.Parts {
		b = content.AppendPart(b, p)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(m.Lacks)))
	for _, d := range m.Lacks {
		b = append(b, d[:]...)
	}
	return b
}

// DecodeContent decodes a content message from the front of b and returns
// the rest. Errors: ErrCorruptMessage, naming the field and wrapping the
// part's own error.
func DecodeContent(b []byte) (ContentMessage, []byte, error) {
	var m ContentMessage
	count := func(field string) (int, error) {
		if len(b) < 2 {
			return 0, corrupt(field, fmt.Errorf("truncated: %d bytes", len(b)))
		}
		k := int(binary.BigEndian.Uint16(b))
		b = b[2:]
		if k > ContentItemsMax {
			return 0, corrupt(field, fmt.Errorf("%d items, limit %d", k, ContentItemsMax))
		}
		return k, nil
	}
	k, err := count("wants")
	if err != nil {
		return ContentMessage{}, nil, err
	}
	for range k {
		var w content.Want
		if w, b, err = content.DecodeWant(b); err != nil {
			return ContentMessage{}, nil, corrupt("want", err)
		}
		m.Wants = append(m.Wants, w)
	}
	if k, err = count("parts"); err != nil {
		return ContentMessage{}, nil, err
	}
	for range k {
		var p content.Part
		if p, b, err = content.DecodePart(b); err != nil {
			return ContentMessage{}, nil, corrupt("part", err)
		}
		m.Parts = append(m.Parts, p)
	}
	if k, err = count("lacks"); err != nil {
		return ContentMessage{}, nil, err
	}
	if len(b) < 32*k {
		return ContentMessage{}, nil, corrupt("lacks", fmt.Errorf("truncated: %d digests in %d bytes", k, len(b)))
	}
	for range k {
		var d content.Digest
		copy(d[:], b)
		b = b[32:]
		m.Lacks = append(m.Lacks, d)
	}
	return m, b, nil
}
